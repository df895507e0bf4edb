//! The requests nodes send each other over the cluster link, and their answers. Encoded as JSON
//! (openraft's types are serde types; the catalog is small next to message traffic, which uses
//! the binary message format instead).

use serde::{Deserialize, Serialize};

use crate::broker::handover::SessionTransfer;
use crate::catalog::cmd::NodeId;
use crate::cluster::raft::{CatalogReply, CatalogWrite, Member, TypeConfig};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};

#[derive(Debug, Serialize, Deserialize)]
pub enum Rpc {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A catalog write forwarded by a follower or replicant to the leader.
    Write(CatalogWrite),
    /// Add a node to the membership (learner; cores are promoted to voters once caught up).
    Join {
        id: NodeId,
        member: Member,
    },
    /// Remove a node from the membership.
    Remove {
        id: NodeId,
    },
    /// Sent by the leader to a node it removed: a removed node gets no more log entries, so it
    /// would not learn of its removal otherwise (and a removed voter would call elections).
    Removed,
    /// Give up your session of this client (takeover by the sender), unless the sender has
    /// stopped waiting: a request delivered late (after a partition heals) must not hand the
    /// session to nobody.
    TakeSession {
        client: String,
        deadline_ms: u64,
    },
    /// Take this session, or merge its held messages into yours (hand-back).
    GiveSession(SessionTransfer),
    /// Who are you, and what do you know of the cluster (discovery, bootstrap, `ctl`).
    Status,
    /// Would you vote for me, whose last log entry is `last_log`? Asked before campaigning; it
    /// changes no term (see `cluster::prevote`).
    PreVote {
        last_log: Option<openraft::LogId<NodeId>>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
    Write(Result<CatalogReply, String>),
    Join(Result<(), String>),
    Remove(Result<(), String>),
    Removed,
    Status(NodeStatus),
    TakeSession(Result<Option<SessionTransfer>, String>),
    GiveSession(Result<(), String>),
    PreVote(bool),
    /// The request could not be decoded or is not served by this node.
    Error(String),
}

/// One node's view, as `Rpc::Status` reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeStatus {
    pub id: NodeId,
    pub member: Member,
    /// Part of a cluster (has a Raft vote or log).
    pub initialized: bool,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub applied: u64,
    pub last_log: u64,
    /// The membership as this node knows it: (id, member, voter).
    pub members: Vec<(NodeId, Member, bool)>,
}

pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}
