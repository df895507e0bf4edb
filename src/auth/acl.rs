//! Authorization: ACL rules from a TOML file, first match wins.
//!
//! ```toml
//! default = "deny"            # when no rule matches: "allow" or "deny"
//!
//! [[rules]]
//! permission = "allow"        # allow | deny
//! action = "all"              # publish | subscribe | all
//! topics = ["users/%u/#"]     # %u = username, %c = client id
//! # username = "alice"        # only for this user; or client_id = "...";
//!                             # neither = every client
//! ```
//!
//! A PUBLISH topic (also a retained publish, and a will topic at CONNECT) matches a rule when the
//! rule's filter matches it. A SUBSCRIBE filter is allowed by an allow rule only when the rule
//! *covers* it (every topic the subscription can receive matches the rule), and denied by a deny
//! rule when they *overlap* (some topic matches both): with `deny secret/#`, subscribing to `#`
//! is denied too, so a broad wildcard cannot reach around a deny.
//!
//! Placeholders stand for whole values: a rule whose `%u` or `%c` has no value (anonymous
//! client) or a value with `/`, `+` or `#` in it never applies. `username` rules only match
//! authenticated usernames (password or certificate), never the unverified username of an
//! anonymous client.
//!
//! Matching does not allocate: rule filters are split into levels once at load, topics are
//! walked level by level, placeholders are compared in place. Each connection keeps the indices
//! of the rules that can apply to it (computed once at CONNECT).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::protocol::topic::{self, TopicLimits};

#[derive(Debug, Error)]
pub enum AclError {
    #[error("ACL file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("ACL file {path}: {what}")]
    Invalid { path: PathBuf, what: AclParseError },
}

/// What is wrong with an ACL text; names the rule.
#[derive(Debug, Error)]
pub enum AclParseError {
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    #[error("rule {rule}: `topics` is empty")]
    NoTopics { rule: usize },
    #[error("rule {rule}: topic {topic:?}: {source}")]
    Topic { rule: usize, topic: String, source: topic::TopicError },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    Publish,
    Subscribe,
    All,
}

/// What a client asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Publish,
    Subscribe,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    #[serde(default = "default_allow")]
    default: Permission,
    #[serde(default)]
    rules: Vec<RuleFormat>,
}

fn default_allow() -> Permission {
    Permission::Allow
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFormat {
    permission: Permission,
    action: RuleAction,
    topics: Vec<String>,
    username: Option<String>,
    client_id: Option<String>,
}

/// One piece of a filter level.
#[derive(Debug)]
enum Part {
    Lit(Box<str>),
    User,
    Client,
}

#[derive(Debug)]
enum Level {
    Parts(Box<[Part]>),
    Plus,
    Hash,
}

#[derive(Debug)]
struct Filter(Box<[Level]>);

#[derive(Debug)]
struct Rule {
    permission: Permission,
    action: RuleAction,
    filters: Vec<Filter>,
    username: Option<String>,
    client_id: Option<String>,
    needs_user: bool,
    needs_client: bool,
}

/// A loaded rule set.
#[derive(Debug)]
pub struct Acl {
    default: Permission,
    rules: Vec<Rule>,
}

/// Who is asking: the authenticated username (if any) and the client id.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    pub username: Option<&'a str>,
    pub client_id: &'a str,
}

impl Default for Acl {
    /// No file: everything is allowed.
    fn default() -> Self {
        Acl { default: Permission::Allow, rules: Vec::new() }
    }
}

impl Acl {
    pub fn load(path: &Path) -> Result<Acl, AclError> {
        let text = std::fs::read_to_string(path).map_err(|source| AclError::Io { path: path.into(), source })?;
        Acl::parse(&text).map_err(|what| AclError::Invalid { path: path.into(), what })
    }

    /// Parse the TOML text; the error names the rule and what is wrong with it.
    pub fn parse(text: &str) -> Result<Acl, AclParseError> {
        let f: FileFormat = toml::from_str(text)?;
        let mut rules = Vec::with_capacity(f.rules.len());
        for (i, r) in f.rules.into_iter().enumerate() {
            let n = i + 1;
            if r.topics.is_empty() {
                return Err(AclParseError::NoTopics { rule: n });
            }
            let mut filters = Vec::with_capacity(r.topics.len());
            let (mut needs_user, mut needs_client) = (false, false);
            for t in &r.topics {
                topic::validate_filter(t, TopicLimits::default()).map_err(|source| AclParseError::Topic {
                    rule: n,
                    topic: t.clone(),
                    source,
                })?;
                needs_user |= t.contains("%u");
                needs_client |= t.contains("%c");
                filters.push(Filter::parse(t));
            }
            rules.push(Rule {
                permission: r.permission,
                action: r.action,
                filters,
                username: r.username,
                client_id: r.client_id,
                needs_user,
                needs_client,
            });
        }
        Ok(Acl { default: f.default, rules })
    }

    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Everything is allowed whatever the client: no rules and default allow.
    pub fn allows_everything(&self) -> bool {
        self.rules.is_empty() && self.default == Permission::Allow
    }

