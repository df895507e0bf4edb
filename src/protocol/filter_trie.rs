//! A trie of topic filters by level, holding a value per filter, and the MQTT matching walk
//! over it: what both the broker's subscription index (`broker::subs`) and the cluster's
//! route table (`cluster::routes`) are built on, so a topic is matched in time proportional to
//! its levels, not to the number of filters.
//!
//! One node per filter level with its exact-level children, a `+` child, the value of a
//! trailing `#` (`<this level>/#`) and the value of a filter ending at this level. Filters
//! are validated before they get here.

use std::collections::HashMap;

/// A value kept per filter. Empty values (and the branches holding only those) are pruned.
pub trait Slot: Default {
    fn is_empty(&self) -> bool;
}

#[derive(Debug)]
pub struct FilterTrie<T> {
    root: Level<T>,
}

impl<T: Default> Default for FilterTrie<T> {
    fn default() -> Self {
        FilterTrie { root: Level::default() }
    }
}

#[derive(Debug, Default)]
struct Level<T> {
    children: HashMap<Box<str>, Level<T>>,
    plus: Option<Box<Level<T>>>,
    /// The value of `<this level>/#`.
    hash: T,
    /// The value of the filter that ends at this level.
    here: T,
}

impl<T: Slot> Level<T> {
    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.plus.is_none() && self.hash.is_empty() && self.here.is_empty()
    }
}

impl<T: Slot> FilterTrie<T> {
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.root.is_empty()
    }

    /// The value of `filter`, created (with the levels leading to it) when missing.
    pub fn entry(&mut self, filter: &str) -> &mut T {
        let mut node = &mut self.root;
        let mut levels = filter.split('/').peekable();
        while let Some(level) = levels.next() {
            if level == "#" && levels.peek().is_none() {
                return &mut node.hash;
            }
            node = if level == "+" {
                node.plus.get_or_insert_with(Default::default)
            } else {
                node.children.entry(level.into()).or_default()
            };
        }
        &mut node.here
    }

    /// Apply `f` to the value of `filter` if its branch exists (`None` otherwise), then drop
    /// the branches left empty.
    pub fn update<R>(&mut self, filter: &str, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let levels: Vec<&str> = filter.split('/').collect();
        update_rec(&mut self.root, &levels, f)
    }

    /// Visit the value of every filter that matches `topic`. A topic starting with `$` is not
    /// matched by a wildcard at the first level (MQTT-4.7.2-1).
    pub fn visit<'a>(&'a self, topic: &str, f: &mut dyn FnMut(&'a T)) {
        visit_rec(&self.root, topic.split('/'), topic.starts_with('$'), f);
    }
}

fn update_rec<T: Slot, R>(node: &mut Level<T>, levels: &[&str], f: impl FnOnce(&mut T) -> R) -> Option<R> {
    match levels {
        [] => Some(f(&mut node.here)),
        ["#"] => Some(f(&mut node.hash)),
        ["+", rest @ ..] => {
            let plus = node.plus.as_mut()?;
            let r = update_rec(plus, rest, f);
            if plus.is_empty() {
                node.plus = None;
            }
            r
        }
        [level, rest @ ..] => {
            let child = node.children.get_mut(*level)?;
            let r = update_rec(child, rest, f);
            if child.is_empty() {
                node.children.remove(*level);
            }
            r
        }
    }
}

/// The walk clones the level iterator where it branches: no allocation per lookup.
fn visit_rec<'a, T>(
    node: &'a Level<T>,
    mut levels: std::str::Split<'_, char>,
    first_is_dollar: bool,
    f: &mut dyn FnMut(&'a T),
) {
    // `#` also matches the parent level itself ("a/#" matches "a").
    if !first_is_dollar {
        f(&node.hash);
    }
    let Some(level) = levels.next() else {
        f(&node.here);
        return;
    };
    if let Some(child) = node.children.get(level) {
        visit_rec(child, levels.clone(), false, f);
    }
    if !first_is_dollar && let Some(plus) = &node.plus {
        visit_rec(plus, levels, false, f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::topic;
    use proptest::prelude::*;

    impl Slot for Vec<String> {
        fn is_empty(&self) -> bool {
            Vec::is_empty(self)
        }
    }

    fn matched(t: &FilterTrie<Vec<String>>, topic_name: &str) -> Vec<String> {
        let mut out = Vec::new();
        t.visit(topic_name, &mut |v| out.extend(v.iter().cloned()));
        out.sort();
        out
    }

    #[test]
    fn entry_update_visit_and_pruning() {
        let mut t: FilterTrie<Vec<String>> = FilterTrie::default();
        for f in ["a/b", "a/+", "a/#", "#", "+/b", "$SYS/#"] {
            t.entry(f).push(f.to_string());
        }
        assert_eq!(matched(&t, "a/b"), ["#", "+/b", "a/#", "a/+", "a/b"]);
        assert_eq!(matched(&t, "a"), ["#", "a/#"]);
        assert_eq!(matched(&t, "$SYS/x"), ["$SYS/#"]);
        assert_eq!(t.update("nope/x", |v| v.len()), None, "a missing branch is not created");
        for f in ["a/b", "a/+", "a/#", "#", "+/b", "$SYS/#"] {
            assert_eq!(t.update(f, |v| v.clear()), Some(()));
        }
        assert!(t.is_empty(), "emptied branches are dropped");
    }

    fn filter() -> impl Strategy<Value = String> {
        let level = prop_oneof![Just("a"), Just("b"), Just("$s"), Just(""), Just("+")];
        (prop::collection::vec(level, 1..4), any::<bool>()).prop_map(|(ls, hash)| {
            let mut ls: Vec<String> = ls.into_iter().map(String::from).collect();
            if hash {
                ls.push("#".into());
            }
            ls.join("/")
        })
    }

    proptest! {
        /// The walk finds exactly the filters `topic::matches` accepts.
        #[test]
        fn visit_agrees_with_matches(
            filters in prop::collection::vec(filter(), 0..20),
            topics in prop::collection::vec(prop::collection::vec(prop_oneof![Just("a"), Just("b"), Just("$s"), Just("")], 1..5), 1..8),
        ) {
            let mut t: FilterTrie<Vec<String>> = FilterTrie::default();
            for f in &filters {
                t.entry(f).push(f.clone());
            }
            for tn in topics.iter().map(|ls| ls.join("/")) {
                let mut want: Vec<String> = filters.iter().filter(|f| topic::matches(f, &tn)).cloned().collect();
                want.sort();
                prop_assert_eq!(matched(&t, &tn), want);
            }
        }
    }
}
