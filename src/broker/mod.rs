//! The broker: sessions, the subscription index, retained messages, wills, shared groups and
//! `$SYS`, behind a small API that connection tasks call. It knows nothing of sockets (that is
//! `transport`) nor of other nodes (that is whatever implements [`cluster::Cluster`]).
//!
//! Locking: the session registry and the subscription index are read-mostly and held only for
//! lookups; each session has its own short mutex. No lock is held across an `.await`.

pub mod cluster;
pub mod drain;
pub mod handover;
pub mod inspect;
mod ownership;
pub mod reserved;
mod revoke;
pub mod session;
pub mod subs;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use thiserror::Error;

use crate::config::{Config, SharedStrategy};
use crate::observe::{DropReason, Metrics};
use crate::protocol::message::now_ms;
use crate::protocol::topic::{self, TopicLimits};
use crate::protocol::{Message, PublishProps};
use crate::storage::{self, StorageError, Store};
use cluster::{CatalogCmd, Cluster, ClusterError, Confirmation, ForwardTarget, NodeId, SubOptionsWire};
use session::{Delivery, InflightOut, Kick, Offer, PendingWill, Phase, QueueLimits, Session, SessionMeta};
use subs::{ClientKey, SharedGroup, SubIndex, SubOptions};

use crate::auth::ownership::Identity;

#[derive(Debug, Error)]
pub enum BrokerError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The client id's session belongs to another identity (`session.bind_to_identity`).
    #[error("the session of this client id belongs to {0}")]
    NotOwner(crate::auth::ownership::Identity),
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

