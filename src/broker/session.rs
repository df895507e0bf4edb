//! Sessions: the per-client state that outlives a connection.
//!
//! A [`Session`] is shared between the broker (which queues deliveries into it from any
//! publisher's task) and at most one connection task (which sends them). Its state sits behind
//! one short-held mutex, never held across an `.await`. Which connection may drive it is
//! recorded in `SessionState::conn`: after a takeover the old connection sees a different id and
//! stops touching the queue, so the hand-over needs no further coordination.
//!
//! Persistent sessions (expiry > 0) keep every QoS ≥ 1 delivery in the `queue` keyspace until it
//! is acknowledged, and the packet id it went out with in `inflight`; the in-memory queue holds at
//! most `memory_window` entries, the rest is read back from disk as the window drains.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::broker::subs::{ClientKey, SubOptions};
use crate::protocol::Message;
use crate::protocol::message::{CodecError, Reader, put_u32};
use crate::storage::{self, Batch, StorageError, Store};

/// Why a connection is told to go away by someone else. (A takeover needs no kick: the old
/// connection sees that `Session::owner` is no longer its id.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kick {
    /// An administrator or the abuse limits ended it (0x98).
    Administrative = 1,
    /// The node is shutting down (0x8B).
    Shutdown = 2,
    /// The node is draining in a cluster: reconnect to another node (0x9C, with the configured
    /// Server Reference).
    Drain = 3,
}

impl Kick {
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(c: u8) -> Option<Kick> {
        match c {
            1 => Some(Kick::Administrative),
            2 => Some(Kick::Shutdown),
            3 => Some(Kick::Drain),
            _ => None,
        }
    }
}

impl Session {
    /// Make `conn` the driving connection (0 = none) and wake whoever waits, so a previous
    /// owner notices it was replaced.
    pub fn set_owner(&self, st: &mut SessionState, conn: Option<u64>) {
        st.conn = conn;
        self.owner.store(conn.unwrap_or(0), Ordering::Release);
        self.kick.store(0, Ordering::Release);
        self.wake.notify_waiters();
    }

    /// Ask the current owner to go away.
    pub fn kick(&self, why: Kick) {
        self.kick.store(why.code(), Ordering::Release);
        self.wake.notify_waiters();
    }
}

/// One message on its way to one session, with the options of the subscription(s) it matched.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Position in the persisted queue; 0 = held in memory only.
    pub seq: u64,
    pub msg: Arc<Message>,
    /// QoS it is delivered with: min(published, granted).
    pub qos: u8,
    /// RETAIN flag as sent to this client.
    pub retain: bool,
    pub sub_ids: Vec<u32>,
    /// Set for deliveries that came through a `$share` group: (group, filter). Such a delivery
    /// is handed to another member if this one goes away before acknowledging it.
    pub shared: Option<(Arc<str>, Arc<str>)>,
    /// For persisted deliveries, whether the batch holding it is committed; the connection sends
    /// nothing past an uncommitted delivery, so an acknowledgement can never precede the write.
    pub committed: Option<Arc<AtomicBool>>,
}

impl Delivery {
    pub fn is_ready(&self) -> bool {
        self.committed.as_ref().is_none_or(|c| c.load(Ordering::Acquire))
    }

    /// Persisted form: qos, retain, sub ids, shared tag, message.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![self.qos, u8::from(self.retain)];
        put_u32(&mut b, self.sub_ids.len() as u32);
        for id in &self.sub_ids {
            put_u32(&mut b, *id);
        }
        match &self.shared {
            Some((g, f)) => {
                b.push(1);
                crate::protocol::message::put_str(&mut b, g);
                crate::protocol::message::put_str(&mut b, f);
            }
            None => b.push(0),
        }
        b.extend_from_slice(&self.msg.encode());
        b
    }

    pub fn decode(seq: u64, buf: &[u8]) -> Result<Delivery, CodecError> {
        let mut r = Reader::new(buf);
        let qos = r.u8()?;
        if qos > 2 {
            return Err(CodecError::Invalid);
        }
        let retain = r.u8()? != 0;
        let n = r.u32()? as usize;
        let mut sub_ids = Vec::with_capacity(n.min(16));
        for _ in 0..n {
            sub_ids.push(r.u32()?);
        }
        let shared = if r.u8()? == 1 { Some((r.string()?.into(), r.string()?.into())) } else { None };
        let rest = r.take(buf.len() - r.pos)?;
        Ok(Delivery { seq, msg: Arc::new(Message::decode(rest)?), qos, retain, sub_ids, shared, committed: None })
    }
}

