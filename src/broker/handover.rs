//! Moving persistent sessions between nodes.
//!
//! - **Takeover**: a client reconnects (clean start 0) to a node that does not hold its session;
//!   the catalog's client registry names the owner, which is asked to [`Broker::export_session`]:
//!   its connection gets DISCONNECT 0x8E, and the subscriptions, unacknowledged deliveries (with
//!   their packet ids, so the client sees DUP redeliveries it can match), queued messages and
//!   incoming QoS 2 state travel to the new node, which [`Broker::import_session`]s them.
//! - **Owner down**: no answer within the takeover timeout — the new node restores the
//!   subscriptions from the catalog's durable subscriptions and goes on.
//! - **Hand-back**: a node holding a session the registry says another node owns (it came back
//!   after an owner-down takeover, or lost a race between two connects) kicks its connection and
//!   gives everything it still holds to the owner, which merges it into its session. So no
//!   acknowledged QoS ≥ 1 message is lost, and one client id ends with one live session.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::port::ForwardTarget;
use super::session::{Delivery, Phase, Session, SessionMeta};
use super::{Broker, BrokerError, inflight_row};
use crate::catalog::cmd::{CatalogCmd, NodeId, SubOptionsWire};
use crate::protocol::topic;
use crate::storage::{self, StorageError};

/// A persistent session in transit between nodes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionTransfer {
    pub client: String,
    pub expiry: u32,
    pub subscriptions: Vec<(String, SubOptionsWire)>,
    /// Unacknowledged outgoing deliveries: packet id, PUBREL already sent, encoded delivery.
    pub inflight: Vec<(u16, bool, Vec<u8>)>,
    /// Queued deliveries, oldest first (encoded).
    pub queued: Vec<Vec<u8>>,
    /// Incoming QoS 2 packet ids received and not yet released.
    pub incoming_qos2: Vec<u16>,
    /// Ids of the messages the session already had, so the new node does not queue them again.
    #[serde(default)]
    pub seen: Vec<u64>,
    /// Who the session belongs to (`auth::ownership`).
    #[serde(default)]
    pub identity: Option<crate::catalog::cmd::Identity>,
}

impl SessionTransfer {
    pub fn messages(&self) -> usize {
        self.inflight.len() + self.queued.len()
    }
}

/// Sessions this node took or created recently: the registry may not show them as ours yet.
#[derive(Default)]
pub struct Claims {
    at: parking_lot::Mutex<HashMap<String, Instant>>,
    /// Sessions handed to another node lately, with their (non-shared) filters: messages that
    /// still arrive here for them (routes converge after the hand-over) are relayed there.
    moved: parking_lot::Mutex<HashMap<String, Moved>>,
    /// Route releases waiting for the new owners' routes (see [`Broker::release_routes_later`]).
    releasing: std::sync::atomic::AtomicUsize,
}

struct Moved {
    node: NodeId,
    filters: Vec<String>,
    at: Instant,
}

/// How long messages for a moved session are relayed to its new node.
const RELAY_FOR: Duration = Duration::from_secs(60);

impl Claims {
    pub fn claim(&self, client: &str) {
        self.at.lock().insert(client.to_string(), Instant::now());
    }

    fn recent(&self, client: &str, within: Duration) -> bool {
        let mut at = self.at.lock();
        at.retain(|_, t| t.elapsed() < Duration::from_secs(600));
        at.get(client).is_some_and(|t| t.elapsed() < within)
    }
}