pub struct Broker {
    pub settings: Settings,
    pub node_name: String,
    pub cluster: Arc<dyn Cluster>,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    /// Authentication, ACL, bans and limits (the connection task asks it).
    pub auth: Arc<crate::auth::Auth>,
    sessions: Mutex<HashMap<ClientKey, Arc<Session>>>,
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
    pub fn new(
        settings: Settings,
        node_name: String,
        cluster: Arc<dyn Cluster>,
        store: Store,
        metrics: Arc<Metrics>,
        auth: Arc<crate::auth::Auth>,
    ) -> Arc<Broker> {
        Arc::new(Broker {
            settings,
            node_name,
            cluster,
            store,
            metrics,
            auth,
            sessions: Mutex::new(HashMap::new()),
            subs: RwLock::new(SubIndex::new()),
            local_filters: Mutex::new(HashMap::new()),
            sys_retained: RwLock::new(BTreeMap::new()),
            started: Instant::now(),
            claims: handover::Claims::default(),
            draining: std::sync::atomic::AtomicBool::new(false),
            group_cursors: Mutex::new(HashMap::new()),
            relay_waits: Mutex::new(HashMap::new()),
            next_conn_id: AtomicU64::new(1),
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

    // ---------------------------------------------------------------- connect / disconnect

    /// Attach a connection to the session of `client`, creating, resuming or (clean start)
    /// replacing it. A connection already attached sees that it lost the session and leaves
    /// (5.0: DISCONNECT 0x8E).
    pub async fn connect(
        self: &Arc<Self>,
        client: ClientKey,
        clean_start: bool,
        requested_expiry: u32,
        conn_id: u64,
        identity: &Identity,
    ) -> Result<Connected, BrokerError> {
        let expiry = requested_expiry.min(self.settings.max_session_expiry);
        // Before anything is taken over, here or from another node.
        let local = self.sessions.lock().get(&client).cloned();
        self.check_owner(&client, local.as_ref(), identity)?;
        // A session held by another node comes here first (or, clean start, ends there).
        self.fetch_remote_session(&client, clean_start, expiry).await;
        let (session, present, was_persistent, ended) = self.attach(&client, clean_start, expiry, conn_id, identity)?;
        if let Some(old) = ended {
            // A clean start ends the previous session: its state goes, its pending will fires.
            self.end_session_state(&old, false).await;
        }
        if expiry > 0 {
            let meta = SessionMeta { expiry, disconnected_at_ms: None, owner: Some(identity.clone()) };
            self.write_meta(&client, &meta)?;
            if !was_persistent {
                self.metrics.sessions_persistent.inc();
                let owner = Some(identity.clone());
                self.cluster.submit(CatalogCmd::RegisterClient {
                    client: client.to_string(),
                    node: self.cluster.node_id(),
                    owner,
                });
            }
        } else if was_persistent {
            // The session became non-persistent: forget it on disk now.
            self.purge_disk(&client).await?;
            self.metrics.sessions_persistent.dec();
        }
        if present {
            // The rules may have changed since these subscriptions were granted.
            self.recheck_subscriptions(&session).await;
        }
        Ok(Connected { session, present, expiry })
    }

    /// The synchronous part of [`Broker::connect`]: registry and session state under their locks.
    fn attach(
        &self,
        client: &ClientKey,
        clean_start: bool,
        expiry: u32,
        conn_id: u64,
        identity: &Identity,
    ) -> Result<Attached, BrokerError> {
        let mut reg = self.sessions.lock();
        let existing = reg.get(client).cloned();
        // Again under the registry lock: a session may have arrived while this one waited.
        self.check_owner(client, existing.as_ref(), identity)?;
        // Only a persistent session is resumed: one with expiry 0 (3.1.1 Clean Session 1) lasts
        // as long as its connection ([MQTT-3.1.2-6], [MQTT-3.2.2-3]), even if that connection
        // is still closing or is being taken over right now.
        if let Some(s) = existing.as_ref().filter(|s| !clean_start && s.state.lock().persistent()) {
            let mut st = s.state.lock();
            let was = st.persistent();
            s.set_owner(&mut st, Some(conn_id));
            st.epoch += 1;
            st.will = None;
            st.expiry = expiry;
            st.identity = Some(identity.clone());
            return Ok((s.clone(), true, was, None));
        }
        if let Some(old) = &existing {
            let mut st = old.state.lock();
            old.set_owner(&mut st, None);
            st.epoch += 1;
        }
        let s = Arc::new(Session::new(client.clone(), expiry));
        {
            let mut st = s.state.lock();
            s.set_owner(&mut st, Some(conn_id));
            st.identity = Some(identity.clone());
        }
        reg.insert(client.clone(), s.clone());
        Ok((s, false, false, existing))
    }

    fn write_meta(&self, client: &str, meta: &SessionMeta) -> Result<(), StorageError> {
        let mut b = self.store.batch();
        b.insert(&self.store.sessions, client.as_bytes().to_vec(), serde_json::to_vec(meta).unwrap_or_default());
        self.store.commit(b)
    }

    /// The connection `conn_id` of `session` has ended.
    pub async fn disconnect(
        self: &Arc<Self>,
        session: &Arc<Session>,
        conn_id: u64,
        kind: CloseKind,
        will: Option<Will>,
        new_expiry: Option<u32>,
    ) {
        let will = if kind == CloseKind::WithWill { will } else { None };
        let Some((epoch, expiry, redistribute)) = self.detach(session, conn_id, new_expiry) else {
            // Taken over: the session lives on in the new connection, which disarmed any
            // delayed will; an immediate will still goes out (MQTT-3.1.2-8 with delay 0).
            if let Some(w) = will.filter(|w| w.delay == 0) {
                self.publish_will(w.msg).await;
            }
            return;
        };
        for d in redistribute {
            self.redeliver_shared(d, &session.client_id).await;
        }
        if expiry == 0 {
            self.remove_session(session).await;
            if let Some(w) = will {
                self.publish_will(w.msg).await;
            }
            return;
        }
        let owner = session.state.lock().identity.clone();
        let meta = SessionMeta { expiry, disconnected_at_ms: Some(now_ms()), owner };
        if let Err(e) = self.write_meta(&session.client_id, &meta) {
            tracing::error!(client = %session.client_id, "cannot record disconnect: {e}");
        }
        if let Some(w) = will {
            if w.delay == 0 {
                self.publish_will(w.msg).await;
            } else {
                session.state.lock().will = Some(PendingWill { msg: w.msg, armed_by: epoch });
                // The will fires after its delay or when the session ends, whichever is first.
                let after = Duration::from_secs(u64::from(w.delay.min(expiry)));
                // Timers hold the broker weakly: a stopped node must be able to go away (and
                // release its data dir) while timers of its sessions still sleep.
                let broker = Arc::downgrade(self);
                let s = session.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let Some(broker) = broker.upgrade() else { return };
                    let due = {
                        let mut st = s.state.lock();
                        match &st.will {
                            Some(p) if p.armed_by == epoch && st.epoch == epoch => st.will.take(),
                            _ => None,
                        }
                    };
                    if let Some(p) = due {
                        broker.publish_will(p.msg).await;
                    }
                });
            }
        }
        self.arm_expiry(session.clone(), epoch, expiry);
    }

    /// Detach connection `conn_id` from its session; `None` if another connection owns it now.
    fn detach(&self, session: &Session, conn_id: u64, new_expiry: Option<u32>) -> Option<(u64, u32, Vec<Delivery>)> {
        let mut st = session.state.lock();
        if st.conn != Some(conn_id) {
            return None;
        }
        session.set_owner(&mut st, None);
        st.epoch += 1;
        if let Some(e) = new_expiry {
            st.expiry = e.min(self.settings.max_session_expiry);
        }
        let redistribute = take_shared(&mut st);
        Some((st.epoch, st.expiry, redistribute))
    }

    fn arm_expiry(self: &Arc<Self>, session: Arc<Session>, epoch: u64, expiry: u32) {
        if expiry == u32::MAX {
            return;
        }
        let broker = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(u64::from(expiry))).await;
            let Some(broker) = broker.upgrade() else { return };
            let still_idle = {
                let st = session.state.lock();
                st.epoch == epoch && st.conn.is_none()
            };
            if still_idle {
                tracing::debug!(client = %session.client_id, "session expired");
                broker.end_session_state(&session, true).await;
            }
        });
    }

    /// End a session for good: publish a pending will, drop its subscriptions and stored data.
    async fn end_session_state(self: &Arc<Self>, session: &Arc<Session>, unregister: bool) {
        let (will, redistribute, persistent) = {
            let mut st = session.state.lock();
            (st.will.take(), take_shared(&mut st), st.persistent())
        };
        for d in redistribute {
            self.redeliver_shared(d, &session.client_id).await;
        }
        if unregister {
            let mut reg = self.sessions.lock();
            if reg.get(&session.client_id).is_some_and(|s| Arc::ptr_eq(s, session)) {
                reg.remove(&session.client_id);
            }
        }
        self.drop_subscriptions(session).await;
        if persistent {
            self.metrics.sessions_persistent.dec();
            if let Err(e) = self.purge_disk(&session.client_id).await {
                tracing::error!(client = %session.client_id, "cannot remove expired session data: {e}");
            }
        }
        if let Some(w) = will {
            self.publish_will(w.msg).await;
        }
    }

    async fn remove_session(self: &Arc<Self>, session: &Arc<Session>) {
        {
            let mut reg = self.sessions.lock();
            if reg.get(&session.client_id).is_some_and(|s| Arc::ptr_eq(s, session)) {
                reg.remove(&session.client_id);
            }
        }
        self.drop_subscriptions(session).await;
    }

    async fn drop_subscriptions(self: &Arc<Self>, session: &Arc<Session>) {
        let subs: Vec<String> = {
            let mut st = session.state.lock();
            st.queue.clear();
            st.queued_qos0 = 0;
            st.inflight.clear();
            std::mem::take(&mut st.subscriptions).into_keys().collect()
        };
        for full in subs {
            if let Ok(p) = topic::parse_filter(&full, self.settings.topic_limits) {
                self.subs.write().remove(p.filter, p.group, &session.client_id);
                self.unref_filter(&p.route_key()).await;
            }
        }
    }

    /// Delete everything stored for a client, here and its catalog entries.
    async fn purge_disk(&self, client: &str) -> Result<(), BrokerError> {
        self.purge_local(client)?;
        let node = self.cluster.node_id();
        self.cluster.submit(CatalogCmd::SetDurableSubs { client: client.into(), subs: Vec::new() });
        self.cluster.submit(CatalogCmd::UnregisterClient { client: client.into(), node });
        Ok(())
    }

    async fn publish_will(self: &Arc<Self>, msg: Arc<Message>) {
        tracing::debug!(topic = %msg.topic, "publishing will message");
        if let Err(e) = self.publish(msg).await {
            tracing::warn!("will message not published: {e}");
        }
    }

    // ---------------------------------------------------------------- publish

    /// Route an accepted message to every matching session (and, through the cluster, to the
    /// nodes with matching routes). Resolves once it is queued (and persisted where needed),
    /// here and on every node it was forwarded to.
    pub async fn publish(self: &Arc<Self>, msg: Arc<Message>) -> Result<PublishOutcome, BrokerError> {
        self.publish_unconfirmed(msg).await?.confirmed().await
    }

    /// [`Broker::publish`] up to the point where the message is queued here and sent to the
    /// other nodes: the connection of a publisher awaits the remote confirmations while it
    /// reads further PUBLISH packets, and acknowledges them in order.
    pub async fn publish_unconfirmed(self: &Arc<Self>, msg: Arc<Message>) -> Result<Routed, BrokerError> {
        if msg.retain && self.settings.retain_available && !msg.topic.starts_with('$') {
            let message = if msg.payload.is_empty() { None } else { Some(msg.encode()) };
            self.cluster.submit(CatalogCmd::SetRetained { topic: msg.topic.to_string(), message });
            self.metrics.retained.set(self.cluster.retained_count() as i64);
        }
        self.route_unconfirmed(msg).await
    }

    /// Deliver an accepted message to local sessions and the nodes the routes name, without
    /// touching the retained store: publishing, and re-routing messages kept for a node that left.
    pub async fn route(self: &Arc<Self>, msg: Arc<Message>) -> Result<PublishOutcome, BrokerError> {
        self.route_unconfirmed(msg).await?.confirmed().await
    }

    async fn route_unconfirmed(self: &Arc<Self>, msg: Arc<Message>) -> Result<Routed, BrokerError> {
        let (mut remote, elsewhere) = self.plan_remote(&msg);
        let targets = self.targets(&msg, |g, f| !elsewhere.iter().any(|(a, b)| a == g && b == f), None);
        // After the local targets: a session handed over between the two looks is then found
        // by one or the other (a hand-over records where it went before it leaves the registry).
        if !msg.topic.starts_with("$SYS/broker/") {
            remote.extend(self.relays(&msg.topic));
        }
        let mut outcome = if targets.is_empty() {
            if remote.is_empty() {
                // $SYS topics are published whether or not anyone listens; not a drop.
                if !msg.topic.starts_with('$') {
                    self.metrics.dropped(DropReason::NoSubscribers);
                }
                return Ok(Routed::default());
            }
            PublishOutcome::default()
        } else {
            self.offer_all(&msg, targets).await?
        };
        let mut confirm = None;
        if !remote.is_empty() {
            confirm = self.cluster.forward(&msg, &remote).await?;
            outcome.delivered += remote.len();
        }
        Ok(Routed { outcome, confirm })
    }

    /// Forward to other nodes and wait for their confirmations.
    async fn forward_confirmed(&self, msg: &Arc<Message>, targets: &[ForwardTarget]) -> Result<(), BrokerError> {
        if let Some(c) = self.cluster.forward(msg, targets).await? {
            c.await?;
        }
        Ok(())
    }

    /// Which other nodes get a publish, and the shared groups (group, filter) another node
    /// serves for it. A shared group with members on several nodes gets the message on one node
    /// only, chosen by the shared-subscription strategy among the nodes with members.
    fn plan_remote(&self, msg: &Message) -> (Vec<ForwardTarget>, Vec<(String, String)>) {
        // `$SYS/broker/...` is per node: never forwarded (`$SYS/brokers/<node>/...` is).
        if msg.topic.starts_with("$SYS/broker/") {
            return (Vec::new(), Vec::new());
        }
        let me = self.cluster.node_id();
        let routes = self.cluster.routes_for(&msg.topic);
        if routes.shared.is_empty() {
            // The common case: plain routes only (sorted, once each), no group to place.
            let targets =
                routes.nodes.into_iter().map(|node| ForwardTarget { node, groups: Vec::new(), clients: Vec::new() });
            return (targets.collect(), Vec::new());
        }
        let mut by_node: BTreeMap<NodeId, Vec<(String, String)>> =
            routes.nodes.into_iter().map(|n| (n, Vec::new())).collect();
        let mut elsewhere = Vec::new();
        for (g, f, nodes) in routes.shared {
            if nodes.is_empty() || nodes == [me] {
                continue;
            }
            let i = match self.settings.shared_strategy {
                SharedStrategy::RoundRobin => {
                    let mut cur = self.group_cursors.lock();
                    let c = cur.entry(format!("{g}/{f}")).or_insert(0);
                    *c = c.wrapping_add(1);
                    *c % nodes.len()
                }
                SharedStrategy::Random => rand::random_range(0..nodes.len()),
                SharedStrategy::HashClientid => {
                    use std::hash::{Hash, Hasher};
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    msg.origin.hash(&mut h);
                    (h.finish() % nodes.len() as u64) as usize
                }
            };
            let Some(&pick) = nodes.get(i) else { continue };
            if pick == me {
                continue;
            }
            by_node.entry(pick).or_default().push((g.clone(), f.clone()));
            elsewhere.push((g, f));
        }
        (
            by_node.into_iter().map(|(node, groups)| ForwardTarget { node, groups, clients: Vec::new() }).collect(),
            elsewhere,
        )
    }

    /// Until when relayed messages for `clients` wait for their sessions to arrive: one wait per
    /// client and hand-over, shared by every message relayed meanwhile. The messages of a
    /// pipelining publisher arrive back to back, and each waiting the whole `takeover_timeout`
    /// in turn would hold up the node's forwarded deliveries for that long times their number.
    fn relay_deadline(&self, clients: &[String]) -> tokio::time::Instant {
        let now = tokio::time::Instant::now();
        let wait = self.settings.takeover_timeout;
        let mut waits = self.relay_waits.lock();
        // A wait long over is forgotten: a later hand-over gets a wait of its own.
        waits.retain(|_, d| *d + wait > now);
        clients.iter().map(|c| *waits.entry(c.clone()).or_insert(now + wait)).min().unwrap_or(now + wait)
    }

    /// Deliver a publish forwarded by another node to this node's sessions only (it is never
    /// forwarded again, and its retained flag was already recorded by the origin): plain
    /// subscribers, and the shared groups the origin chose this node for; never to the clients
    /// in `except` (they moved to a node the origin sent the message to directly).
    pub async fn deliver_forwarded(
        self: &Arc<Self>,
        msg: Arc<Message>,
        groups: &[(String, String)],
        clients: &[String],
        except: &[String],
    ) -> Result<PublishOutcome, BrokerError> {
        let only = (!clients.is_empty()).then_some(clients);
        if let Some(only) = only {
            // A relay for sessions that moved here: one may still be on its way (the hand-over
            // answer and this message race). Wait for it briefly; if it never arrives, say the
            // message was not queued rather than confirm a delivery that did not happen.
            let deadline = self.relay_deadline(only);
            let settled = |c: &String| self.sessions.lock().contains_key(c.as_str());
            while !only.iter().all(settled) {
                if tokio::time::Instant::now() >= deadline {
                    tracing::warn!(clients = ?only, "relayed message for a session that did not arrive here");
                    return Ok(PublishOutcome { refused: 1, ..Default::default() });
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let mut waits = self.relay_waits.lock();
            for c in only {
                waits.remove(c);
            }
        }
        let mut targets = self.targets(&msg, |g, f| groups.iter().any(|(a, b)| a == g && b == f), only);
        targets.retain(|t| t.shared.is_some() || !except.iter().any(|c| **c == *t.session.client_id));
        // After the local targets (see `route`): sessions that moved from here while the
        // sender's routes still point here get the message passed on, confirmed before this
        // node confirms, so the acknowledgement chain holds.
        let relays: Vec<ForwardTarget> = self
            .relays(&msg.topic)
            .into_iter()
            .map(|mut r| {
                if let Some(only) = only {
                    r.clients.retain(|c| only.contains(c));
                }
                r.clients.retain(|c| !except.contains(c));
                r
            })
            .filter(|r| !r.clients.is_empty())
            .collect();
        if !relays.is_empty() {
            self.forward_confirmed(&msg, &relays).await?;
        }
        if targets.is_empty() {
            return Ok(PublishOutcome { delivered: relays.len(), ..Default::default() });
        }
        let mut outcome = self.offer_all(&msg, targets).await?;
        outcome.delivered += relays.len();
        Ok(outcome)
    }

    /// Match a topic and merge overlapping subscriptions: one delivery per session, at the
    /// highest granted QoS, carrying every matching subscription identifier.
    fn targets(
        &self,
        msg: &Arc<Message>,
        serve_group: impl Fn(&str, &str) -> bool,
        only: Option<&[String]>,
    ) -> Vec<Target> {
        let m = self.subs.read().matches(&msg.topic);
        if m.direct.is_empty() && m.shared.is_empty() {
            return Vec::new();
        }
        let mut merged: HashMap<ClientKey, (u8, bool, Vec<u32>)> = HashMap::with_capacity(m.direct.len());
        for (client, o) in m.direct {
            if o.no_local && *client == *msg.origin {
                continue;
            }
            if only.is_some_and(|only| !only.iter().any(|c| **c == *client)) {
                continue;
            }
            let e = merged.entry(client).or_insert((0, false, Vec::new()));
            e.0 = e.0.max(o.qos);
            e.1 |= o.retain_as_published;
            if let Some(id) = o.sub_id {
                e.2.push(id);
            }
        }
        let reg = self.sessions.lock();
        let mut out = Vec::with_capacity(merged.len() + m.shared.len());
        for (client, (qos, rap, sub_ids)) in merged {
            if let Some(s) = reg.get(&client) {
                out.push(Target { session: s.clone(), qos, rap, sub_ids, shared: None });
            }
        }
        for g in m.shared {
            if only.is_some() || !serve_group(&g.group, &g.filter) {
                continue;
            }
            match self.pick_member(&g, msg, &reg, None) {
                Some((s, o)) => out.push(Target {
                    session: s,
                    qos: o.qos,
                    rap: o.retain_as_published,
                    sub_ids: o.sub_id.into_iter().collect(),
                    shared: Some((g.group.clone(), g.filter.clone())),
                }),
                None => self.metrics.dropped(DropReason::SharedNoMember),
            }
        }
        out
    }

    /// Choose the member of a shared group for one message: by strategy among the connected
    /// members, else among all (persistent members queue while offline). `exclude` skips the
    /// member a message is being taken away from.
    fn pick_member(
        &self,
        g: &SharedGroup,
        msg: &Message,
        reg: &HashMap<ClientKey, Arc<Session>>,
        exclude: Option<&str>,
    ) -> Option<(Arc<Session>, SubOptions)> {
        let cands: Vec<(Arc<Session>, SubOptions, bool)> = g
            .members
            .iter()
            .filter(|(c, _)| exclude != Some(&**c))
            .filter_map(|(c, o)| reg.get(c).map(|s| (s.clone(), *o, s.state.lock().conn.is_some())))
            .collect();
        let online: Vec<&(Arc<Session>, SubOptions, bool)> = cands.iter().filter(|c| c.2).collect();
        let pool: Vec<&(Arc<Session>, SubOptions, bool)> =
            if online.is_empty() { cands.iter().filter(|c| c.0.state.lock().persistent()).collect() } else { online };
        if pool.is_empty() {
            return None;
        }
        let i = match self.settings.shared_strategy {
            SharedStrategy::RoundRobin => g.next_start() % pool.len(),
            SharedStrategy::Random => rand::random_range(0..pool.len()),
            SharedStrategy::HashClientid => {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                msg.origin.hash(&mut h);
                (h.finish() % pool.len() as u64) as usize
            }
        };
        pool.get(i).map(|c| (c.0.clone(), c.1))
    }

    async fn offer_all(
        self: &Arc<Self>,
        msg: &Arc<Message>,
        targets: Vec<Target>,
    ) -> Result<PublishOutcome, BrokerError> {
        let limits = self.settings.queue;
        let mut batch = self.store.batch();
        // Only QoS >= 1 deliveries can be persisted and so need the commit gate.
        let committed = (msg.qos > 0).then(|| Arc::new(AtomicBool::new(false)));
        let mut outcome = PublishOutcome::default();
        let mut full = Vec::new();
        let mut gone: Vec<String> = Vec::new();
        let mut woken = Vec::with_capacity(targets.len());
        for t in targets {
            let d = self.make_delivery(msg, &t, committed.as_ref());
            let (limits, bound) = self.bridge_bound(&t.session).unwrap_or((limits, None));
            let mut offered = t.session.offer(d.clone(), limits, &self.store, &mut batch);
            if offered == Offer::Full
                && bound.is_some_and(|b| b.drop_oldest)
                && reserved::evict_oldest(&t.session, &self.store, limits, &mut batch)
            {
                if let Some(b) = self.bridges.get() {
                    b.overflowed(&t.session.client_id, true);
                }
                offered = t.session.offer(d.clone(), limits, &self.store, &mut batch);
            }
            match offered {
                Offer::Queued => {
                    outcome.delivered += 1;
                    outcome.congested |= t.session.congested.load(Ordering::Relaxed);
                    woken.push(t.session);
                }
                Offer::DroppedQos0 => {
                    outcome.congested = true;
                    self.metrics.dropped(DropReason::QueueFull);
                }
                Offer::Full => full.push((t, d)),
                Offer::Gone => gone.push(t.session.client_id.to_string()),
            }
        }
        let persisted = !batch.is_empty();
        if persisted && let Err(e) = self.store.commit(batch) {
            self.metrics.storage_errors.inc();
            return Err(e.into());
        }
        if let Some(c) = &committed {
            c.store(true, Ordering::Release);
        }
        for s in woken {
            session::wake(s);
        }
        // Sessions handed over while this publish was on its way: follow them.
        for client in gone {
            match self.moved_to(&client) {
                Some(node) => {
                    let relay = [ForwardTarget { node, groups: Vec::new(), clients: vec![client] }];
                    self.forward_confirmed(msg, &relay).await?;
                    outcome.delivered += 1;
                }
                None => outcome.refused += 1,
            }
        }
        // Backpressure: hold this publisher until slow sessions make room, then give up.
        for (t, d) in full {
            if self.offer_waiting(&t.session, d).await? {
                outcome.delivered += 1;
            } else {
                outcome.refused += 1;
                if let (Some(b), Some(_)) = (self.bridges.get(), self.bridge_bound(&t.session)) {
                    b.overflowed(&t.session.client_id, false);
                }
                self.metrics.dropped(DropReason::QueueFull);
                tracing::debug!(client = %t.session.client_id, topic = %msg.topic, "queue full: QoS>=1 message refused");
            }
        }
        Ok(outcome)
    }

    /// The queue limits of a bridge's session (`[bridges.*.backlog]`); `None` for any other.
    fn bridge_bound(&self, s: &Session) -> Option<(QueueLimits, Option<reserved::QueueBound>)> {
        if !reserved::is_reserved_client_id(&s.client_id) {
            return None;
        }
        let b = self.bridges.get()?.queue_bound(&s.client_id)?;
        Some((QueueLimits { max_queued: b.max_messages, ..self.settings.queue }, Some(b)))
    }

    fn make_delivery(&self, msg: &Arc<Message>, t: &Target, committed: Option<&Arc<AtomicBool>>) -> Delivery {
        let qos = msg.qos.min(t.qos);
        Delivery {
            seq: 0,
            msg: msg.clone(),
            qos,
            retain: msg.retain && t.rap,
            sub_ids: t.sub_ids.clone(),
            shared: t.shared.clone(),
            committed: committed.filter(|_| qos > 0).cloned(),
        }
    }

    async fn offer_waiting(&self, session: &Arc<Session>, d: Delivery) -> Result<bool, BrokerError> {
        let deadline = tokio::time::Instant::now() + self.settings.full_wait;
        loop {
            let notified = session.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let mut batch = self.store.batch();
            let committed = Arc::new(AtomicBool::new(false));
            let d = Delivery { committed: Some(committed.clone()), ..d.clone() };
            let limits = self.bridge_bound(session).map_or(self.settings.queue, |b| b.0);
            if session.offer(d, limits, &self.store, &mut batch) == Offer::Queued {
                self.store.commit(batch)?;
                committed.store(true, Ordering::Release);
                session.wake.notify_one();
                return Ok(true);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(false);
            }
        }
    }

    /// Hand a shared-subscription delivery that its member did not acknowledge to another member.
    async fn redeliver_shared(self: &Arc<Self>, d: Delivery, from: &str) {
        let Some((group, filter)) = d.shared.clone() else {
            return;
        };
        if d.seq > 0 {
            // It leaves this session's persisted queue; the new member persists its own copy.
            let mut b = self.store.batch();
            b.remove(&self.store.queue, storage::queue_key(from, d.seq));
            for item in self.store.inflight.prefix(storage::client_key(from)) {
                if let Ok((k, v)) = item.into_inner()
                    && parse_inflight_row(&v).is_some_and(|(seq, _)| seq == d.seq)
                {
                    b.remove(&self.store.inflight, k);
                }
            }
            if let Err(e) = self.store.commit(b) {
                tracing::error!("cannot move a shared delivery off {from}: {e}");
            }
        }
        let picked = {
            let ix = self.subs.read();
            let m = ix.matches(&d.msg.topic);
            let g = m.shared.into_iter().find(|g| g.group == group && g.filter == filter);
            let reg = self.sessions.lock();
            g.and_then(|g| self.pick_member(&g, &d.msg, &reg, Some(from)))
        };
        let Some((session, opts)) = picked else {
            self.metrics.dropped(DropReason::SharedNoMember);
            return;
        };
        let t = Target {
            session,
            qos: opts.qos,
            rap: opts.retain_as_published,
            sub_ids: opts.sub_id.into_iter().collect(),
            shared: Some((group, filter)),
        };
        let committed = Arc::new(AtomicBool::new(false));
        let nd = self.make_delivery(&d.msg, &t, Some(&committed));
        let mut batch = self.store.batch();
        let ok = t.session.offer(nd, self.settings.queue, &self.store, &mut batch) == Offer::Queued;
        if let Err(e) = self.store.commit(batch) {
            tracing::error!("shared redelivery not persisted: {e}");
        }
        committed.store(true, Ordering::Release);
        if ok {
            t.session.wake.notify_one();
        } else {
            self.metrics.dropped(DropReason::QueueFull);
        }
    }

    // ---------------------------------------------------------------- outgoing flow

    /// Take deliveries that may be sent now on connection `conn_id`: up to `max` messages, with
    /// QoS ≥ 1 ones only while the in-flight window has room and `assign_pid` yields an id.
    /// QoS ≥ 1 deliveries become in flight (persisted for persistent sessions).
    pub fn take_ready(
        &self,
        session: &Session,
        conn_id: u64,
        max: usize,
        window: usize,
        mut assign_pid: impl FnMut() -> Option<u16>,
    ) -> Vec<(Option<u16>, Delivery)> {
        let mut out = Vec::new();
        let mut batch = self.store.batch();
        let now = now_ms();
        let mut expired_rows = 0usize;
        {
            let mut st = session.state.lock();
            if st.conn != Some(conn_id) {
                return out;
            }
            let persistent = st.persistent();
            while out.len() < max {
                if st.queue.is_empty()
                    && st.disk_only > 0
                    && let Err(e) = Session::refill(&mut st, &session.client_id, &self.store, self.settings.queue)
                {
                    tracing::error!(client = %session.client_id, "cannot read queued messages: {e}");
                    break;
                }
                let Some(front) = st.queue.front() else { break };
                if !front.is_ready() {
                    break;
                }
                if front.msg.expired(now) {
                    if let Some(d) = st.pop() {
                        if d.seq > 0 {
                            batch.remove(&self.store.queue, storage::queue_key(&session.client_id, d.seq));
                        }
                        expired_rows += 1;
                    }
                    continue;
                }
                if front.qos > 0 {
                    if st.inflight.len() >= window {
                        break;
                    }
                    let Some(pid) = assign_pid() else { break };
                    let Some(d) = st.pop() else { break };
                    if persistent && d.seq > 0 {
                        batch.insert(
                            &self.store.inflight,
                            storage::inflight_out_key(&session.client_id, pid),
                            inflight_row(d.seq, Phase::Published),
                        );
                    }
                    st.inflight.insert(pid, InflightOut { delivery: d.clone(), phase: Phase::Published });
                    out.push((Some(pid), d));
                } else if let Some(d) = st.pop() {
                    out.push((None, d));
                }
            }
        }
        for _ in 0..expired_rows {
            self.metrics.dropped(DropReason::Expired);
        }
        if let Err(e) = self.store.commit(batch) {
            self.metrics.storage_errors.inc();
            tracing::error!(client = %session.client_id, "cannot record in-flight messages: {e}");
        }
        if !out.is_empty() || expired_rows > 0 {
            session.space.notify_waiters();
            let backlog = {
                let st = session.state.lock();
                st.queue.len() + st.disk_only
            };
            if backlog < (self.settings.queue.max_queued / 4).max(16) {
                session.congested.store(false, Ordering::Relaxed);
            }
        }
        out
    }

    /// PUBACK, PUBCOMP, a failed PUBREC or a message dropped as too large: the delivery is done.
    pub fn complete(&self, session: &Session, conn_id: u64, pid: u16) {
        let seq = {
            let mut st = session.state.lock();
            if st.conn != Some(conn_id) {
                return;
            }
            match st.inflight.remove(&pid) {
                Some(i) => i.delivery.seq,
                None => return,
            }
        };
        if seq > 0 {
            let mut b = self.store.batch();
            b.remove(&self.store.queue, storage::queue_key(&session.client_id, seq));
            b.remove(&self.store.inflight, storage::inflight_out_key(&session.client_id, pid));
            if let Err(e) = self.store.commit(b) {
                self.metrics.storage_errors.inc();
                tracing::error!(client = %session.client_id, "cannot record acknowledgement: {e}");
            }
        }
        session.space.notify_waiters();
    }

    /// PUBREC with success: the message is delivered, PUBREL is on its way.
    pub fn released(&self, session: &Session, conn_id: u64, pid: u16) {
        let seq = {
            let mut st = session.state.lock();
            if st.conn != Some(conn_id) {
                return;
            }
            match st.inflight.get_mut(&pid) {
                Some(i) => {
                    i.phase = Phase::Released;
                    i.delivery.seq
                }
                None => return,
            }
        };
        if seq > 0 {
            let mut b = self.store.batch();
            b.insert(
                &self.store.inflight,
                storage::inflight_out_key(&session.client_id, pid),
                inflight_row(seq, Phase::Released),
            );
            if let Err(e) = self.store.commit(b) {
                self.metrics.storage_errors.inc();
                tracing::error!(client = %session.client_id, "cannot record PUBREC: {e}");
            }
        }
    }

    /// Record / forget an incoming QoS 2 packet id (persistent sessions only).
    pub fn incoming_qos2(&self, session: &Session, pid: u16, received: bool) {
        let persistent = {
            let mut st = session.state.lock();
            if received {
                st.incoming_qos2.insert(pid)
            } else {
                st.incoming_qos2.remove(&pid)
            };
            st.persistent()
        };
        if persistent {
            let mut b = self.store.batch();
            let k = storage::inflight_in_key(&session.client_id, pid);
            if received {
                b.insert(&self.store.inflight, k, Vec::new());
            } else {
                b.remove(&self.store.inflight, k);
            }
            if let Err(e) = self.store.commit(b) {
                self.metrics.storage_errors.inc();
                tracing::error!(client = %session.client_id, "cannot record QoS 2 state: {e}");
            }
        }
    }

    // ---------------------------------------------------------------- subscriptions

    /// Add or replace a subscription. Returns whether it already existed (for Retain Handling 1).
    pub async fn subscribe(
        self: &Arc<Self>,
        session: &Arc<Session>,
        full_filter: &str,
        opts: SubOptions,
    ) -> Result<bool, BrokerError> {
        let Ok(p) = topic::parse_filter(full_filter, self.settings.topic_limits) else {
            return Ok(false);
        };
        let (existed, persistent) = {
            let mut st = session.state.lock();
            (st.subscriptions.insert(full_filter.to_string(), opts).is_some(), st.persistent())
        };
        self.subs.write().insert(p.filter, p.group, session.client_id.clone(), opts);
        if !existed {
            self.ref_filter(&p.route_key()).await?;
        }
        if persistent {
            self.save_durable_subs(session).await?;
        }
        self.metrics.subscriptions.set(self.subscription_count() as i64);
        Ok(existed)
    }

    pub async fn unsubscribe(self: &Arc<Self>, session: &Arc<Session>, full_filter: &str) -> Result<bool, BrokerError> {
        let (existed, persistent) = {
            let mut st = session.state.lock();
            (st.subscriptions.remove(full_filter).is_some(), st.persistent())
        };
        if !existed {
            return Ok(false);
        }
        if let Ok(p) = topic::parse_filter(full_filter, self.settings.topic_limits) {
            self.subs.write().remove(p.filter, p.group, &session.client_id);
            self.unref_filter(&p.route_key()).await;
        }
        if persistent {
            self.save_durable_subs(session).await?;
        }
        self.metrics.subscriptions.set(self.subscription_count() as i64);
        Ok(true)
    }

    async fn save_durable_subs(&self, session: &Session) -> Result<(), BrokerError> {
        let subs: Vec<(String, SubOptionsWire)> =
            session.state.lock().subscriptions.iter().map(|(f, o)| (f.clone(), SubOptionsWire::from(*o))).collect();
        self.cluster.submit(CatalogCmd::SetDurableSubs { client: session.client_id.to_string(), subs });
        Ok(())
    }

    async fn ref_filter(&self, filter: &str) -> Result<(), BrokerError> {
        let first = {
            let mut lf = self.local_filters.lock();
            let n = lf.entry(filter.to_string()).or_insert(0);
            *n += 1;
            *n == 1
        };
        if first {
            self.cluster.submit(CatalogCmd::AddRoute { filter: filter.into(), node: self.cluster.node_id() });
        }
        Ok(())
    }

    async fn unref_filter(&self, filter: &str) {
        let last = {
            let mut lf = self.local_filters.lock();
            match lf.get_mut(filter) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                Some(_) => {
                    lf.remove(filter);
                    true
                }
                None => false,
            }
        };
        if last {
            self.cluster.submit(CatalogCmd::RemoveRoute { filter: filter.into(), node: self.cluster.node_id() });
        }
    }

    /// Retained messages for a new subscription (including this node's `$SYS` topics).
    pub fn retained_for(&self, filter: &str) -> Vec<Arc<Message>> {
        let mut v = self.cluster.retained_matching(filter);
        if filter.starts_with('$') {
            let sys = self.sys_retained.read();
            v.extend(sys.iter().filter(|(t, _)| topic::matches(filter, t)).map(|(_, m)| m.clone()));
        }
        v
    }

    // ---------------------------------------------------------------- restart

    /// Rebuild persistent sessions from disk after a restart; expired ones are removed.
    pub async fn restore(self: &Arc<Self>) -> Result<usize, BrokerError> {
        // This node's routes are re-added below as its sessions come back; whatever the catalog
        // still holds from before the restart would be counted twice.
        self.cluster.submit(CatalogCmd::ClearNodeRoutes { node: self.cluster.node_id() });
        let now = now_ms();
        let mut metas = Vec::new();
        for item in self.store.sessions.iter() {
            let (k, v) = item.into_inner().map_err(StorageError::Read)?;
            let client = String::from_utf8_lossy(&k).into_owned();
            match serde_json::from_slice::<SessionMeta>(&v) {
                Ok(m) => metas.push((client, m)),
                Err(e) => tracing::error!(client, "skipping unreadable session record: {e}"),
            }
        }
        let mut restored = 0;
        for (client, meta) in metas {
            let since = meta.disconnected_at_ms.unwrap_or(now);
            let expired = meta.expiry != u32::MAX && since + u64::from(meta.expiry) * 1000 <= now;
            if expired {
                self.purge_disk(&client).await?;
                continue;
            }
            let session = Arc::new(Session::new(client.as_str().into(), meta.expiry));
            session.state.lock().identity = meta.owner.clone();
            self.load_session_rows(&session)?;
            self.sessions.lock().insert(client.as_str().into(), session.clone());
            for (full, opts) in self.cluster.durable_subscriptions(&client) {
                if let Ok(p) = topic::parse_filter(&full, self.settings.topic_limits) {
                    session.state.lock().subscriptions.insert(full.clone(), opts);
                    self.subs.write().insert(p.filter, p.group, session.client_id.clone(), opts);
                    self.ref_filter(&p.route_key()).await?;
                }
            }
            self.metrics.sessions_persistent.inc();
            let remaining = if meta.expiry == u32::MAX {
                u32::MAX
            } else {
                let left_ms = (since + u64::from(meta.expiry) * 1000).saturating_sub(now);
                u32::try_from(left_ms.div_ceil(1000)).unwrap_or(u32::MAX)
            };
            let epoch = session.state.lock().epoch;
            self.arm_expiry(session, epoch, remaining);
            restored += 1;
        }
        // The ACL file may have changed while the node was down.
        self.revoke_denied_subscriptions().await;
        self.metrics.subscriptions.set(self.subscription_count() as i64);
        self.metrics.retained.set(self.cluster.retained_count() as i64);
        Ok(restored)
    }

    fn load_session_rows(&self, session: &Session) -> Result<(), StorageError> {
        let prefix = storage::client_key(&session.client_id);
        let plen = prefix.len();
        let mut st = session.state.lock();
        let mut out_rows = Vec::new();
        for item in self.store.inflight.prefix(&prefix) {
            let (k, v) = item.into_inner().map_err(StorageError::Read)?;
            let (Some(kind), Some(pid)) = (k.get(plen), k.get(plen + 1..plen + 3)) else {
                continue;
            };
            let pid = u16::from_be_bytes([pid[0], pid[1]]);
            match kind {
                b'r' => {
                    st.incoming_qos2.insert(pid);
                }
                b'o' => {
                    if let Some((seq, phase)) = parse_inflight_row(&v) {
                        out_rows.push((pid, seq, phase));
                    }
                }
                _ => {}
            }
        }
        for (pid, seq, phase) in out_rows {
            let Some(v) =
                self.store.queue.get(storage::queue_key(&session.client_id, seq)).map_err(StorageError::Read)?
            else {
                continue;
            };
            let d = Delivery::decode(seq, &v)
                .map_err(|e| StorageError::Corrupt { table: "queue", reason: e.to_string() })?;
            st.inflight.insert(pid, InflightOut { delivery: d, phase });
        }
        // Count what is queued; the memory window is filled lazily by `refill`.
        let mut first = None;
        let mut last = 0;
        let mut count = 0usize;
        for item in self.store.queue.prefix(&prefix) {
            let k = item.key().map_err(StorageError::Read)?;
            let Some(seq) = storage::seq_of_queue_key(&k) else {
                continue;
            };
            last = last.max(seq);
            if st.inflight.values().any(|i| i.delivery.seq == seq) {
                continue;
            }
            first.get_or_insert(seq);
            count += 1;
        }
        st.next_seq = last + 1;
        st.disk_only = count;
        st.disk_from = first.unwrap_or(last + 1);
        Session::refill(&mut st, &session.client_id, &self.store, self.settings.queue)
    }

    // ---------------------------------------------------------------- $SYS

    /// Publish the `$SYS/broker/...` topics every `interval`.
    pub fn spawn_sys(self: &Arc<Self>, interval: Duration) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                let Some(b) = weak.upgrade() else { return };
                b.publish_sys().await;
            }
        });
    }

    async fn publish_sys(self: &Arc<Self>) {
        let m = &self.metrics;
        let sum = |c: &[prometheus_client::metrics::counter::Counter; 3]| c.iter().map(|c| c.get()).sum::<u64>();
        let values = [
            ("version", env!("CARGO_PKG_VERSION").to_string()),
            ("uptime", format!("{} seconds", self.uptime().as_secs())),
            ("clients/connected", self.connections.load(Ordering::Relaxed).to_string()),
            ("clients/total", self.session_count().to_string()),
            ("messages/received", sum(&m.messages_received).to_string()),
            ("messages/sent", sum(&m.messages_sent).to_string()),
            ("subscriptions/count", self.subscription_count().to_string()),
            ("retained messages/count", self.cluster.retained_count().to_string()),
        ];
        // `$SYS/broker/...` is this node's view (as mosquitto names it); the same values under
        // `$SYS/brokers/<node>/...` are forwarded, so one subscriber sees every node.
        let node = self.node_name.replace(['+', '#', '/'], "_");
        for (name, value) in values {
            for topic in [format!("$SYS/broker/{name}"), format!("$SYS/brokers/{node}/{name}")] {
                let bytes: Arc<[u8]> = Arc::from(value.clone().into_bytes());
                let len = bytes.len();
                let msg = Arc::new(Message {
                    topic: topic.as_str().into(),
                    payload: mqtt_protocol_core::mqtt::ArcPayload::new(bytes, 0, len),
                    qos: 0,
                    retain: true,
                    props: PublishProps::default(),
                    expires_at_ms: None,
                    origin: "$SYS".into(),
                    wire: Default::default(),
                    id: crate::protocol::message::new_message_id(),
                });
                self.sys_retained.write().insert(topic, msg.clone());
                if let Err(e) = self.publish(msg).await {
                    tracing::debug!("$SYS publish failed: {e}");
                }
            }
        }
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

/// Remove shared-subscription deliveries (queued or in flight) from a session that is going away.
fn take_shared(st: &mut session::SessionState) -> Vec<Delivery> {
    let mut out: Vec<Delivery> = Vec::new();
    let (shared, rest): (Vec<Delivery>, Vec<Delivery>) = st.queue.drain(..).partition(|d| d.shared.is_some());
    st.queue.extend(rest);
    st.queued_qos0 = st.queue.iter().filter(|d| d.qos == 0).count();
    out.extend(shared);
    let pids: Vec<u16> = st
        .inflight
        .iter()
        .filter(|(_, i)| i.delivery.shared.is_some() && i.phase == Phase::Published)
        .map(|(p, _)| *p)
        .collect();
    for p in pids {
        if let Some(i) = st.inflight.remove(&p) {
            out.push(i.delivery);
        }
    }
    out
}

pub(crate) fn inflight_row(seq: u64, phase: Phase) -> Vec<u8> {
    let mut v = seq.to_be_bytes().to_vec();
    v.push(match phase {
        Phase::Published => 0,
        Phase::Released => 1,
    });
    v
}

fn parse_inflight_row(v: &[u8]) -> Option<(u64, Phase)> {
    let seq = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
    let phase = match v.get(8)? {
        0 => Phase::Published,
        _ => Phase::Released,
    };
    Some((seq, phase))
}