    /// Indices of the rules that can apply to `who` (its username and client id, placeholders
    /// resolvable). Computed once per connection.
    pub fn applicable(&self, who: Who<'_>) -> Vec<u32> {
        let ok_value = |v: Option<&str>| v.is_some_and(|v| !v.is_empty() && !v.contains(['/', '+', '#']));
        self.rules
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.username.as_deref().is_none_or(|u| who.username == Some(u))
                    && r.client_id.as_deref().is_none_or(|c| who.client_id == c)
                    && (!r.needs_user || ok_value(who.username))
                    && (!r.needs_client || ok_value(Some(who.client_id)))
            })
            .map(|(i, _)| i as u32)
            .collect()
    }

    /// Decide with the rules at `idx` (from [`Acl::applicable`]); the first rule that matches
    /// decides, else the default. `topic` is a topic name (publish) or a plain filter without
    /// any `$share/<group>/` prefix (subscribe). Topics starting with `$` are the server's
    /// (`$SYS`): a client may publish to one only when a rule allows it explicitly, never by
    /// the default.
    pub fn allows(&self, idx: &[u32], who: Who<'_>, action: Action, topic: &str) -> bool {
        let default = self.default == Permission::Allow && !server_topic(action, topic);
        self.first_match(idx, who, action, topic).unwrap_or(default)
    }

    fn first_match(&self, idx: &[u32], who: Who<'_>, action: Action, topic: &str) -> Option<bool> {
        for &i in idx {
            let Some(r) = self.rules.get(i as usize) else { continue };
            let acts = matches!(
                (r.action, action),
                (RuleAction::All, _)
                    | (RuleAction::Publish, Action::Publish)
                    | (RuleAction::Subscribe, Action::Subscribe)
            );
            if !acts {
                continue;
            }
            let hit = r.filters.iter().any(|f| match (action, r.permission) {
                (Action::Publish, _) => f.matches(topic, who),
                (Action::Subscribe, Permission::Allow) => f.covers(topic, who),
                (Action::Subscribe, Permission::Deny) => f.overlaps(topic, who),
            });
            if hit {
                return Some(r.permission == Permission::Allow);
            }
        }
        None
    }

    /// One-off check (tests and examples): [`Acl::applicable`] then [`Acl::allows`].
    pub fn check(&self, who: Who<'_>, action: Action, topic: &str) -> bool {
        self.allows(&self.applicable(who), who, action, topic)
    }
}

/// A publish to a topic of the server's (`$SYS/...`, any `$` topic).
pub fn server_topic(action: Action, topic: &str) -> bool {
    action == Action::Publish && topic.starts_with('$')
}

impl Filter {
    fn parse(s: &str) -> Filter {
        let levels = s
            .split('/')
            .map(|l| match l {
                "+" => Level::Plus,
                "#" => Level::Hash,
                _ => Level::Parts(parts(l).into_boxed_slice()),
            })
            .collect::<Vec<_>>();
        Filter(levels.into_boxed_slice())
    }

    /// The rule filter matches topic name `t`.
    fn matches(&self, t: &str, who: Who<'_>) -> bool {
        let mut levels = t.split('/');
        for (i, l) in self.0.iter().enumerate() {
            match l {
                // `#` and `+` at the first level do not match `$` topics (MQTT-4.7.2-1).
                Level::Hash => return !(i == 0 && t.starts_with('$')),
                Level::Plus => match levels.next() {
                    Some(x) if !(i == 0 && x.starts_with('$')) => {}
                    _ => return false,
                },
                Level::Parts(p) => match levels.next() {
                    Some(x) if level_eq(p, x, who) => {}
                    _ => return false,
                },
            }
        }
        levels.next().is_none()
    }

    /// Every topic filter `f` can match is matched by the rule filter.
    fn covers(&self, f: &str, who: Who<'_>) -> bool {
        let mut levels = f.split('/');
        for (i, l) in self.0.iter().enumerate() {
            match l {
                Level::Hash => return !(i == 0 && f.starts_with('$')),
                Level::Plus => match levels.next() {
                    Some(x) if x != "#" && !(i == 0 && x.starts_with('$')) => {}
                    _ => return false,
                },
                Level::Parts(p) => match levels.next() {
                    Some(x) if x != "+" && x != "#" && level_eq(p, x, who) => {}
                    _ => return false,
                },
            }
        }
        levels.next().is_none()
    }

