//! Scenario orchestration: start clients (paced, with bounded concurrent handshakes), run the
//! load phase, stop everyone, and turn the per-client outcomes into a [`Report`].
//!
//! Every client is one tokio task that owns its socket and protocol state; tasks share only
//! atomics ([`Counters`]) and, on failure, a short-lived mutex around the error tally. Phases are
//! driven by `watch` channels: `go` starts publishing, `stop` ends a role. Every wait here has a
//! deadline derived from `-d`, `--connect-timeout` and `--drain`, so a run always ends by itself.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use hdrhistogram::Histogram;
use mqtt_protocol_core::mqtt::Version;
use mqtt_protocol_core::mqtt::packet::{Packet, Qos};
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::args::{ConnPlan, PubPlan, PubSubPlan, PublishPlan, RunPlan, SessionPlan, SubPlan, SubscribePlan};
use super::client::{Client, ClientConfig, ClientError, Stop, Wake};
use super::payload::{Stamp, now_ns};
use super::report::{ClientsReport, ErrorCount, MessagesReport, RatesReport, Report};
use super::stats::{Counters, DeliveryTracker, LatencySummary, Samples, latency_histogram, median, rate};
use super::topic::filter_matches;

mod scenarios;

#[cfg(test)]
use scenarios::expected_deliveries;
pub use scenarios::{run_conn, run_pub, run_pubsub, run_sub};

/// Publishes queued per loop turn before reading again, so acks keep flowing under flood.
const PUBLISH_BATCH: u64 = 256;
/// Output bytes buffered per client before the publisher waits for the socket.
const HIGH_WATER: usize = 64 * 1024;
/// Bound on the DISCONNECT flush at the end of a run.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Drain ends early when no delivery arrived for this long.
const DRAIN_QUIET: Duration = Duration::from_secs(2);
/// Read buffer sizes: idle clients are many, data clients are few.
const READ_BUF_IDLE: usize = 2 * 1024;
const READ_BUF_PUB: usize = 16 * 1024;
const READ_BUF_SUB: usize = 64 * 1024;

/// State shared by all clients of a run.
struct Ctx {
    counters: Counters,
    /// Clients ready for the load phase (connected, and subscribed for subscribers).
    ready: AtomicU64,
    /// Clients that failed before becoming ready.
    setup_failed: AtomicU64,
    /// Handshake slots (`--max-connecting`).
    connecting: Semaphore,
    /// Failures grouped by kind. A std mutex: only taken when a client fails, never held
    /// across an await.
    errors: Mutex<BTreeMap<String, ErrorCount>>,
    /// Filters of subscribers that were ready in time, so the drain knows how many deliveries
    /// to wait for before the subscriber tasks are joined. Pushed once per subscriber.
    ready_filters: Mutex<Vec<String>>,
}

impl Ctx {
    fn new(max_connecting: usize) -> Arc<Ctx> {
        Arc::new(Ctx {
            counters: Counters::default(),
            ready: AtomicU64::new(0),
            setup_failed: AtomicU64::new(0),
            connecting: Semaphore::new(max_connecting.min(Semaphore::MAX_PERMITS)),
            errors: Mutex::new(BTreeMap::new()),
            ready_filters: Mutex::new(Vec::new()),
        })
    }

    fn record(&self, kind: &str, message: String) {
        let mut map = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(kind.to_owned()).or_insert_with(|| ErrorCount { count: 0, example: message }).count += 1;
    }

    fn record_error(&self, err: &ClientError) {
        self.record(err.kind(), err.to_string());
    }

    fn errors(&self) -> BTreeMap<String, ErrorCount> {
        self.errors.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn settled(&self) -> u64 {
        self.ready.load(Ordering::Relaxed) + self.setup_failed.load(Ordering::Relaxed)
    }
}

/// What one client task reports back.
#[derive(Default)]
struct Outcome {
    /// TCP connect start → CONNACK.
    handshake: Option<Duration>,
    connack_at: Option<Instant>,
    /// Ready before the load phase began; only such subscribers count toward `expected`.
    on_time: bool,
    /// Rendered topic (publisher) or filter (subscriber).
    topic: String,
    sent: u64,
    acked: u64,
    received: u64,
    delivery: Option<DeliveryTracker>,
    latency: Option<Histogram<u64>>,
    last_recv: Option<Instant>,
}

/// Resolves once `rx` holds `true` or its sender is gone.
async fn wait_true(rx: &mut watch::Receiver<bool>) {
    // A dropped sender means the orchestrator is gone: treat it like the signal.
    let _ = rx.wait_for(|v| *v).await;
}

fn mqtt_version_name(v: Version) -> &'static str {
    match v {
        Version::V5_0 => "5.0",
        _ => "3.1.1",
    }
}

