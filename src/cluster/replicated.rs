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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use std::time::{Duration, Instant};

use bytes::Bytes;
use openraft::ChangeMembers;
use openraft::error::{ClientWriteError, RaftError};
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::broker::Broker;
use crate::broker::handover::SessionTransfer;
use crate::broker::port::{
    BoxFuture, Cluster, ClusterError, ClusterMetrics, ClusterStatus, Confirmation, ForwardTarget, MemberStatus,
    MembershipOp,
};
use crate::catalog::Catalog;
use crate::catalog::cmd::{CatalogCmd, CatalogResp, NodeId};
use crate::catalog::routes::RemoteRoutes;
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
    broker: OnceLock<Weak<Broker>>,
    /// Submitted catalog writes, committed in order by [`RaftCluster::run_writer`].
    queue: tokio::sync::mpsc::UnboundedSender<CatalogCmd>,
    queue_rx: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<CatalogCmd>>>,
    /// QoS ≥ 1 messages for peers that did not confirm them.
    outbox: Arc<Outbox>,
    /// The members' cluster-link addresses: read for every forwarded publish, so kept apart
    /// from Raft's metrics. Rebuilt by the membership upkeep; a node missing here is looked
    /// up there (see [`RaftCluster::forward_addr`]).
    addrs: parking_lot::RwLock<HashMap<NodeId, Arc<str>>>,
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

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cluster: {0}")]
    Config(String),
    #[error("cluster: cannot bind the cluster link on {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("cluster: raft: {0}")]
    Raft(String),
}

impl RaftCluster {
    /// The cluster link's TLS material, when `[cluster.tls]` is set (the node reloads it).
    pub fn link_tls(&self) -> Option<crate::cluster::link_tls::LinkTls> {
        self.link.tls().cloned()
    }

    /// Open the Raft node on `store`, bind the cluster link and start serving it. Membership
    /// work starts with [`RaftCluster::run_membership`].
    pub async fn start(
        node_id: NodeId,
        name: String,
        cfg: &ClusterConfig,
        store: Store,
        catalog: Arc<Catalog>,
        stop: watch::Receiver<bool>,
    ) -> Result<Arc<RaftCluster>, StartError> {
        let secret = cfg.load_secret().map_err(StartError::Config)?;
        let tls =
            cfg.tls.as_ref().map(crate::cluster::link_tls::LinkTls::load).transpose().map_err(StartError::Config)?;
        let discovery = Discovery::new(&cfg.discovery).map_err(StartError::Config)?;
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
        .validate()
        .map_err(|e| StartError::Raft(e.to_string()))?;
        let store_for_outbox = store.clone();
        let log = LogStore::new(store.clone());
        let sm = StateMachine::new(catalog.clone(), store);
        let applied = sm.applied_index();
        let raft = Raft::new(node_id, Arc::new(raft_cfg), Network { link: link.clone() }, log.clone(), sm)
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?;
        let (queue, queue_rx) = tokio::sync::mpsc::unbounded_channel();
        let outbox = Arc::new(Outbox::open(store_for_outbox).map_err(|e| StartError::Raft(format!("outbox: {e}")))?);
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
            broker: OnceLock::new(),
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
        link.serve(listener, Arc::new(Handler(Arc::downgrade(&cluster))));
        tracing::info!(
            node = %name, id = node_id, role = cfg.role.as_str(), link = %cfg.bind,
            discovery = %cluster.discovery.describe(), "cluster link listening"
        );
        Ok(cluster)
    }

    /// Where forwarded publishes are delivered. Set once by the node wiring.
    pub fn set_broker(&self, broker: &Arc<Broker>) {
        let _ = self.broker.set(Arc::downgrade(broker));
    }