/// Where an outgoing QoS ≥ 1 delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// PUBLISH sent, waiting for PUBACK (QoS 1) or PUBREC (QoS 2).
    Published,
    /// PUBREL sent, waiting for PUBCOMP.
    Released,
}

#[derive(Debug, Clone)]
pub struct InflightOut {
    pub delivery: Delivery,
    pub phase: Phase,
}

/// A Will Message waiting for its delay (or the end of the session).
#[derive(Debug, Clone)]
pub struct PendingWill {
    pub msg: Arc<Message>,
    /// Identifies the disconnect that armed it; a newer connection disarms it.
    pub armed_by: u64,
}

/// What is kept on disk about a persistent session besides its queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionMeta {
    pub expiry: u32,
    /// Unix ms of the disconnect; `None` while connected.
    pub disconnected_at_ms: Option<u64>,
    /// Who the session belongs to (`None` in records written before identities were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<crate::catalog::cmd::Identity>,
}

/// Result of offering a delivery to a session.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    Queued,
    /// QoS 0 dropped because the queue is full (counted, never acknowledged to anyone).
    DroppedQos0,
    /// The queue is full of QoS ≥ 1 messages: the publisher must wait or be refused.
    Full,
    /// The session was handed to another node a moment ago: the message must follow it there.
    Gone,
}

pub struct SessionState {
    /// Session Expiry Interval in seconds (u32::MAX = never).
    pub expiry: u32,
    /// The connection that drives this session now.
    pub conn: Option<u64>,
    /// That connection's client address (the PROXY protocol source when the listener uses
    /// it); meaningful only while `conn` is set.
    pub peer: Option<std::net::SocketAddr>,
    /// Bumped at every connect and disconnect; timers check it before acting.
    pub epoch: u64,
    pub subscriptions: BTreeMap<String, SubOptions>,
    pub queue: VecDeque<Delivery>,
    /// QoS 0 deliveries in `queue` (so a full queue knows without scanning whether it can shed
    /// one). Maintained by [`SessionState::pop`] and the push sites.
    pub queued_qos0: usize,
    /// Persisted deliveries beyond the in-memory window, oldest first from `disk_from`.
    pub disk_only: usize,
    pub disk_from: u64,
    pub next_seq: u64,
    pub inflight: BTreeMap<u16, InflightOut>,
    /// Incoming QoS 2 packet ids received and not yet released (exactly-once across restarts).
    /// (A B-tree: an empty one is 24 bytes against a hash set's 48, and most sessions never
    /// hold one.)
    pub incoming_qos2: BTreeSet<u16>,
    pub will: Option<PendingWill>,
    /// Ids of the QoS ≥ 1 messages queued lately (persistent sessions): a message that arrives
    /// again — forwarded twice, or handed back by a node that held it while this one got it
    /// directly — is queued once.
    pub seen: SeenIds,
    /// Handed to another node: nothing may be queued here any more (see `Offer::Gone`).
    pub gone: bool,
    /// The identity the session belongs to (see `auth::ownership`); `None` until recorded.
    pub identity: Option<crate::catalog::cmd::Identity>,
}

/// A bounded set of recent message ids (oldest forgotten first). Only persistent sessions use
/// it, so it is one pointer until the first id arrives (every session carries it).
#[derive(Default)]
pub struct SeenIds(Option<Box<SeenInner>>);

#[derive(Default)]
struct SeenInner {
    order: VecDeque<u64>,
    set: HashSet<u64>,
}

