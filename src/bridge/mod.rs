//! Bridges to upstream brokers (`[bridges.<name>]`, docs/bridge.md).
//!
//! Each bridge is one task. It attaches to its local persistent session `$bridge/<name>`,
//! subscribed (no local) to the `out` rules, so the session queue is the store-and-forward
//! backlog: written to fjall before the local publisher's PUBACK, ordered, kept across restarts.
//! Then it keeps a connection to the upstream ([`link::Link`]), backing off with jitter between
//! attempts, and drops QoS 0 messages for the upstream while it is unreachable (counted).

pub mod lease;
pub mod link;
pub mod map;
pub mod status;
pub mod tls;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{Notify, watch};

use crate::broker::session::Session;
use crate::broker::subs::{ClientKey, SubOptions};
use crate::broker::{Broker, CloseKind, reserved};
use crate::catalog::cmd::Identity;
use crate::config::BridgeConfig;
use crate::config::bridge::Overflow;
use lease::{Ended, Lease, LeaseState};
use link::{Link, LinkError};
use status::{BridgeSnapshot, BridgeStatus, Drop};

/// One running bridge: its status and, once attached, its local session.
pub struct Running {
    pub status: BridgeStatus,
    /// The local session's client id and backlog bound.
    client: String,
    bound: reserved::QueueBound,
    session: Mutex<Option<Arc<Session>>>,
    /// The bridge's lease as this node sees it.
    pub lease: Arc<LeaseState>,
}

impl Running {
    /// (queued, in flight) of the backlog.
    fn backlog(&self) -> (u64, u64) {
        match &*self.session.lock() {
            Some(s) => {
                let (queued, inflight) = s.backlog_counts();
                (queued as u64, inflight as u64)
            }
            None => (0, 0),
        }
    }

    pub fn snapshot(&self) -> BridgeSnapshot {
        let mut s = self.status.snapshot(self.backlog());
        s.holder_id = self.lease.holder();
        s.holding = self.lease.held.load(Ordering::Relaxed);
        s.lease_epoch = self.lease.epoch.load(Ordering::Relaxed);
        s.lease_changes = self.lease.changes.load(Ordering::Relaxed);
        s
    }
}

/// The node's bridges.
#[derive(Default)]
pub struct Bridges {
    pub list: Vec<Arc<Running>>,
}

/// What the node's configuration says about running bridges, beyond `[bridges.*]`.
#[derive(Debug, Clone)]
pub struct Options {
    /// The default upstream client id is `<prefix>-<bridge name>`: the node's name, or in a
    /// cluster the cluster's name (whichever node runs the bridge, it is the same upstream
    /// session).
    pub client_id_prefix: String,
    /// `cluster.bridge_lease`.
    pub lease: Duration,
}

impl Bridges {
    /// Set up each configured bridge: the bridges, and per bridge the task that runs it (until
    /// `stop`), for the node's supervisor to start.
    pub fn start(
        bridges: &std::collections::BTreeMap<String, BridgeConfig>,
        opts: &Options,
        broker: &Arc<Broker>,
        stop: &watch::Receiver<bool>,
        drain: &tokio::sync::mpsc::Sender<()>,
    ) -> (Arc<Bridges>, Vec<impl Future<Output = ()> + Send + 'static>) {
        let prefix = &opts.client_id_prefix;
        let mut list = Vec::new();
        let mut tasks = Vec::new();
        for (name, cfg) in bridges {
            let bound = reserved::QueueBound {
                max_messages: usize::try_from(cfg.backlog.max_messages).unwrap_or(usize::MAX),
                max_bytes: cfg.backlog.max_bytes,
                max_age_ms: u64::try_from(cfg.backlog.max_age.as_millis()).unwrap_or(u64::MAX),
                drop_oldest: cfg.backlog.overflow == Overflow::DropOldest,
            };
            let r = Arc::new(Running {
                status: BridgeStatus::new(name),
                client: reserved::bridge_client_id(name),
                bound,
                session: Mutex::new(None),
                lease: Arc::new(LeaseState::default()),
            });
            list.push(r.clone());
            let task = Task {
                name: name.clone(),
                cfg: cfg.clone(),
                client_id: if cfg.client_id.is_empty() { format!("{prefix}-{name}") } else { cfg.client_id.clone() },
                lease: Lease::new(name, broker, opts.lease, r.lease.clone()),
                broker: broker.clone(),
                running: r,
                _drain: drain.clone(),
            };
            tasks.push(task.run(stop.clone()));
        }
        (Arc::new(Bridges { list }), tasks)
    }

    pub fn snapshots(&self) -> Vec<BridgeSnapshot> {
        self.list.iter().map(|r| r.snapshot()).collect()
    }
}