    fn broker(&self) -> Option<Arc<Broker>> {
        self.broker.get().and_then(Weak::upgrade)
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

    pub(crate) async fn trigger_election(&self) -> Result<(), String> {
        self.raft.trigger().elect().await.map_err(|e| e.to_string())
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

    // ------------------------------------------------------------------ writes

    /// Commit catalog commands through the leader, retrying while there is none (an election,
    /// a partition) for up to [`WRITE_TIMEOUT`].
    pub async fn write(&self, cmds: Vec<CatalogCmd>) -> Result<Vec<CatalogResp>, ClusterError> {
        let deadline = Instant::now() + WRITE_TIMEOUT;
        loop {
            let leader = self.raft.metrics().borrow().current_leader;
            let attempt = match leader {
                Some(l) if l == self.me => match self.raft.client_write(CatalogWrite(cmds.clone())).await {
                    Ok(r) => Ok(r.data.0),
                    Err(e) => Err(e.to_string()),
                },
                Some(l) => match self.member_addr(l) {
                    Some(addr) => self.forward_write(&addr, &cmds).await,
                    None => Err(format!("leader {l} has no address")),
                },
                None => Err("no leader elected".to_string()),
            };
            let err = match attempt {
                Ok(r) => return Ok(r),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                tracing::warn!("catalog write not committed: {err}");
                return Err(ClusterError::NoLeader);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn forward_write(&self, addr: &str, cmds: &[CatalogCmd]) -> Result<Vec<CatalogResp>, String> {
        let body = rpc::encode(&Rpc::Write(CatalogWrite(cmds.to_vec())));
        let answer = self.link.request(addr, body, WRITE_TIMEOUT).await.map_err(|e| e.to_string())?;
        match serde_json::from_slice::<Reply>(&answer) {
            Ok(Reply::Write(Ok(r))) => Ok(r.0),
            Ok(Reply::Write(Err(e))) => Err(e),
            Ok(other) => Err(format!("unexpected answer {other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Commit submitted writes in order, batching whatever queued up meanwhile; a batch that
    /// cannot be committed (no leader: election, partition) is retried until it is.
    pub async fn run_writer(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let Some(mut rx) = self.queue_rx.lock().take() else { return };
        let mut outage_logged = false;
        loop {
            let first = tokio::select! {
                c = rx.recv() => match c { Some(c) => c, None => return },
                _ = stop.changed() => return,
            };
            let mut batch = vec![first];
            while batch.len() < 1000 {
                match rx.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(_) => break,
                }
            }
            let n = batch.len() as u64;
            loop {
                match self.write(batch.clone()).await {
                    Ok(_) => {
                        if outage_logged {
                            tracing::info!("catalog writes committed again");
                            outage_logged = false;
                        }
                        break;
                    }
                    Err(e) => {
                        if !outage_logged {
                            tracing::warn!(pending = n, "catalog writes waiting for a leader: {e}");
                            outage_logged = true;
                        }
                        if *stop.borrow() {
                            return;
                        }
                    }
                }
            }
            self.pending_writes.fetch_sub(n, Ordering::Relaxed);
        }
    }

    /// Send each peer's outbox backlog, oldest first, whenever the peer answers again.
    pub async fn run_outbox(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = stop.changed() => return,
            }
            for node in self.outbox.nodes() {
                let Some(addr) = self.member_addr(node) else {
                    // It left the cluster: its clients' sessions live elsewhere now (restored
                    // from the catalog); route what was kept for it by today's routes.
                    self.reroute_outbox(node).await;
                    continue;
                };
                match self.flush_outbox(node, &addr).await {
                    Ok(()) if !self.outbox.has(node) => self.moved.forget(node),
                    Ok(()) => {}
                    Err(e) => tracing::debug!(node, "outbox not flushed yet: {e}"),
                }
            }
        }
    }

    /// Deliver the messages kept for a node that left the membership by the current routes
    /// (duplicates are dropped by the sessions' message-id check).
    async fn reroute_outbox(&self, node: NodeId) {
        let Some(broker) = self.broker() else { return };
        let mut rerouted = 0usize;
        loop {
            let batch = match self.outbox.peek(node, 256) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(node, "cannot read an outbox: {e}");
                    return;
                }
            };
            if batch.is_empty() {
                break;
            }
            for (_, enc) in &batch {
                let msg = decode_forward(enc).and_then(|(_, _, _, m)| Message::decode(m).ok());
                match msg {
                    Some(m) => {
                        if let Err(e) = broker.route(Arc::new(m)).await {
                            // Keep it for the next round rather than lose it.
                            tracing::warn!(node, "re-routing a kept message failed: {e}");
                            return;
                        }
                        rerouted += 1;
                    }
                    None => tracing::warn!(node, "undecodable message in the outbox dropped"),
                }
            }
            let keys: Vec<Vec<u8>> = batch.into_iter().map(|(k, _)| k).collect();
            if let Err(e) = self.outbox.remove(node, &keys) {
                tracing::error!(node, "cannot trim an outbox: {e}");
                return;
            }
        }
        if rerouted > 0 {
            tracing::info!(node, rerouted, "messages kept for a node that left the cluster re-routed");
        }
    }

    async fn flush_outbox(&self, node: NodeId, addr: &str) -> Result<(), String> {
        loop {
            let batch = self.outbox.peek(node, 256).map_err(|e| e.to_string())?;
            if batch.is_empty() {
                return Ok(());
            }
            let mut waits = Vec::with_capacity(batch.len());
            for (_, msg) in &batch {
                match self.link.publish(addr, Bytes::copy_from_slice(msg), true).await {
                    Some(rx) => waits.push(rx),
                    None => return Err("link closed".into()),
                }
            }
            for rx in waits {
                match tokio::time::timeout(self.cfg.forward_timeout, rx).await {
                    Ok(Ok(Confirm::Queued)) => {}
                    _ => return Err("peer did not confirm".into()),
                }
            }
            let keys: Vec<Vec<u8>> = batch.into_iter().map(|(k, _)| k).collect();
            self.outbox.remove(node, &keys).map_err(|e| e.to_string())?;
            tracing::info!(node, sent = keys.len(), "outbox backlog delivered");
        }
    }

    // ------------------------------------------------------------------ membership

    /// Discovery and membership upkeep, until `stop`.
    pub async fn run_membership(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        if self.cfg.role == Role::Core && self.cfg.bootstrap_expect.is_multiple_of(2) {
            tracing::warn!(
                bootstrap_expect = self.cfg.bootstrap_expect,
                "an even number of cores tolerates no more failures than one core fewer; use an odd number"
            );
        }
        let mut leader_seen = None;
        loop {
            let cur = self.raft.metrics().borrow().current_leader;
            if cur != leader_seen {
                if cur.is_some() {
                    self.leader_changes.fetch_add(1, Ordering::Relaxed);
                }
                tracing::info!(leader = ?cur, "cluster leader changed");
                leader_seen = cur;
            }
            if let Err(e) = self.tick().await {
                tracing::debug!("membership: {e}");
            }
            self.refresh_addrs();
            tokio::select! {
                _ = tokio::time::sleep(self.cfg.discovery.interval.min(Duration::from_secs(1))) => {}
                _ = stop.changed() => return,
            }
        }
    }

    async fn tick(&self) -> Result<(), String> {
        if self.in_membership() {
            if !self.joined.swap(true, Ordering::Relaxed) {
                tracing::info!(node = %self.member.name, "member of the cluster");
            }
            let leader = self.raft.metrics().borrow().current_leader;
            if leader == Some(self.me) {
                self.upkeep().await;
            } else if let Some(addr) = leader.and_then(|l| self.member_addr(l)) {
                // A node removed while unreachable never hears of it through the log: the
                // leader's membership is the authority.
                if let Some(s) = self.status_of(&addr).await
                    && s.leader == leader
                {
                    self.leader_last_log.store(s.last_log, Ordering::Relaxed);
                    if !s.members.is_empty() && !s.members.iter().any(|(id, _, _)| *id == self.me) {
                        self.mark_removed();
                    }
                }
            }
            return Ok(());
        }
        let knows_cluster = self.raft.metrics().borrow().membership_config.nodes().next().is_some();
        if self.removed.load(Ordering::Relaxed)
            || self.joined.load(Ordering::Relaxed)
            || (self.log.is_initialized() && knows_cluster)
        {
            // Leaving is explicit and sticks: a removed node must not come back on its own.
            self.mark_removed();
            return Ok(());
        }
        let peers = self.discovery.peers().await;
        let mut statuses = Vec::new();
        for addr in &peers {
            if let Some(s) = self.status_of(addr).await {
                statuses.push((addr.clone(), s));
            }
        }
        // Someone is in a cluster: join it through its leader.
        let leader = statuses.iter().find_map(|(_, s)| {
            let l = s.leader?;
            s.members.iter().find(|(id, _, _)| *id == l).map(|(_, m, _)| m.addr.clone())
        });
        if let Some(leader_addr) = leader {
            return self.join_via(&leader_addr).await;
        }
        if statuses.iter().any(|(_, s)| s.initialized && s.id != self.me) {
            return Err("peers are in a cluster but no leader is known yet".into());
        }
        if self.cfg.role != Role::Core || self.log.is_initialized() {
            return Err("waiting for a cluster to join".into());
        }
        let mut cores: BTreeMap<String, NodeId> = statuses
            .iter()
            .filter(|(_, s)| s.member.role == Role::Core)
            .map(|(_, s)| (s.member.name.clone(), s.id))
            .collect();
        cores.insert(self.member.name.clone(), self.me);
        if cores.len() < self.cfg.bootstrap_expect {
            return Err(format!(
                "bootstrap: {} of {} cores visible ({})",
                cores.len(),
                self.cfg.bootstrap_expect,
                cores.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        if cores.keys().next() != Some(&self.member.name) {
            return Err("bootstrap: waiting for the lowest-named core to initialise".into());
        }
        tracing::info!(node = %self.member.name, cores = cores.len(), "initialising a new cluster");
        let mut members = BTreeMap::new();
        members.insert(self.me, self.member.clone());
        self.raft.initialize(members).await.map_err(|e| e.to_string())
    }

    async fn join_via(&self, leader_addr: &str) -> Result<(), String> {
        tracing::info!(leader = %leader_addr, role = self.member.role.as_str(), "asking the leader to join");
        let body = rpc::encode(&Rpc::Join { id: self.me, member: self.member.clone() });
        let answer = self.link.request(leader_addr, body, JOIN_TIMEOUT).await.map_err(|e| e.to_string())?;
        match serde_json::from_slice::<Reply>(&answer) {
            Ok(Reply::Join(Ok(()))) => Ok(()),
            Ok(Reply::Join(Err(e))) => Err(format!("join refused: {e}")),
            other => Err(format!("unexpected join answer {other:?}")),
        }
    }

    async fn status_of(&self, addr: &str) -> Option<NodeStatus> {
        let answer = self.link.request(addr, rpc::encode(&Rpc::Status), STATUS_TIMEOUT).await.ok()?;
        match serde_json::from_slice::<Reply>(&answer) {
            Ok(Reply::Status(s)) => Some(s),
            _ => None,
        }
    }

    /// Leader: admit a node. A core with a name already in the membership under another id (it
    /// came back with an empty data dir) replaces that entry.
    async fn handle_join(&self, id: NodeId, member: Member) -> Result<(), String> {
        let metrics = self.raft_metrics();
        if metrics.current_leader != Some(self.me) {
            return Err("not the leader".into());
        }
        let membership = metrics.membership_config.membership().clone();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        if let Some((&old, _)) = membership.nodes().find(|(i, m)| m.name == member.name && **i != id) {
            tracing::warn!(node = %member.name, old, new = id, "node rejoined with a new identity; replacing its old entry");
            self.drop_member(old, voters.contains(&old)).await?;
            self.write(vec![CatalogCmd::ClearNodeRoutes { node: old }]).await.map_err(|e| e.to_string())?;
        }
        let known = membership.get_node(&id) == Some(&member);
        if !known {
            tracing::info!(node = %member, id, "adding node as learner");
            self.raft.add_learner(id, member.clone(), true).await.map_err(|e| e.to_string())?;
        }
        if member.role == Role::Core && !voters.contains(&id) {
            tracing::info!(node = %member, id, "promoting caught-up core to voter");
            self.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), true).await?;
        }
        self.last_seen.lock().insert(id, Instant::now());
        Ok(())
    }

    /// A membership change, retried while another one (a promotion, a join) is still being
    /// committed: openraft runs one at a time.
    async fn change_membership(&self, change: ChangeMembers<NodeId, Member>, retain: bool) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.raft.change_membership(change.clone(), retain).await {
                Ok(_) => return Ok(()),
                Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(
                    openraft::error::ChangeMembershipError::InProgress(_),
                ))) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// Leader upkeep: promote core learners that are caught up, expire gone replicants.
    async fn upkeep(&self) {
        let m = self.raft_metrics();
        let membership = m.membership_config.membership().clone();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let last = m.last_log_index.unwrap_or(0);
        let matched = matched_indexes(&m);
        let now = Instant::now();
        for (id, node) in membership.nodes() {
            let caught_up = matched.get(id).is_some_and(|i| last.saturating_sub(*i) < 100);
            // Replication progress says nothing about a replicant that simply has nothing new
            // to receive: ask it directly whether it is there, and that it is still itself.
            let alive = *id == self.me
                || (node.role == Role::Replicant && self.status_of(&node.addr).await.is_some_and(|s| s.id == *id))
                || (node.role == Role::Core && caught_up);
            if alive {
                self.last_seen.lock().insert(*id, now);
            }
            if node.role == Role::Core && !voters.contains(id) && caught_up {
                tracing::info!(node = %node, "promoting caught-up core to voter");
                if let Err(e) =
                    self.raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([*id])), true).await
                {
                    tracing::debug!("promotion deferred: {e}");
                }
            }
            if node.role == Role::Replicant {
                let seen = *self.last_seen.lock().entry(*id).or_insert(now);
                if now.duration_since(seen) > self.cfg.replicant_timeout {
                    tracing::warn!(node = %node, gone = ?now.duration_since(seen), "removing replicant gone longer than cluster.replicant_timeout");
                    if self.remove_node(*id).await.is_ok() {
                        self.last_seen.lock().remove(id);
                    }
                }
            }
        }
    }

    /// Remove a node from the membership and its routes from the catalog (leader only).
    pub async fn remove_node(&self, id: NodeId) -> Result<(), String> {
        let addr = self.member_addr(id);
        let voter = self.raft_metrics().membership_config.membership().voter_ids().any(|v| v == id);
        self.drop_member(id, voter).await?;
        self.write(vec![CatalogCmd::ClearNodeRoutes { node: id }]).await.map_err(|e| e.to_string())?;
        if let Some(addr) = addr
            && id != self.me
        {
            // Best effort: the node also finds out by asking the leader.
            let _ = self.link.request(&addr, rpc::encode(&Rpc::Removed), STATUS_TIMEOUT).await;
        } else if id == self.me {
            self.mark_removed();
        }
        Ok(())
    }

    /// Take a node out of the membership. openraft removes a voter only through `RemoveVoters`
    /// (`RemoveNodes` is for learners and refuses a voter with "Learner … not found"); with
    /// `retain = false` the voter leaves the membership entirely, in one change.
    async fn drop_member(&self, id: NodeId, voter: bool) -> Result<(), String> {
        let change = if voter {
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        };
        self.change_membership(change, false).await
    }

    /// Ask the leader to remove a node (`ctl cluster leave|forget`).
    pub async fn request_remove(&self, id: NodeId) -> Result<(), String> {
        let leader = self.raft.metrics().borrow().current_leader.ok_or("no leader")?;
        if leader == self.me {
            return self.remove_node(id).await;
        }
        let addr = self.member_addr(leader).ok_or("leader has no address")?;
        let answer = self
            .link
            .request(&addr, rpc::encode(&Rpc::Remove { id }), WRITE_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        match serde_json::from_slice::<Reply>(&answer) {
            Ok(Reply::Remove(r)) => r,
            other => Err(format!("unexpected answer {other:?}")),
        }
    }

    /// A node id by name, from the membership.
    pub fn id_of(&self, name: &str) -> Option<NodeId> {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.membership_config.nodes().find(|(_, n)| n.name == name).map(|(id, _)| *id)
    }

    fn local_status(&self) -> NodeStatus {
        let m = self.raft_metrics();
        let voters: BTreeSet<NodeId> = m.membership_config.voter_ids().collect();
        NodeStatus {
            id: self.me,
            member: self.member.clone(),
            initialized: self.log.is_initialized() || m.membership_config.nodes().next().is_some(),
            leader: m.current_leader,
            term: m.current_term,
            applied: m.last_applied.map_or(0, |l| l.index),
            last_log: m.last_log_index.unwrap_or(0),
            members: m.membership_config.nodes().map(|(id, n)| (*id, n.clone(), voters.contains(id))).collect(),
        }
    }

    async fn handle(&self, from: NodeId, body: Vec<u8>) -> Reply {
        let rpc: Rpc = match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return Reply::Error(format!("undecodable request: {e}")),
        };
        match rpc {
            Rpc::AppendEntries(r) => {
                let res = self.raft.append_entries(r).await;
                if matches!(&res, Ok(a) if !matches!(a, openraft::raft::AppendEntriesResponse::HigherVote(_))) {
                    self.elections.heard_leader();
                }
                Reply::AppendEntries(res)
            }
            Rpc::Vote(r) => Reply::Vote(self.raft.vote(r).await),
            Rpc::InstallSnapshot(r) => {
                let res = self.raft.install_snapshot(r).await;
                if res.is_ok() {
                    self.elections.heard_leader();
                }
                Reply::InstallSnapshot(res)
            }
            Rpc::PreVote { last_log } => {
                let m = self.raft_metrics();
                let leading = m.current_leader == Some(self.me)
                    && m.millis_since_quorum_ack.is_some_and(|ms| Duration::from_millis(ms) < self.elections.lease());
                Reply::PreVote(self.elections.grant(leading, self.last_log_id().await, last_log))
            }
            Rpc::Write(w) => Reply::Write(match self.raft.client_write(w).await {
                Ok(r) => Ok(r.data),
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                    Err(format!("not the leader (leader: {:?})", f.leader_id))
                }
                Err(e) => Err(e.to_string()),
            }),
            Rpc::Join { id, member } => Reply::Join(self.handle_join(id, member).await),
            Rpc::Remove { id } => Reply::Remove(self.remove_node(id).await),
            Rpc::Status => Reply::Status(self.local_status()),
            // Refused close to the deadline too: the answer must arrive while the asker waits.
            Rpc::TakeSession { client, deadline_ms } if crate::protocol::message::now_ms() + 500 > deadline_ms => {
                tracing::warn!(client, "session hand-over request arrived too late; the session stays here");
                Reply::TakeSession(Err("the request expired before it arrived".into()))
            }
            Rpc::TakeSession { client, .. } => Reply::TakeSession(match self.broker() {
                Some(b) => b.export_session(&client, from).await.map_err(|e| e.to_string()),
                None => Err("node is stopping".into()),
            }),
            Rpc::GiveSession(t) => Reply::GiveSession(match self.broker() {
                Some(b) => b.import_session(t).await.map_err(|e| e.to_string()),
                None => Err("node is stopping".into()),
            }),
            Rpc::Removed => {
                self.mark_removed();
                Reply::Removed
            }
        }
    }
}

/// The link's view of the cluster (held weakly: the link must not keep a stopped node alive).
struct Handler(Weak<RaftCluster>);

impl LinkHandler for Handler {
    fn request(&self, from: Identity, body: Vec<u8>) -> BoxFuture<'static, Vec<u8>> {
        let c = self.0.upgrade();
        Box::pin(async move {
            match c {
                Some(c) => rpc::encode(&c.handle(from.node_id, body).await),
                None => rpc::encode(&Reply::Error("node is stopping".into())),
            }
        })
    }

