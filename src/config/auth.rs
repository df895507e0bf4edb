//! `[auth]`, `[limits]`, `[bans]` and `[flapping]`: the authentication chain, per-client
//! limits, ban defaults and flapping detection.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::HashAlgorithm;

/// One step of the authentication chain.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// A verified client certificate's identity (`listeners.<name>.cert_identity`).
    Cert,
    /// Username and password against the password file and the users added through the API.
    Password,
    /// No credentials, where the listener allows it (`listeners.<name>.allow_anonymous`).
    Anonymous,
}

/// `[auth]`: who may connect (the chain) and what they may do (the ACL file).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Methods tried in order; the first that decides wins (see docs/security.md).
    pub chain: Vec<AuthMethod>,
    /// Default of `listeners.<name>.allow_anonymous` for listeners that do not set it. Unset =
    /// anonymous access only on loopback binds.
    pub allow_anonymous: Option<bool>,
    /// `user:phc-hash` lines, as written by `starling passwd`; reloaded on SIGHUP.
    pub password_file: Option<PathBuf>,
    /// ACL rules (TOML); none = everything allowed. Reloaded on SIGHUP.
    pub acl_file: Option<PathBuf>,
    /// Algorithm for hashes the broker makes (`starling passwd`, users added through the API).
    pub hash: HashAlgorithm,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            chain: vec![AuthMethod::Cert, AuthMethod::Password, AuthMethod::Anonymous],
            allow_anonymous: None,
            password_file: None,
            acl_file: None,
            hash: HashAlgorithm::Argon2id,
        }
    }
}

/// `[limits]`: what one client may use. 0 = no limit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// PUBLISH packets per second from one client; over it the connection is read more slowly.
    pub max_messages_per_second: f64,
    /// PUBLISH packets a client may send at once before the rate applies (0 = the rate).
    pub messages_burst: u32,
    /// Bytes per second read from one client; over it the connection is read more slowly.
    pub max_bytes_per_second: u64,
    /// Bytes a client may send at once before the rate applies (0 = one second's worth).
    pub bytes_burst: u64,
    /// Subscriptions one client may hold; more are refused (SUBACK 0x97 / 0x80).
    pub max_subscriptions: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_messages_per_second: 0.0,
            messages_burst: 0,
            max_bytes_per_second: 0,
            bytes_burst: 0,
            max_subscriptions: 0,
        }
    }
}

/// `[bans]`: clients refused at CONNECT (CONNACK 0x8A / 5) and networks closed before CONNECT.
/// More can be added at run time through the admin API (`/api/v1/bans`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BansConfig {
    pub client_ids: Vec<String>,
    pub usernames: Vec<String>,
    /// Addresses or CIDR networks (`10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7`).
    pub networks: Vec<String>,
}

/// `[flapping]`: a client id, username or source address that connects `max_connects` times
/// within `window` is banned for `ban_time`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FlappingConfig {
    pub enabled: bool,
    pub max_connects: u32,
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    #[serde(with = "humantime_serde")]
    pub ban_time: Duration,
}

impl Default for FlappingConfig {
    fn default() -> Self {
        Self { enabled: false, max_connects: 15, window: Duration::from_secs(60), ban_time: Duration::from_secs(300) }
    }
}
