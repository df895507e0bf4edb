//! The seam between the broker and the rest of the cluster (ports and adapters): the broker
//! declares what it needs here, `crate::cluster` implements it — standalone for a cluster of one,
//! Raft-replicated for real clusters. Nothing in `broker/` imports `cluster/`.
//!
//! Catalog writes are [`CatalogCmd`]s: proposed, committed (locally, or through Raft), then
//! applied by one function on every node ([`crate::catalog::Catalog::apply`]). Reads are served
//! from the local replica, which the broker holds directly. Message payloads never go through the
//! catalog: [`Cluster::forward`] sends them node-to-node.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use thiserror::Error;

use crate::broker::handover::SessionTransfer;
use crate::broker::{BrokerError, PublishOutcome};
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

/// What the broker needs from the other nodes. Catalog reads go to [`crate::catalog::Catalog`]
/// directly; status and metrics for the admin API go through `cluster::admin`.
pub trait Cluster: Send + Sync + 'static {
    fn node_id(&self) -> NodeId;
    /// Commit a catalog change; resolves once it is applied on this node.
    fn propose(&self, cmd: CatalogCmd) -> BoxFuture<'_, Result<CatalogResp, ClusterError>>;
    /// Queue a catalog change to be committed in order with this node's earlier submissions,
    /// retried until it is (local-first: the caller does not wait for a leader, so a node cut off
    /// from the quorum keeps serving, and its changes converge when the partition heals).
    fn submit(&self, cmd: CatalogCmd);
    /// Catalog writes submitted and not yet committed.
    fn pending_writes(&self) -> u64;
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
    /// The routes of the other nodes that match `topic` (standalone: none, without a lookup).
    fn routes_for(&self, topic: &str) -> RemoteRoutes;
    /// Ask `owner` to give up its session of `client` (see `broker::handover`).
    fn take_session(&self, client: &str, owner: NodeId)
    -> BoxFuture<'_, Result<Option<SessionTransfer>, ClusterError>>;
    /// Give a session (or the messages held for it) to the node that owns it now.
    fn give_session(&self, owner: NodeId, t: SessionTransfer) -> BoxFuture<'_, Result<(), ClusterError>>;
    /// Whether `node` is in the membership.
    fn is_member(&self, node: NodeId) -> bool;
}

/// What other nodes deliver into this one: the broker as the cluster sees it. The cluster is
/// given it when its link starts serving (once the broker exists) and keeps it in the link's
/// tasks, never in its own state, so the broker holds the cluster and not the reverse.
/// Implemented by [`crate::broker::Broker`] (in `broker::remote`).
pub(crate) trait Inbound: Send + Sync + 'static {
    /// Begin delivering a forwarded publish: done at once when nothing has to wait, else the
    /// future that finishes it (see `Broker::start_forwarded`).
    fn start_forwarded(
        self: &Arc<Self>,
        msg: Arc<Message>,
        groups: Vec<(String, String)>,
        clients: Vec<String>,
        except: Vec<String>,
    ) -> super::ForwardedDelivery;
    /// Route a message by today's routes, as if published here (an outbox kept for a node that
    /// left the cluster).
    fn route(self: &Arc<Self>, msg: Arc<Message>) -> impl Future<Output = Result<PublishOutcome, BrokerError>> + Send;
    /// Give up this node's session of `client` to node `to` (takeover there).
    fn export_session(
        self: &Arc<Self>,
        client: &str,
        to: NodeId,
    ) -> impl Future<Output = Result<Option<SessionTransfer>, BrokerError>> + Send;
    /// Take a session another node gave up, or merge what it held into this node's copy.
    fn import_session(self: &Arc<Self>, t: SessionTransfer) -> impl Future<Output = Result<(), BrokerError>> + Send;
}
