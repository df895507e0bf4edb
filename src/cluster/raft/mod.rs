//! openraft glue: the type configuration, and adapters kept apart from the catalog state
//! machine itself (as in openraft's raft-kv examples):
//! - [`log_store`]: the Raft log, vote and committed index in fjall;
//! - [`state_machine`]: applies committed entries to [`crate::catalog::Catalog`] and
//!   builds/installs snapshots of it;
//! - [`network`]: Raft RPCs over the cluster link.

// openraft's StorageError is large and imposed by its traits; boxing it locally gains nothing.
#![allow(clippy::result_large_err)]

pub mod log_store;
pub mod network;
pub mod state_machine;

use std::fmt;
use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::catalog::cmd::{CatalogCmd, CatalogResp, NodeId};
use crate::config::Role;

/// A member of the cluster as the Raft membership records it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    /// Cluster-link address (`host:port`).
    pub addr: String,
    pub role: Role,
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{} ({})", self.name, self.addr, self.role.as_str())
    }
}

/// One Raft entry's payload: catalog commands applied in order, atomically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogWrite(pub Vec<CatalogCmd>);

/// The result of each command of a [`CatalogWrite`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogReply(pub Vec<CatalogResp>);

openraft::declare_raft_types!(
    pub TypeConfig:
        D = CatalogWrite,
        R = CatalogReply,
        NodeId = NodeId,
        Node = Member,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type RaftStorageError = openraft::StorageError<NodeId>;
pub type LogId = openraft::LogId<NodeId>;
pub type Membership = openraft::StoredMembership<NodeId, Member>;

/// A storage failure in openraft's terms (it stops the Raft node: a node that cannot write its
/// log must not vote or acknowledge).
pub(crate) fn io_err(what: &str, e: impl fmt::Display) -> RaftStorageError {
    openraft::StorageIOError::write(openraft::AnyError::error(format!("{what}: {e}"))).into()
}
