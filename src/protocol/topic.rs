//! Topic names and topic filters (MQTT 5.0 §4.7): validation, shared-subscription parsing and a
//! reference matcher. The subscription index (`broker::subs`) is the fast matcher; `matches` here
//! is the naive one it is property-tested against, and the one retained-message lookup uses.

use thiserror::Error;

/// Why a topic name or filter was refused.
#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum TopicError {
    #[error("topic is empty")]
    Empty,
    #[error("topic is longer than {0} bytes")]
    TooLong(usize),
    #[error("topic has more than {0} levels")]
    TooManyLevels(usize),
    #[error("wildcard character in a topic name")]
    WildcardInName,
    #[error("'#' must be the last level of a filter and stand alone")]
    BadMultiLevel,
    #[error("'+' must occupy a whole level")]
    BadSingleLevel,
    #[error("topic contains a NUL character")]
    Nul,
    #[error("malformed shared subscription (expected $share/<group>/<filter>)")]
    BadShare,
}

/// Limits that the configuration puts on topics.
#[derive(Debug, Clone, Copy)]
pub struct TopicLimits {
    pub max_len: usize,
    pub max_levels: usize,
}

impl Default for TopicLimits {
    fn default() -> Self {
        Self { max_len: 65535, max_levels: 128 }
    }
}

fn check_common(s: &str, limits: TopicLimits) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    if s.len() > limits.max_len {
        return Err(TopicError::TooLong(limits.max_len));
    }
    if s.contains('\0') {
        return Err(TopicError::Nul);
    }
    if s.split('/').count() > limits.max_levels {
        return Err(TopicError::TooManyLevels(limits.max_levels));
    }
    Ok(())
}

/// A topic name in a PUBLISH: no wildcards (MQTT-3.3.2-2).
pub fn validate_topic_name(s: &str, limits: TopicLimits) -> Result<(), TopicError> {
    check_common(s, limits)?;
    if s.contains(['+', '#']) {
        return Err(TopicError::WildcardInName);
    }
    Ok(())
}

/// A plain topic filter (after any `$share/<group>/` prefix was removed).
pub fn validate_filter(s: &str, limits: TopicLimits) -> Result<(), TopicError> {
    check_common(s, limits)?;
    let mut levels = s.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') && (level != "#" || levels.peek().is_some()) {
            return Err(TopicError::BadMultiLevel);
        }
        if level.contains('+') && level != "+" {
            return Err(TopicError::BadSingleLevel);
        }
    }
    Ok(())
}

/// A subscription filter as the client wrote it, split into its share group (if any) and filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedFilter<'a> {
    /// `Some(group)` for `$share/<group>/<filter>`; `$queue/<filter>` is the group `$queue`.
    pub group: Option<&'a str>,
    pub filter: &'a str,
}

impl ParsedFilter<'_> {
    /// The key under which the cluster routes this subscription: the plain filter, or
    /// `$share/<group>/<filter>` so a shared group is routed as a group, not as subscribers.
    pub fn route_key(&self) -> std::borrow::Cow<'_, str> {
        match self.group {
            None => std::borrow::Cow::Borrowed(self.filter),
            Some(g) => std::borrow::Cow::Owned(format!("$share/{g}/{}", self.filter)),
        }
    }
}

/// The (group, filter) of a route key made by [`ParsedFilter::route_key`] for a shared group.
pub fn shared_route(key: &str) -> Option<(&str, &str)> {
    key.strip_prefix("$share/")?.split_once('/')
}

/// Parse and validate a SUBSCRIBE filter, including `$share/` and EMQX's `$queue/`.
pub fn parse_filter(s: &str, limits: TopicLimits) -> Result<ParsedFilter<'_>, TopicError> {
    if let Some(rest) = s.strip_prefix("$share/") {
        let (group, filter) = rest.split_once('/').ok_or(TopicError::BadShare)?;
        if group.is_empty() || group.contains(['+', '#']) || filter.is_empty() {
            return Err(TopicError::BadShare);
        }
        validate_filter(filter, limits)?;
        return Ok(ParsedFilter { group: Some(group), filter });
    }
    if let Some(filter) = s.strip_prefix("$queue/") {
        validate_filter(filter, limits)?;
        return Ok(ParsedFilter { group: Some("$queue"), filter });
    }
    validate_filter(s, limits)?;
    Ok(ParsedFilter { group: None, filter: s })
}

/// Does `filter` match `topic`? Topics starting with `$` are not matched by a filter whose first
/// level is a wildcard (MQTT-4.7.2-1).
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether a filter contains wildcards (an exact filter can be looked up directly).
pub fn has_wildcards(filter: &str) -> bool {
    filter.contains(['+', '#'])
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: TopicLimits = TopicLimits { max_len: 65535, max_levels: 128 };

    #[test]
    fn names() {
        assert!(validate_topic_name("a/b/c", L).is_ok());
        assert!(validate_topic_name("/", L).is_ok());
        assert_eq!(validate_topic_name("", L), Err(TopicError::Empty));
        assert_eq!(validate_topic_name("a/+", L), Err(TopicError::WildcardInName));
        assert_eq!(validate_topic_name("a/#", L), Err(TopicError::WildcardInName));
        assert_eq!(validate_topic_name("a\0", L), Err(TopicError::Nul));
        let tight = TopicLimits { max_len: 5, max_levels: 2 };
        assert_eq!(validate_topic_name("abcdef", tight), Err(TopicError::TooLong(5)));
        assert_eq!(validate_topic_name("a/b/c", tight), Err(TopicError::TooManyLevels(2)));
    }

    #[test]
    fn filters() {
        for ok in ["#", "+", "a/#", "+/+", "a/+/c", "/+", "$SYS/#", "a//b"] {
            assert!(validate_filter(ok, L).is_ok(), "{ok}");
        }
        assert_eq!(validate_filter("a/#/c", L), Err(TopicError::BadMultiLevel));
        assert_eq!(validate_filter("a#", L), Err(TopicError::BadMultiLevel));
        assert_eq!(validate_filter("a+/b", L), Err(TopicError::BadSingleLevel));
    }

    #[test]
    fn shared() {
        assert_eq!(parse_filter("$share/g1/a/+", L), Ok(ParsedFilter { group: Some("g1"), filter: "a/+" }));
        assert_eq!(parse_filter("$queue/a/b", L), Ok(ParsedFilter { group: Some("$queue"), filter: "a/b" }));
        assert_eq!(parse_filter("$share/g1", L), Err(TopicError::BadShare));
        assert_eq!(parse_filter("$share//a", L), Err(TopicError::BadShare));
        assert_eq!(parse_filter("$share/g+/a", L), Err(TopicError::BadShare));
        assert_eq!(parse_filter("a/b", L), Ok(ParsedFilter { group: None, filter: "a/b" }));
    }

    #[test]
    fn matching() {
        assert!(matches("a/b", "a/b"));
        assert!(matches("a/+", "a/b"));
        assert!(!matches("a/+", "a/b/c"));
        assert!(matches("a/#", "a"));
        assert!(matches("a/#", "a/b/c"));
        assert!(matches("#", "a/b"));
        assert!(matches("+/+", "/b"));
        assert!(!matches("+", "/b"));
        assert!(!matches("#", "$SYS/x"));
        assert!(!matches("+/x", "$SYS/x"));
        assert!(matches("$SYS/#", "$SYS/x"));
        assert!(matches("a//b", "a//b"));
        assert!(!matches("a/b", "a/b/c"));
    }
}
