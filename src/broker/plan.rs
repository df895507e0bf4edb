//! Routing decisions as pure functions: which local sessions get a message (overlapping
//! subscriptions merged), which member of a shared group, and which other nodes. The broker
//! feeds them the index matches and the catalog's routes; nothing here locks, waits or writes.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use crate::config::SharedStrategy;

use super::port::ForwardTarget;
use super::subs::{ClientKey, SubOptions};
use crate::catalog::cmd::NodeId;
use crate::catalog::routes::RemoteRoutes;

/// Which of `n` candidates gets one message under `strategy`: `cursor` is asked for the
/// round-robin position only when the strategy needs it; `origin` is the publisher's client id.
/// `None` when there is no candidate.
pub fn pick(strategy: SharedStrategy, n: usize, origin: &str, cursor: impl FnOnce() -> usize) -> Option<usize> {
    if n == 0 {
        return None;
    }
    Some(match strategy {
        SharedStrategy::RoundRobin => cursor() % n,
        SharedStrategy::Random => rand::random_range(0..n),
        SharedStrategy::HashClientid => {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            origin.hash(&mut h);
            (h.finish() % n as u64) as usize
        }
    })
}

/// Per client, once: the highest granted QoS, Retain As Published, the subscription identifiers.
pub type Merged = Vec<(ClientKey, (u8, bool, Vec<u32>))>;

/// One delivery per session for the direct subscriptions a topic matched: the highest granted
/// QoS, Retain As Published if any subscription asks for it, every subscription identifier.
/// No Local subscriptions of the publisher `origin` are skipped; with `only`, so is every client
/// not in it. `distinct`: `direct` names each client at most once (it came from one filter,
/// whose subscribers are keyed by client), so there is nothing to merge and no map is built.
pub fn merge_direct(
    direct: Vec<(ClientKey, SubOptions)>,
    origin: &str,
    only: Option<&[String]>,
    distinct: bool,
) -> Merged {
    let keep = |client: &ClientKey, o: &SubOptions| {
        !(o.no_local && **client == *origin) && only.is_none_or(|only| only.iter().any(|c| **c == **client))
    };
    if distinct {
        // Sized up front: a filtered iterator's size hint would grow the vector step by step.
        let mut out = Vec::with_capacity(direct.len());
        out.extend(
            direct
                .into_iter()
                .filter(|(c, o)| keep(c, o))
                .map(|(c, o)| (c, (o.qos, o.retain_as_published, o.sub_id.into_iter().collect()))),
        );
        return out;
    }
    // Built once per publish with one entry per subscriber: foldhash, not SipHash.
    let mut merged: HashMap<ClientKey, (u8, bool, Vec<u32>), foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(direct.len(), Default::default());
    for (client, o) in direct {
        if !keep(&client, &o) {
            continue;
        }
        let e = merged.entry(client).or_insert((0, false, Vec::new()));
        e.0 = e.0.max(o.qos);
        e.1 |= o.retain_as_published;
        if let Some(id) = o.sub_id {
            e.2.push(id);
        }
    }
    merged.into_iter().collect()
}

