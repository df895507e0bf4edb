//! The catalog's vocabulary: the commands that change it, what applying one answers, and the
//! records it keeps. Shared by the broker (which proposes), both cluster implementations (which
//! commit and replicate) and auth (which reads users and bans).

use serde::{Deserialize, Serialize};

/// A node's identity in the cluster, created once and kept in its data dir.
pub type NodeId = u64;

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
    /// Forget every route of `node` (it restarted and re-adds what it has, or it left).
    ClearNodeRoutes {
        node: NodeId,
    },
    /// `client` is now owned by `node` (session generation increases on every takeover).
    /// `owner`: the identity the session belongs to; `None` keeps the recorded one.
    RegisterClient {
        client: String,
        node: NodeId,
        #[serde(default)]
        owner: Option<Identity>,
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
    /// Acquire, renew or release the lease of bridge `bridge` for `node` (`catalog::lease`).
    BridgeLease {
        bridge: String,
        node: NodeId,
        action: crate::catalog::lease::LeaseAction,
    },
}

/// What applying a command produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CatalogResp {
    Ok,
    /// RegisterClient: the new generation of the client's session.
    Generation(u64),
    /// BridgeLease: the bridge's lease after the command (granted or not).
    Lease(crate::catalog::lease::LeaseRow),
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

/// The identity a session is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Identity {
    Anonymous,
    /// An authenticated username (password or certificate: the name the ACL sees).
    User(String),
}

impl Identity {
    /// The identity of a client that authenticated as `username` (`None`: anonymous).
    pub fn of(username: Option<&str>) -> Identity {
        match username {
            Some(u) => Identity::User(u.to_string()),
            None => Identity::Anonymous,
        }
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identity::Anonymous => f.write_str("anonymous"),
            Identity::User(u) => write!(f, "user {u:?}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BanKind {
    ClientId,
    Username,
    Network,
}

impl BanKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BanKind::ClientId => "client_id",
            BanKind::Username => "username",
            BanKind::Network => "network",
        }
    }

    pub fn parse(s: &str) -> Option<BanKind> {
        match s {
            "client_id" => Some(BanKind::ClientId),
            "username" => Some(BanKind::Username),
            "network" => Some(BanKind::Network),
            _ => None,
        }
    }
}

/// A ban as the catalog keeps it (the key is kind + value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BanRecord {
    pub reason: Option<String>,
    pub created_ms: u64,
    /// Unix ms after which the ban no longer applies; `None` = until deleted.
    pub until_ms: Option<u64>,
}

impl BanRecord {
    pub fn active(&self, now: u64) -> bool {
        self.until_ms.is_none_or(|u| now < u)
    }
}
