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
    Write(Result<CatalogReply, RpcError>),
    Join(Result<(), RpcError>),
    Remove(Result<(), RpcError>),
    Removed,
    Status(NodeStatus),
    TakeSession(Result<Option<SessionTransfer>, RpcError>),
    GiveSession(Result<(), RpcError>),
    PreVote(bool),
    /// The request could not be decoded or is not served by this node.
    Error(RpcError),
}

/// Why a node did not do what it was asked. On the wire it is its text, as nodes of the
/// previous link version send and expect it; a text this node does not recognise stays
/// [`RpcError::Failed`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum RpcError {
    /// A catalog write sent to a node that does not lead (any more).
    #[error("not the leader (leader: {0:?})")]
    NotLeader(Option<NodeId>),
    /// The node is shutting down.
    #[error("node is stopping")]
    Stopping,
    /// A session hand-over asked for after the asker stopped waiting.
    #[error("the request expired before it arrived")]
    Expired,
    /// The request could not be decoded.
    #[error("undecodable request: {0}")]
    Undecodable(String),
    /// The request failed there, for the reason its text gives.
    #[error("{0}")]
    Failed(String),
}

impl RpcError {
    /// The refusal of a request that failed with `e` on this node (its text is what travels).
    pub fn failed(e: impl std::fmt::Display) -> RpcError {
        RpcError::Failed(e.to_string())
    }
}

impl From<RpcError> for String {
    fn from(e: RpcError) -> String {
        e.to_string()
    }
}

impl From<String> for RpcError {
    fn from(s: String) -> RpcError {
        match s.as_str() {
            "node is stopping" => return RpcError::Stopping,
            "the request expired before it arrived" => return RpcError::Expired,
            _ => {}
        }
        if let Some(rest) = s.strip_prefix("undecodable request: ") {
            return RpcError::Undecodable(rest.to_string());
        }
        let leader = s.strip_prefix("not the leader (leader: ").and_then(|r| r.strip_suffix(')'));
        match leader {
            Some("None") => RpcError::NotLeader(None),
            Some(l) => match l.strip_prefix("Some(").and_then(|l| l.strip_suffix(')')).map(str::parse) {
                Some(Ok(id)) => RpcError::NotLeader(Some(id)),
                _ => RpcError::Failed(s),
            },
            None => RpcError::Failed(s),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each refusal reads back as itself from the text on the wire.
    #[test]
    fn rpc_errors_round_trip_through_their_text() {
        for e in [
            RpcError::NotLeader(Some(7)),
            RpcError::NotLeader(None),
            RpcError::Stopping,
            RpcError::Expired,
            RpcError::Undecodable("expected value at line 1 column 1".into()),
            RpcError::Failed("storage: disk full".into()),
        ] {
            let wire = serde_json::to_string(&Reply::Join(Err(e.clone()))).expect("encode");
            match serde_json::from_str::<Reply>(&wire).expect("decode") {
                Reply::Join(Err(back)) => assert_eq!(back, e, "{wire}"),
                other => panic!("{other:?}"),
            }
        }
    }

    /// The wire form is the text a node of the previous link version sends (`Result<_, String>`).
    #[test]
    fn rpc_errors_are_strings_on_the_wire() {
        let wire = serde_json::to_string(&Reply::Write(Err(RpcError::NotLeader(Some(3))))).expect("encode");
        assert_eq!(wire, r#"{"Write":{"Err":"not the leader (leader: Some(3))"}}"#);
        let old: Reply = serde_json::from_str(r#"{"GiveSession":{"Err":"whatever went wrong"}}"#).expect("decode");
        assert!(matches!(old, Reply::GiveSession(Err(RpcError::Failed(t))) if t == "whatever went wrong"));
    }
}
