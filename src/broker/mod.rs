//! The broker: sessions, the subscription index, retained messages, wills, shared groups and
//! `$SYS`, behind a small API that connection tasks call. It knows nothing of sockets (that is
//! `transport`); other nodes it reaches only through the port [`port::Cluster`], whose
//! implementation is an adapter. This file holds the `Broker` value and its settings; its
//! behaviour is split by concern:
//!
//! - `lifecycle`: connect, disconnect, wills, expiry;
//! - `publish`: local delivery of a publish (matching, shared groups, queueing, backpressure);
//! - `remote`: cross-node planning, forwarding and forwarded deliveries;
//! - `flow`: what a connection sends next and the acknowledgements;
//! - `subscribe`: subscriptions and this node's routes; `restore`: restart; `sys`: `$SYS`;
//! - `session`, `subs`, `handover`, `drain`, `inspect`: session state and queues, the
//!   subscription index, session hand-over between nodes, draining, the admin view.
//!
//! Locking: the session registry and the subscription index are read-mostly and held only for
//! lookups; each session has its own short mutex. No lock is held across an `.await`.

pub mod drain;
mod flow;
pub mod gate;
pub mod handover;
pub mod inspect;
mod lifecycle;
mod ownership;
pub mod park;
pub mod plan;
pub mod port;
mod publish;
mod remote;
pub use remote::ForwardedDelivery;
pub mod reserved;
mod restore;
mod revoke;
pub mod session;
mod session_access;
pub mod subs;
mod subscribe;
mod sys;

pub(crate) use restore::inflight_row;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use thiserror::Error;

use crate::catalog::Catalog;
use crate::config::{Config, SharedStrategy};
use crate::metrics::Metrics;
use crate::protocol::Message;
use crate::protocol::topic::TopicLimits;
use crate::storage::{StorageError, Store};
use port::{Cluster, ClusterError, Confirmation};
use session::{Kick, QueueLimits, Session};
use subs::{ClientKey, SubIndex};

#[derive(Debug, Error)]
pub enum BrokerError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The client id's session belongs to another identity (`session.bind_to_identity`).
    #[error("the session of this client id belongs to {0}")]
    NotOwner(crate::catalog::cmd::Identity),
}

/// The broker's view of the configuration, resolved once.
#[derive(Debug, Clone)]
pub struct Settings {
    pub max_qos: u8,
    pub retain_available: bool,
    pub topic_limits: TopicLimits,
    pub receive_maximum: u16,
    pub max_packet_size: u32,
    pub topic_alias_maximum: u16,
    pub max_keep_alive: u16,
    pub max_session_expiry: u32,
    pub max_inflight: u16,
    pub queue: QueueLimits,
    pub shared_strategy: SharedStrategy,
    pub connect_timeout: Duration,
    pub max_client_id_length: usize,
    pub write_timeout: Duration,
    /// How long a QoS ≥ 1 publisher is held (its socket unread) waiting for a full subscriber
    /// queue to drain before the publish is refused with 0x97.
    pub full_wait: Duration,
    pub sys_interval: Option<Duration>,
    /// How long a node waits for a session's previous owner to hand it over.
    pub takeover_timeout: Duration,
    /// Sent with DISCONNECT 0x9C when the node drains.
    pub server_reference: Option<String>,
    /// A session belongs to the identity that created it (`auth::ownership`).
    pub bind_to_identity: bool,
}

impl Settings {
    pub fn from_config(c: &Config) -> Settings {
        Settings {
            max_qos: c.mqtt.max_qos,
            retain_available: c.mqtt.retain_available,
            topic_limits: TopicLimits { max_len: c.mqtt.max_topic_length, max_levels: c.mqtt.max_topic_levels },
            receive_maximum: c.mqtt.receive_maximum,
            max_packet_size: c.mqtt.max_packet_size,
            topic_alias_maximum: c.mqtt.topic_alias_maximum,
            max_keep_alive: c.mqtt.max_keep_alive,
            max_session_expiry: u32::try_from(c.session.max_session_expiry.as_secs()).unwrap_or(u32::MAX),
            max_inflight: c.session.max_inflight,
            queue: QueueLimits { max_queued: c.session.max_queued, memory_window: c.session.memory_window },
            shared_strategy: c.mqtt.shared_subscription_strategy,
            connect_timeout: c.mqtt.connect_timeout,
            max_client_id_length: c.mqtt.max_client_id_length,
            write_timeout: c.mqtt.write_timeout,
            full_wait: c.session.publisher_wait,
            sys_interval: c.sys.enabled.then_some(c.sys.interval),
            takeover_timeout: c.cluster.as_ref().map_or(Duration::from_secs(3), |k| k.takeover_timeout),
            server_reference: c.cluster.as_ref().and_then(|k| k.server_reference.clone()),
            bind_to_identity: c.session.bind_to_identity,
        }
    }
}

/// A will message as given in CONNECT.
#[derive(Debug, Clone)]
pub struct Will {
    pub msg: Arc<Message>,
    pub delay: u32,
}

/// What a connect produced.
pub struct Connected {
    pub session: Arc<Session>,
    pub present: bool,
    /// The session expiry actually granted (capped by `max_session_expiry`).
    pub expiry: u32,
}

/// What a publish reached.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PublishOutcome {
    /// Sessions the message was queued for.
    pub delivered: usize,
    /// Sessions it could not be queued for (queue full after waiting).
    pub refused: usize,
    /// Some target session has a backlog: the publisher should yield before reading more, so
    /// consumers keep pace instead of having QoS 0 messages shed.
    pub congested: bool,
}

/// A publish queued here and sent to the other nodes it is for.
#[derive(Default)]
pub struct Routed {
    pub outcome: PublishOutcome,
    /// The other nodes' confirmations it still waits for (QoS ≥ 1 forwarded), if any.
    pub confirm: Option<Confirmation>,
}