impl SeenIds {
    const CAP: usize = 4096;

    /// The ids, oldest first (carried along when the session moves to another node).
    pub fn ids(&self) -> Vec<u64> {
        self.0.as_ref().map(|s| s.order.iter().copied().collect()).unwrap_or_default()
    }

    pub fn contains(&self, id: u64) -> bool {
        self.0.as_ref().is_some_and(|s| s.set.contains(&id))
    }

    /// Record `id`; false when it was seen already.
    pub fn insert(&mut self, id: u64) -> bool {
        let s = self.0.get_or_insert_with(Box::default);
        if !s.set.insert(id) {
            return false;
        }
        s.order.push_back(id);
        if s.order.len() > Self::CAP
            && let Some(old) = s.order.pop_front()
        {
            s.set.remove(&old);
        }
        true
    }
}

impl SessionState {
    pub fn persistent(&self) -> bool {
        self.expiry > 0
    }

    /// Take the oldest queued delivery.
    pub fn pop(&mut self) -> Option<Delivery> {
        let d = self.queue.pop_front()?;
        if d.qos == 0 {
            self.queued_qos0 = self.queued_qos0.saturating_sub(1);
        }
        Some(d)
    }

    /// Messages held for the session: queued, on disk and in flight.
    pub fn backlog(&self) -> usize {
        self.queue.len() + self.disk_only + self.inflight.len()
    }
}

pub struct Session {
    pub(super) client_id: ClientKey,
    pub(super) state: Mutex<SessionState>,
    /// The connection that drives the session (0 = none). Mirrors `SessionState::conn`, readable
    /// without the lock so a connection notices at once that it was taken over.
    pub(super) owner: AtomicU64,
    /// A pending [`Kick`] for the owner (0 = none), see [`Kick::code`].
    pub(super) kick: AtomicU8,
    /// Wakes the connection task: new deliveries, a commit finished, or a kick. Kicks use
    /// `notify_waiters`, which may wake the old and the new connection alike; each checks
    /// `owner` and `kick` to see whether the wake-up was for it.
    pub(super) wake: Notify,
    /// Wakes publishers waiting for this session's queue to drain.
    pub(super) space: Notify,
    /// The queue holds more than a quarter of its limit: publishers feeding it yield after
    /// each read so the session's connection gets CPU time (see `PublishOutcome::congested`).
    pub(super) congested: AtomicBool,
    /// The parked connection's deadline in the broker's shared timer (see `park`).
    pub(super) park: super::park::ParkSlot,
}

thread_local! {
    /// Sessions whose wake-up [`hold_wakes`] is holding back on this thread.
    static HELD_WAKES: std::cell::RefCell<Option<Vec<Arc<Session>>>> = const { std::cell::RefCell::new(None) };
}

/// Wake a session's connection for new deliveries, or, inside [`hold_wakes`], once when it ends.
pub fn wake(s: Arc<Session>) {
    let held = HELD_WAKES.with(|h| match &mut *h.borrow_mut() {
        Some(v) => {
            v.push(s);
            None
        }
        None => Some(s),
    });
    if let Some(s) = held {
        s.wake.notify_one();
    }
}

/// Run `f` (synchronous: nothing else runs on this thread meanwhile) and wake each session it
/// queued deliveries for once, at the end, instead of once per delivery. A connection woken per
/// message sends each on its own, so a burst of forwarded messages costs a wake-up, a
/// scheduler hand-off and a write each; held back, the burst goes out in one write.
pub fn hold_wakes(f: &mut dyn FnMut()) {
    /// Wakes what was held even if `f` panics, and puts an enclosing hold back in place.
    struct Release(Option<Vec<Arc<Session>>>);
    impl Drop for Release {
        fn drop(&mut self) {
            let outer = self.0.take();
            let held = HELD_WAKES.with(|h| std::mem::replace(&mut *h.borrow_mut(), outer));
            let mut held = held.unwrap_or_default();
            held.sort_unstable_by_key(|s| Arc::as_ptr(s) as usize);
            held.dedup_by(|a, b| Arc::ptr_eq(a, b));
            for s in held {
                // Inside an enclosing hold, pass them on to it.
                wake(s);
            }
        }
    }
    let outer = HELD_WAKES.with(|h| h.borrow_mut().replace(Vec::new()));
    let _release = Release(outer);
    f();
}

