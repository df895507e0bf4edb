//! `[mqtt]`, `[session]` and `[sys]`: protocol limits, session and queue limits, `$SYS`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Strategy used to pick the member of a shared subscription group.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SharedStrategy {
    RoundRobin,
    Random,
    HashClientid,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// Largest packet accepted from clients (bytes); announced as Maximum Packet Size.
    pub max_packet_size: u32,
    /// Unacknowledged QoS 1/2 PUBLISHes a client may have in flight towards the broker.
    pub receive_maximum: u16,
    /// Upper bound on a client's keep alive (seconds); 0 = any. Sent as Server Keep Alive.
    pub max_keep_alive: u16,
    /// Topic aliases a client may use towards the broker.
    pub topic_alias_maximum: u16,
    pub max_qos: u8,
    pub retain_available: bool,
    pub max_topic_length: usize,
    pub max_topic_levels: usize,
    /// Connections that send no CONNECT within this time are closed.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    pub shared_subscription_strategy: SharedStrategy,
    pub max_client_id_length: usize,
    /// A client that does not read what the broker writes for this long is disconnected
    /// (counted as `write_timeout`); this bounds the memory a non-reading client can hold.
    #[serde(with = "humantime_serde")]
    pub write_timeout: Duration,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            max_packet_size: 1024 * 1024,
            receive_maximum: 128,
            max_keep_alive: 0,
            topic_alias_maximum: 64,
            max_qos: 2,
            retain_available: true,
            max_topic_length: 65535,
            max_topic_levels: 128,
            connect_timeout: Duration::from_secs(10),
            shared_subscription_strategy: SharedStrategy::RoundRobin,
            max_client_id_length: 65535,
            write_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Upper bound on Session Expiry Interval a client may ask for.
    #[serde(with = "humantime_serde")]
    pub max_session_expiry: Duration,
    /// QoS 1/2 messages in flight to one client (further bounded by its Receive Maximum).
    pub max_inflight: u16,
    /// Messages queued for one session (online or offline) before new ones are refused.
    pub max_queued: usize,
    /// Queued messages of a persistent session held in memory; the rest stay on disk and are
    /// read back in batches of this size, so replay after restart has bounded memory.
    pub memory_window: usize,
    /// How long a QoS 1/2 publisher is held back (its socket not read) while a matching
    /// connected session's queue is full, before the publish is refused with 0x97 (a full
    /// session whose client is away refuses a publisher connected to this node at once).
    #[serde(with = "humantime_serde")]
    pub publisher_wait: Duration,
    /// A session belongs to the identity (username or anonymous) that created it: another
    /// identity presenting its client id is refused (docs/security.md).
    pub bind_to_identity: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            max_session_expiry: Duration::from_secs(7 * 24 * 3600),
            max_inflight: 32,
            max_queued: 10_000,
            memory_window: 1_000,
            publisher_wait: Duration::from_secs(5),
            bind_to_identity: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SysConfig {
    pub enabled: bool,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for SysConfig {
    fn default() -> Self {
        Self { enabled: true, interval: Duration::from_secs(10) }
    }
}
