//! The seam between the broker and the rest of the cluster (ports and adapters): the broker
//! declares what it needs here, `crate::cluster` implements it — standalone for a cluster of one,
//! Raft-replicated for real clusters. Nothing in `broker/` imports `cluster/`.
//!
//! Catalog writes are [`CatalogCmd`]s: proposed, committed (locally, or through Raft), then
//! applied by one function on every node. Reads (`retained_matching`, `durable_subscriptions`,
//! `route_nodes`) are served from the local replica. Message payloads never go through the
//! catalog: [`Cluster::forward`] sends them node-to-node.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::auth::bans::{BanKind, BanRecord};
use crate::broker::subs::SubOptions;
use crate::protocol::Message;

/// A node's identity in the cluster, created once and kept in its data dir.
pub type NodeId = u64;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A change to the replicated catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CatalogCmd {
    /// `node` has (another) local subscriber for `filter`; reference counted per node.
    AddRoute {
        filter: String,
        node: NodeId,
    },
    RemoveRoute {
        filter: String,
        node: NodeId,
    },
    /// `client` is now owned by `node` (session generation increases on every takeover).
    RegisterClient {
        client: String,
        node: NodeId,
    },
    UnregisterClient {
        client: String,
        node: NodeId,
    },
    /// Set (`Some`, an encoded [`Message`]) or delete (`None`) the retained message of `topic`.
    SetRetained {
        topic: String,
        message: Option<Vec<u8>>,
    },
    /// Replace the durable subscriptions of a persistent session (empty = forget them).
    SetDurableSubs {
        client: String,
        subs: Vec<(String, SubOptionsWire)>,
    },
    /// Add or replace (`Some`: a PHC hash string, never a password) or delete (`None`) a user
    /// of the API user store.
    SetUser {
        username: String,
        hash: Option<String>,
    },
    /// Add or replace (`Some`) or delete (`None`) a ban.
    SetBan {
        kind: BanKind,
        value: String,
        ban: Option<BanRecord>,
    },
}

/// What applying a command produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CatalogResp {
    Ok,
    /// RegisterClient: the new generation of the client's session.
    Generation(u64),
}

/// [`SubOptions`] as stored in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubOptionsWire {
    pub qos: u8,
    pub no_local: bool,
    pub retain_as_published: bool,
    pub retain_handling: u8,
    pub sub_id: Option<u32>,
}

impl From<SubOptions> for SubOptionsWire {
    fn from(o: SubOptions) -> Self {
        Self {
            qos: o.qos,
            no_local: o.no_local,
            retain_as_published: o.retain_as_published,
            retain_handling: o.retain_handling,
            sub_id: o.sub_id,
        }
    }
}

impl From<SubOptionsWire> for SubOptions {
    fn from(o: SubOptionsWire) -> Self {
        Self {
            qos: o.qos,
            no_local: o.no_local,
            retain_as_published: o.retain_as_published,
            retain_handling: o.retain_handling,
            sub_id: o.sub_id,
        }
    }
}

#[derive(Debug, Error)]
pub enum ClusterError {
    #[error("catalog storage: {0}")]
    Storage(String),
    #[error("no leader reachable; the write was not committed")]
    NoLeader,
}

/// What the broker needs from the cluster.
pub trait Cluster: Send + Sync + 'static {
    fn node_id(&self) -> NodeId;
    /// Commit a catalog change; resolves once it is applied on this node.
    fn propose(&self, cmd: CatalogCmd) -> BoxFuture<'_, Result<CatalogResp, ClusterError>>;
    /// Send a publish to the other nodes that have matching subscribers. Standalone: nothing to do.
    fn forward(&self, msg: &Arc<Message>, nodes: &[NodeId]);
    /// Nodes other than this one with a route matching `topic`.
    fn route_nodes(&self, topic: &str) -> Vec<NodeId>;
    /// Which node owns a client's session, if any.
    fn owner_of(&self, client: &str) -> Option<NodeId>;
    /// Retained messages whose topic matches `filter` (expired ones excluded).
    fn retained_matching(&self, filter: &str) -> Vec<Arc<Message>>;
    fn retained_count(&self) -> usize;
    /// The durable subscriptions recorded for a persistent session.
    fn durable_subscriptions(&self, client: &str) -> Vec<(String, SubOptions)>;
    /// Clients with durable subscriptions (to restore sessions at start).
    fn durable_clients(&self) -> Vec<String>;
    /// The PHC hash of a user of the API user store.
    fn user_hash(&self, username: &str) -> Option<String>;
    /// Users of the API user store, sorted.
    fn usernames(&self) -> Vec<String>;
    fn user_count(&self) -> usize;
    /// The ban of `kind`/`value`, if any (expired ones included: the caller checks).
    fn ban(&self, kind: BanKind, value: &str) -> Option<BanRecord>;
    /// Every ban, sorted by kind and value.
    fn bans(&self) -> Vec<(BanKind, String, BanRecord)>;
    /// Changes whenever a ban is added or deleted, so callers can cache what they derive.
    fn bans_version(&self) -> u64;
}
