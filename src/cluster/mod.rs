//! Implementations of [`crate::broker::port::Cluster`]: the catalog state machine shared by
//! all of them, and the standalone (cluster of one) implementation. The Raft-replicated one
//! (openraft voters and learners, the cluster link, discovery) builds on the same catalog.

pub mod discovery;
pub mod link;
pub mod link_tls;
pub mod link_watch;
pub mod moved;
pub mod outbox;
pub mod prevote;
pub mod raft;
pub mod replicated;
pub mod rpc;
pub mod standalone;

use std::path::Path;

/// The `Cluster` reads every implementation serves from its local catalog replica
/// (`self.catalog`), written once for all of them.
macro_rules! catalog_reads {
    () => {
        fn owner_of(&self, client: &str) -> Option<crate::catalog::cmd::NodeId> {
            self.catalog.owner_of(client)
        }

        fn client_identity(&self, client: &str) -> Option<crate::catalog::cmd::Identity> {
            self.catalog.client_identity(client)
        }

        fn retained_matching(&self, filter: &str) -> Vec<std::sync::Arc<crate::protocol::Message>> {
            self.catalog.retained_matching(filter)
        }

        fn retained_count(&self) -> usize {
            self.catalog.retained_count()
        }

        fn durable_subscriptions(&self, client: &str) -> Vec<(String, crate::broker::subs::SubOptions)> {
            self.catalog.durable_subscriptions(client)
        }

        fn durable_clients(&self) -> Vec<String> {
            self.catalog.durable_clients()
        }

        fn user_hash(&self, username: &str) -> Option<String> {
            self.catalog.user_hash(username)
        }

        fn usernames(&self) -> Vec<String> {
            self.catalog.usernames()
        }

        fn user_count(&self) -> usize {
            self.catalog.user_count()
        }

        fn ban(&self, kind: crate::catalog::cmd::BanKind, value: &str) -> Option<crate::catalog::cmd::BanRecord> {
            self.catalog.ban(kind, value)
        }

        fn bans(&self) -> Vec<(crate::catalog::cmd::BanKind, String, crate::catalog::cmd::BanRecord)> {
            self.catalog.bans()
        }

        fn bans_version(&self) -> u64 {
            self.catalog.bans_version()
        }
    };
}
pub(crate) use catalog_reads;

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
