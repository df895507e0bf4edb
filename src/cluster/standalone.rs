//! A cluster of one: proposals are applied at once to the local catalog, there is nobody to
//! forward to, and this node owns every client.

use std::sync::Arc;

use crate::broker::handover::SessionTransfer;
use crate::broker::port::{BoxFuture, Cluster, ClusterError, Confirmation, ForwardTarget};
use crate::catalog::Catalog;
use crate::catalog::cmd::{CatalogCmd, CatalogResp, NodeId};
use crate::catalog::routes::RemoteRoutes;
use crate::cluster::admin::{ClusterAdmin, ClusterMetrics, ClusterStatus, MembershipError, MembershipOp, RaftView};
use crate::protocol::Message;

pub struct Standalone {
    node_id: NodeId,
    name: String,
    catalog: Arc<Catalog>,
}

impl Standalone {
    pub fn new(node_id: NodeId, name: String, catalog: Arc<Catalog>) -> Self {
        Self { node_id, name, catalog }
    }
}

impl Cluster for Standalone {
    fn node_id(&self) -> NodeId {
        self.node_id
    }

    fn propose(&self, cmd: CatalogCmd) -> BoxFuture<'_, Result<CatalogResp, ClusterError>> {
        // Applying is a local fjall write: do it now rather than hop to another task.
        let r = self.catalog.apply(&cmd).map_err(|e| ClusterError::Storage(e.to_string()));
        Box::pin(async move { r })
    }

    fn submit(&self, cmd: CatalogCmd) {
        if let Err(e) = self.catalog.apply(&cmd) {
            tracing::error!("catalog write failed: {e}");
        }
    }

    fn pending_writes(&self) -> u64 {
        0
    }

    fn routes_for(&self, _topic: &str) -> RemoteRoutes {
        RemoteRoutes::default()
    }

    fn forward(
        &self,
        _msg: &Arc<Message>,
        _targets: &[ForwardTarget],
    ) -> BoxFuture<'static, Result<Option<Confirmation>, ClusterError>> {
        Box::pin(async { Ok(None) })
    }

    fn holding(&self) -> bool {
        false
    }

    fn take_session(
        &self,
        _client: &str,
        _owner: NodeId,
    ) -> BoxFuture<'_, Result<Option<SessionTransfer>, ClusterError>> {
        Box::pin(async { Ok(None) })
    }

    fn give_session(&self, _owner: NodeId, _t: SessionTransfer) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(async { Ok(()) })
    }

    fn is_member(&self, node: NodeId) -> bool {
        node == self.node_id
    }
}

impl ClusterAdmin for Standalone {
    fn ready(&self) -> bool {
        true
    }

    fn raft(&self) -> Option<RaftView> {
        None
    }

    fn membership(&self, _op: MembershipOp) -> BoxFuture<'_, Result<String, MembershipError>> {
        Box::pin(async { Err(MembershipError::NotClustered) })
    }

    fn metrics(&self) -> ClusterMetrics {
        ClusterMetrics { nodes: vec![("core".into(), "up".into(), 1)], is_leader: true, ..Default::default() }
    }

    fn status(&self) -> BoxFuture<'_, ClusterStatus> {
        Box::pin(async move {
            ClusterStatus {
                mode: "standalone".into(),
                node_id: self.node_id,
                name: self.name.clone(),
                role: "core".into(),
                leader: Some(self.node_id),
                term: 0,
                applied: 0,
                last_log: 0,
                members: Vec::new(),
                warnings: Vec::new(),
            }
        })
    }
}
