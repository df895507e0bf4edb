//! The subscription index: topic filter trie → subscribers (NATS' `sublist` in spirit).
//!
//! The trie is [`crate::protocol::filter_trie`], holding each filter's [`Subscribers`]
//! (the cluster's route table uses the same one). Non-shared subscribers sit in a map keyed by client id; each `$share` group is an
//! [`SharedGroup`] whose member list is copy-on-write so a match can hand it out without holding
//! the index lock. The broker keeps the index behind an `RwLock`: publishes take the read lock,
//! (un)subscribes the write lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::catalog::cmd::SubOptionsWire;
use crate::protocol::filter_trie::{FilterTrie, Slot};

/// A session's key in every index: its client id.
pub type ClientKey = Arc<str>;

/// Options of one subscription (MQTT 5.0 §3.8.3.1), plus its subscription identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubOptions {
    /// Maximum QoS granted.
    pub qos: u8,
    pub no_local: bool,
    pub retain_as_published: bool,
    /// 0 = send retained on subscribe, 1 = only if new, 2 = never.
    pub retain_handling: u8,
    pub sub_id: Option<u32>,
}

/// A `$share/<group>/<filter>` group: its members and the round-robin cursor.
#[derive(Debug)]
pub struct SharedGroup {
    pub group: Arc<str>,
    pub filter: Arc<str>,
    pub members: Vec<(ClientKey, SubOptions)>,
    /// Next member for round-robin; shared between snapshots of the same group.
    pub cursor: Arc<AtomicUsize>,
}

impl SharedGroup {
    /// Round-robin start position for the next message.
    pub fn next_start(&self) -> usize {
        self.cursor.fetch_add(1, Ordering::Relaxed)
    }
}

#[derive(Default, Debug)]
struct Subscribers {
    direct: HashMap<ClientKey, SubOptions>,
    shared: HashMap<Arc<str>, Arc<SharedGroup>>,
}

impl Slot for Subscribers {
    fn is_empty(&self) -> bool {
        self.direct.is_empty() && self.shared.is_empty()
    }
}

/// What a topic matched: direct subscriptions (a client may appear several times when its
/// subscriptions overlap) and shared groups (the broker picks one member of each).
#[derive(Debug, Default)]
pub struct Matches {
    pub direct: Vec<(ClientKey, SubOptions)>,
    pub shared: Vec<Arc<SharedGroup>>,
    /// How many filters `direct` came from: with one, each client is in it at most once.
    pub direct_filters: usize,
}

/// The filter trie. Not thread-safe by itself; the broker wraps it in a lock.
#[derive(Default, Debug)]
pub struct SubIndex {
    trie: FilterTrie<Subscribers>,
    count: usize,
}

impl SubIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of (client, filter) subscriptions.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Add or replace `client`'s subscription to `filter` (already validated; `group` for
    /// shared subscriptions). Returns true when it is new rather than a replacement.
    pub fn insert(&mut self, filter: &str, group: Option<&str>, client: ClientKey, opts: SubOptions) -> bool {
        let slot = self.trie.entry(filter);
        let new = match group {
            None => slot.direct.insert(client, opts).is_none(),
            Some(g) => {
                let entry = slot.shared.entry(g.into()).or_insert_with(|| {
                    Arc::new(SharedGroup {
                        group: g.into(),
                        filter: filter.into(),
                        members: Vec::new(),
                        cursor: Arc::new(AtomicUsize::new(0)),
                    })
                });
                let mut members = entry.members.clone();
                let new = match members.iter_mut().find(|(c, _)| *c == client) {
                    Some(m) => {
                        m.1 = opts;
                        false
                    }
                    None => {
                        members.push((client, opts));
                        true
                    }
                };
                *entry = Arc::new(SharedGroup {
                    group: entry.group.clone(),
                    filter: entry.filter.clone(),
                    members,
                    cursor: entry.cursor.clone(),
                });
                new
            }
        };
        if new {
            self.count += 1;
        }
        new
    }

    /// Remove `client`'s subscription to `filter`. Returns whether it existed.
    pub fn remove(&mut self, filter: &str, group: Option<&str>, client: &str) -> bool {
        let removed = self.trie.update(filter, |s| take(s, group, client)).unwrap_or(false);
        if removed {
            self.count -= 1;
        }
        removed
    }

    /// Every subscription matching a topic name. Topics starting with `$` are not matched by a
    /// first-level wildcard (MQTT-4.7.2-1).
    pub fn matches(&self, topic: &str) -> Matches {
        let mut out = Matches::default();
        self.trie.visit(topic, &mut |s| collect(s, &mut out));
        out
    }
}

fn collect(s: &Subscribers, out: &mut Matches) {
    out.direct_filters += usize::from(!s.direct.is_empty());
    out.direct.extend(s.direct.iter().map(|(c, o)| (c.clone(), *o)));
    out.shared.extend(s.shared.values().cloned());
}

