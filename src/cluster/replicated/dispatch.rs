//! What other nodes ask this one over the cluster link: RPCs (writes, joins, status,
//! session hand-over) and forwarded publishes.

use super::forwarding::decode_forward;
use super::*;
use crate::broker::ForwardedDelivery;
use crate::broker::port::Inbound;
use crate::cluster::link::Delivered;
use crate::cluster::rpc::RpcError;

impl RaftCluster {
    /// Answer one request; what concerns the broker's sessions goes to `inbound`.
    pub(super) async fn handle<I: Inbound>(&self, inbound: &Arc<I>, from: NodeId, body: Vec<u8>) -> Reply {
        let rpc: Rpc = match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return Reply::Error(RpcError::Undecodable(e.to_string())),
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
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => Err(RpcError::NotLeader(f.leader_id)),
                Err(e) => Err(RpcError::failed(e)),
            }),
            Rpc::Join { id, member } => Reply::Join(self.handle_join(id, member).await.map_err(RpcError::failed)),
            Rpc::Remove { id } => Reply::Remove(self.remove_node(id).await.map_err(RpcError::failed)),
            Rpc::Status => Reply::Status(self.local_status()),
            // Refused close to the deadline too: the answer must arrive while the asker waits.
            Rpc::TakeSession { client, deadline_ms } if crate::protocol::message::now_ms() + 500 > deadline_ms => {
                tracing::warn!(client, "session hand-over request arrived too late; the session stays here");
                Reply::TakeSession(Err(RpcError::Expired))
            }
            Rpc::TakeSession { client, .. } => {
                Reply::TakeSession(inbound.export_session(&client, from).await.map_err(RpcError::failed))
            }
            Rpc::GiveSession(t) => Reply::GiveSession(inbound.import_session(t).await.map_err(RpcError::failed)),
            Rpc::Removed => {
                self.mark_removed();
                Reply::Removed
            }
        }
    }
}

/// What the link serves: the cluster (held weakly: the link must not keep a stopped node
/// alive) and where forwarded publishes and session hand-overs go. Lives in the link's tasks,
/// which end on the node's stop signal.
pub(super) struct Handler<I> {
    pub(super) cluster: Weak<RaftCluster>,
    pub(super) inbound: Arc<I>,
}

impl<I: Inbound> LinkHandler for Handler<I> {
    fn request(&self, from: Identity, body: Vec<u8>) -> BoxFuture<'static, Vec<u8>> {
        let c = self.cluster.upgrade();
        let inbound = self.inbound.clone();
        Box::pin(async move {
            match c {
                Some(c) => rpc::encode(&c.handle(&inbound, from.node_id, body).await),
                None => rpc::encode(&Reply::Error(RpcError::Stopping)),
            }
        })
    }

    fn batch(&self, f: &mut dyn FnMut()) {
        crate::broker::session::hold_wakes(f)
    }

    fn publish(&self, from: &Arc<Identity>, message: &[u8]) -> Delivered {
        let decoded = decode_forward(message).and_then(|(t, g, c, m)| Message::decode(m).ok().map(|m| (t, g, c, m)));
        let Some((target, groups, clients, msg)) = decoded else {
            tracing::warn!(peer = %from.name, "undecodable forwarded message");
            return Delivered::Now(Confirm::NotQueued);
        };
        let Some(cluster) = self.cluster.upgrade() else { return Delivered::Now(Confirm::NotQueued) };
        let broker = &self.inbound;
        if target != cluster.me {
            // Meant for a node that was replaced at this address: the sender re-routes it.
            return Delivered::Now(Confirm::WrongNode);
        }
        let (groups, except) = crate::cluster::moved::split_exclusions(groups);
        let from = from.clone();
        let answer = move |r: Result<crate::broker::PublishOutcome, crate::broker::BrokerError>| match r {
            Ok(o) if o.refused == 0 => Confirm::Queued,
            Ok(_) => Confirm::NotQueued,
            Err(e) => {
                tracing::warn!(peer = %from.name, "forwarded message not delivered: {e}");
                Confirm::NotQueued
            }
        };
        match broker.start_forwarded(Arc::new(msg), groups, clients, except) {
            // A subscriber here has a backlog: let its connection run before the next forwarded
            // message, as a local publisher would (see `PublishOutcome::congested`).
            ForwardedDelivery::Done(Ok(o)) if o.congested => Delivered::Congested(answer(Ok(o))),
            ForwardedDelivery::Done(r) => Delivered::Now(answer(r)),
            ForwardedDelivery::Waiting(f) => Delivered::Later(Box::pin(async move {
                let r = f.await;
                if matches!(&r, Ok(o) if o.congested) {
                    tokio::task::yield_now().await;
                }
                answer(r)
            })),
        }
    }
}
