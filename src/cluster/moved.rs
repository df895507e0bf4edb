//! Sessions that moved away from a node while it was unreachable (issue 16's duplicate storm).
//!
//! While a peer X is cut off, this node keeps the QoS ≥ 1 messages for X in its outbox. If a
//! persistent client of X meanwhile resumed its session on node Y, the registry names Y and this
//! node also sends the client's messages to Y directly. Before, the copies kept for X were later
//! queued in X's stale copy of the session and handed back to Y: every message after the move
//! reached the client twice, beyond what the sessions' recent-id window can catch.
//!
//! Now each message kept for X carries the clients X must skip: those registered since at a node
//! that gets this same message directly, with a durable subscription matching it. Registration
//! follows the installation of the session and its routes on the new node (see
//! `Broker::import_session`), so such a client gets the message there; X queues it only for its
//! other sessions. The candidates are X's persistent clients when its backlog began (one registry
//! scan per outage); which of them moved is looked up again at most every [`REFRESH`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::catalog::Catalog;
use crate::catalog::cmd::NodeId;
use crate::protocol::topic;

/// How often the moved clients of a cut-off peer are looked up again.
const REFRESH: Duration = Duration::from_millis(200);

/// Marks an exclusion in a forwarded message's shared-group list: `("", client)` means "not for
/// this client here". An empty group name is not a valid shared subscription, so a node that
/// does not know the mark matches nothing with it and delivers as before.
pub const EXCLUDE_MARK: &str = "";

/// A client of a cut-off peer that is registered at another node now.
pub struct MovedClient {
    pub client: String,
    /// Its new owner.
    pub owner: NodeId,
    /// Its durable subscriptions' plain filters.
    pub filters: Vec<String>,
    /// The outbox key up to which the messages kept for the peer were passed on to it.
    pub followed: Option<Vec<u8>>,
}

#[derive(Default)]
pub struct MovedAway {
    per_node: Mutex<HashMap<NodeId, Outage>>,
}

struct Outage {
    /// Persistent clients the peer owned when its backlog began.
    owned: Vec<String>,
    /// Of those, the ones registered elsewhere now: (client, new owner, plain filters).
    moved: Vec<(String, NodeId, Vec<String>)>,
    /// When `moved` was last looked up (`None`: not yet).
    looked: Option<Instant>,
    /// Per moved client, the outbox key up to which the messages kept for the peer were passed
    /// on to its new owner (see `RaftCluster::follow_moved`).
    followed: HashMap<String, Vec<u8>>,
}

impl MovedAway {
    /// A backlog for `node` begins: note the persistent clients it owns now, while they still
    /// belong to it.
    pub fn begin(&self, catalog: &Catalog, node: NodeId) {
        self.per_node.lock().entry(node).or_insert_with(|| Outage::of(catalog, node));
    }

    /// Clients `node` must not deliver `topic` to, because they moved to one of `direct` (nodes
    /// that get this message directly) with a matching durable subscription.
    pub fn exclusions(&self, catalog: &Catalog, node: NodeId, topic_name: &str, direct: &[NodeId]) -> Vec<String> {
        if direct.is_empty() {
            // Normally taken by `begin` (the first message kept); a backlog kept from before a
            // restart has none yet.
            self.begin(catalog, node);
            return Vec::new();
        }
        let mut per = self.per_node.lock();
        let o = per.entry(node).or_insert_with(|| Outage::of(catalog, node));
        o.refresh(catalog, node);
        o.moved
            .iter()
            .filter(|(_, owner, filters)| {
                direct.contains(owner) && filters.iter().any(|f| topic::matches(f, topic_name))
            })
            .map(|(c, _, _)| c.clone())
            .collect()
    }

    /// The clients of `node`'s outage registered at another node now.
    pub fn moved(&self, catalog: &Catalog, node: NodeId) -> Vec<MovedClient> {
        let mut per = self.per_node.lock();
        let o = per.entry(node).or_insert_with(|| Outage::of(catalog, node));
        o.refresh(catalog, node);
        o.moved
            .iter()
            .map(|(c, n, f)| MovedClient {
                client: c.clone(),
                owner: *n,
                filters: f.clone(),
                followed: o.followed.get(c).cloned(),
            })
            .collect()
    }

    /// The messages kept for `node` up to outbox key `key` were passed on to `client`.
    pub fn followed(&self, node: NodeId, client: &str, key: Vec<u8>) {
        if let Some(o) = self.per_node.lock().get_mut(&node) {
            o.followed.insert(client.to_string(), key);
        }
    }

    /// The peer's backlog is gone: the next outage takes a fresh look at what it owns.
    pub fn forget(&self, node: NodeId) {
        self.per_node.lock().remove(&node);
    }
}

impl Outage {
    fn of(catalog: &Catalog, node: NodeId) -> Outage {
        Outage {
            owned: catalog.durable_clients().into_iter().filter(|c| catalog.owner_of(c) == Some(node)).collect(),
            moved: Vec::new(),
            looked: None,
            followed: HashMap::new(),
        }
    }

