//! The cluster's route table: which nodes have subscribers for which filters.
//!
//! Every publish asks it which other nodes want the message, so matching must not grow with
//! the table: besides the map `key → node → reference count` (what is persisted and
//! snapshotted), the filters sit in a [`FilterTrie`], the one the broker's own subscription
//! index ([`crate::broker::subs`]) is built on. A lookup walks the topic's levels (plus the `+` and `#`
//! branches on the way), whatever the number of routes. A key is a filter, or
//! `$share/<group>/<filter>` for a shared subscription group's members on a node.

use std::collections::{BTreeMap, HashMap};

use crate::catalog::cmd::NodeId;
use crate::protocol::filter_trie::{FilterTrie, Slot};
use crate::protocol::topic;

/// The routes a publish matches, from the local replica of the route table.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RemoteRoutes {
    /// Nodes other than this one with plain subscriptions matching the topic.
    pub nodes: Vec<NodeId>,
    /// Shared groups matching it: (group, filter, nodes with members, this one included, so
    /// one member is picked cluster-wide).
    pub shared: Vec<(String, String, Vec<NodeId>)>,
}

/// Reference counts of one key's routes: node → local subscriptions.
pub type Refs = BTreeMap<NodeId, u32>;

#[derive(Default)]
pub struct RouteTable {
    by_key: HashMap<String, Refs>,
    trie: FilterTrie<Entry>,
}

/// The nodes routing one filter, and its shared groups' nodes.
#[derive(Default, Debug, PartialEq, Eq)]
struct Entry {
    /// Nodes with plain subscriptions to exactly this filter (sorted).
    nodes: Vec<NodeId>,
    /// `group → nodes with members` of `$share/<group>/<this filter>`.
    shared: BTreeMap<String, Vec<NodeId>>,
    /// This entry's filter, for the shared groups' answers.
    filter: String,
}

impl Slot for Entry {
    fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.shared.is_empty()
    }
}