/// Which other nodes get a publish, and the shared groups (group, filter) another node serves
/// for it. Every node with a plain route gets it once; a shared group with members on several
/// nodes gets it on one node only, picked by `strategy` (`cursor` gives the round-robin
/// position of a group, keyed `group/filter`). Targets come out sorted by node.
pub fn plan_remote(
    me: NodeId,
    routes: RemoteRoutes,
    strategy: SharedStrategy,
    origin: &str,
    mut cursor: impl FnMut(&str) -> usize,
) -> (Vec<ForwardTarget>, Vec<(String, String)>) {
    if routes.shared.is_empty() {
        // The common case: plain routes only (sorted, once each), no group to place.
        let targets =
            routes.nodes.into_iter().map(|node| ForwardTarget { node, groups: Vec::new(), clients: Vec::new() });
        return (targets.collect(), Vec::new());
    }
    let mut by_node: BTreeMap<NodeId, Vec<(String, String)>> =
        routes.nodes.into_iter().map(|n| (n, Vec::new())).collect();
    let mut elsewhere = Vec::new();
    for (g, f, nodes) in routes.shared {
        if nodes == [me] {
            continue;
        }
        let Some(&pick) =
            pick(strategy, nodes.len(), origin, || cursor(&format!("{g}/{f}"))).and_then(|i| nodes.get(i))
        else {
            continue;
        };
        if pick == me {
            continue;
        }
        by_node.entry(pick).or_default().push((g.clone(), f.clone()));
        elsewhere.push((g, f));
    }
    (by_node.into_iter().map(|(node, groups)| ForwardTarget { node, groups, clients: Vec::new() }).collect(), elsewhere)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Arc;

    /// The planner written the obvious way: every plain route once, then each placed group
    /// appended to its node, nodes in order.
    fn naive_remote(
        me: NodeId,
        routes: &RemoteRoutes,
        cursor: impl Fn(&str) -> usize,
    ) -> (Vec<(NodeId, Vec<(String, String)>)>, Vec<(String, String)>) {
        let mut nodes: Vec<NodeId> = routes.nodes.clone();
        let mut groups: Vec<(NodeId, (String, String))> = Vec::new();
        for (g, f, members) in &routes.shared {
            if members.is_empty() || members.as_slice() == [me] {
                continue;
            }
            let pick = members[cursor(&format!("{g}/{f}")) % members.len()];
            if pick != me {
                groups.push((pick, (g.clone(), f.clone())));
                nodes.push(pick);
            }
        }
        nodes.sort_unstable();
        nodes.dedup();
        let out = nodes
            .iter()
            .map(|n| (*n, groups.iter().filter(|(p, _)| p == n).map(|(_, gf)| gf.clone()).collect()))
            .collect();
        (out, groups.into_iter().map(|(_, gf)| gf).collect())
    }

    fn routes_strategy() -> impl Strategy<Value = RemoteRoutes> {
        let nodes = proptest::collection::btree_set(1u64..8, 0..5).prop_map(|s| s.into_iter().collect::<Vec<_>>());
        let group = (0u8..3, 0u8..3, proptest::collection::btree_set(1u64..8, 0..4))
            .prop_map(|(g, f, members)| (format!("g{g}"), format!("f{f}"), members.into_iter().collect()));
        (nodes, proptest::collection::vec(group, 0..5)).prop_map(|(nodes, shared)| RemoteRoutes { nodes, shared })
    }

    /// A round-robin position that depends on the group and the case only.
    fn cursor_for(seed: usize) -> impl Fn(&str) -> usize {
        move |key| key.bytes().map(usize::from).sum::<usize>() + seed
    }

    proptest! {
        #[test]
        fn plan_remote_matches_the_naive_planner(routes in routes_strategy(), me in 1u64..8, seed in 0usize..16) {
            let mut plain = routes.nodes.clone();
            plain.retain(|n| *n != me);
            let routes = RemoteRoutes { nodes: plain, shared: routes.shared };
            let want = naive_remote(me, &routes, cursor_for(seed));
            let (targets, elsewhere) = plan_remote(me, routes, SharedStrategy::RoundRobin, "pub", cursor_for(seed));
            let got: Vec<_> = targets.into_iter().map(|t| (t.node, t.groups)).collect();
            prop_assert_eq!(got, want.0);
            prop_assert_eq!(elsewhere, want.1);
        }

        #[test]
        fn merge_direct_matches_a_naive_merge(
            subs in proptest::collection::vec((0u8..4, 0u8..3, any::<bool>(), any::<bool>(), proptest::option::of(1u32..9)), 0..12),
        ) {
            let direct: Vec<(ClientKey, SubOptions)> = subs
                .iter()
                .map(|(c, qos, nl, rap, id)| {
                    let o = SubOptions { qos: *qos, no_local: *nl, retain_as_published: *rap, retain_handling: 0, sub_id: *id };
                    (Arc::from(format!("c{c}").as_str()), o)
                })
                .collect();
            let merged = merge_direct(direct.clone(), "c0", None, false);
            for (client, (qos, rap, ids)) in &merged {
                let mine: Vec<&SubOptions> =
                    direct.iter().filter(|(c, o)| c == client && !(o.no_local && &**c == "c0")).map(|(_, o)| o).collect();
                prop_assert!(!mine.is_empty());
                prop_assert_eq!(*qos, mine.iter().map(|o| o.qos).max().unwrap_or(0));
                prop_assert_eq!(*rap, mine.iter().any(|o| o.retain_as_published));
                prop_assert_eq!(ids, &mine.iter().filter_map(|o| o.sub_id).collect::<Vec<_>>());
            }
            let expected: std::collections::BTreeSet<&str> = direct
                .iter()
                .filter(|(c, o)| !(o.no_local && &**c == "c0"))
                .map(|(c, _)| &**c)
                .collect();
            prop_assert_eq!(merged.iter().map(|(c, _)| &**c).collect::<std::collections::BTreeSet<_>>(), expected.clone());
            prop_assert_eq!(merged.len(), expected.len(), "one entry per client");
            // Each client once (as one filter's subscribers are): the map-free path agrees.
            let mut once = direct.clone();
            let mut seen = std::collections::HashSet::new();
            once.retain(|(c, _)| seen.insert(c.clone()));
            let mut slow = merge_direct(once.clone(), "c0", None, false);
            let mut fast = merge_direct(once, "c0", None, true);
            slow.sort_by(|a, b| a.0.cmp(&b.0));
            fast.sort_by(|a, b| a.0.cmp(&b.0));
            prop_assert_eq!(fast, slow);
        }
    }

    #[test]
    fn pick_uses_the_cursor_only_for_round_robin_and_never_out_of_range() {
        assert_eq!(pick(SharedStrategy::RoundRobin, 3, "a", || 7), Some(1));
        assert_eq!(pick(SharedStrategy::RoundRobin, 0, "a", || 7), None);
        let h = pick(SharedStrategy::HashClientid, 5, "client", || unreachable!());
        assert_eq!(h, pick(SharedStrategy::HashClientid, 5, "client", || unreachable!()), "stable per publisher");
        for _ in 0..50 {
            assert!(pick(SharedStrategy::Random, 4, "a", || unreachable!()).is_some_and(|i| i < 4));
        }
    }

    #[test]
    fn merge_direct_keeps_only_the_listed_clients() {
        let o = SubOptions { qos: 1, ..Default::default() };
        let direct = vec![(Arc::from("a"), o), (Arc::from("b"), o)];
        let only = ["b".to_string()];
        for distinct in [false, true] {
            let merged = merge_direct(direct.clone(), "x", Some(&only), distinct);
            assert_eq!(merged.iter().map(|(c, _)| &**c).collect::<Vec<_>>(), ["b"]);
        }
    }
}
