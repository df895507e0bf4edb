//! Topic rules: which rule a topic falls under and what it becomes on the other side
//! (Mosquitto's `topic <pattern> <direction> <qos> <local-prefix> <remote-prefix>`).

use crate::config::bridge::TopicRule;
use crate::protocol::topic;

/// Which side a topic was seen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Local,
    Remote,
}

/// The first rule whose filter (on `side`) matches `t`, and `t` mapped to the other side.
pub fn map<'r>(rules: &'r [TopicRule], side: Side, t: &str) -> Option<(&'r TopicRule, String)> {
    rules.iter().find_map(|r| {
        let (from, to) = match side {
            Side::Local => (&r.local_prefix, &r.remote_prefix),
            Side::Remote => (&r.remote_prefix, &r.local_prefix),
        };
        let filter = format!("{from}{}", r.topic);
        if !topic::matches(&filter, t) {
            return None;
        }
        let rest = t.strip_prefix(from.as_str())?;
        let mapped = format!("{to}{rest}");
        // A prefix mapping to "" with a rest of "" would make an empty topic name.
        (!mapped.is_empty()).then_some((r, mapped))
    })
}

/// A topic (e.g. a Response Topic) carried across: mapped when it falls under the rule's source
/// prefix, unchanged otherwise.
pub fn carry_prefix(rule: &TopicRule, side: Side, t: &str) -> String {
    let (from, to) = match side {
        Side::Local => (&rule.local_prefix, &rule.remote_prefix),
        Side::Remote => (&rule.remote_prefix, &rule.local_prefix),
    };
    match t.strip_prefix(from.as_str()) {
        Some(rest) => format!("{to}{rest}"),
        None => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(t: &str, lp: &str, rp: &str, qos: u8) -> TopicRule {
        TopicRule { topic: t.into(), local_prefix: lp.into(), remote_prefix: rp.into(), qos, retain: true }
    }

    #[test]
    fn out_rules_map_local_topics_upstream() {
        let rules = vec![rule("sensors/#", "", "site/gw-1/", 1), rule("#", "plant/", "up/", 0)];
        let (r, t) = map(&rules, Side::Local, "sensors/t1").expect("match");
        assert_eq!((r.qos, t.as_str()), (1, "site/gw-1/sensors/t1"));
        let (r, t) = map(&rules, Side::Local, "plant/a/b").expect("match");
        assert_eq!((r.qos, t.as_str()), (0, "up/a/b"));
        assert!(map(&rules, Side::Local, "other").is_none());
    }

    #[test]
    fn in_rules_strip_the_remote_prefix() {
        let rules = vec![rule("cmd/#", "local/", "site/gw-1/", 2)];
        let (_, t) = map(&rules, Side::Remote, "site/gw-1/cmd/open").expect("match");
        assert_eq!(t, "local/cmd/open");
        assert!(map(&rules, Side::Remote, "site/gw-2/cmd/open").is_none());
    }

    #[test]
    fn response_topics_follow_the_prefix() {
        let r = rule("#", "", "site/gw-1/", 1);
        assert_eq!(carry_prefix(&r, Side::Remote, "site/gw-1/reply/7"), "reply/7");
        assert_eq!(carry_prefix(&r, Side::Local, "reply/7"), "site/gw-1/reply/7");
        assert_eq!(carry_prefix(&r, Side::Remote, "elsewhere/x"), "elsewhere/x");
    }
}
