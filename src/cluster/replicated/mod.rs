//! The Raft-replicated implementation of [`Cluster`]: core nodes are openraft voters, replicants
//! learners. Reads come from the local catalog replica; writes go to the leader (directly when
//! this node leads, else forwarded over the link); publishes go node-to-node over the link and
//! never through Raft.
//!
//! Membership is driven by [`RaftCluster::run_membership`], one tick per discovery interval:
//! - not in a cluster yet: ask the discovered peers; if one is, join through its leader; if none
//!   is and `bootstrap_expect` cores are visible, the lowest-named core initialises a cluster of
//!   itself and the others join it;
//! - in a cluster and leader: promote caught-up core learners to voters, and remove replicants
//!   unreachable for longer than `replicant_timeout`. Cores are only removed explicitly: a
//!   restart never changes the membership.

mod dispatch;
mod follow;
mod forwarding;
mod membership;
mod status;
mod writes;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use std::time::{Duration, Instant};

use bytes::Bytes;
use openraft::ChangeMembers;
use openraft::error::{ClientWriteError, RaftError};
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::broker::handover::SessionTransfer;
use crate::broker::port::{BoxFuture, Cluster, ClusterError, Confirmation, ForwardTarget, Inbound};
use crate::catalog::Catalog;
use crate::catalog::cmd::{CatalogCmd, CatalogResp, NodeId};
use crate::catalog::routes::RemoteRoutes;
use crate::cluster::admin::{
    ClusterAdmin, ClusterMetrics, ClusterStatus, MemberStatus, MembershipError, MembershipOp, RaftView,
};
use crate::cluster::discovery::Discovery;
use crate::cluster::link::{Confirm, Identity, Link, LinkHandler};
use crate::cluster::outbox::Outbox;
use crate::cluster::raft::log_store::LogStore;
use crate::cluster::raft::network::Network;
use crate::cluster::raft::state_machine::StateMachine;
use crate::cluster::raft::{CatalogWrite, Member, Raft};
use crate::cluster::rpc::{self, NodeStatus, Reply, Rpc};
use crate::config::{ClusterConfig, Role};
use crate::protocol::Message;
use crate::storage::Store;
use dispatch::Handler;

/// How long a catalog write waits for a leader before failing.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);
/// Joining waits for the new node to catch up (`add_learner` blocks until it has).
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);

pub struct RaftCluster {
    me: NodeId,
    member: Member,
    cfg: ClusterConfig,
    raft: Raft,
    catalog: Arc<Catalog>,
    link: Link,
    log: LogStore,
    applied: Arc<AtomicU64>,
    discovery: Discovery,
    /// Submitted catalog writes, committed in order by [`RaftCluster::run_writer`].
    queue: tokio::sync::mpsc::UnboundedSender<CatalogCmd>,
    queue_rx: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<CatalogCmd>>>,
    /// QoS ≥ 1 messages for peers that did not confirm them.
    outbox: Arc<Outbox>,
    /// The members' cluster-link addresses: read for every forwarded publish (hence foldhash), so kept apart
    /// from Raft's metrics. Rebuilt by the membership upkeep; a node missing here is looked
    /// up there (see [`RaftCluster::forward_addr`]).
    addrs: parking_lot::RwLock<HashMap<NodeId, Arc<str>, foldhash::fast::RandomState>>,
    /// Submitted writes not yet committed (metric, readiness).
    pub pending_writes: AtomicU64,
    /// Last time each member answered (replicant expiry).
    last_seen: Mutex<HashMap<NodeId, Instant>>,
    joined: AtomicBool,
    /// This node was a member and has been removed: it does not rejoin by itself.
    removed: AtomicBool,
    /// The leader's last log index, as last heard (followers and learners ask every tick).
    leader_last_log: AtomicU64,
    /// When this node was last within a few entries of the leader.
    caught_up_at: Mutex<Instant>,
    pub leader_changes: AtomicU64,
    /// Leader contact and pre-vote timing (openraft's own election timer is off).
    elections: crate::cluster::prevote::Elections,
    /// Clients that moved away from peers with a backlog here (see `cluster::moved`).
    moved: Arc<crate::cluster::moved::MovedAway>,
}

