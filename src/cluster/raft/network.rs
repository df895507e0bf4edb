//! Raft RPCs over the cluster link: each call is one link request to the target's address.

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};

use super::{Member, TypeConfig};
use crate::catalog::cmd::NodeId;
use crate::cluster::link::Link;
use crate::cluster::rpc::{self, Reply, Rpc};

#[derive(Clone)]
pub struct Network {
    pub link: Link,
}

pub struct PeerClient {
    link: Link,
    target: NodeId,
    addr: String,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &Member) -> PeerClient {
        PeerClient { link: self.link.clone(), target, addr: node.addr.clone() }
    }
}

type RpcErr<E = openraft::error::Infallible> = RPCError<NodeId, Member, RaftError<NodeId, E>>;

impl PeerClient {
    async fn call<E: std::error::Error>(&self, rpc: Rpc, option: &RPCOption) -> Result<Reply, RpcErr<E>> {
        let body = rpc::encode(&rpc);
        let answer = self
            .link
            .request(&self.addr, body, option.hard_ttl())
            .await
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        serde_json::from_slice(&answer).map_err(|e| RPCError::Network(NetworkError::new(&e)))
    }

    fn remote<E: std::error::Error>(&self, e: RaftError<NodeId, E>) -> RpcErr<E> {
        RPCError::RemoteError(RemoteError::new(self.target, e))
    }
}

fn unexpected<E: std::error::Error>(r: Reply) -> RpcErr<E> {
    let e = std::io::Error::other(format!("unexpected answer {r:?}"));
    RPCError::Network(NetworkError::new(&e))
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        req: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcErr> {
        match self.call(Rpc::AppendEntries(req), &option).await? {
            Reply::AppendEntries(r) => r.map_err(|e| self.remote(e)),
            r => Err(unexpected(r)),
        }
    }

    async fn install_snapshot(
        &mut self,
        req: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcErr<InstallSnapshotError>> {
        match self.call(Rpc::InstallSnapshot(req), &option).await? {
            Reply::InstallSnapshot(r) => r.map_err(|e| self.remote(e)),
            r => Err(unexpected(r)),
        }
    }

    async fn vote(&mut self, req: VoteRequest<NodeId>, option: RPCOption) -> Result<VoteResponse<NodeId>, RpcErr> {
        match self.call(Rpc::Vote(req), &option).await? {
            Reply::Vote(r) => r.map_err(|e| self.remote(e)),
            r => Err(unexpected(r)),
        }
    }
}
