//! Evacuation: send the connected clients to other nodes, spread over a window at a bounded
//! rate (NATS lame-duck mode, EMQX's `conn_evict_rate`), so the other nodes are not hit by every
//! reconnect at once. New connections are refused from the first moment (and `/readyz` fails),
//! so load balancers stop sending clients here while the others leave.
//!
//! [`ShutdownPlan`] divides one `--grace` budget between the phases of a graceful stop, so the
//! whole shutdown is bounded by it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use super::Broker;
use super::session::{Kick, Session};
use crate::config::DrainConfig;

/// How often the schedule is looked at: clients due in the same tick are sent away together.
const TICK: Duration = Duration::from_millis(10);

/// One node's evacuation; [`Evacuation::start`] may be called any number of times.
pub struct Evacuation {
    broker: Arc<Broker>,
    cfg: DrainConfig,
    /// Set once started: when, and the latest moment by which every client must be sent away
    /// (a shutdown may move it earlier).
    state: Mutex<Option<Running>>,
    /// Wakes waiters when the last client of the schedule was sent away.
    done: tokio::sync::watch::Sender<bool>,
}

#[derive(Clone, Copy)]
struct Running {
    started: Instant,
    end_by: Instant,
}

impl Evacuation {
    pub fn new(broker: Arc<Broker>, cfg: DrainConfig) -> Arc<Evacuation> {
        let (done, _) = tokio::sync::watch::channel(false);
        Arc::new(Evacuation { broker, cfg, state: Mutex::new(None), done })
    }

    /// Refuse new connections at once and send the connected clients away (0x9C) over the
    /// configured window and rate, all of them by `within` from now when given. A second call
    /// keeps the schedule running but may bring its end forward.
    pub fn start(self: &Arc<Self>, within: Option<Duration>) {
        let now = Instant::now();
        let mut st = self.state.lock();
        if let Some(r) = st.as_mut() {
            if let Some(w) = within {
                r.end_by = r.end_by.min(now + w);
            }
            return;
        }
        // The listeners check this flag on every accept; the readiness probe reads it too.
        if !self.broker.draining.swap(true, Ordering::AcqRel) {
            tracing::info!("draining: new connections are refused and clients are sent to other nodes");
        }
        let connected: Vec<Arc<Session>> =
            self.broker.sessions.lock().values().filter(|s| s.owner.load(Ordering::Acquire) != 0).cloned().collect();
        let n = connected.len();
        let mut span = self.cfg.window;
        if self.cfg.rate > 0 {
            span = span.max(Duration::from_secs_f64(n as f64 / f64::from(self.cfg.rate)));
        }
        let mut end_by = now + span;
        if let Some(w) = within {
            end_by = end_by.min(now + w);
        }
        let running = Running { started: now, end_by };
        *st = Some(running);
        drop(st);
        tracing::info!(clients = n, over = ?end_by.duration_since(now), "sending clients to other nodes");
        let me = self.clone();
        // One evacuation, recorded in `state`: it ends once the schedule sent every client away
        // (by `end_by`), or when `state` is cleared.
        tokio::spawn(async move { me.run(connected).await });
    }

    /// Whether [`Evacuation::start`] was called.
    pub fn started(&self) -> bool {
        self.state.lock().is_some()
    }

    async fn run(self: Arc<Self>, clients: Vec<Arc<Session>>) {
        let n = clients.len();
        let mut sent = 0;
        while sent < n {
            let Some(r) = *self.state.lock() else { return };
            let now = Instant::now();
            let due = due(n, r.started, r.end_by, now, self.cfg.rate);
            for s in &clients[sent..due] {
                // A client that left or moved meanwhile is not owned any more: nothing to send.
                if s.owner.load(Ordering::Acquire) != 0 {
                    s.kick(Kick::Drain);
                }
            }
            sent = sent.max(due);
            if sent < n {
                tokio::time::sleep(TICK).await;
            }
        }
        // `send` would not store the value while nobody is subscribed.
        self.done.send_replace(true);
    }

