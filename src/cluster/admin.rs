//! The cluster as the admin API sees it: readiness, status, metrics and membership changes,
//! served by both implementations. Separate from the broker's port ([`crate::broker::port`]):
//! the broker never needs any of it.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::broker::port::{BoxFuture, ClusterError};
use crate::catalog::cmd::NodeId;

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
    /// Link frames that carried forwarded publishes and the socket writes of them (sending
    /// side), and on the receiving side those frames and the socket reads they came in: how
    /// many messages share a frame, a write and a read.
    pub publish_frames_sent: u64,
    pub link_writes: u64,
    pub publish_frames_received: u64,
    pub link_reads: u64,
    /// Receiving side: reads after which the reader yielded to a backlogged subscriber, and
    /// publishes that took the delivering task's slow path.
    pub link_congested_reads: u64,
    pub link_deferred_messages: u64,
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

/// An operator's membership change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipOp {
    /// Join the cluster the node at this cluster-link address (`host:port`) belongs to.
    Join(String),
    /// Remove the named node (this node itself: leave).
    Remove(String),
}

/// Why a membership change (or the upkeep that joins a cluster) did not happen.
#[derive(Debug, Error)]
pub enum MembershipError {
    #[error("this node is not clustered (its configuration has no [cluster] section)")]
    NotClustered,
    #[error("this node is already a member")]
    AlreadyMember,
    #[error("no answer from {0}")]
    NoAnswer(String),
    #[error("{addr} ({name}) knows no leader")]
    NoLeaderAt { addr: String, name: String },
    #[error("no member named {0}")]
    UnknownMember(String),
    #[error("no leader")]
    NoLeader,
    #[error("leader has no address")]
    LeaderWithoutAddress,
    #[error("not the leader")]
    NotLeader,
    #[error("join refused: {0}")]
    JoinRefused(crate::cluster::rpc::RpcError),
    /// The leader's answer to a request forwarded to it, as it came over the link.
    #[error("{0}")]
    Refused(crate::cluster::rpc::RpcError),
    #[error(transparent)]
    Link(#[from] crate::cluster::link::LinkError),
    #[error("{0}")]
    Raft(String),
    #[error(transparent)]
    Catalog(#[from] ClusterError),
    #[error("unexpected {0}")]
    Unexpected(String),
    /// Not in a cluster yet, for the reason given (discovery, bootstrap).
    #[error("{0}")]
    Waiting(String),
}

/// Raft state at a glance (`None` from a standalone node): what tests and operators check
/// without reaching into the Raft implementation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RaftView {
    pub id: NodeId,
    pub leader: Option<NodeId>,
    /// Members of the membership (voters and learners).
    pub members: usize,
    pub voters: usize,
    pub last_log_index: u64,
    pub last_applied: u64,
    /// The index of the last snapshot this node has, if any.
    pub snapshot_index: Option<u64>,
}

impl RaftView {
    pub fn is_leader(&self) -> bool {
        self.leader == Some(self.id)
    }
}

/// What the admin API (and the tests) ask of the cluster.
pub trait ClusterAdmin: Send + Sync + 'static {
    /// Joined and caught up: what `/readyz` adds to "listeners bound".
    fn ready(&self) -> bool;
    /// Members, roles, leader and replication state.
    fn status(&self) -> BoxFuture<'_, ClusterStatus>;
    fn metrics(&self) -> ClusterMetrics;
    /// Change the membership on an operator's request (`ctl cluster join|leave|forget`).
    fn membership(&self, op: MembershipOp) -> BoxFuture<'_, Result<String, MembershipError>>;
    fn raft(&self) -> Option<RaftView>;
}
