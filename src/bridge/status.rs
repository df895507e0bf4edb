//! What a bridge reports: connection state, counters and drops, for `/api/v1/bridges`,
//! `starling ctl bridges` and the Prometheus exposition.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;

/// Why a message for or from the upstream was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    /// QoS 0 for the upstream while it was unreachable.
    Qos0Offline,
    /// The backlog was full (`overflow = "drop_oldest"`: the oldest went; `"refuse"`: the new
    /// one was refused to its publisher).
    Overflow,
    /// Older than `backlog.max_age` or its Message Expiry Interval.
    Expired,
    /// The upstream refused it (an error reason code, or larger than its Maximum Packet Size).
    Rejected,
    /// A message from the upstream that no `in` rule maps (the upstream sent more than asked).
    NoRule,
    /// A plain 3.1.1 upstream sent back what this bridge had just forwarded (no bridge bit, so
    /// no *no local*): not published here a second time.
    Echo,
}

pub const DROPS: [Drop; 6] =
    [Drop::Qos0Offline, Drop::Overflow, Drop::Expired, Drop::Rejected, Drop::NoRule, Drop::Echo];

impl Drop {
    pub fn as_str(self) -> &'static str {
        match self {
            Drop::Qos0Offline => "qos0_offline",
            Drop::Overflow => "overflow",
            Drop::Expired => "expired",
            Drop::Rejected => "rejected",
            Drop::NoRule => "no_rule",
            Drop::Echo => "echo",
        }
    }
}

/// Drops are logged at most this often per bridge (with the count since the last line).
const LOG_EVERY: Duration = Duration::from_secs(10);

pub struct BridgeStatus {
    pub name: String,
    pub connected: AtomicBool,
    pub upstream: Mutex<Option<String>>,
    pub last_error: Mutex<Option<String>>,
    pub forwarded_out: AtomicU64,
    pub forwarded_in: AtomicU64,
    /// Successful connections after the first.
    pub reconnects: AtomicU64,
    /// The last PUBLISH → PUBACK/PUBREC round trip, microseconds.
    pub rtt_us: AtomicU64,
    /// [`crate::broker::reserved::delivery_bytes`] of the QoS ≥ 1 messages in the backlog
    /// (queued and in flight), against `backlog.max_bytes`.
    pub backlog_bytes: AtomicU64,
    /// 3.1.1 only: the upstream does not take the bridge bit (it refused it, or closed an
    /// attempt with it and then accepted one without): connect as a plain client.
    pub bridge_bit_refused: AtomicBool,
    /// The last attempt with the bridge bit was closed before any CONNACK: the next goes
    /// without it.
    pub bridge_bit_unanswered: AtomicBool,
    dropped: [AtomicU64; 6],
    /// When the last drop was logged and how many were not logged since.
    log: Mutex<(Option<Instant>, u64)>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct BridgeSnapshot {
    pub name: String,
    pub connected: bool,
    pub upstream: Option<String>,
    pub last_error: Option<String>,
    pub backlog_messages: u64,
    pub backlog_inflight: u64,
    /// Topic + payload bytes of the QoS 1/2 backlog (queued and in flight), against
    /// `backlog.max_bytes`.
    pub backlog_bytes: u64,
    pub forwarded_out: u64,
    pub forwarded_in: u64,
    pub reconnects: u64,
    pub rtt_seconds: f64,
    pub dropped: std::collections::BTreeMap<String, u64>,
    /// The node holding the bridge's lease (the one running it), as this node's catalog shows.
    #[serde(default)]
    pub holder_id: Option<u64>,
    /// This node holds the lease.
    #[serde(default)]
    pub holding: bool,
    /// The lease's epoch: it changes whenever the holder does.
    #[serde(default)]
    pub lease_epoch: u64,
    /// Holder changes this node has seen since it started.
    #[serde(default)]
    pub lease_changes: u64,
}

impl BridgeStatus {
    pub fn new(name: &str) -> BridgeStatus {
        BridgeStatus {
            name: name.to_string(),
            connected: AtomicBool::new(false),
            upstream: Mutex::new(None),
            last_error: Mutex::new(None),
            forwarded_out: AtomicU64::new(0),
            forwarded_in: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            rtt_us: AtomicU64::new(0),
            backlog_bytes: AtomicU64::new(0),
            bridge_bit_refused: AtomicBool::new(false),
            bridge_bit_unanswered: AtomicBool::new(false),
            dropped: Default::default(),
            log: Mutex::new((None, 0)),
        }
    }

    /// Messages of `n` bytes left the backlog (sent, dropped or evicted).
    pub fn backlog_shrank(&self, n: u64) {
        let _ = self.backlog_bytes.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| Some(b.saturating_sub(n)));
    }

    pub fn dropped_count(&self, why: Drop) -> u64 {
        self.dropped[why as usize].load(Ordering::Relaxed)
    }

    /// Count a drop and log it, rate-limited: never silent, never a log flood.
    pub fn dropped(&self, why: Drop, bridge: &str, detail: &str) {
        self.dropped_n(why, 1, bridge, detail);
    }

    pub fn dropped_n(&self, why: Drop, n: u64, bridge: &str, detail: &str) {
        if n == 0 {
            return;
        }
        self.dropped[why as usize].fetch_add(n, Ordering::Relaxed);
        let mut log = self.log.lock();
        let now = Instant::now();
        if log.0.is_some_and(|t| now.duration_since(t) < LOG_EVERY) {
            log.1 += n;
            return;
        }
        let earlier = std::mem::take(&mut log.1);
        log.0 = Some(now);
        drop(log);
        tracing::warn!(
            bridge,
            reason = why.as_str(),
            count = n,
            not_logged_before = earlier,
            "bridge dropped messages: {detail}"
        );
    }

    pub fn snapshot(&self, backlog: (u64, u64)) -> BridgeSnapshot {
        BridgeSnapshot {
            name: self.name.clone(),
            connected: self.connected.load(Ordering::Relaxed),
            upstream: self.upstream.lock().clone(),
            last_error: self.last_error.lock().clone(),
            backlog_messages: backlog.0,
            backlog_inflight: backlog.1,
            backlog_bytes: self.backlog_bytes.load(Ordering::Relaxed),
            forwarded_out: self.forwarded_out.load(Ordering::Relaxed),
            forwarded_in: self.forwarded_in.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            rtt_seconds: self.rtt_us.load(Ordering::Relaxed) as f64 / 1e6,
            dropped: DROPS.iter().map(|d| (d.as_str().to_string(), self.dropped_count(*d))).collect(),
            holder_id: None,
            holding: false,
            lease_epoch: 0,
            lease_changes: 0,
        }
    }
}