    /// Wait until every client of the schedule was sent away and no connection is left, or
    /// `deadline`. Returns whether the node got empty in time.
    pub async fn wait_empty(&self, deadline: Instant) -> bool {
        let mut done = self.done.subscribe();
        let empty = async {
            let _ = done.wait_for(|d| *d).await;
            while self.broker.connections.load(Ordering::Acquire) > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout_at(deadline, empty).await.is_ok()
    }

    /// Wait until other nodes took every session (none left here) and this node's routes for
    /// them were handed over too (`Broker::routes_settled`), or `deadline`.
    pub async fn wait_taken(&self, deadline: Instant) -> bool {
        let taken = async {
            while self.broker.session_count() > 0 || !self.broker.routes_settled() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout_at(deadline, taken).await.is_ok()
    }

    /// `ctl node drain --wait`: the whole evacuation, then up to `drain.takeover` for the
    /// sessions to be taken. Returns (empty, taken).
    pub async fn wait_finished(&self) -> (bool, bool) {
        let end_by = self.state.lock().map(|r| r.end_by).unwrap_or_else(Instant::now);
        // A little past the schedule, for the last clients' sockets to close.
        let empty = self.wait_empty(end_by + Duration::from_secs(1)).await;
        let taken = self.wait_taken(Instant::now() + self.cfg.takeover).await;
        (empty, taken)
    }
}

/// How many of `n` clients are due to have been sent away at `now`: spread evenly between
/// `started` and `end_by`, at most `rate` per second (plus the first) until `end_by`, every one
/// once `end_by` has passed.
fn due(n: usize, started: Instant, end_by: Instant, now: Instant, rate: u32) -> usize {
    if now >= end_by {
        return n;
    }
    let elapsed = now.duration_since(started).as_secs_f64();
    let span = end_by.duration_since(started).as_secs_f64();
    let mut due = (n as f64 * elapsed / span).ceil() as usize;
    if rate > 0 {
        due = due.min((f64::from(rate) * elapsed) as usize + 1);
    }
    due.clamp(1.min(n), n)
}

/// The phases of a graceful stop within one `--grace` budget, counted from its start. In a
/// cluster: clients are sent away within the first half; other nodes may take the sessions
/// until three quarters; then the remaining connections are closed (0x8B) until `reserve`
/// before the end, which is left for the Raft shutdown, the final fsync and the admin listener.
#[derive(Debug, Clone, Copy)]
pub struct ShutdownPlan {
    pub evacuate_by: Instant,
    pub takeover_by: Instant,
    pub close_by: Instant,
    pub deadline: Instant,
}

impl ShutdownPlan {
    pub fn new(start: Instant, grace: Duration) -> ShutdownPlan {
        let reserve = (grace / 5).min(Duration::from_secs(2));
        ShutdownPlan {
            evacuate_by: start + grace / 2,
            takeover_by: start + grace * 3 / 4,
            close_by: start + grace - reserve,
            deadline: start + grace,
        }
    }

    /// What is left of the budget now (zero once it is spent).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_spreads_over_the_window_and_respects_the_rate() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // 100 clients over 1 s, no rate limit: a tenth every 100 ms.
        assert_eq!(due(100, t0, at(1000), at(0), 0), 1);
        assert_eq!(due(100, t0, at(1000), at(100), 0), 10);
        assert_eq!(due(100, t0, at(1000), at(500), 0), 50);
        assert_eq!(due(100, t0, at(1000), at(1000), 0), 100);
        // 10 per second caps it until the end of the window, then everyone goes.
        assert_eq!(due(100, t0, at(1000), at(500), 10), 6);
        assert_eq!(due(100, t0, at(10_000), at(500), 10), 5);
        assert_eq!(due(100, t0, at(1000), at(1000), 10), 100);
        assert_eq!(due(0, t0, at(1000), at(10), 10), 0);
    }

    #[test]
    fn shutdown_phases_fit_in_grace() {
        let t0 = Instant::now();
        for secs in [0, 1, 2, 10, 30, 300] {
            let g = Duration::from_secs(secs);
            let p = ShutdownPlan::new(t0, g);
            assert!(p.evacuate_by <= p.takeover_by && p.takeover_by <= p.close_by && p.close_by <= p.deadline);
            assert_eq!(p.deadline, t0 + g);
        }
    }
}