impl reserved::BridgeReport for Bridges {
    fn queue_bound(&self, client: &str) -> Option<reserved::QueueBound> {
        self.list.iter().find(|r| r.client == client).map(|r| r.bound)
    }

    fn backlog_bytes(&self, client: &str) -> u64 {
        self.list.iter().find(|r| r.client == client).map_or(0, |r| r.status.backlog_bytes.load(Ordering::Relaxed))
    }

    fn backlog_grew(&self, client: &str, bytes: u64) {
        if let Some(r) = self.list.iter().find(|r| r.client == client) {
            r.status.backlog_bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    fn overflowed(&self, client: &str, freed: Option<u64>) {
        if let Some(r) = self.list.iter().find(|r| r.client == client) {
            if let Some(n) = freed {
                r.status.backlog_shrank(n);
            }
            let what = if freed.is_some() {
                "backlog full: the oldest message was dropped (overflow = \"drop_oldest\")"
            } else {
                "backlog full: a new message was refused to its publisher (overflow = \"refuse\")"
            };
            r.status.dropped(Drop::Overflow, &r.status.name, what);
        }
    }

    fn expired(&self, client: &str, freed: u64) {
        if let Some(r) = self.list.iter().find(|r| r.client == client) {
            r.status.backlog_shrank(freed);
            r.status.dropped(Drop::Expired, &r.status.name, "backlog full: an expired message made room");
        }
    }

    fn snapshots(&self) -> serde_json::Value {
        serde_json::to_value(Bridges::snapshots(self)).unwrap_or_default()
    }

    fn register_metrics(&self, reg: &mut prometheus_client::registry::Registry) {
        use prometheus_client::metrics::counter::Counter;
        use prometheus_client::metrics::family::Family;
        use prometheus_client::metrics::gauge::Gauge;
        type Labels = Vec<(String, String)>;
        let gauge = || Family::<Labels, Gauge>::default();
        let counter = || Family::<Labels, Counter>::default();
        let (connected, backlog, inflight) = (gauge(), gauge(), gauge());
        let (out, inn, reconnects, dropped) = (counter(), counter(), counter(), counter());
        let rtt = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        for s in Bridges::snapshots(self) {
            let l = vec![("bridge".to_string(), s.name.clone())];
            connected.get_or_create(&l).set(i64::from(s.connected));
            backlog.get_or_create(&l).set(i64::try_from(s.backlog_messages).unwrap_or(i64::MAX));
            inflight.get_or_create(&l).set(i64::try_from(s.backlog_inflight).unwrap_or(i64::MAX));
            out.get_or_create(&l).inc_by(s.forwarded_out);
            inn.get_or_create(&l).inc_by(s.forwarded_in);
            reconnects.get_or_create(&l).inc_by(s.reconnects);
            rtt.get_or_create(&l).set(s.rtt_seconds);
            for (reason, n) in &s.dropped {
                let mut l = l.clone();
                l.push(("reason".to_string(), reason.clone()));
                dropped.get_or_create(&l).inc_by(*n);
            }
        }
        let (bytes, held, changes) = (gauge(), gauge(), counter());
        for r in &self.list {
            let l = vec![("bridge".to_string(), r.status.name.clone())];
            let b = r.status.backlog_bytes.load(Ordering::Relaxed);
            bytes.get_or_create(&l).set(i64::try_from(b).unwrap_or(i64::MAX));
            held.get_or_create(&l).set(i64::from(r.lease.held.load(Ordering::Relaxed)));
            changes.get_or_create(&l).inc_by(r.lease.changes.load(Ordering::Relaxed));
        }
        let s = reg.sub_registry_with_prefix("starling_bridge");
        s.register("backlog_bytes", "Topic + payload bytes of the QoS 1/2 backlog, against max_bytes", bytes);
        s.register("connected", "1 while the bridge is connected to its upstream", connected);
        s.register("backlog_messages", "Messages waiting for the upstream, not yet sent", backlog);
        s.register("inflight_messages", "Messages sent upstream and not yet acknowledged", inflight);
        s.register("forwarded_out", "Messages acknowledged by the upstream (QoS 0: sent)", out);
        s.register("forwarded_in", "Messages from the upstream published locally", inn);
        s.register("reconnects", "Connections to the upstream after the first", reconnects);
        s.register("rtt_seconds", "Last PUBLISH to acknowledgement round trip", rtt);
        s.register("dropped", "Messages dropped by the bridge, by reason", dropped);
        s.register("lease_held", "1 on the node that holds the bridge's lease and runs it", held);
        s.register("lease_changes", "Changes of the node holding the bridge's lease, seen by this node", changes);
    }
}

struct Task {
    name: String,
    cfg: BridgeConfig,
    client_id: String,
    broker: Arc<Broker>,
    running: Arc<Running>,
    lease: Lease,
    /// Held until the task ends: a stopping node waits for it like for a connection.
    _drain: tokio::sync::mpsc::Sender<()>,
}

/// Back-off before attempt `n` (from 0): half of min(max, min·2ⁿ) plus a random part up to the
/// other half, so gateways cut off together do not reconnect in step, and never 0.
pub fn backoff(min: Duration, max: Duration, n: u32) -> Duration {
    let cap = min.saturating_mul(1u32 << n.min(20)).min(max).max(Duration::from_millis(1));
    let half = cap / 2;
    half + half.mul_f64(rand::random::<f64>())
}

impl Task {
    fn status(&self) -> &BridgeStatus {
        &self.running.status
    }

    /// Attach to the local session and (re)subscribe it to the out rules.
    async fn attach(&self, conn_id: u64) -> Result<Arc<Session>, LinkError> {
        let client: ClientKey = reserved::bridge_client_id(&self.name).into();
        let identity = Identity::User(client.to_string());
        let c = self.broker.connect(client, false, u32::MAX, conn_id, &identity).await?;
        let session = c.session;
        let want: BTreeSet<String> = self.cfg.out.iter().map(|r| r.local_filter()).collect();
        let have: Vec<String> = session.subscription_filters();
        for f in have.iter().filter(|f| !want.contains(*f)) {
            self.broker.unsubscribe(&session, f).await?;
        }
        for r in &self.cfg.out {
            // No local: what the in side published here never goes back up. Retain as
            // published: the rule decides about the flag. No retained messages at subscribe:
            // they were sent when they were published.
            let opts =
                SubOptions { qos: r.qos, no_local: true, retain_as_published: true, retain_handling: 2, sub_id: None };
            self.broker.subscribe(&session, &r.local_filter(), opts).await?;
        }
        Ok(session)
    }

    /// What the backlog restored from fjall holds, against `backlog.max_bytes`.
    fn stored_bytes(&self) -> u64 {
        let client = reserved::bridge_client_id(&self.name);
        let mut bytes = 0u64;
        for item in self.broker.store.queue.prefix(crate::storage::client_key(&client)) {
            let Ok((k, v)) = item.into_inner() else { continue };
            let Some(seq) = crate::storage::seq_of_queue_key(&k) else { continue };
            if let Ok(d) = crate::broker::session::Delivery::decode(seq, &v) {
                bytes += reserved::delivery_bytes(&d);
            }
        }
        bytes
    }

    fn password(&self) -> Result<Option<String>, LinkError> {
        if let Some(p) = &self.cfg.password {
            return Ok(Some(p.clone()));
        }
        let Some(path) = &self.cfg.password_file else { return Ok(None) };
        let s = std::fs::read_to_string(path).map_err(|source| LinkError::PasswordFile {
            key: format!("bridges.{}.password_file", self.name),
            path: path.clone(),
            source,
        })?;
        Ok(Some(s.lines().next().unwrap_or("").to_string()))
    }

    /// Stand by until this node holds the bridge's lease, run the bridge while it does, give
    /// the lease up when the node stops or drains; again after the lease was lost.
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let lease = &self.lease;
        while let Some(held) = lease.acquire(&mut stop).await {
            let (fence, fenced) = watch::channel(false);
            let done = Notify::new();
            let runner = async {
                self.hold(fenced).await;
                done.notify_one();
            };
            let (ended, ()) = tokio::join!(lease.keep(held, &fence, &done, stop.clone()), runner);
            if ended == Ended::Kept && (*stop.borrow() || self.broker.is_draining()) {
                lease.release(held).await;
            }
            if *stop.borrow() {
                break;
            }
        }
        tracing::info!(bridge = %self.name, "bridge stopped");
    }

    /// Run the bridge until `fence` (the node stops, the lease is lost or given up) or until
    /// its local session is taken away: attach to the session, then keep the uplink.
    async fn hold(&self, mut stop: watch::Receiver<bool>) {
        let conn_id = self.broker.next_conn_id();
        let mut attempt = 0u32;
        let session = loop {
            if *stop.borrow() {
                return;
            }
            match self.attach(conn_id).await {
                Ok(s) => break s,
                Err(e) => {
                    tracing::error!(bridge = %self.name, "cannot attach the bridge's local session: {e}");
                    let wait = backoff(self.cfg.reconnect_min, self.cfg.reconnect_max, attempt);
                    attempt += 1;
                    if sleep_or_stop(wait, &mut stop).await {
                        return;
                    }
                }
            }
        };
        self.status().backlog_bytes.store(self.stored_bytes(), Ordering::Relaxed);
        *self.running.session.lock() = Some(session.clone());
        tracing::info!(bridge = %self.name, upstream = ?self.cfg.addresses, "bridge started");
        let mut attempt = 0u32;
        let mut connected_once = false;
        loop {
            if *stop.borrow() {
                break;
            }
            let started = Instant::now();
            let r = self.connect_and_run(&session, conn_id, &mut stop, &mut connected_once).await;
            self.status().connected.store(false, std::sync::atomic::Ordering::Relaxed);
            match r {
                Err(LinkError::Detached) => break,
                Err(e) => {
                    tracing::warn!(bridge = %self.name, "uplink: {e}");
                    *self.status().last_error.lock() = Some(e.to_string());
                }
                Ok(()) => {}
            }
            // A connection that lasted starts the back-off afresh.
            if started.elapsed() > self.cfg.reconnect_max {
                attempt = 0;
            }
            let wait = backoff(self.cfg.reconnect_min, self.cfg.reconnect_max, attempt);
            attempt = attempt.saturating_add(1);
            if self.offline(&session, wait, &mut stop).await {
                break;
            }
        }
        *self.running.session.lock() = None;
        // Not a client connection: the node's connection count never included it.
        self.broker.leave(&session, conn_id, CloseKind::Normal, None, None).await;
        tracing::info!(bridge = %self.name, "bridge detached from its local session");
    }

    async fn connect_and_run(
        &self,
        session: &Arc<Session>,
        conn_id: u64,
        stop: &mut watch::Receiver<bool>,
        connected_once: &mut bool,
    ) -> Result<(), LinkError> {
        let password = self.password()?;
        // A fenced node must not reach the upstream: dialling and CONNECT end with the fence too
        // (the run loop below watches it itself).
        let mut fence = stop.clone();
        let (stream, addr) = tokio::select! {
            r = link::dial(&self.name, &self.cfg) => r?,
            _ = fence.wait_for(|f| *f) => return Err(LinkError::Detached),
        };
        let status = self.status();
        let mut link = Link::new(&self.name, &self.cfg, &self.broker, session, conn_id, status, stream, addr);
        let present = tokio::select! {
            r = link.connect(&self.client_id, password) => r?,
            _ = fence.wait_for(|f| *f) => return Err(LinkError::Detached),
        };
        if !present {
            // The upstream lost the session: QoS 2 ids it had sent us mean nothing now.
            let ids: Vec<u16> = session.incoming_qos2_ids();
            for pid in ids {
                self.broker.incoming_qos2(session, pid, false);
            }
        }
        link.subscribe().await?;
        link.resend_inflight()?;
        status.connected.store(true, std::sync::atomic::Ordering::Relaxed);
        *status.upstream.lock() = Some(addr.to_string());
        *status.last_error.lock() = None;
        if *connected_once {
            status.reconnects.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        *connected_once = true;
        tracing::info!(bridge = %self.name, upstream = %addr, session_present = present, "uplink connected");
        let r = link.run(stop).await;
        if matches!(r, Err(LinkError::Detached)) {
            link.disconnect().await;
        }
        r
    }

    /// While the uplink is down: wait `wait`, dropping (and counting) QoS 0 messages for the
    /// upstream as they come. True when the bridge must stop.
    async fn offline(&self, session: &Arc<Session>, wait: Duration, stop: &mut watch::Receiver<bool>) -> bool {
        let until = tokio::time::Instant::now() + wait;
        loop {
            let notified = session.woken();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if session.pending_kick().is_some() {
                return true;
            }
            let shed = session.shed_qos0();
            if shed > 0 {
                self.status().dropped_n(
                    Drop::Qos0Offline,
                    shed as u64,
                    &self.name,
                    "QoS 0 while the upstream is unreachable",
                );
            }
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return *stop.borrow(),
                _ = &mut notified => {}
                r = stop.changed() => if r.is_err() || *stop.borrow() { return true },
            }
        }
    }
}

/// Sleep; true if `stop` fired meanwhile.
async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        r = stop.changed() => r.is_err() || *stop.borrow(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(60));
        for n in 0..30 {
            let cap = Duration::from_secs(1u64 << n.min(6)).min(max);
            for _ in 0..50 {
                let d = backoff(min, max, n);
                assert!(d >= cap / 2 && d <= cap, "attempt {n}: {d:?} outside [{:?}, {cap:?}]", cap / 2);
            }
        }
        assert!(backoff(Duration::from_millis(1), Duration::from_millis(1), 0) > Duration::ZERO);
    }
}