    /// Some topic is matched by both the rule filter and `f`.
    fn overlaps(&self, f: &str, who: Who<'_>) -> bool {
        let mut levels = f.split('/');
        for l in self.0.iter() {
            let x = levels.next();
            match (l, x) {
                (Level::Hash, _) | (_, Some("#")) => return true,
                (_, None) => return false,
                (Level::Plus, Some(_)) | (Level::Parts(_), Some("+")) => {}
                (Level::Parts(p), Some(x)) => {
                    if !level_eq(p, x, who) {
                        return false;
                    }
                }
            }
        }
        match levels.next() {
            None => true,
            // The rule's topic is the parent level of a `.../#` subscription.
            Some("#") => levels.next().is_none(),
            Some(_) => false,
        }
    }
}

/// Split one level into literals and placeholders (`%%` is a literal `%`).
fn parts(level: &str) -> Vec<Part> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut rest = level;
    while let Some(pos) = rest.find('%') {
        lit.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let ph = match after.as_bytes().first() {
            Some(b'u') => Some(Part::User),
            Some(b'c') => Some(Part::Client),
            _ => None,
        };
        match ph {
            Some(p) => {
                if !lit.is_empty() {
                    out.push(Part::Lit(std::mem::take(&mut lit).into()));
                }
                out.push(p);
                rest = &after[1..];
            }
            None if after.starts_with('%') => {
                lit.push('%');
                rest = &after[1..];
            }
            None => {
                lit.push('%');
                rest = after;
            }
        }
    }
    lit.push_str(rest);
    if !lit.is_empty() || out.is_empty() {
        out.push(Part::Lit(lit.into()));
    }
    out
}

