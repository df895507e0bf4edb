//! Implementations of the broker's port ([`crate::broker::port::Cluster`]) and of the admin
//! interface ([`admin::ClusterAdmin`]): standalone (a cluster of one) and Raft-replicated
//! (openraft voters and learners, the cluster link, discovery), both over the same
//! [`crate::catalog::Catalog`].

pub mod admin;
pub(crate) mod discovery;
pub mod link;
pub mod link_tls;
pub(crate) mod link_watch;
pub(crate) mod moved;
pub(crate) mod outbox;
pub(crate) mod prevote;
pub(crate) mod raft;
pub(crate) mod replicated;
pub(crate) mod rpc;
pub use rpc::RpcError;
pub(crate) mod standalone;

use std::path::Path;

use crate::catalog::cmd::NodeId;

/// Read this node's id from the data dir, creating it on first start.
pub fn load_or_create_node_id(data_dir: &Path) -> std::io::Result<NodeId> {
    let path = data_dir.join("node_id");
    match std::fs::read_to_string(&path) {
        Ok(s) => s
            .trim()
            .parse::<NodeId>()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir)?;
            // Non-zero random id; collisions across a cluster are negligible at 2^63.
            let id = rand::random::<u64>() >> 1 | 1;
            let tmp = data_dir.join("node_id.tmp");
            std::fs::write(&tmp, id.to_string())?;
            std::fs::rename(&tmp, &path)?;
            Ok(id)
        }
        Err(e) => Err(e),
    }
}
