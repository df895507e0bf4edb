//! What other nodes ask this one over the cluster link: RPCs (writes, joins, status,
//! session hand-over) and forwarded publishes.

use super::forwarding::decode_forward;
use super::*;
use crate::broker::ForwardedDelivery;
use crate::cluster::link::Delivered;

impl RaftCluster {
    pub(super) async fn handle(&self, from: NodeId, body: Vec<u8>) -> Reply {
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
            Rpc::Join { id, member } => Reply::Join(self.handle_join(id, member).await.map_err(|e| e.to_string())),
            Rpc::Remove { id } => Reply::Remove(self.remove_node(id).await.map_err(|e| e.to_string())),
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
pub(super) struct Handler(pub(super) Weak<RaftCluster>);

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

    fn publish(&self, from: &Arc<Identity>, message: &[u8]) -> Delivered {
        let decoded = decode_forward(message).and_then(|(t, g, c, m)| Message::decode(m).ok().map(|m| (t, g, c, m)));
        let Some((target, groups, clients, msg)) = decoded else {
            tracing::warn!(peer = %from.name, "undecodable forwarded message");
            return Delivered::Now(Confirm::NotQueued);
        };
        let Some(cluster) = self.0.upgrade() else { return Delivered::Now(Confirm::NotQueued) };
        let Some(broker) = cluster.broker() else { return Delivered::Now(Confirm::NotQueued) };
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
            ForwardedDelivery::Done(Ok(o)) if o.congested => Delivered::Later(Box::pin(async move {
                tokio::task::yield_now().await;
                answer(Ok(o))
            })),
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