/// Remove `client`'s subscription from a filter's subscribers; whether it was there.
fn take(s: &mut Subscribers, group: Option<&str>, client: &str) -> bool {
    match group {
        None => s.direct.remove(client).is_some(),
        Some(g) => {
            let Some(entry) = s.shared.get_mut(g) else {
                return false;
            };
            let before = entry.members.len();
            let members: Vec<_> = entry.members.iter().filter(|(c, _)| &**c != client).cloned().collect();
            if members.len() == before {
                return false;
            }
            if members.is_empty() {
                s.shared.remove(g);
            } else {
                *entry = Arc::new(SharedGroup {
                    group: entry.group.clone(),
                    filter: entry.filter.clone(),
                    members,
                    cursor: entry.cursor.clone(),
                });
            }
            true
        }
    }
}

impl From<SubOptions> for SubOptionsWire {
    fn from(o: SubOptions) -> Self {
        Self {
            qos: o.qos,
            no_local: o.no_local,
            retain_as_published: o.retain_as_published,
            retain_handling: o.retain_handling,
            sub_id: o.sub_id,
        }
    }
}

impl From<SubOptionsWire> for SubOptions {
    fn from(o: SubOptionsWire) -> Self {
        Self {
            qos: o.qos,
            no_local: o.no_local,
            retain_as_published: o.retain_as_published,
            retain_handling: o.retain_handling,
            sub_id: o.sub_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::topic::matches as naive;
    use proptest::prelude::*;

    fn ids(m: &Matches) -> Vec<String> {
        let mut v: Vec<String> = m.direct.iter().map(|(c, _)| c.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn exact_plus_hash() {
        let mut ix = SubIndex::new();
        let o = SubOptions::default();
        ix.insert("a/b", None, "c1".into(), o);
        ix.insert("a/+", None, "c2".into(), o);
        ix.insert("a/#", None, "c3".into(), o);
        ix.insert("#", None, "c4".into(), o);
        ix.insert("+/+/c", None, "c5".into(), o);
        assert_eq!(ids(&ix.matches("a/b")), ["c1", "c2", "c3", "c4"]);
        assert_eq!(ids(&ix.matches("a")), ["c3", "c4"]);
        assert_eq!(ids(&ix.matches("a/b/c")), ["c3", "c4", "c5"]);
        assert_eq!(ids(&ix.matches("$SYS/a")), Vec::<String>::new());
        assert_eq!(ix.len(), 5);
        assert!(ix.remove("a/#", None, "c3"));
        assert!(!ix.remove("a/#", None, "c3"));
        assert_eq!(ids(&ix.matches("a")), ["c4"]);
    }

    #[test]
    fn replace_keeps_count() {
        let mut ix = SubIndex::new();
        assert!(ix.insert("a", None, "c".into(), SubOptions { qos: 0, ..Default::default() }));
        assert!(!ix.insert("a", None, "c".into(), SubOptions { qos: 2, ..Default::default() }));
        assert_eq!(ix.len(), 1);
        assert_eq!(ix.matches("a").direct[0].1.qos, 2);
    }

    #[test]
    fn shared_groups() {
        let mut ix = SubIndex::new();
        let o = SubOptions::default();
        ix.insert("s/+", Some("g"), "m1".into(), o);
        ix.insert("s/+", Some("g"), "m2".into(), o);
        ix.insert("s/+", Some("h"), "m3".into(), o);
        let m = ix.matches("s/x");
        assert!(m.direct.is_empty());
        assert_eq!(m.shared.len(), 2);
        let g = m.shared.iter().find(|g| &*g.group == "g").map(|g| g.members.len());
        assert_eq!(g, Some(2));
        assert!(ix.remove("s/+", Some("g"), "m1"));
        assert!(ix.remove("s/+", Some("g"), "m2"));
        assert_eq!(ix.matches("s/x").shared.len(), 1);
        assert!(ix.remove("s/+", Some("h"), "m3"));
        assert!(ix.is_empty());
        assert!(ix.trie.is_empty(), "empty nodes are pruned");
    }

    fn level() -> impl Strategy<Value = String> {
        prop_oneof![Just("a".to_string()), Just("b".to_string()), Just("".to_string()), Just("$x".to_string())]
    }
    fn topic() -> impl Strategy<Value = String> {
        proptest::collection::vec(level(), 1..5).prop_map(|v| v.join("/"))
    }
    fn filter() -> impl Strategy<Value = String> {
        (proptest::collection::vec(prop_oneof![level(), Just("+".to_string())], 1..5), any::<bool>()).prop_map(
            |(mut v, hash)| {
                if hash {
                    v.push("#".into());
                }
                v.join("/")
            },
        )
    }

    proptest! {
        /// The trie agrees with the naive matcher on every (filter set, topic) pair.
        #[test]
        fn agrees_with_naive(filters in proptest::collection::vec(filter(), 1..12), topics in proptest::collection::vec(topic(), 1..8)) {
            let mut ix = SubIndex::new();
            for (i, f) in filters.iter().enumerate() {
                ix.insert(f, None, format!("c{i}").into(), SubOptions::default());
            }
            for t in &topics {
                let mut want: Vec<String> = filters.iter().enumerate()
                    .filter(|(_, f)| naive(f, t)).map(|(i, _)| format!("c{i}")).collect();
                want.sort();
                want.dedup();
                prop_assert_eq!(ids(&ix.matches(t)), want, "topic {}", t);
            }
            for (i, f) in filters.iter().enumerate() {
                ix.remove(f, None, &format!("c{i}"));
            }
            prop_assert!(ix.is_empty());
            prop_assert!(ix.trie.is_empty());
        }
    }
}
