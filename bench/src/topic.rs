//! Topic templates (`%i` = client index, `%c` = client id, `%%` = `%`, as in emqtt_bench) and
//! the small amount of topic-filter logic the load generator needs to know how many deliveries
//! to expect in `pubsub` mode.
//!
//! Templates are parsed once at start-up so a typo fails the run before any client connects,
//! and rendering per client is a cheap concatenation.

use starling::protocol::topic::{TopicError as ProtoTopicError, TopicLimits};
use std::fmt;

/// Why a topic template or filter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    #[error("topic template is empty")]
    Empty,
    #[error("unknown escape `%{0}` in topic template (use %i, %c or %%)")]
    UnknownEscape(char),
    #[error("topic template ends with a lone `%` (use %% for a literal percent sign)")]
    TrailingPercent,
    #[error("publish topic `{0}` must not contain the wildcards `+` or `#`")]
    WildcardInTopic(String),
    #[error("topic filter `{0}` is invalid: `#` must be the last level and wildcards must fill a whole level")]
    BadFilter(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Index,
    ClientId,
}

/// A parsed topic template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `%i`, `%c` and `%%`; any other escape is an error so typos are caught early.
    pub fn parse(src: &str) -> Result<Template, TopicError> {
        if src.is_empty() {
            return Err(TopicError::Empty);
        }
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut chars = src.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                lit.push(c);
                continue;
            }
            match chars.next() {
                Some('%') => lit.push('%'),
                Some(k @ ('i' | 'c')) => {
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(if k == 'i' { Part::Index } else { Part::ClientId });
                }
                Some(other) => return Err(TopicError::UnknownEscape(other)),
                None => return Err(TopicError::TrailingPercent),
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template { parts })
    }

    /// Renders the template for one client.
    pub fn render(&self, index: usize, client_id: &str) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Index => out.push_str(&index.to_string()),
                Part::ClientId => out.push_str(client_id),
            }
        }
        out
    }

    /// Checks the template can only produce valid publish topics. Substituted parts cannot add
    /// wildcards unless the client id has them, which [`validate_topic`] catches per client.
    pub fn check_publishable(&self) -> Result<(), TopicError> {
        let sample = self.render(1, "x");
        validate_topic(&sample)
    }

    /// Checks the template renders to a syntactically valid filter.
    pub fn check_filter(&self) -> Result<(), TopicError> {
        validate_filter(&self.render(1, "x"))
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                Part::Lit(s) => f.write_str(&s.replace('%', "%%"))?,
                Part::Index => f.write_str("%i")?,
                Part::ClientId => f.write_str("%c")?,
            }
        }
        Ok(())
    }
}

/// A publish topic: non-empty, no wildcards (the broker's own rules).
pub fn validate_topic(topic: &str) -> Result<(), TopicError> {
    match starling::protocol::topic::validate_topic_name(topic, TopicLimits::default()) {
        Ok(()) => Ok(()),
        Err(ProtoTopicError::Empty) => Err(TopicError::Empty),
        Err(_) => Err(TopicError::WildcardInTopic(topic.to_owned())),
    }
}

/// A subscription filter: `+` and `#` only as whole levels, `#` only last.
pub fn validate_filter(filter: &str) -> Result<(), TopicError> {
    match starling::protocol::topic::validate_filter(filter, TopicLimits::default()) {
        Ok(()) => Ok(()),
        Err(ProtoTopicError::Empty) => Err(TopicError::Empty),
        Err(_) => Err(TopicError::BadFilter(filter.to_owned())),
    }
}

/// MQTT topic matching, used to predict deliveries: the broker's reference matcher.
pub use starling::protocol::topic::matches as filter_matches;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_index_and_client_id() {
        let t = Template::parse("bench/%i/from/%c").expect("valid");
        assert_eq!(t.render(7, "bench_pub_7"), "bench/7/from/bench_pub_7");
    }

    #[test]
    fn literal_percent() {
        let t = Template::parse("a/100%%").expect("valid");
        assert_eq!(t.render(1, "c"), "a/100%");
        assert_eq!(t.to_string(), "a/100%%");
    }

    #[test]
    fn rejects_bad_escapes() {
        assert_eq!(Template::parse("a/%x"), Err(TopicError::UnknownEscape('x')));
        assert_eq!(Template::parse("a/%"), Err(TopicError::TrailingPercent));
        assert_eq!(Template::parse(""), Err(TopicError::Empty));
    }

    #[test]
    fn publish_topics_have_no_wildcards() {
        assert!(Template::parse("a/%i").expect("valid").check_publishable().is_ok());
        assert!(Template::parse("a/+").expect("valid").check_publishable().is_err());
        assert!(Template::parse("a/#").expect("valid").check_publishable().is_err());
    }

    #[test]
    fn filter_syntax() {
        assert!(validate_filter("#").is_ok());
        assert!(validate_filter("a/+/c").is_ok());
        assert!(validate_filter("a/#").is_ok());
        assert!(validate_filter("a/#/c").is_err());
        assert!(validate_filter("a/b+").is_err());
        assert!(validate_filter("").is_err());
    }

    #[test]
    fn matching() {
        assert!(filter_matches("#", "a/b"));
        assert!(filter_matches("a/#", "a"));
        assert!(filter_matches("a/#", "a/b/c"));
        assert!(filter_matches("a/+", "a/b"));
        assert!(!filter_matches("a/+", "a/b/c"));
        assert!(filter_matches("a/+/c", "a/b/c"));
        assert!(!filter_matches("a/b", "a/c"));
        assert!(!filter_matches("#", "$SYS/x"));
        assert!(filter_matches("$SYS/#", "$SYS/x"));
        assert!(filter_matches("bench/fanout", "bench/fanout"));
    }
}