    fn batch(&self, f: &mut dyn FnMut()) {
        crate::broker::session::hold_wakes(f)
    }

    fn publish(&self, from: &Arc<Identity>, message: &[u8]) -> BoxFuture<'static, Confirm> {
        let decoded = decode_forward(message).and_then(|(t, g, c, m)| Message::decode(m).ok().map(|m| (t, g, c, m)));
        let Some((target, groups, clients, msg)) = decoded else {
            tracing::warn!(peer = %from.name, "undecodable forwarded message");
            return Box::pin(async { Confirm::NotQueued });
        };
        let cluster = self.0.upgrade();
        let from = from.clone();
        Box::pin(async move {
            let Some(cluster) = cluster else { return Confirm::NotQueued };
            let Some(broker) = cluster.broker() else { return Confirm::NotQueued };
            if target != cluster.me {
                // Meant for a node that was replaced at this address: the sender re-routes it.
                return Confirm::WrongNode;
            }
            let (groups, except) = crate::cluster::moved::split_exclusions(groups);
            match broker.deliver_forwarded(Arc::new(msg), &groups, &clients, &except).await {
                Ok(o) => {
                    if o.congested {
                        // A subscriber here has a backlog: let its connection run before the
                        // next forwarded message, as a local publisher would (see
                        // `PublishOutcome::congested`).
                        tokio::task::yield_now().await;
                    }
                    if o.refused == 0 { Confirm::Queued } else { Confirm::NotQueued }
                }
                Err(e) => {
                    tracing::warn!(peer = %from.name, "forwarded message not delivered: {e}");
                    Confirm::NotQueued
                }
            }
        })
    }
}