/// The cluster link's bound listener, until [`RaftCluster::serve`] serves it.
pub struct LinkListener(tokio::net::TcpListener);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cluster: {0}")]
    Discovery(#[from] crate::cluster::discovery::DiscoveryError),
    #[error("cluster: {0}")]
    Secret(#[from] crate::config::SecretError),
    #[error("cluster: {0}")]
    LinkTls(#[from] crate::cluster::link_tls::LinkTlsError),
    #[error("cluster: cannot bind the cluster link on {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("cluster: raft configuration: {0}")]
    RaftConfig(#[from] openraft::ConfigError),
    #[error("cluster: raft: {0}")]
    Raft(#[from] openraft::error::Fatal<NodeId>),
    #[error("cluster: outbox: {0}")]
    Outbox(#[from] crate::storage::StorageError),
}

impl RaftCluster {
    /// The cluster link's TLS material, when `[cluster.tls]` is set (the node reloads it).
    pub fn link_tls(&self) -> Option<crate::cluster::link_tls::LinkTls> {
        self.link.tls().cloned()
    }

    /// Open the Raft node on `store` and bind the cluster link; serving it starts with
    /// [`RaftCluster::serve`], membership work with [`RaftCluster::run_membership`].
    pub async fn start(
        node_id: NodeId,
        name: String,
        cfg: &ClusterConfig,
        store: Store,
        catalog: Arc<Catalog>,
        stop: watch::Receiver<bool>,
    ) -> Result<(Arc<RaftCluster>, LinkListener), StartError> {
        let secret = cfg.load_secret()?;
        let tls = cfg.tls.as_ref().map(crate::cluster::link_tls::LinkTls::load).transpose()?;
        let discovery = Discovery::new(&cfg.discovery)?;
        let listener = tokio::net::TcpListener::bind(cfg.bind)
            .await
            .map_err(|source| StartError::Bind { addr: cfg.bind, source })?;
        let addr = cfg.advertise_addr(&name);
        let member = Member { name: name.clone(), addr: addr.clone(), role: cfg.role };
        let link = Link::new(
            Identity { node_id, name: name.clone(), role: cfg.role, advertise: addr },
            cfg.name.clone(),
            secret.as_deref(),
            tls,
            stop,
        );
        let heartbeat = cfg.heartbeat_interval.as_millis() as u64;
        let election = cfg.election_timeout.as_millis() as u64;
        let raft_cfg = openraft::Config {
            cluster_name: cfg.name.clone(),
            heartbeat_interval: heartbeat,
            election_timeout_min: election,
            election_timeout_max: election * 2,
            install_snapshot_timeout: 10_000,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(cfg.snapshot_every),
            max_in_snapshot_log_to_keep: 1_000,
            // Elections start from `prevote::run` only, after a majority said it would vote.
            enable_elect: false,
            ..Default::default()
        }
        .validate()?;
        let store_for_outbox = store.clone();
        let log = LogStore::new(store.clone());
        let sm = StateMachine::new(catalog.clone(), store);
        let applied = sm.applied_index();
        let raft = Raft::new(node_id, Arc::new(raft_cfg), Network { link: link.clone() }, log.clone(), sm).await?;
        let (queue, queue_rx) = tokio::sync::mpsc::unbounded_channel();
        let outbox = Arc::new(Outbox::open(store_for_outbox)?);
        let moved: Arc<crate::cluster::moved::MovedAway> = Default::default();
        {
            let (moved, catalog) = (moved.clone(), catalog.clone());
            outbox.on_backlog_begins(move |node| moved.begin(&catalog, node));
        }
        let cluster = Arc::new(RaftCluster {
            me: node_id,
            member,
            cfg: cfg.clone(),
            raft,
            catalog,
            link: link.clone(),
            log,
            applied,
            discovery,
            queue,
            queue_rx: Mutex::new(Some(queue_rx)),
            outbox,
            addrs: Default::default(),
            pending_writes: AtomicU64::new(0),
            last_seen: Mutex::new(HashMap::new()),
            joined: AtomicBool::new(false),
            removed: AtomicBool::new(false),
            leader_last_log: AtomicU64::new(0),
            caught_up_at: Mutex::new(Instant::now()),
            leader_changes: AtomicU64::new(0),
            elections: crate::cluster::prevote::Elections::new(cfg.election_timeout, cfg.election_timeout * 2),
            moved,
        });
        Ok((cluster, LinkListener(listener)))
    }

    /// Serve the cluster link on the listener [`RaftCluster::start`] bound: Raft RPCs and
    /// membership requests to this cluster, forwarded publishes and session hand-overs to
    /// `inbound` (the broker, which exists only once the cluster does: it holds the cluster).
    pub(crate) fn serve<I: Inbound>(self: &Arc<Self>, listener: LinkListener, inbound: Arc<I>) {
        self.link.serve(listener.0, Arc::new(Handler { cluster: Arc::downgrade(self), inbound }));
        tracing::info!(
            node = %self.member.name, id = self.me, role = self.cfg.role.as_str(), link = %self.cfg.bind,
            discovery = %self.discovery.describe(), "cluster link listening"
        );
    }

    async fn session_rpc(&self, node: NodeId, rpc: Rpc) -> Result<Reply, ClusterError> {
        let addr = self
            .member_addr(node)
            .ok_or_else(|| ClusterError::Forward { node: node.to_string(), reason: "not a member".into() })?;
        let answer = self
            .link
            .request(&addr, rpc::encode(&rpc), self.cfg.takeover_timeout)
            .await
            .map_err(|e| ClusterError::Forward { node: addr.clone(), reason: e.to_string() })?;
        serde_json::from_slice(&answer).map_err(|e| ClusterError::Forward { node: addr, reason: e.to_string() })
    }

    pub fn link(&self) -> &Link {
        &self.link
    }

    pub(crate) fn elections(&self) -> &crate::cluster::prevote::Elections {
        &self.elections
    }

    pub(crate) fn node_id_of_self(&self) -> NodeId {
        self.me
    }

    pub(crate) fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Relaxed)
    }

    pub(crate) fn member_addr_of(&self, id: NodeId) -> Option<String> {
        self.member_addr(id)
    }

    /// The id of this node's last log entry (what a vote compares).
    pub(crate) async fn last_log_id(&self) -> Option<openraft::LogId<NodeId>> {
        use openraft::storage::RaftLogStorage;
        self.log.clone().get_log_state().await.ok().and_then(|s| s.last_log_id)
    }

    pub(crate) async fn trigger_election(&self) -> Result<(), openraft::error::Fatal<NodeId>> {
        self.raft.trigger().elect().await
    }

    pub fn raft_metrics(&self) -> openraft::RaftMetrics<NodeId, Member> {
        self.raft.metrics().borrow().clone()
    }

    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!("raft shutdown: {e}");
        }
    }

    /// In the membership as this node knows it, and not told it was removed.
    fn in_membership(&self) -> bool {
        if self.removed.load(Ordering::Relaxed) {
            return false;
        }
        let m = self.raft.metrics();
        let m = m.borrow();
        m.membership_config.nodes().any(|(id, _)| *id == self.me)
    }

    /// This node is no longer a member: stop calling elections, stay out until told to join.
    fn mark_removed(&self) {
        if !self.removed.swap(true, Ordering::Relaxed) {
            self.raft.runtime_config().elect(false);
            tracing::warn!(
                node = %self.member.name,
                "this node was removed from the cluster; it will not rejoin by itself \
                 (`starling ctl cluster join ADDR`, or start it with an empty data dir)"
            );
        }
    }

    /// [`RaftCluster::member_addr`] for the message path (no lookup in Raft's metrics).
    fn forward_addr(&self, id: NodeId) -> Option<Arc<str>> {
        if let Some(a) = self.addrs.read().get(&id) {
            return Some(a.clone());
        }
        let a: Arc<str> = self.member_addr(id)?.into();
        self.addrs.write().insert(id, a.clone());
        Some(a)
    }

    /// Rebuild [`RaftCluster::addrs`] from the membership (so departed nodes leave it).
    fn refresh_addrs(&self) {
        let m = self.raft.metrics();
        let addrs = m.borrow().membership_config.nodes().map(|(i, n)| (*i, Arc::from(n.addr.as_str()))).collect();
        *self.addrs.write() = addrs;
    }

    fn member_addr(&self, id: NodeId) -> Option<String> {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.membership_config.nodes().find(|(i, _)| **i == id).map(|(_, n)| n.addr.clone())
    }
}

/// The log index replicated to each member, as the leader's metrics report it (empty on
/// other nodes).
pub(super) fn matched_indexes(m: &openraft::RaftMetrics<NodeId, Member>) -> BTreeMap<NodeId, u64> {
    m.replication
        .as_ref()
        .map(|r| r.iter().map(|(id, l)| (*id, l.map_or(0, |l| l.index))).collect())
        .unwrap_or_default()
}