/// Limits applied when queueing.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    pub max_queued: usize,
    pub memory_window: usize,
}

impl Session {
    pub fn new(client_id: ClientKey, expiry: u32) -> Session {
        Session {
            client_id,
            state: Mutex::new(SessionState {
                expiry,
                conn: None,
                peer: None,
                epoch: 0,
                subscriptions: BTreeMap::new(),
                queue: VecDeque::new(),
                queued_qos0: 0,
                disk_only: 0,
                disk_from: 0,
                next_seq: 1,
                inflight: BTreeMap::new(),
                incoming_qos2: BTreeSet::new(),
                will: None,
                seen: SeenIds::default(),
                gone: false,
                identity: None,
            }),
            owner: AtomicU64::new(0),
            kick: AtomicU8::new(0),
            wake: Notify::new(),
            space: Notify::new(),
            congested: AtomicBool::new(false),
            park: Default::default(),
        }
    }

    /// Queue a delivery. For a persistent session a QoS ≥ 1 delivery is written into `batch`
    /// (the caller commits it and then flips `committed`).
    pub fn offer(&self, mut d: Delivery, limits: QueueLimits, store: &Store, batch: &mut Batch) -> Offer {
        let mut st = self.state.lock();
        if st.gone {
            return Offer::Gone;
        }
        let track = d.qos > 0 && d.msg.id != 0 && st.persistent();
        if track && st.seen.contains(d.msg.id) {
            // Already queued (or delivered) for this session: the duplicate is dropped.
            return Offer::Queued;
        }
        if st.backlog() >= limits.max_queued {
            if d.qos == 0 {
                return Offer::DroppedQos0;
            }
            // Make room by dropping the oldest queued QoS 0 message, if there is one.
            if st.queued_qos0 == 0 {
                return Offer::Full;
            }
            if let Some(i) = st.queue.iter().position(|q| q.qos == 0) {
                st.queue.remove(i);
                st.queued_qos0 -= 1;
            }
        }
        if track {
            st.seen.insert(d.msg.id);
        }
        let persist = st.persistent() && d.qos > 0;
        if !persist {
            // Nothing is written for it, so nothing to wait for before sending.
            d.committed = None;
        }
        if persist {
            d.seq = st.next_seq;
            st.next_seq += 1;
            batch.insert(&store.queue, storage::queue_key(&self.client_id, d.seq), d.encode());
            if st.disk_only > 0 || st.queue.len() >= limits.memory_window {
                if st.disk_only == 0 {
                    st.disk_from = d.seq;
                }
                st.disk_only += 1;
                return Offer::Queued;
            }
        } else if st.persistent() && st.queue.len() >= limits.memory_window {
            // QoS 0 for a persistent session lives in memory only; past the window it is shed.
            return Offer::DroppedQos0;
        }
        if d.qos == 0 {
            st.queued_qos0 += 1;
        }
        st.queue.push_back(d);
        if st.queue.len() + st.disk_only >= (limits.max_queued / 4).max(16) {
            self.congested.store(true, Ordering::Relaxed);
        }
        Offer::Queued
    }