impl Broker {
    /// Give up the local session of `client` for another node: its connection is told it was
    /// taken over, and everything it holds is returned. `None` when there is no such session.
    pub async fn export_session(
        self: &Arc<Self>,
        client: &str,
        to: NodeId,
    ) -> Result<Option<SessionTransfer>, BrokerError> {
        let Some(session) = self.sessions.lock().get(client).cloned() else { return Ok(None) };
        let mut t = {
            let mut st = session.state.lock();
            if !st.persistent() {
                // Nothing to carry: end it like a takeover would.
                session.set_owner(&mut st, None);
                st.epoch += 1;
                None
            } else {
                session.set_owner(&mut st, None);
                st.epoch += 1;
                st.will = None;
                // From here on, a publish racing with this hand-over follows the session to its
                // new node (`Offer::Gone` → relay) instead of landing in this dead copy.
                st.gone = true;
                let filters = st
                    .subscriptions
                    .keys()
                    .filter_map(|f| topic::parse_filter(f, self.settings.topic_limits).ok())
                    .filter(|p| p.group.is_none())
                    .map(|p| p.filter.to_string())
                    .collect();
                {
                    let mut moved = self.claims.moved.lock();
                    moved.retain(|_, m| m.at.elapsed() < RELAY_FOR);
                    moved.insert(client.to_string(), Moved { node: to, filters, at: Instant::now() });
                }
                Some(SessionTransfer {
                    client: client.to_string(),
                    expiry: st.expiry,
                    subscriptions: st
                        .subscriptions
                        .iter()
                        .map(|(f, o)| (f.clone(), SubOptionsWire::from(*o)))
                        .collect(),
                    inflight: st
                        .inflight
                        .iter()
                        .map(|(pid, i)| (*pid, i.phase == Phase::Released, i.delivery.encode()))
                        .collect(),
                    queued: st.queue.iter().map(Delivery::encode).collect(),
                    incoming_qos2: st.incoming_qos2.iter().copied().collect(),
                    seen: st.seen.ids(),
                    identity: st.identity.clone(),
                })
            }
        };
        if let Some(t) = t.as_mut() {
            // Deliveries beyond the memory window are on disk only.
            let (from, disk_only, inflight_seqs): (u64, usize, Vec<u64>) = {
                let st = session.state.lock();
                (st.disk_from, st.disk_only, st.inflight.values().map(|i| i.delivery.seq).collect())
            };
            if disk_only > 0 {
                let prefix = storage::client_key(client);
                for item in self.store.queue.range(storage::queue_key(client, from)..) {
                    let (k, v) = item.into_inner().map_err(StorageError::Read)?;
                    if !k.starts_with(&prefix) {
                        break;
                    }
                    if storage::seq_of_queue_key(&k).is_some_and(|s| inflight_seqs.contains(&s)) {
                        continue;
                    }
                    t.queued.push(v.to_vec());
                }
            }
        }
        // Forget it here, without touching the catalog: the new owner registers itself.
        {
            let mut reg = self.sessions.lock();
            if reg.get(client).is_some_and(|s| Arc::ptr_eq(s, &session)) {
                reg.remove(client);
            }
        }
        if let Some(t) = &t {
            // This node's routes for the session's filters stay until the new owner's are in
            // the catalog: publishers keep sending here meanwhile and the messages are relayed.
            // Removed at once, a publish in between finds no route at all and is acknowledged
            // to nobody (long when this node is the Raft leader and is stopping).
            let keys = self.unsubscribe_keeping_routes(&session);
            self.release_routes_later(t.client.clone(), to, keys);
        } else {
            self.drop_subscriptions(&session).await;
        }
        if t.is_some() {
            self.metrics.sessions_persistent.dec();
            self.purge_local(client)?;
        }
        if let Some(t) = &t {
            tracing::info!(client, messages = t.messages(), to, "session handed over to another node");
        }
        Ok(t)
    }