impl Cluster for RaftCluster {
    crate::cluster::catalog_reads!();

    fn node_id(&self) -> NodeId {
        self.me
    }

    fn propose(&self, cmd: CatalogCmd) -> BoxFuture<'_, Result<CatalogResp, ClusterError>> {
        Box::pin(async move {
            let mut r = self.write(vec![cmd]).await?;
            Ok(r.pop().unwrap_or(CatalogResp::Ok))
        })
    }

    fn submit(&self, cmd: CatalogCmd) {
        self.pending_writes.fetch_add(1, Ordering::Relaxed);
        if self.queue.send(cmd).is_err() {
            self.pending_writes.fetch_sub(1, Ordering::Relaxed);
            tracing::warn!("catalog write dropped: the node is stopping");
        }
    }

    fn forward(
        &self,
        msg: &Arc<Message>,
        targets: &[ForwardTarget],
    ) -> BoxFuture<'static, Result<Option<Confirmation>, ClusterError>> {
        // A message kept for a peer with a backlog names the clients that peer must skip: they
        // moved to a node that gets this message directly (see `cluster::moved`).
        let direct: Vec<NodeId> = targets.iter().map(|t| t.node).filter(|n| !self.outbox.has(*n)).collect();
        let targets: Vec<(NodeId, Option<Arc<str>>, Bytes)> = targets
            .iter()
            .map(|t| {
                let encoded = if msg.qos > 0 && self.outbox.has(t.node) {
                    let groups = crate::cluster::moved::groups_with_exclusions(
                        &self.moved,
                        &self.catalog,
                        t.node,
                        &msg.topic,
                        &direct,
                        &t.groups,
                    );
                    encode_forward(t.node, &groups, &t.clients, msg)
                } else {
                    encode_forward(t.node, &t.groups, &t.clients, msg)
                };
                (t.node, self.forward_addr(t.node), encoded.into())
            })
            .collect();
        let link = self.link.clone();
        let outbox = self.outbox.clone();
        let ack = msg.qos > 0;
        let timeout = self.cfg.forward_timeout;
        Box::pin(async move {
            let mut waits = Vec::new();
            for (node, addr, encoded) in targets {
                let Some(addr) = addr else {
                    // A route of a node no longer in the membership: nothing to send it to.
                    continue;
                };
                if outbox.has(node) {
                    // Behind the backlog, to keep the order; QoS 0 is not kept (at most once).
                    if ack {
                        keep(&outbox, node, &encoded, "backlog")?;
                    }
                    continue;
                }
                if !ack {
                    // At most once: nothing to keep, so no copy either.
                    link.publish(&addr, encoded, false).await;
                    continue;
                }
                match link.publish(&addr, encoded.clone(), true).await {
                    Some(rx) => waits.push((node, encoded, rx)),
                    None => keep(&outbox, node, &encoded, "link closed")?,
                }
            }
            if waits.is_empty() {
                return Ok(None);
            }
            let deadline = tokio::time::Instant::now() + timeout;
            let confirm: Confirmation = Box::pin(async move {
                for (node, encoded, rx) in waits {
                    match tokio::time::timeout_at(deadline, rx).await {
                        Ok(Ok(Confirm::Queued)) => {}
                        // A new process at that node's address: the outbox re-routes it once the
                        // membership drops the old node.
                        Ok(Ok(Confirm::WrongNode)) => {
                            keep(&outbox, node, &encoded, "a different node answers at its address")?
                        }
                        // Reachable but refused (its subscribers' queues are full): the publisher
                        // hears about it and may retry.
                        Ok(Ok(Confirm::NotQueued)) => {
                            return Err(ClusterError::Forward {
                                node: node.to_string(),
                                reason: "not queued there".into(),
                            });
                        }
                        Ok(Err(_)) => keep(&outbox, node, &encoded, "link lost")?,
                        Err(_) => keep(&outbox, node, &encoded, "no confirmation in time")?,
                    }
                }
                Ok(())
            });
            Ok(Some(confirm))
        })
    }

    fn holding(&self) -> bool {
        self.outbox.holding()
    }

    fn routes_for(&self, topic: &str) -> RemoteRoutes {
        self.catalog.routes_for(topic, self.me)
    }

    fn ready(&self) -> bool {
        let member = self.in_membership();
        let m = self.raft.metrics();
        let m = m.borrow();
        let applied = self.applied.load(Ordering::Relaxed);
        let Some(leader) = m.current_leader else { return false };
        if !member {
            return false;
        }
        if leader == self.me {
            // A leadership not acknowledged by a quorum lately (cut off, or rebuilt from the
            // saved vote right after a restart) is not one to report ready from.
            let sole = m.membership_config.membership().voter_ids().count() <= 1;
            let acked = m.millis_since_quorum_ack.is_some_and(|ms| Duration::from_millis(ms) < self.elections.lease());
            return (sole || acked) && m.last_log_index.unwrap_or(0).saturating_sub(applied) < 100;
        }
        if !self.elections.hears_leader() {
            // A follower keeps its idea of the leader while cut off (no election replaces it).
            return false;
        }
        // Caught up means caught up with the leader's log as last heard (asked every tick), not
        // with this node's own log, which may itself be far behind.
        let leader_last = self.leader_last_log.load(Ordering::Relaxed);
        leader_last > 0 && leader_last.saturating_sub(applied) < 100
    }

    fn take_session(
        &self,
        client: &str,
        owner: NodeId,
    ) -> BoxFuture<'_, Result<Option<SessionTransfer>, ClusterError>> {
        let deadline_ms = crate::protocol::message::now_ms() + self.cfg.takeover_timeout.as_millis() as u64;
        let rpc = Rpc::TakeSession { client: client.to_string(), deadline_ms };
        Box::pin(async move {
            match self.session_rpc(owner, rpc).await? {
                Reply::TakeSession(r) => r.map_err(|e| ClusterError::Forward { node: owner.to_string(), reason: e }),
                other => {
                    Err(ClusterError::Forward { node: owner.to_string(), reason: format!("unexpected {other:?}") })
                }
            }
        })
    }

    fn give_session(&self, owner: NodeId, t: SessionTransfer) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(async move {
            match self.session_rpc(owner, Rpc::GiveSession(t)).await? {
                Reply::GiveSession(r) => r.map_err(|e| ClusterError::Forward { node: owner.to_string(), reason: e }),
                other => {
                    Err(ClusterError::Forward { node: owner.to_string(), reason: format!("unexpected {other:?}") })
                }
            }
        })
    }

    fn is_member(&self, node: NodeId) -> bool {
        self.member_addr(node).is_some()
    }

    fn membership(&self, op: MembershipOp) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            match op {
                MembershipOp::Join(addr) => {
                    if self.in_membership() {
                        return Err("this node is already a member".into());
                    }
                    let s = self.status_of(&addr).await.ok_or_else(|| format!("no answer from {addr}"))?;
                    let leader = s
                        .leader
                        .and_then(|l| s.members.iter().find(|(id, _, _)| *id == l).map(|(_, m, _)| m.addr.clone()))
                        .ok_or_else(|| format!("{addr} ({}) knows no leader", s.member.name))?;
                    self.join_via(&leader).await?;
                    self.removed.store(false, Ordering::Relaxed);
                    Ok(format!("joined through {leader}"))
                }
                MembershipOp::Remove(name) => {
                    let id = self.id_of(&name).ok_or_else(|| format!("no member named {name}"))?;
                    self.request_remove(id).await?;
                    Ok(format!("removed {name} (id {id})"))
                }
            }
        })
    }

    fn metrics(&self) -> ClusterMetrics {
        let m = self.raft_metrics();
        let last = m.last_log_index.unwrap_or(0);
        let matched = matched_indexes(&m);
        let is_leader = m.current_leader == Some(self.me);
        let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
        for (id, n) in m.membership_config.nodes() {
            let up = if *id == self.me || !is_leader {
                true
            } else {
                matched.get(id).is_some_and(|i| last.saturating_sub(*i) < 1000)
            };
            let state = if up { "up" } else { "unreachable" };
            *counts.entry((n.role.as_str().to_string(), state.to_string())).or_default() += 1;
        }
        let applied = self.applied.load(Ordering::Relaxed);
        let leader_last = if is_leader { last } else { self.leader_last_log.load(Ordering::Relaxed) };
        let lag = leader_last.saturating_sub(applied);
        let lag_seconds = {
            let mut at = self.caught_up_at.lock();
            if lag < 10 {
                *at = Instant::now();
                0.0
            } else {
                at.elapsed().as_secs_f64()
            }
        };
        let st = self.link.stats();
        ClusterMetrics {
            nodes: counts.into_iter().map(|((r, s), c)| (r, s, c)).collect(),
            is_leader,
            term: m.current_term,
            leader_changes: self.leader_changes.load(Ordering::Relaxed),
            last_log_index: last,
            applied_index: applied,
            replication_lag_entries: lag,
            replication_lag_seconds: lag_seconds,
            forwarded: st
                .forwarded()
                .into_iter()
                .map(|(addr, n, b)| {
                    let name = m
                        .membership_config
                        .nodes()
                        .find(|(_, node)| node.addr == addr)
                        .map_or_else(|| addr.clone(), |(_, node)| node.name.clone());
                    (name, n, b)
                })
                .collect(),
            received_messages: st.received_messages.load(Ordering::Relaxed),
            link_errors: st.errors.load(Ordering::Relaxed),
            refused_peers: st.refused_peers.load(Ordering::Relaxed),
            pending_writes: self.pending_writes.load(Ordering::Relaxed),
            outbox_messages: self.outbox.total(),
        }
    }

    fn status(&self) -> BoxFuture<'_, ClusterStatus> {
        Box::pin(async move {
            let mine = self.local_status();
            // Replication progress is known on the leader: ask it when this node is not.
            let leader_view = match mine.leader {
                Some(l) if l == self.me => None,
                Some(l) => match self.member_addr(l) {
                    Some(addr) => self.status_of(&addr).await,
                    None => None,
                },
                None => None,
            };
            let m = self.raft_metrics();
            let matched = matched_indexes(&m);
            let leader_last = leader_view.as_ref().map_or(mine.last_log, |s| s.last_log);
            let members = mine
                .members
                .iter()
                .map(|(id, n, voter)| {
                    let state = if Some(*id) == mine.leader {
                        "leader"
                    } else if *voter {
                        "follower"
                    } else {
                        "learner"
                    };
                    let matched = if mine.leader == Some(self.me) {
                        if *id == self.me { Some(mine.last_log) } else { matched.get(id).copied() }
                    } else if *id == self.me {
                        Some(mine.applied)
                    } else {
                        None
                    };
                    MemberStatus {
                        id: *id,
                        name: n.name.clone(),
                        addr: n.addr.clone(),
                        role: n.role.as_str().into(),
                        voter: *voter,
                        state: if mine.leader == Some(self.me) && *id != self.me && matched.is_none() {
                            "unreachable".into()
                        } else {
                            state.into()
                        },
                        matched,
                        lag: matched.map(|i| leader_last.saturating_sub(i)),
                    }
                })
                .collect::<Vec<_>>();
            let voters = members.iter().filter(|m| m.voter).count();
            let mut warnings = Vec::new();
            if voters > 0 && voters.is_multiple_of(2) {
                warnings.push(format!(
                    "{voters} voting cores: an even number tolerates no more failures than {} cores",
                    voters - 1
                ));
            }
            if mine.leader.is_none() {
                warnings.push("no leader: catalog writes are paused (quorum lost or election running)".into());
            }
            ClusterStatus {
                mode: "raft".into(),
                node_id: self.me,
                name: self.member.name.clone(),
                role: self.member.role.as_str().into(),
                leader: mine.leader,
                term: mine.term,
                applied: mine.applied,
                last_log: mine.last_log,
                members,
                warnings,
            }
        })
    }
}