    /// Read persisted deliveries back into the memory window (after restart or a spill).
    pub fn refill(st: &mut SessionState, client: &str, store: &Store, limits: QueueLimits) -> Result<(), StorageError> {
        if st.disk_only == 0 || st.queue.len() >= limits.memory_window {
            return Ok(());
        }
        let want = limits.memory_window - st.queue.len();
        let from = storage::queue_key(client, st.disk_from);
        let prefix = storage::client_key(client);
        let mut loaded = 0usize;
        let mut last = None;
        for item in store.queue.range(from..) {
            let (k, v) = item.into_inner().map_err(StorageError::Read)?;
            if !k.starts_with(&prefix) || loaded >= want {
                break;
            }
            let Some(seq) = storage::seq_of_queue_key(&k) else {
                continue;
            };
            last = Some(seq);
            if st.inflight.values().any(|i| i.delivery.seq == seq) {
                continue;
            }
            let d = Delivery::decode(seq, &v)
                .map_err(|e| StorageError::Corrupt { table: "queue", reason: e.to_string() })?;
            st.queue.push_back(d);
            loaded += 1;
        }
        st.disk_only = st.disk_only.saturating_sub(loaded);
        if let Some(l) = last {
            st.disk_from = l + 1;
        }
        if st.disk_only > 0 && loaded == 0 {
            // The counter drifted from what is on disk (e.g. entries acknowledged meanwhile).
            st.disk_only = 0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// Every session, persistent or not, carries this struct: what most sessions never use is
    /// kept out of line (it was 424 bytes before that).
    #[test]
    fn session_stays_small() {
        let size = std::mem::size_of::<super::Session>();
        assert!(size <= 360, "Session is {size} bytes");
    }

    use super::*;
    use crate::config::StorageConfig;
    use mqtt_protocol_core::mqtt::ArcPayload;

    fn delivery(qos: u8) -> Delivery {
        let p: Arc<[u8]> = Arc::from(&b"x"[..]);
        Delivery {
            seq: 0,
            msg: Arc::new(Message {
                topic: "t".into(),
                payload: ArcPayload::new(p, 0, 1),
                qos,
                retain: false,
                props: Default::default(),
                expires_at_ms: None,
                origin: "o".into(),
                wire: Default::default(),
                id: 0,
            }),
            qos,
            retain: false,
            sub_ids: vec![3, 7],
            shared: Some(("g".into(), "t".into())),
            committed: None,
        }
    }

    #[test]
    fn delivery_roundtrip() {
        let d = delivery(1);
        let back = Delivery::decode(5, &d.encode()).expect("decode");
        assert_eq!(back.seq, 5);
        assert_eq!(back.sub_ids, vec![3, 7]);
        assert_eq!(back.shared.as_ref().map(|s| &*s.0), Some("g"));
        assert_eq!(*back.msg, *d.msg);
    }

    #[test]
    fn full_queue_sheds_qos0_first_then_refuses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), &StorageConfig::default()).expect("open");
        let s = Session::new("c".into(), 0);
        let lim = QueueLimits { max_queued: 2, memory_window: 10 };
        let mut b = store.batch();
        assert_eq!(s.offer(delivery(0), lim, &store, &mut b), Offer::Queued);
        assert_eq!(s.offer(delivery(1), lim, &store, &mut b), Offer::Queued);
        assert_eq!(s.offer(delivery(0), lim, &store, &mut b), Offer::DroppedQos0);
        assert_eq!(s.offer(delivery(1), lim, &store, &mut b), Offer::Queued, "evicts the QoS 0");
        assert_eq!(s.offer(delivery(1), lim, &store, &mut b), Offer::Full);
        assert!(s.state.lock().queue.iter().all(|d| d.qos == 1));
    }

    #[test]
    fn persistent_queue_spills_and_refills_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), &StorageConfig::default()).expect("open");
        let s = Session::new("c".into(), 60);
        let lim = QueueLimits { max_queued: 100, memory_window: 3 };
        let mut b = store.batch();
        for _ in 0..10 {
            assert_eq!(s.offer(delivery(1), lim, &store, &mut b), Offer::Queued);
        }
        store.commit(b).expect("commit");
        let mut st = s.state.lock();
        assert_eq!(st.queue.len(), 3);
        assert_eq!(st.disk_only, 7);
        let mut seen = Vec::new();
        while let Some(d) = st.queue.pop_front() {
            seen.push(d.seq);
            if st.queue.is_empty() {
                Session::refill(&mut st, "c", &store, lim).expect("refill");
            }
        }
        assert_eq!(seen, (1..=10).collect::<Vec<u64>>());
    }
}
