//! The seam between the broker and the rest of the cluster (ports and adapters): the broker
//! declares what it needs here, `crate::cluster` implements it — standalone for a cluster of one,
//! Raft-replicated for real clusters. Nothing in `broker/` imports `cluster/`.
//!
//! Catalog writes are [`CatalogCmd`]s: proposed, committed (locally, or through Raft), then
//! applied by one function on every node. Reads (`retained_matching`, `durable_subscriptions`,
//! `routes_for`) are served from the local replica. Message payloads never go through the
//! catalog: [`Cluster::forward`] sends them node-to-node.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::broker::handover::SessionTransfer;
use crate::broker::subs::SubOptions;
use crate::catalog::cmd::Identity;
use crate::catalog::cmd::{BanKind, BanRecord};
use crate::catalog::cmd::{CatalogCmd, CatalogResp, NodeId};
use crate::catalog::routes::RemoteRoutes;
use crate::protocol::Message;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a forwarded QoS ≥ 1 message still waits for: it resolves once every node it was sent
/// to has confirmed that the message is queued there, or once what a node did not confirm is
/// kept in this node's outbox (sent again, in order, when the node answers). Errors when a
/// node refused it. Its deadline runs from the send, not from the first poll, so a publisher
/// may keep several in flight and await them one after the other: that keeps the outbox in
/// the publisher's order.
pub type Confirmation = BoxFuture<'static, Result<(), ClusterError>>;

#[derive(Debug, Error)]
pub enum ClusterError {
    #[error("catalog storage: {0}")]
    Storage(String),
    #[error("no leader reachable; the write was not committed")]
    NoLeader,
    #[error("node {node} did not confirm a forwarded message: {reason}")]
    Forward { node: String, reason: String },
}

/// A node a publish goes to, and the shared groups (group, filter) it serves for that message:
/// plain subscribers there always get it, a shared group only when it is listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardTarget {
    pub node: NodeId,
    pub groups: Vec<(String, String)>,
    /// Non-empty: deliver only to these clients' sessions (a relay for sessions that moved to
    /// that node while routes still pointed here).
    pub clients: Vec<String>,
}

/// One member as `ctl cluster status` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemberStatus {
    pub id: NodeId,
    pub name: String,
    pub addr: String,
    pub role: String,
    pub voter: bool,
    /// `leader`, `follower`, `learner`, or `unreachable` (as seen from the leader).
    pub state: String,
    /// Log index replicated to this member (known on the leader only).
    pub matched: Option<u64>,
    /// Entries this member is behind the leader's log.
    pub lag: Option<u64>,
}

/// Numbers `/metrics` reports about the cluster, read at scrape time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterMetrics {
    /// (role, state, count): state is `up` or `unreachable`.
    pub nodes: Vec<(String, String, u64)>,
    pub is_leader: bool,
    pub term: u64,
    pub leader_changes: u64,
    pub last_log_index: u64,
    pub applied_index: u64,
    /// Log entries this node's applied catalog is behind the leader's log.
    pub replication_lag_entries: u64,
    /// How long this node has been more than a few entries behind (0 when caught up).
    pub replication_lag_seconds: f64,
    /// Per peer (node name): publishes forwarded to it and their bytes.
    pub forwarded: Vec<(String, u64, u64)>,
    pub received_messages: u64,
    pub link_errors: u64,
    pub refused_peers: u64,
    /// Catalog writes submitted and not yet committed.
    pub pending_writes: u64,
    /// QoS ≥ 1 messages kept for peers that did not confirm them.
    pub outbox_messages: u64,
}

/// The cluster as this node sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClusterStatus {
    /// `standalone` or `raft`.
    pub mode: String,
    pub node_id: NodeId,
    pub name: String,
    pub role: String,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub applied: u64,
    pub last_log: u64,
    pub members: Vec<MemberStatus>,
    /// Things an operator should fix (e.g. an even number of voters).
    pub warnings: Vec<String>,
}