/// The log index replicated to each member, as the leader's metrics report it (empty on
/// other nodes).
fn matched_indexes(m: &openraft::RaftMetrics<NodeId, Member>) -> BTreeMap<NodeId, u64> {
    m.replication
        .as_ref()
        .map(|r| r.iter().map(|(id, l)| (*id, l.map_or(0, |l| l.index))).collect())
        .unwrap_or_default()
}

/// Keep a forwarded message that `node` did not confirm in the outbox, to be sent again in order.
fn keep(outbox: &Outbox, node: NodeId, encoded: &[u8], why: &str) -> Result<(), ClusterError> {
    tracing::debug!(node, "peer did not confirm a forwarded message ({why}); kept in the outbox");
    outbox
        .push(node, encoded)
        .map_err(|e| ClusterError::Forward { node: node.to_string(), reason: format!("outbox: {e}") })
}

/// A forwarded publish on the link: the shared groups the receiver serves, the only clients it
/// delivers to (a relay for sessions that just moved; empty = every matching session), then the
/// message. Lists are a `u16` count of `u16`-prefixed strings (groups as group, filter pairs).
fn encode_forward(target: NodeId, groups: &[(String, String)], clients: &[String], message: &Message) -> Vec<u8> {
    fn put(b: &mut Vec<u8>, s: &str) {
        let n = s.len().min(u16::MAX as usize);
        b.extend_from_slice(&(n as u16).to_be_bytes());
        b.extend_from_slice(s.as_bytes().get(..n).unwrap_or_default());
    }
    let mut b = Vec::with_capacity(96 + message.topic.len() + message.payload.len() + groups.len() * 16);
    b.extend_from_slice(&target.to_be_bytes());
    b.extend_from_slice(&(groups.len().min(u16::MAX as usize) as u16).to_be_bytes());
    for (g, f) in groups.iter().take(u16::MAX as usize) {
        put(&mut b, g);
        put(&mut b, f);
    }
    b.extend_from_slice(&(clients.len().min(u16::MAX as usize) as u16).to_be_bytes());
    for c in clients.iter().take(u16::MAX as usize) {
        put(&mut b, c);
    }
    message.encode_into(&mut b);
    b
}