fn qos_number(q: Qos) -> u8 {
    match q {
        Qos::AtMostOnce => 0,
        Qos::AtLeastOnce => 1,
        Qos::ExactlyOnce => 2,
    }
}

/// Resolves the broker address once and checks something accepts TCP there, so a wrong port
/// fails in a second with one clear message rather than as thousands of client errors.
async fn preflight(session: &SessionPlan) -> anyhow::Result<SocketAddr> {
    let host = session.host.as_str();
    let addr = tokio::net::lookup_host((host, session.port))
        .await
        .with_context(|| format!("cannot resolve broker host `{host}`"))?
        .next()
        .ok_or_else(|| anyhow!("broker host `{host}` resolved to no address"))?;
    match tokio::time::timeout(session.connect_timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_probe)) => Ok(addr),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err(anyhow!("connection refused by {addr}: is an MQTT broker listening there?"))
        }
        Ok(Err(e)) => Err(anyhow!("cannot connect to {addr}: {e}")),
        Err(_) => Err(anyhow!("connecting to {addr} timed out after {:?}", session.connect_timeout)),
    }
}

fn client_config(session: &SessionPlan, addr: SocketAddr, client_id: String, read_buf: usize) -> ClientConfig {
    ClientConfig {
        addr,
        version: session.version,
        client_id,
        keep_alive: session.keep_alive,
        username: session.username.clone(),
        password: session.password.clone(),
        clean: session.clean,
        session_expiry: session.session_expiry,
        timeout: session.connect_timeout,
        read_buf,
    }
}

/// Connects one client within a handshake slot; `None` if it failed (already tallied) or the
/// run was stopped first. The slot is returned so subscribers can hold it through SUBACK.
async fn open<'a>(
    ctx: &'a Ctx,
    cfg: &ClientConfig,
    stop: &mut Stop,
) -> Option<(Client, Duration, Instant, tokio::sync::SemaphorePermit<'a>)> {
    let permit = tokio::select! {
        p = ctx.connecting.acquire() => p.ok()?,
        _ = wait_true(stop) => return None,
    };
    let t0 = Instant::now();
    let result = tokio::select! {
        r = Client::connect(cfg) => r,
        _ = wait_true(stop) => return None,
    };
    match result {
        Ok(client) => {
            let at = Instant::now();
            Counters::add(&ctx.counters.connects_ok, 1);
            Counters::add(&ctx.counters.connected, 1);
            Some((client, at - t0, at, permit))
        }
        Err(e) => {
            Counters::add(&ctx.counters.connects_failed, 1);
            Counters::add(&ctx.setup_failed, 1);
            ctx.record_error(&e);
            None
        }
    }
}

/// Ends a connected client: tallies an error if there was one, then says goodbye.
async fn close(ctx: &Ctx, client: Client, error: Option<ClientError>) {
    ctx.counters.connected.fetch_sub(1, Ordering::Relaxed);
    match error {
        Some(e) => {
            Counters::add(&ctx.counters.errors, 1);
            ctx.record_error(&e);
        }
        None => client.disconnect(DISCONNECT_TIMEOUT).await,
    }
}

/// An idle client for `conn`: connect, answer keep-alive, wait for stop.
async fn idle_client(ctx: Arc<Ctx>, cfg: ClientConfig, mut stop: Stop) -> Outcome {
    let Some((mut client, handshake, at, permit)) = open(&ctx, &cfg, &mut stop).await else {
        return Outcome::default();
    };
    drop(permit);
    Counters::add(&ctx.ready, 1);
    let out = Outcome { handshake: Some(handshake), connack_at: Some(at), on_time: true, ..Default::default() };
    let error = loop {
        match client.turn(None, Some(&mut stop)).await {
            Ok(Wake::Stop) => break None,
            Ok(_) => client.inbox.clear(),
            Err(e) => break Some(e),
        }
    };
    close(&ctx, client, error).await;
    out
}

/// What one publisher does.
struct PubJob {
    idx: usize,
    count: usize,
    plan: Arc<PublishPlan>,
    limit: Option<u64>,
}