/// What the broker needs from the cluster.
pub trait Cluster: Send + Sync + 'static {
    fn node_id(&self) -> NodeId;
    /// Commit a catalog change; resolves once it is applied on this node.
    fn propose(&self, cmd: CatalogCmd) -> BoxFuture<'_, Result<CatalogResp, ClusterError>>;
    /// Queue a catalog change to be committed in order with this node's earlier submissions,
    /// retried until it is (local-first: the caller does not wait for a leader, so a node cut off
    /// from the quorum keeps serving, and its changes converge when the partition heals).
    fn submit(&self, cmd: CatalogCmd);
    /// Send a publish to the other nodes that have matching subscribers, in order with the
    /// caller's earlier publishes. Resolves once it is sent; for QoS ≥ 1 the [`Confirmation`]
    /// then tells when every node has queued it. Standalone: nothing to do.
    fn forward(
        &self,
        msg: &Arc<Message>,
        targets: &[ForwardTarget],
    ) -> BoxFuture<'static, Result<Option<Confirmation>, ClusterError>>;
    /// Whether messages are kept in an outbox for some node. A publisher with confirmations
    /// outstanding then waits for them before it forwards more, so that what it sends next
    /// queues up behind them in its order.
    fn holding(&self) -> bool;
    /// The routes of the other nodes that match `topic`.
    fn routes_for(&self, topic: &str) -> RemoteRoutes;
    /// Which node owns a client's session, if any.
    fn owner_of(&self, client: &str) -> Option<NodeId>;
    /// The identity the client's registered session belongs to, if recorded.
    fn client_identity(&self, client: &str) -> Option<Identity>;
    /// Retained messages whose topic matches `filter` (expired ones excluded).
    fn retained_matching(&self, filter: &str) -> Vec<Arc<Message>>;
    fn retained_count(&self) -> usize;
    /// The durable subscriptions recorded for a persistent session.
    fn durable_subscriptions(&self, client: &str) -> Vec<(String, SubOptions)>;
    /// Clients with durable subscriptions (to restore sessions at start).
    fn durable_clients(&self) -> Vec<String>;
    /// Joined and caught up: what `/readyz` adds to "listeners bound".
    fn ready(&self) -> bool;
    /// Members, roles, leader and replication state.
    fn status(&self) -> BoxFuture<'_, ClusterStatus>;
    fn metrics(&self) -> ClusterMetrics;
    /// Ask `owner` to give up its session of `client` (see `broker::handover`).
    fn take_session(&self, client: &str, owner: NodeId)
    -> BoxFuture<'_, Result<Option<SessionTransfer>, ClusterError>>;
    /// Give a session (or the messages held for it) to the node that owns it now.
    fn give_session(&self, owner: NodeId, t: SessionTransfer) -> BoxFuture<'_, Result<(), ClusterError>>;
    /// Whether `node` is in the membership.
    fn is_member(&self, node: NodeId) -> bool;
    /// Change the membership on an operator's request (`ctl cluster join|leave|forget`).
    fn membership(&self, op: MembershipOp) -> BoxFuture<'_, Result<String, String>>;
    /// The PHC hash of a user of the API user store.
    fn user_hash(&self, username: &str) -> Option<String>;
    /// Users of the API user store, sorted.
    fn usernames(&self) -> Vec<String>;
    fn user_count(&self) -> usize;
    /// The ban of `kind`/`value`, if any (expired ones included: the caller checks).
    fn ban(&self, kind: BanKind, value: &str) -> Option<BanRecord>;
    /// Every ban, sorted by kind and value.
    fn bans(&self) -> Vec<(BanKind, String, BanRecord)>;
    /// Changes whenever a ban is added or deleted, so callers can cache what they derive.
    fn bans_version(&self) -> u64;
}

/// An operator's membership change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipOp {
    /// Join the cluster the node at this cluster-link address (`host:port`) belongs to.
    Join(String),
    /// Remove the named node (this node itself: leave).
    Remove(String),
}