fn take_u16(b: &[u8]) -> Option<(u16, &[u8])> {
    Some((u16::from_be_bytes(b.get(..2)?.try_into().ok()?), b.get(2..)?))
}

fn take_str(b: &[u8]) -> Option<(String, &[u8])> {
    let (len, r) = take_u16(b)?;
    let s = String::from_utf8(r.get(..usize::from(len))?.to_vec()).ok()?;
    Some((s, r.get(usize::from(len)..)?))
}

/// The node, shared groups and clients a forwarded message is for, and the message bytes.
type Forwarded<'a> = (NodeId, Vec<(String, String)>, Vec<String>, &'a [u8]);

fn decode_forward(b: &[u8]) -> Option<Forwarded<'_>> {
    let target = u64::from_be_bytes(b.get(..8)?.try_into().ok()?);
    let (n, mut rest) = take_u16(b.get(8..)?)?;
    let mut groups = Vec::with_capacity(usize::from(n).min(64));
    for _ in 0..n {
        let (g, r) = take_str(rest)?;
        let (f, r) = take_str(r)?;
        groups.push((g, f));
        rest = r;
    }
    let (n, mut rest) = take_u16(rest)?;
    let mut clients = Vec::with_capacity(usize::from(n).min(64));
    for _ in 0..n {
        let (c, r) = take_str(rest)?;
        clients.push(c);
        rest = r;
    }
    Some((target, groups, clients, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_payload_round_trip() {
        let m = |topic: &str, payload: &[u8]| {
            let p: Arc<[u8]> = Arc::from(payload);
            Message {
                topic: topic.into(),
                payload: mqtt_protocol_core::mqtt::ArcPayload::new(p, 0, payload.len()),
                qos: 1,
                retain: false,
                props: Default::default(),
                expires_at_ms: None,
                origin: "pub".into(),
                wire: Default::default(),
                id: 42,
            }
        };
        let groups = vec![("g".to_string(), "a/+".to_string()), ("h".to_string(), "#".to_string())];
        let clients = vec!["dev-1".to_string()];
        let msg = m("a/b", b"MSG");
        let b = encode_forward(7, &groups, &clients, &msg);
        let (t, g, c, body) = decode_forward(&b).expect("decodes");
        assert_eq!(t, 7);
        assert_eq!(g, groups);
        assert_eq!(c, clients);
        assert_eq!(Message::decode(body).expect("message"), msg);
        assert!(decode_forward(&b[..3]).is_none());
        let x = m("x", b"x");
        let empty = encode_forward(1, &[], &[], &x);
        let (_, g, c, body) = decode_forward(&empty).expect("decodes");
        assert!(g.is_empty() && c.is_empty());
        assert_eq!(Message::decode(body).expect("message"), x);
    }
}