async fn publisher(
    ctx: Arc<Ctx>,
    cfg: ClientConfig,
    job: PubJob,
    mut go: watch::Receiver<bool>,
    mut stop: Stop,
) -> Outcome {
    let topic = job.plan.topic.render(job.idx + 1, &cfg.client_id);
    let Some((mut client, handshake, at, permit)) = open(&ctx, &cfg, &mut stop).await else {
        return Outcome { topic, ..Default::default() };
    };
    drop(permit);
    Counters::add(&ctx.ready, 1);
    let mut out =
        Outcome { handshake: Some(handshake), connack_at: Some(at), on_time: true, topic, ..Default::default() };
    // Keep the connection serviced (keep-alive) until the load phase starts; the orchestrator
    // always raises `go` before `stop`, so this cannot outlive the run.
    let mut error = None;
    loop {
        match client.turn(None, Some(&mut go)).await {
            Ok(Wake::Stop) => break,
            Ok(_) => client.inbox.clear(),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    if error.is_none() && !*stop.borrow() {
        error = publish_loop(&mut client, &job, &ctx, &mut stop, &mut out).await.err();
    }
    close(&ctx, client, error).await;
    out
}

/// A payload of the requested size; the stamp overwrites the first 16 bytes per message.
fn payload_template(size: usize) -> Vec<u8> {
    vec![b'x'; size]
}

async fn publish_loop(
    client: &mut Client,
    job: &PubJob,
    ctx: &Ctx,
    stop: &mut Stop,
    out: &mut Outcome,
) -> Result<(), ClientError> {
    let plan = &job.plan;
    let acked = plan.qos != Qos::AtMostOnce;
    let template = payload_template(plan.size);
    let interval_ns = plan.interval.map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    // Stagger publishers across one interval so a total rate is smooth, not synchronised bursts.
    let stagger = interval_ns.map_or(0, |iv| iv / job.count.max(1) as u64 * job.idx as u64);
    let start = Instant::now() + Duration::from_nanos(stagger);
    let window = u64::from(plan.inflight);
    let mut seq: u64 = 0;
    let mut inflight: u64 = 0;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let exhausted = job.limit.is_some_and(|l| seq >= l);
        if exhausted && inflight == 0 && client.pending_output() == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut wake_at = None;
        let mut produced = 0;
        let mut more_now = false;
        loop {
            if produced >= PUBLISH_BATCH {
                more_now = true; // batch full: come back right after servicing the socket
                break;
            }
            if client.pending_output() >= HIGH_WATER {
                more_now = true; // the turn flushes, and waits only if the socket is full
                break;
            }
            if job.limit.is_some_and(|l| seq >= l) {
                break;
            }
            if acked && (inflight >= window || client.broker_window() == Some(0)) {
                break;
            }
            if let Some(iv) = interval_ns {
                let due = start + Duration::from_nanos(iv.saturating_mul(seq));
                if due > now {
                    wake_at = Some(due);
                    break;
                }
            }
            let mut payload = template.clone();
            // The sequence number wraps at 2^32; trackers stop at 2^28 long before that.
            Stamp { sent_ns: now_ns(), publisher: job.idx as u32, seq: seq as u32 }.write(&mut payload);
            client.publish(&out.topic, plan.qos, plan.retain, payload)?;
            seq += 1;
            produced += 1;
            if acked {
                inflight += 1;
            }
        }
        out.sent += produced;
        Counters::add(&ctx.counters.sent, produced);
        // Done (-L reached, nothing unacknowledged): flush and return, rather than wait for
        // input a QoS 0 publisher never gets.
        if more_now || (job.limit.is_some_and(|l| seq >= l) && inflight == 0) {
            wake_at = Some(now);
        }
        let wake = client.turn(wake_at, Some(stop)).await?;
        let released = client.take_released();
        inflight = inflight.saturating_sub(released);
        out.acked += released;
        Counters::add(&ctx.counters.acked, released);
        client.inbox.clear();
        if wake == Wake::Stop {
            return Ok(());
        }
    }
}

/// What one subscriber does.
struct SubJob {
    idx: usize,
    plan: Arc<SubscribePlan>,
    /// Number of publishers of this run whose stamps are trusted (`pubsub`); `None` for a
    /// standalone `sub`, whose publishers live in another process (no latency, no duplicates).
    publishers: Option<u32>,
}

async fn subscriber(
    ctx: Arc<Ctx>,
    cfg: ClientConfig,
    job: SubJob,
    go: watch::Receiver<bool>,
    mut stop: Stop,
) -> Outcome {
    let filter = job.plan.filter.render(job.idx + 1, &cfg.client_id);
    let Some((mut client, handshake, at, permit)) = open(&ctx, &cfg, &mut stop).await else {
        return Outcome { topic: filter, ..Default::default() };
    };
    let mut out = Outcome { handshake: Some(handshake), connack_at: Some(at), topic: filter, ..Default::default() };
    let subscribed = tokio::select! {
        r = client.subscribe(&out.topic, job.plan.qos, cfg.timeout) => r,
        _ = wait_true(&mut stop) => {
            drop(permit);
            close(&ctx, client, None).await;
            return out;
        }
    };
    drop(permit);
    if let Err(e) = subscribed {
        Counters::add(&ctx.setup_failed, 1);
        close(&ctx, client, Some(e)).await;
        return out;
    }
    if *go.borrow() {
        // Subscribed after publishing began: its deliveries would not match `expected`.
        Counters::add(&ctx.setup_failed, 1);
        ctx.record("late", format!("`{}` subscribed after the load phase had started", cfg.client_id));
        close(&ctx, client, None).await;
        return out;
    }
    ctx.ready_filters.lock().unwrap_or_else(|p| p.into_inner()).push(out.topic.clone());
    Counters::add(&ctx.ready, 1);
    out.on_time = true;
    let mut tracker = job.publishers.map(DeliveryTracker::new);
    let mut hist = job.publishers.map(|_| latency_histogram());
    let error = loop {
        let turn = client.turn(None, Some(&mut stop)).await;
        if !client.inbox.is_empty() {
            // One receive time per turn: everything in the inbox came from the same reads.
            let now = now_ns();
            let mut n = 0u64;
            for packet in client.inbox.drain(..) {
                let payload = match &packet {
                    Packet::V3_1_1Publish(p) => p.payload().as_slice(),
                    Packet::V5_0Publish(p) => p.payload().as_slice(),
                    _ => continue,
                };
                n += 1;
                if let (Some(t), Some(h)) = (tracker.as_mut(), hist.as_mut()) {
                    match Stamp::read(payload) {
                        Some(s) => {
                            if t.observe(s.publisher, s.seq) {
                                h.saturating_record(now.saturating_sub(s.sent_ns).max(1));
                            }
                        }
                        None => t.observe_unstamped(),
                    }
                }
            }
            out.received += n;
            Counters::add(&ctx.counters.received, n);
            out.last_recv = Some(Instant::now());
        }
        match turn {
            Ok(Wake::Stop) => break None,
            Ok(_) => {}
            Err(e) => break Some(e),
        }
    };
    out.delivery = tracker;
    out.latency = hist;
    close(&ctx, client, error).await;
    out
}

/// Spawns `count` client tasks, `interval` apart (if any), until done or interrupted.
async fn launch<F, Fut>(
    set: &mut JoinSet<Outcome>,
    count: usize,
    interval: Option<Duration>,
    interrupt: &mut Stop,
    mut make: F,
) where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let start = Instant::now();
    for i in 0..count {
        if let Some(iv) = interval {
            let at = start + iv.saturating_mul(u32::try_from(i).unwrap_or(u32::MAX));
            tokio::select! {
                _ = tokio::time::sleep_until(at.into()) => {}
                _ = wait_true(interrupt) => return,
            }
        } else if *interrupt.borrow() {
            return;
        }
        set.spawn(make(i));
    }
}

