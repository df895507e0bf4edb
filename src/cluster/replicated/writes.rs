//! Catalog writes: committed through the leader (forwarded to it over the link when this
//! node does not lead), and the queue of submitted writes committed in order.

use super::*;
use crate::cluster::link::LinkError;
use crate::cluster::rpc::RpcError;

/// Why one attempt at committing a catalog write failed (the write is retried until
/// [`WRITE_TIMEOUT`]).
#[derive(Debug, thiserror::Error)]
pub(super) enum WriteError {
    #[error("no leader elected")]
    NoLeader,
    #[error("leader {0} has no address")]
    LeaderWithoutAddress(NodeId),
    #[error("raft: {0}")]
    Raft(#[from] RaftError<NodeId, ClientWriteError<NodeId, Member>>),
    #[error("link to the leader: {0}")]
    Link(#[from] LinkError),
    #[error("the leader refused it: {0}")]
    Refused(#[from] RpcError),
    #[error("undecodable answer from the leader: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("unexpected answer from the leader: {0:?}")]
    Unexpected(Box<Reply>),
}

impl RaftCluster {
    /// Commit catalog commands through the leader, retrying while there is none (an election,
    /// a partition) for up to [`WRITE_TIMEOUT`].
    pub async fn write(&self, cmds: Vec<CatalogCmd>) -> Result<Vec<CatalogResp>, ClusterError> {
        let deadline = Instant::now() + WRITE_TIMEOUT;
        loop {
            let leader = self.raft.metrics().borrow().current_leader;
            let attempt = match leader {
                Some(l) if l == self.me => match self.raft.client_write(CatalogWrite(cmds.clone())).await {
                    Ok(r) => Ok(r.data.0),
                    Err(e) => Err(WriteError::from(e)),
                },
                Some(l) => match self.member_addr(l) {
                    Some(addr) => self.forward_write(&addr, &cmds).await,
                    None => Err(WriteError::LeaderWithoutAddress(l)),
                },
                None => Err(WriteError::NoLeader),
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

    pub(super) async fn forward_write(&self, addr: &str, cmds: &[CatalogCmd]) -> Result<Vec<CatalogResp>, WriteError> {
        let body = rpc::encode(&Rpc::Write(CatalogWrite(cmds.to_vec())));
        let answer = self.link.request(addr, body, WRITE_TIMEOUT).await?;
        match serde_json::from_slice::<Reply>(&answer)? {
            Reply::Write(r) => Ok(r?.0),
            other => Err(WriteError::Unexpected(Box::new(other))),
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
}