impl RouteTable {
    /// Number of keys (filters and shared groups' keys).
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&Refs> {
        self.by_key.get(key)
    }

    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Refs)> {
        self.by_key.iter()
    }

    /// One more subscription of `node` to `key`; the key's counts afterwards.
    pub fn add(&mut self, key: &str, node: NodeId) -> &Refs {
        let refs = self.by_key.entry(key.to_string()).or_default();
        *refs.entry(node).or_default() += 1;
        let nodes: Vec<NodeId> = refs.keys().copied().collect();
        self.set_nodes(key, nodes);
        self.by_key.entry(key.to_string()).or_default()
    }

    /// One subscription of `node` to `key` fewer; the key's counts afterwards, `None` once it
    /// has none left (removed).
    pub fn remove(&mut self, key: &str, node: NodeId) -> Option<&Refs> {
        let refs = self.by_key.get_mut(key)?;
        if let Some(n) = refs.get_mut(&node) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                refs.remove(&node);
            }
        }
        self.changed(key)
    }

    /// Forget every route of `node`; the keys that changed, with their counts afterwards
    /// (`None`: removed).
    pub fn clear_node(&mut self, node: NodeId) -> Vec<(String, Option<Refs>)> {
        let keys: Vec<String> =
            self.by_key.iter().filter(|(_, m)| m.contains_key(&node)).map(|(k, _)| k.clone()).collect();
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            if let Some(m) = self.by_key.get_mut(&k) {
                m.remove(&node);
            }
            let after = self.changed(&k).cloned();
            out.push((k, after));
        }
        out
    }

    /// Set a key's counts as loaded from disk or a snapshot.
    pub fn insert(&mut self, key: String, refs: Refs) {
        let nodes: Vec<NodeId> = refs.keys().copied().collect();
        self.set_nodes(&key, nodes);
        if refs.is_empty() {
            self.by_key.remove(&key);
        } else {
            self.by_key.insert(key, refs);
        }
    }

    /// Re-index `key` after its counts changed; drops it when none are left.
    fn changed(&mut self, key: &str) -> Option<&Refs> {
        let nodes: Vec<NodeId> = self.by_key.get(key).map(|m| m.keys().copied().collect()).unwrap_or_default();
        self.set_nodes(key, nodes.clone());
        if nodes.is_empty() {
            self.by_key.remove(key);
            return None;
        }
        self.by_key.get(key)
    }

    /// Record in the trie which nodes route `key` (none: remove it).
    fn set_nodes(&mut self, key: &str, nodes: Vec<NodeId>) {
        let (group, filter) = match topic::shared_route(key) {
            Some((g, f)) => (Some(g), f),
            None => (None, key),
        };
        let empty = nodes.is_empty();
        let set = move |e: &mut Entry| match group {
            None => e.nodes = nodes,
            Some(g) if empty => {
                e.shared.remove(g);
            }
            Some(g) => {
                if e.filter.is_empty() {
                    e.filter = filter.to_string();
                }
                e.shared.insert(g.to_string(), nodes);
            }
        };
        if empty {
            self.trie.update(filter, set);
        } else {
            set(self.trie.entry(filter));
        }
    }

    /// The routes matching a topic, in one walk of the trie: nodes other than `except` with a
    /// plain route (sorted, once each), and the shared groups with the nodes that have members.
    pub fn matching(&self, topic_name: &str, except: NodeId) -> RemoteRoutes {
        let mut out = RemoteRoutes::default();
        self.trie.visit(topic_name, &mut |e| {
            out.nodes.extend(e.nodes.iter().filter(|n| **n != except));
            for (g, nodes) in &e.shared {
                out.shared.push((g.clone(), e.filter.clone(), nodes.clone()));
            }
        });
        if out.nodes.len() > 1 {
            out.nodes.sort_unstable();
            out.nodes.dedup();
        }
        out
    }

    /// Nodes other than `except` with a plain route matching `topic_name`, sorted, once each.
    #[cfg(test)]
    pub fn nodes_matching(&self, topic_name: &str, except: NodeId) -> Vec<NodeId> {
        self.matching(topic_name, except).nodes
    }

    /// Shared groups matching `topic_name`: (group, filter, nodes with members).
    #[cfg(test)]
    pub fn shared_matching(&self, topic_name: &str) -> Vec<(String, String, Vec<NodeId>)> {
        self.matching(topic_name, 0).shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the table must answer: a scan of every key with `topic::matches`.
    fn scan(t: &RouteTable, topic_name: &str, except: NodeId) -> Vec<NodeId> {
        let mut out: Vec<NodeId> = t
            .iter()
            .filter(|(k, _)| topic::shared_route(k).is_none() && topic::matches(k, topic_name))
            .flat_map(|(_, m)| m.keys().copied())
            .filter(|n| *n != except)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    #[test]
    fn matches_like_the_filters_say() {
        let mut t = RouteTable::default();
        t.add("a/b", 1);
        t.add("a/+", 2);
        t.add("a/#", 3);
        t.add("#", 4);
        t.add("+/b", 5);
        t.add("$SYS/#", 6);
        assert_eq!(t.nodes_matching("a/b", 0), vec![1, 2, 3, 4, 5]);
        assert_eq!(t.nodes_matching("a", 0), vec![3, 4]);
        assert_eq!(t.nodes_matching("a/b/c", 0), vec![3, 4]);
        assert_eq!(t.nodes_matching("a/b", 3), vec![1, 2, 4, 5]);
        // Wildcards at the first level never match `$` topics.
        assert_eq!(t.nodes_matching("$SYS/x", 0), vec![6]);
        assert_eq!(t.nodes_matching("x", 0), vec![4]);
    }

    #[test]
    fn counts_and_removal_prune_the_trie() {
        let mut t = RouteTable::default();
        t.add("a/+/c", 1);
        t.add("a/+/c", 1);
        t.add("a/+/c", 2);
        assert_eq!(t.get("a/+/c").map(|m| m[&1]), Some(2));
        assert!(t.remove("a/+/c", 1).is_some());
        assert_eq!(t.nodes_matching("a/x/c", 0), vec![1, 2]);
        assert!(t.remove("a/+/c", 1).is_some());
        assert_eq!(t.nodes_matching("a/x/c", 0), vec![2]);
        assert!(t.remove("a/+/c", 2).is_none());
        assert!(t.is_empty());
        assert!(t.trie.is_empty(), "empty branches are dropped");
        // Removing what is not there changes nothing.
        assert!(t.remove("nope", 1).is_none());
    }

    #[test]
    fn clear_node_reports_what_changed() {
        let mut t = RouteTable::default();
        t.add("a", 1);
        t.add("a", 2);
        t.add("b/#", 1);
        t.add("$share/g/c", 1);
        let mut changed = t.clear_node(1);
        changed.sort();
        assert_eq!(changed.len(), 3);
        assert_eq!(changed[0], ("$share/g/c".to_string(), None));
        assert_eq!(changed[1].0, "a");
        assert_eq!(changed[1].1.as_ref().map(|m| m.keys().copied().collect::<Vec<_>>()), Some(vec![2]));
        assert_eq!(changed[2], ("b/#".to_string(), None));
        assert_eq!(t.nodes_matching("a", 0), vec![2]);
        assert!(t.nodes_matching("b/x", 0).is_empty());
        assert!(t.shared_matching("c").is_empty());
    }

    #[test]
    fn shared_groups_are_apart_from_plain_routes() {
        let mut t = RouteTable::default();
        t.add("$share/g/s/+", 1);
        t.add("$share/g/s/+", 2);
        t.add("$share/h/s/#", 3);
        t.add("s/x", 4);
        assert_eq!(t.nodes_matching("s/x", 0), vec![4]);
        let mut s = t.shared_matching("s/x");
        s.sort();
        assert_eq!(s, vec![("g".into(), "s/+".into(), vec![1, 2]), ("h".into(), "s/#".into(), vec![3])]);
        assert!(t.shared_matching("other").is_empty());
    }

    fn level() -> impl Strategy<Value = String> {
        prop_oneof![Just("a".to_string()), Just("b".to_string()), Just("$s".to_string()), Just(String::new())]
    }

    fn filter() -> impl Strategy<Value = String> {
        (prop::collection::vec(prop_oneof![level(), Just("+".to_string())], 1..4), any::<bool>()).prop_map(
            |(mut ls, hash)| {
                if hash {
                    ls.push("#".into());
                }
                ls.join("/")
            },
        )
    }

    /// A plain filter or a shared group's key.
    fn key() -> impl Strategy<Value = String> {
        (filter(), prop_oneof![Just(None), Just(Some("g")), Just(Some("h"))]).prop_map(|(f, g)| match g {
            Some(g) => format!("$share/{g}/{f}"),
            None => f,
        })
    }

    fn shared_scan(t: &RouteTable, topic_name: &str) -> Vec<(String, String, Vec<NodeId>)> {
        let mut out: Vec<_> = t
            .iter()
            .filter_map(|(k, m)| {
                let (g, f) = topic::shared_route(k)?;
                topic::matches(f, topic_name).then(|| (g.to_string(), f.to_string(), m.keys().copied().collect()))
            })
            .collect();
        out.sort();
        out
    }

    fn topic_name() -> impl Strategy<Value = String> {
        prop::collection::vec(level(), 1..5).prop_map(|ls| ls.join("/"))
    }

    proptest! {
        /// After any sequence of adds and removes, the trie answers what a scan answers.
        #[test]
        fn trie_agrees_with_a_scan(
            ops in prop::collection::vec((key(), 1u64..4, any::<bool>()), 0..40),
            topics in prop::collection::vec(topic_name(), 1..10),
        ) {
            let mut t = RouteTable::default();
            for (f, node, add) in &ops {
                if *add { t.add(f, *node); } else { t.remove(f, *node); }
            }
            for tn in &topics {
                prop_assert_eq!(t.nodes_matching(tn, 0), scan(&t, tn, 0));
                prop_assert_eq!(t.nodes_matching(tn, 2), scan(&t, tn, 2));
                let mut shared = t.shared_matching(tn);
                shared.sort();
                prop_assert_eq!(shared, shared_scan(&t, tn));
            }
            for (f, node, _) in &ops {
                t.remove(f, *node);
                t.remove(f, *node);
                t.remove(f, *node);
            }
            for tn in &topics {
                prop_assert_eq!(t.nodes_matching(tn, 0), scan(&t, tn, 0));
            }
        }
    }
}