    /// Look up again, at most every [`REFRESH`], which of the clients moved.
    fn refresh(&mut self, catalog: &Catalog, node: NodeId) {
        if self.looked.is_some_and(|t| t.elapsed() < REFRESH) {
            return;
        }
        self.looked = Some(Instant::now());
        self.moved = self
            .owned
            .iter()
            .filter_map(|c| {
                let owner = catalog.owner_of(c).filter(|n| *n != node)?;
                let filters = catalog
                    .durable_subscriptions(c)
                    .into_iter()
                    .map(|(f, _)| f)
                    .filter(|f| !f.starts_with("$share/") && !f.starts_with("$queue/"))
                    .collect();
                Some((c.clone(), owner, filters))
            })
            .collect();
    }
}

/// The group list a message kept for `node` travels with: `groups`, plus the exclusions.
pub fn groups_with_exclusions(
    moved: &MovedAway,
    catalog: &Catalog,
    node: NodeId,
    topic_name: &str,
    direct: &[NodeId],
    groups: &[(String, String)],
) -> Vec<(String, String)> {
    let mut g = groups.to_vec();
    g.extend(moved.exclusions(catalog, node, topic_name, direct).into_iter().map(|c| (EXCLUDE_MARK.to_string(), c)));
    g
}

/// Split a forwarded message's group list into the shared groups served and the clients
/// excluded (see [`EXCLUDE_MARK`]).
pub fn split_exclusions(groups: Vec<(String, String)>) -> (Vec<(String, String)>, Vec<String>) {
    let (marks, groups): (Vec<_>, Vec<_>) = groups.into_iter().partition(|(g, _)| g == EXCLUDE_MARK);
    (groups, marks.into_iter().map(|(_, c)| c).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::subs::SubOptions;
    use crate::catalog::cmd::{CatalogCmd, SubOptionsWire};

    fn catalog() -> (tempfile::TempDir, Catalog) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::storage::Store::open(dir.path(), &crate::config::StorageConfig::default()).expect("store");
        (dir, Catalog::open(store).expect("catalog"))
    }

    #[test]
    fn a_client_that_moved_to_a_direct_target_is_excluded() {
        let (_d, cat) = catalog();
        let subs = |f: &str| vec![(f.to_string(), SubOptionsWire::from(SubOptions { qos: 1, ..Default::default() }))];
        for (c, f) in [("moves", "a/#"), ("stays", "a/#"), ("other", "b/#")] {
            cat.apply(&CatalogCmd::RegisterClient { client: c.into(), node: 1, owner: None }).expect("apply");
            cat.apply(&CatalogCmd::SetDurableSubs { client: c.into(), subs: subs(f) }).expect("apply");
        }
        let m = MovedAway::default();
        // The outage begins: nothing moved yet.
        m.begin(&cat, 1);
        assert!(m.exclusions(&cat, 1, "a/x", &[2]).is_empty());
        cat.apply(&CatalogCmd::RegisterClient { client: "moves".into(), node: 2, owner: None }).expect("apply");
        cat.apply(&CatalogCmd::RegisterClient { client: "other".into(), node: 2, owner: None }).expect("apply");
        std::thread::sleep(REFRESH);
        assert_eq!(m.exclusions(&cat, 1, "a/x", &[2, 3]), vec!["moves".to_string()]);
        // Not sent to its new node directly: node 1 must still deliver it (and hand it over).
        assert!(m.exclusions(&cat, 1, "a/x", &[3]).is_empty());
        // Not matching its subscriptions: nothing to exclude.
        assert!(m.exclusions(&cat, 1, "c/x", &[2]).is_empty());
        // Both moved clients are listed with their new owner, for the kept messages to follow.
        let mut listed: Vec<(String, NodeId, Vec<String>)> =
            m.moved(&cat, 1).into_iter().map(|c| (c.client, c.owner, c.filters)).collect();
        listed.sort();
        assert_eq!(listed, vec![("moves".into(), 2, vec!["a/#".into()]), ("other".into(), 2, vec!["b/#".into()])]);
        m.followed(1, "moves", vec![7]);
        let mut followed: Vec<(String, Option<Vec<u8>>)> =
            m.moved(&cat, 1).into_iter().map(|c| (c.client, c.followed)).collect();
        followed.sort();
        assert_eq!(followed, vec![("moves".into(), Some(vec![7])), ("other".into(), None)]);
        m.forget(1);
        // A new outage: "moves" is no longer node 1's, so it is no candidate.
        assert!(m.exclusions(&cat, 1, "a/x", &[2]).is_empty());
    }

    #[test]
    fn exclusions_travel_in_the_group_list() {
        let groups = vec![
            ("g".to_string(), "a/+".to_string()),
            (EXCLUDE_MARK.to_string(), "c1".to_string()),
            (EXCLUDE_MARK.to_string(), "c2".to_string()),
        ];
        let (g, x) = split_exclusions(groups);
        assert_eq!(g, vec![("g".to_string(), "a/+".to_string())]);
        assert_eq!(x, vec!["c1".to_string(), "c2".to_string()]);
    }
}