    /// Install a session handed over by another node. When a session of that client exists
    /// here already (this node owns it now), the held messages are merged into its queue.
    pub async fn import_session(self: &Arc<Self>, t: SessionTransfer) -> Result<(), BrokerError> {
        let existing = self.sessions.lock().get(t.client.as_str()).cloned();
        if let Some(s) = existing {
            return self.merge_into(&s, t).await;
        }
        let client = t.client.as_str();
        // Write the rows the way this node's own sessions are stored, then load them like a
        // restart does: one code path for what a session looks like on disk.
        let mut b = self.store.batch();
        let meta = SessionMeta {
            expiry: t.expiry,
            disconnected_at_ms: Some(crate::protocol::message::now_ms()),
            owner: t.identity.clone(),
        };
        b.insert(&self.store.sessions, client.as_bytes().to_vec(), serde_json::to_vec(&meta).unwrap_or_default());
        let mut seq = 1u64;
        for (pid, released, enc) in &t.inflight {
            b.insert(&self.store.queue, storage::queue_key(client, seq), enc.clone());
            let phase = if *released { Phase::Released } else { Phase::Published };
            b.insert(&self.store.inflight, storage::inflight_out_key(client, *pid), inflight_row(seq, phase));
            seq += 1;
        }
        for enc in &t.queued {
            b.insert(&self.store.queue, storage::queue_key(client, seq), enc.clone());
            seq += 1;
        }
        for pid in &t.incoming_qos2 {
            b.insert(&self.store.inflight, storage::inflight_in_key(client, *pid), Vec::new());
        }
        self.store.commit(b)?;
        let session = Arc::new(Session::new(client.into(), t.expiry));
        self.load_session_rows(&session)?;
        {
            let mut st = session.state.lock();
            for id in &t.seen {
                st.seen.insert(*id);
            }
            st.identity = t.identity.clone();
        }
        // Subscriptions first, then the registry: a relayed message waiting for this session
        // (`deliver_forwarded`) goes on once the registry names it, and must then match it.
        self.install_subscriptions(&session, &t.subscriptions).await?;
        self.sessions.lock().insert(client.into(), session.clone());
        self.metrics.sessions_persistent.inc();
        self.claims.claim(client);
        let owner = t.identity.clone();
        self.cluster.submit(CatalogCmd::RegisterClient {
            client: client.to_string(),
            node: self.cluster.node_id(),
            owner,
        });
        let epoch = session.state.lock().epoch;
        self.arm_expiry(session, epoch, t.expiry);
        tracing::info!(client, messages = t.messages(), "session taken over from another node");
        Ok(())
    }

    /// A session restored from the catalog's durable subscriptions, for a client whose owner did
    /// not answer: subscriptions come back, messages the old owner holds follow by hand-back.
    pub async fn restore_from_catalog(self: &Arc<Self>, client: &str, expiry: u32) -> Result<bool, BrokerError> {
        let subs: Vec<(String, SubOptionsWire)> = self.catalog.durable_subscriptions(client);
        if subs.is_empty() {
            return Ok(false);
        }
        let t = SessionTransfer {
            client: client.to_string(),
            expiry,
            subscriptions: subs,
            inflight: Vec::new(),
            queued: Vec::new(),
            incoming_qos2: Vec::new(),
            seen: Vec::new(),
            identity: self.catalog.client_identity(client),
        };
        self.import_session(t).await?;
        Ok(true)
    }

    async fn merge_into(self: &Arc<Self>, session: &Arc<Session>, t: SessionTransfer) -> Result<(), BrokerError> {
        let mut gate = super::gate::OfferGate::new(&self.store);
        let mut merged = 0usize;
        let mut dropped = 0usize;
        // These messages were acknowledged to their publishers long ago: `max_queued` holds new
        // publishes back, it must not turn a hand-back into a silent loss. So they may fill the
        // queue to twice the cap; what is beyond that is dropped, counted and logged below.
        let mut limits = self.settings.queue;
        limits.max_queued = limits.max_queued.saturating_mul(2);
        // Deliveries whose PUBREL was sent reached the client already (QoS 2, PUBREC received):
        // they are not sent again.
        let encoded = t.inflight.iter().filter(|(_, released, _)| !released).map(|(_, _, e)| e).chain(t.queued.iter());
        for enc in encoded {
            match Delivery::decode(0, enc) {
                Ok(d) => {
                    if gate.offer(session, d, limits) == super::session::Offer::Queued {
                        merged += 1;
                    } else {
                        dropped += 1;
                        self.metrics.dropped(crate::metrics::DropReason::HandoverOverflow);
                    }
                }
                Err(e) => tracing::warn!(client = %t.client, "handed-back delivery undecodable: {e}"),
            }
        }
        gate.commit()?;
        {
            let mut st = session.state.lock();
            for id in &t.seen {
                st.seen.insert(*id);
            }
        }
        session.wake.notify_waiters();
        tracing::info!(client = %t.client, merged, "messages handed back by a previous owner");
        if dropped > 0 {
            tracing::warn!(
                client = %t.client,
                dropped,
                max_queued = self.settings.queue.max_queued,
                "handed-back messages dropped: the session's queue holds twice session.max_queued \
                 (counted in starling_messages_dropped_total{{reason=\"handover_overflow\"}})"
            );
        }
        Ok(())
    }