/// Waits until `target` clients are ready or failed, the deadline passes, or Ctrl-C.
async fn wait_settled(ctx: &Ctx, target: u64, deadline: Instant, interrupt: &mut Stop) {
    while ctx.settled() < target && Instant::now() < deadline && !*interrupt.borrow() {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(5)) => {}
            _ = wait_true(interrupt) => {}
        }
    }
}

/// Sleeps until `deadline` or Ctrl-C.
async fn hold(deadline: Instant, interrupt: &mut Stop) {
    tokio::select! {
        _ = tokio::time::sleep_until(deadline.into()) => {}
        _ = wait_true(interrupt) => {}
    }
}

async fn collect(set: &mut JoinSet<Outcome>) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(o) => outcomes.push(o),
            // A panicking client is a bug in this tool; keep the others' numbers.
            Err(e) => tracing::error!("bench client task failed: {e}"),
        }
    }
    outcomes
}

/// The once-per-second progress line and the samples behind the medians.
struct Reporter {
    handle: JoinHandle<Samples>,
    stop: watch::Sender<bool>,
    /// Samples are kept only for seconds that lie entirely inside the measured phase.
    measuring: Arc<AtomicBool>,
}

impl Reporter {
    fn spawn(ctx: Arc<Ctx>, total: u64, progress: bool) -> Reporter {
        let (stop, mut stop_rx) = watch::channel(false);
        let measuring = Arc::new(AtomicBool::new(false));
        let flag = measuring.clone();
        let handle = tokio::spawn(async move {
            let start = Instant::now();
            let mut samples = Samples::default();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await; // the first tick is immediate
            let mut last = ctx.counters.snapshot();
            let mut last_t = Instant::now();
            let mut was_measuring = flag.load(Ordering::Relaxed);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = wait_true(&mut stop_rx) => break,
                }
                let snap = ctx.counters.snapshot();
                let now = Instant::now();
                let dt = (now - last_t).as_secs_f64();
                let per_s = |a: u64, b: u64| rate(a.saturating_sub(b), dt);
                let (sent, recv, conns) = (
                    per_s(snap.sent, last.sent),
                    per_s(snap.received, last.received),
                    per_s(snap.connects_ok, last.connects_ok),
                );
                let measuring_now = flag.load(Ordering::Relaxed);
                if measuring_now && was_measuring {
                    samples.sent_per_s.push(sent);
                    samples.recv_per_s.push(recv);
                }
                was_measuring = measuring_now;
                if progress {
                    eprintln!(
                        "[{:>5.0}s] connected {}/{} (failed {})  conn/s {:>7}  sent/s {:>9}  recv/s {:>9}  total sent {} recv {}",
                        start.elapsed().as_secs_f64(),
                        snap.connected,
                        total,
                        snap.connects_failed,
                        super::report::thousands(conns),
                        super::report::thousands(sent),
                        super::report::thousands(recv),
                        snap.sent,
                        snap.received,
                    );
                }
                last = snap;
                last_t = now;
            }
            samples
        });
        Reporter { handle, stop, measuring }
    }

    fn measure(&self, on: bool) {
        self.measuring.store(on, Ordering::Relaxed);
    }

    async fn finish(self) -> Samples {
        // The receiver may already be gone; either way the task ends.
        let _ = self.stop.send(true);
        self.handle.await.unwrap_or_default()
    }
}