impl Routed {
    /// Wait for the other nodes' confirmations.
    pub async fn confirmed(self) -> Result<PublishOutcome, BrokerError> {
        if let Some(c) = self.confirm {
            c.await?;
        }
        Ok(self.outcome)
    }
}

/// What [`Broker::attach`] did: the session, whether it was resumed, whether it was
/// persistent before, and the session a clean start replaced.
type Attached = (Arc<Session>, bool, bool, Option<Arc<Session>>);

/// How a connection ended, for will and session handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseKind {
    /// DISCONNECT 0x00: discard the will.
    Normal,
    /// DISCONNECT 0x04, a protocol error, a timeout or a dropped socket: publish the will.
    WithWill,
}

/// The local sessions by client id. Looked up once per delivery, so hashed with foldhash
/// (seeded per process) rather than SipHash.
pub(crate) type Registry = HashMap<ClientKey, Arc<Session>, foldhash::fast::RandomState>;

pub struct Broker {
    pub settings: Settings,
    pub node_name: String,
    pub cluster: Arc<dyn Cluster>,
    /// The local replica of the catalog: retained messages, client owners, durable subscriptions.
    pub catalog: Arc<Catalog>,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    /// Authentication, ACL, bans and limits (the connection task asks it).
    pub auth: Arc<crate::auth::Auth>,
    sessions: Mutex<Registry>,
    subs: RwLock<SubIndex>,
    /// Local subscriber count per plain filter; the cluster route changes on 0↔1.
    local_filters: Mutex<HashMap<String, usize>>,
    /// `$SYS` topics: retained locally, never written to the catalog.
    sys_retained: RwLock<BTreeMap<String, Arc<Message>>>,
    started: Instant,
    /// Sessions taken or restored here recently (see `handover`).
    claims: handover::Claims,
    /// Round-robin position per shared group across nodes (`plan_remote`).
    group_cursors: Mutex<HashMap<String, usize>>,
    /// Relayed messages waiting for their sessions to arrive: client → until when (see
    /// [`Broker::relay_deadline`]).
    relay_waits: Mutex<HashMap<String, tokio::time::Instant>>,
    /// Set by [`Broker::drain`]: listeners refuse new connections.
    draining: std::sync::atomic::AtomicBool,
    next_conn_id: AtomicU64,
    /// Deadlines of parked connections (one shared timer).
    park_timers: Arc<park::ParkTimers>,
    pub connections: AtomicU64,
    /// The node's bridges, for the admin API and `/metrics` (none: not set).
    pub bridges: std::sync::OnceLock<Arc<dyn reserved::BridgeReport>>,
}

/// A target session for one publish, after merging overlapping subscriptions.
struct Target {
    session: Arc<Session>,
    qos: u8,
    rap: bool,
    sub_ids: Vec<u32>,
    shared: Option<(Arc<str>, Arc<str>)>,
}

impl Broker {
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Authentication, ACL, bans and limits.
    pub fn auth(&self) -> &Arc<crate::auth::Auth> {
        &self.auth
    }

    pub fn new(
        settings: Settings,
        node_name: String,
        cluster: Arc<dyn Cluster>,
        catalog: Arc<Catalog>,
        store: Store,
        metrics: Arc<Metrics>,
        auth: Arc<crate::auth::Auth>,
    ) -> Arc<Broker> {
        Arc::new(Broker {
            settings,
            node_name,
            cluster,
            catalog,
            store,
            metrics,
            auth,
            sessions: Mutex::new(Registry::default()),
            subs: RwLock::new(SubIndex::new()),
            local_filters: Mutex::new(HashMap::new()),
            sys_retained: RwLock::new(BTreeMap::new()),
            started: Instant::now(),
            claims: handover::Claims::default(),
            draining: std::sync::atomic::AtomicBool::new(false),
            group_cursors: Mutex::new(HashMap::new()),
            relay_waits: Mutex::new(HashMap::new()),
            next_conn_id: AtomicU64::new(1),
            park_timers: park::ParkTimers::new(),
            connections: AtomicU64::new(0),
            bridges: std::sync::OnceLock::new(),
        })
    }

    pub fn next_conn_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn session_count(&self) -> usize {
        self.sessions.lock().len()
    }

    pub fn subscription_count(&self) -> usize {
        self.subs.read().len()
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Kick every connection (shutdown).
    /// Stop taking connections and send every client elsewhere (DISCONNECT 0x9C, 5.0). The
    /// membership does not change: draining is what a restart starts with, not a leave.
    pub fn drain(&self) {
        if !self.draining.swap(true, Ordering::AcqRel) {
            tracing::info!("draining: new connections are refused and clients are sent to other nodes");
        }
        self.kick_all(Kick::Drain);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// The connection driving `s` parks: wake it through the session once `deadline` has passed
    /// (at most [`park::TICK`] late).
    pub fn park_until(&self, s: &Arc<Session>, deadline: tokio::time::Instant) {
        self.park_timers.park(s, deadline);
    }

    /// The connection driving `s` is no longer parked.
    pub fn unpark(&self, s: &Session) {
        self.park_timers.unpark(s);
    }

    pub fn kick_all(&self, why: Kick) {
        for s in self.sessions.lock().values() {
            if s.owner.load(Ordering::Acquire) != 0 {
                s.kick(why);
            }
        }
    }

    /// Totals for gauges that are cheaper to compute on demand than to track.
    pub fn queue_totals(&self) -> (usize, usize) {
        let reg = self.sessions.lock();
        reg.values().fold((0, 0), |(q, i), s| {
            let st = s.state.lock();
            (q + st.queue.len() + st.disk_only, i + st.inflight.len())
        })
    }
}