    async fn install_subscriptions(
        self: &Arc<Self>,
        session: &Arc<Session>,
        subs: &[(String, SubOptionsWire)],
    ) -> Result<(), BrokerError> {
        for (full, o) in subs {
            if let Ok(p) = topic::parse_filter(full, self.settings.topic_limits) {
                let opts = (*o).into();
                session.state.lock().subscriptions.insert(full.clone(), opts);
                self.subs.write().insert(p.filter, p.group, session.client_id.clone(), opts);
                self.ref_filter(&p.route_key()).await?;
            }
        }
        self.save_durable_subs(session).await?;
        self.metrics.subscriptions.set(self.subscription_count() as i64);
        Ok(())
    }

    /// Delete a client's rows on this node only (after a hand-over the catalog entries belong
    /// to the new owner).
    pub(super) fn purge_local(&self, client: &str) -> Result<(), StorageError> {
        let prefix = storage::client_key(client);
        let mut b = self.store.batch();
        for ks in [&self.store.queue, &self.store.inflight] {
            for item in ks.prefix(&prefix) {
                let k = item.key().map_err(StorageError::Read)?;
                b.remove(ks, k);
            }
        }
        b.remove(&self.store.sessions, client.as_bytes().to_vec());
        self.store.commit(b)
    }

    /// Local sessions the registry says another node owns: hand each over to its owner. Skips
    /// sessions claimed here recently (their registration may still be on its way).
    pub async fn hand_back_foreign_sessions(self: &Arc<Self>) -> usize {
        let me = self.cluster.node_id();
        let candidates: Vec<(String, u64)> = self
            .sessions
            .lock()
            .keys()
            .filter_map(|c| self.catalog.owner_of(c).filter(|o| *o != me).map(|o| (c.to_string(), o)))
            .collect();
        let mut moved = 0;
        for (client, owner) in candidates {
            if self.claims.recent(&client, Duration::from_secs(10)) || !self.cluster.is_member(owner) {
                continue;
            }
            let t = match self.export_session(&client, owner).await {
                Ok(Some(t)) => t,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(client, "cannot hand the session back: {e}");
                    continue;
                }
            };
            let n = t.messages();
            match self.cluster.give_session(owner, t.clone()).await {
                Ok(()) => moved += 1,
                Err(e) => {
                    // Keep it rather than lose it: take it back in and try again later.
                    tracing::warn!(client, messages = n, "hand-back to node {owner} failed ({e}); keeping the session");
                    if let Err(e) = self.import_session(t).await {
                        tracing::error!(client, "cannot re-install a session after a failed hand-back: {e}");
                    }
                }
            }
        }
        moved
    }

    /// [`Broker::drop_subscriptions`] but for the routes: the route keys whose reference is
    /// still held, for [`Broker::release_routes_later`].
    fn unsubscribe_keeping_routes(&self, session: &Arc<Session>) -> Vec<String> {
        let subs: Vec<String> = {
            let mut st = session.state.lock();
            st.queue.clear();
            st.queued_qos0 = 0;
            st.inflight.clear();
            std::mem::take(&mut st.subscriptions).into_keys().collect()
        };
        let mut keys = Vec::with_capacity(subs.len());
        for full in subs {
            if let Ok(p) = topic::parse_filter(&full, self.settings.topic_limits) {
                self.subs.write().remove(p.filter, p.group, &session.client_id);
                keys.push(p.route_key().into_owned());
            }
        }
        keys
    }

    /// Release this node's route references `keys` of a session handed to `to` once the catalog
    /// names `to` as the client's owner: `to` registers the client after submitting its routes,
    /// so its routes come first in the log and no node sees neither. At most [`RELAY_FOR`]
    /// (while messages are relayed anyway).
    fn release_routes_later(self: &Arc<Self>, client: String, to: NodeId, keys: Vec<String>) {
        if keys.is_empty() {
            return;
        }
        self.claims.releasing.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let b = self.clone();
        // Per hand-over: counted in `claims.releasing`, ends after RELAY_FOR at the latest.
        tokio::spawn(async move {
            let until = tokio::time::Instant::now() + RELAY_FOR;
            while b.catalog.owner_of(&client) != Some(to) && tokio::time::Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            for k in keys {
                b.unref_filter(&k).await;
            }
            b.claims.releasing.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        });
    }

    /// No route release is waiting and every catalog write was sent: what a stopping node
    /// waits for after its sessions were taken, so its routes do not outlive it.
    pub fn routes_settled(&self) -> bool {
        self.claims.releasing.load(std::sync::atomic::Ordering::Acquire) == 0 && self.cluster.pending_writes() == 0
    }

    /// Relays for a message matching sessions that moved from here lately: one target per new
    /// node, restricted to those clients.
    pub(super) fn relays(&self, topic_name: &str) -> Vec<ForwardTarget> {
        let moved = self.claims.moved.lock();
        if moved.is_empty() {
            return Vec::new();
        }
        let mut by_node: std::collections::BTreeMap<NodeId, Vec<String>> = Default::default();
        for (client, m) in moved.iter() {
            if m.at.elapsed() < RELAY_FOR
                && !self.sessions.lock().contains_key(client.as_str())
                && m.filters.iter().any(|f| topic::matches(f, topic_name))
            {
                by_node.entry(m.node).or_default().push(client.clone());
            }
        }
        by_node.into_iter().map(|(node, clients)| ForwardTarget { node, groups: Vec::new(), clients }).collect()
    }

    /// The node a session was handed to lately, if it was.
    pub(super) fn moved_to(&self, client: &str) -> Option<NodeId> {
        self.claims.moved.lock().get(client).filter(|m| m.at.elapsed() < RELAY_FOR).map(|m| m.node)
    }

    /// Periodic hand-back, until the broker goes away (the task holds it weakly).
    pub fn hand_back_task(self: &Arc<Self>, every: Duration) -> impl Future<Output = ()> + Send + 'static {
        let weak = Arc::downgrade(self);
        async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(b) = weak.upgrade() else { return };
                if b.cluster.pending_writes() > 0 {
                    continue;
                }
                b.hand_back_foreign_sessions().await;
            }
        }
    }

    /// Take the session of `client` from the node the registry names, or restore it from the
    /// catalog when that node does not answer. Called before attaching a connection.
    pub(super) async fn fetch_remote_session(self: &Arc<Self>, client: &str, clean_start: bool, expiry: u32) {
        let me = self.cluster.node_id();
        if self.sessions.lock().contains_key(client) {
            return;
        }
        let Some(owner) = self.catalog.owner_of(client).filter(|o| *o != me) else { return };
        self.claims.claim(client);
        let timeout = self.settings.takeover_timeout;
        let taken = tokio::time::timeout(timeout, self.cluster.take_session(client, owner)).await;
        match taken {
            Ok(Ok(Some(t))) => {
                // Clean start: the old session ends there and nothing is kept.
                if !clean_start && let Err(e) = self.import_session(t).await {
                    tracing::error!(client, "cannot install the handed-over session: {e}");
                }
            }
            Ok(Ok(None)) => {}
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {timeout:?}"),
                };
                if clean_start {
                    tracing::warn!(client, owner, "previous owner unreachable ({why}); it drops its copy when back");
                } else {
                    tracing::warn!(
                        client,
                        owner,
                        "previous owner unreachable ({why}); restoring subscriptions from the catalog"
                    );
                    if let Err(e) = self.restore_from_catalog(client, expiry.max(1)).await {
                        tracing::error!(client, "cannot restore the session from the catalog: {e}");
                    }
                }
            }
        }
    }
}