/// One topic level against one rule level, placeholders compared in place.
fn level_eq(parts: &[Part], level: &str, who: Who<'_>) -> bool {
    let mut rest = level;
    for p in parts {
        let want = match p {
            Part::Lit(l) => &**l,
            Part::User => match who.username {
                Some(u) => u,
                None => return false,
            },
            Part::Client => who.client_id,
        };
        match rest.strip_prefix(want) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: Who<'static> = Who { username: Some("alice"), client_id: "dev-1" };
    const ANON: Who<'static> = Who { username: None, client_id: "dev-2" };

    fn acl(text: &str) -> Acl {
        Acl::parse(text).expect("ACL parses")
    }

    #[test]
    fn dollar_topics_need_an_explicit_allow_to_publish() {
        let open = Acl::default();
        assert!(!open.check(ALICE, Action::Publish, "$SYS/broker/version"), "not by the default");
        assert!(open.check(ALICE, Action::Subscribe, "$SYS/#"), "reading is not affected");
        assert!(open.check(ALICE, Action::Publish, "a/$b"));
        let a = acl(r##"
            default = "allow"
            [[rules]]
            permission = "allow"
            action = "publish"
            topics = ["$app/%u/#"]
            [[rules]]
            permission = "allow"
            action = "all"
            topics = ["#"]
        "##);
        assert!(a.check(ALICE, Action::Publish, "$app/alice/x"));
        assert!(!a.check(ALICE, Action::Publish, "$app/bob/x"));
        assert!(!a.check(ALICE, Action::Publish, "$SYS/x"), "`#` does not grant `$` topics");
    }

    #[test]
    fn placeholders_match_the_clients_own_values() {
        let a = acl(r##"
            default = "deny"
            [[rules]]
            permission = "allow"
            action = "all"
            topics = ["users/%u/#", "devices/%c/state", "pre-%c-post/x"]
        "##);
        assert!(a.check(ALICE, Action::Publish, "users/alice/temp"));
        assert!(a.check(ALICE, Action::Publish, "users/alice"));
        assert!(!a.check(ALICE, Action::Publish, "users/bob/temp"));
        assert!(a.check(ALICE, Action::Publish, "devices/dev-1/state"));
        assert!(!a.check(ALICE, Action::Publish, "devices/dev-2/state"));
        assert!(a.check(ALICE, Action::Publish, "pre-dev-1-post/x"));
        assert!(!a.check(ALICE, Action::Publish, "pre-dev-1-pos/x"));
        assert!(a.check(ALICE, Action::Subscribe, "users/alice/+"));
        assert!(!a.check(ALICE, Action::Subscribe, "users/+/temp"), "a wildcard over other users is not covered");
        // No username: the %u rule never applies.
        assert!(!a.check(ANON, Action::Publish, "users//temp"));
    }

    #[test]
    fn placeholder_values_with_wildcards_or_slashes_never_apply() {
        let a = acl(r##"
            default = "deny"
            [[rules]]
            permission = "allow"
            action = "all"
            topics = ["devices/%c/#"]
        "##);
        let sneaky = Who { username: None, client_id: "x/#" };
        assert!(!a.check(sneaky, Action::Subscribe, "devices/x/#"));
        let plus = Who { username: None, client_id: "+" };
        assert!(!a.check(plus, Action::Publish, "devices/+/y"));
    }

    #[test]
    fn first_match_wins_and_default_decides_the_rest() {
        let a = acl(r##"
            default = "allow"
            [[rules]]
            permission = "allow"
            action = "publish"
            username = "alice"
            topics = ["secret/alice"]
            [[rules]]
            permission = "deny"
            action = "all"
            topics = ["secret/#"]
        "##);
        assert!(a.check(ALICE, Action::Publish, "secret/alice"));
        assert!(!a.check(ALICE, Action::Publish, "secret/bob"));
        assert!(!a.check(ANON, Action::Publish, "secret/alice"));
        assert!(a.check(ANON, Action::Publish, "public/x"));
        // Deny rules catch wildcard subscriptions that overlap them.
        assert!(!a.check(ANON, Action::Subscribe, "#"));
        assert!(!a.check(ANON, Action::Subscribe, "+/bob"));
        assert!(!a.check(ANON, Action::Subscribe, "secret"));
        assert!(a.check(ANON, Action::Subscribe, "public/#"));
        assert!(!a.check(ANON, Action::Subscribe, "+/x/y"), "could receive secret/x/y");
    }

    #[test]
    fn per_client_rules_and_actions() {
        let a = acl(r##"
            default = "deny"
            [[rules]]
            permission = "allow"
            action = "subscribe"
            client_id = "dev-1"
            topics = ["cmd/+"]
        "##);
        assert!(a.check(ALICE, Action::Subscribe, "cmd/reboot"));
        assert!(a.check(ALICE, Action::Subscribe, "cmd/+"));
        assert!(!a.check(ALICE, Action::Subscribe, "cmd/#"));
        assert!(!a.check(ALICE, Action::Publish, "cmd/reboot"), "subscribe rules say nothing on publish");
        assert!(!a.check(ANON, Action::Subscribe, "cmd/reboot"));
    }

    #[test]
    fn dollar_topics_are_not_matched_by_leading_wildcards() {
        let a = acl(r##"
            default = "deny"
            [[rules]]
            permission = "allow"
            action = "all"
            topics = ["#"]
        "##);
        assert!(a.check(ANON, Action::Publish, "a/b"));
        assert!(!a.check(ANON, Action::Publish, "$SYS/x"));
        assert!(!a.check(ANON, Action::Subscribe, "$SYS/#"));
    }

    #[test]
    fn cover_and_overlap_edge_cases() {
        let f = Filter::parse("a/#");
        assert!(f.covers("a", ANON) && f.covers("a/#", ANON) && f.covers("a/+/c", ANON));
        assert!(!f.covers("#", ANON) && !f.covers("+/b", ANON));
        let g = Filter::parse("a/+");
        assert!(g.covers("a/b", ANON) && g.covers("a/+", ANON));
        assert!(!g.covers("a/#", ANON) && !g.covers("a", ANON));
        let h = Filter::parse("a");
        assert!(h.overlaps("a/#", ANON) && h.overlaps("#", ANON) && h.overlaps("+", ANON));
        assert!(!h.overlaps("a/b", ANON) && !h.overlaps("b", ANON) && !h.overlaps("+/+", ANON));
        assert!(Filter::parse("a/b/c").overlaps("+/b/#", ANON));
        assert!(Filter::parse("100%%/x").matches("100%/x", ANON));
    }

    #[test]
    fn errors_name_the_rule() {
        let e = Acl::parse("[[rules]]\npermission = \"allow\"\naction = \"all\"\ntopics = [\"a/#/b\"]\n")
            .expect_err("bad filter")
            .to_string();
        assert!(e.contains("rule 1") && e.contains("a/#/b"), "{e}");
        let e = Acl::parse("[[rules]]\npermission = \"maybe\"\naction = \"all\"\ntopics = [\"a\"]\n")
            .expect_err("bad permission")
            .to_string();
        assert!(e.contains("maybe"), "{e}");
        assert!(Acl::parse("defualt = \"deny\"\n").is_err(), "unknown keys are errors");
    }

    #[test]
    fn no_rules_default_allow_is_the_fast_path() {
        assert!(Acl::default().allows_everything());
        assert!(!acl("default = \"deny\"").allows_everything());
    }
}