/// Connect-side numbers from a set of outcomes.
fn clients_report(
    outcomes: &[&Outcome],
    requested: usize,
    ctx: &Ctx,
    first_start: Instant,
    phase: Duration,
) -> ClientsReport {
    let mut hist = latency_histogram();
    let mut last_connack = None::<Instant>;
    for o in outcomes {
        if let Some(h) = o.handshake {
            hist.saturating_record(u64::try_from(h.as_nanos()).unwrap_or(u64::MAX).max(1));
        }
        if let Some(at) = o.connack_at {
            last_connack = Some(last_connack.map_or(at, |l| l.max(at)));
        }
    }
    let ok = outcomes.iter().filter(|o| o.handshake.is_some()).count() as u64;
    let span = last_connack.map_or(0.0, |l| (l - first_start).as_secs_f64());
    ClientsReport {
        requested: requested as u64,
        ready: outcomes.iter().filter(|o| o.on_time).count() as u64,
        failed: ctx.setup_failed.load(Ordering::Relaxed).min(requested as u64),
        connect_rate_per_s: rate(ok, span),
        handshake_us: LatencySummary::from_histogram(&hist),
        connect_phase_s: phase.as_secs_f64(),
    }
}

fn base_report(scenario: &str, session: &SessionPlan, addr: SocketAddr) -> Report {
    Report {
        scenario: scenario.to_owned(),
        target: addr.to_string(),
        protocol: mqtt_version_name(session.version).to_owned(),
        ..Default::default()
    }
}

/// Ctrl-C turns into a `true` on the returned channel.
fn interrupt_signal() -> (Stop, JoinHandle<()>) {
    let (tx, rx) = watch::channel(false);
    let handle = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: stopping clients");
            let _ = tx.send(true);
            // Keep the sender alive so receivers see `true`, not a closed channel.
            std::future::pending::<()>().await;
        }
    });
    (rx, handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(topic: &str, sent: u64, on_time: bool) -> Outcome {
        Outcome { topic: topic.into(), sent, on_time, ..Default::default() }
    }

    #[test]
    fn expected_counts_fan_in_and_fan_out() {
        // fan-in: 3 publishers on distinct topics, one `#` subscriber.
        let pubs = vec![outcome("bench/1", 10, true), outcome("bench/2", 20, true), outcome("other", 5, true)];
        let subs = vec![outcome("bench/#", 0, true)];
        assert_eq!(expected_deliveries(&subs, &pubs), 30);
        // fan-out: one publisher, three subscribers, one of them late (not counted).
        let pubs = vec![outcome("fan", 7, true)];
        let subs = vec![outcome("fan", 0, true), outcome("+", 0, true), outcome("fan", 0, false)];
        assert_eq!(expected_deliveries(&subs, &pubs), 14);
    }
}
