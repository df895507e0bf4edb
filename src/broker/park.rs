//! Deadlines of parked connections, kept by one shared timer instead of a timer per connection.
//!
//! An idle connection parks (see `transport::connection`) and waits on its session's wake-up and
//! its socket only; its keep-alive deadline goes here. One background task looks at the due
//! buckets every [`TICK`] and wakes the sessions whose deadline has passed, through the same
//! wake-up deliveries use. A session has at most one entry: parking again with a later deadline
//! (a client that pings or publishes now and then) moves nothing; the entry is carried forward
//! when it comes due. A parked connection costs the wheel one weak pointer instead of a tokio
//! `Sleep` (≈ 100 bytes) in its task.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use super::session::Session;

/// The wheel's resolution: a parked connection's deadline passes at most this much late
/// (keep-alive allows half the keep-alive period beyond it).
pub const TICK: Duration = Duration::from_millis(250);

/// Per-session state of the wheel, in the session (8 bytes).
#[derive(Debug, Default)]
pub(crate) struct ParkSlot {
    /// The tick at which the parked connection must be woken; 0 when not parked or no deadline.
    until: AtomicU32,
    /// The tick of the session's entry in the wheel; 0 when it has none.
    entry: AtomicU32,
}

pub(crate) struct ParkTimers {
    start: Instant,
    wheel: Mutex<BTreeMap<u32, Vec<Weak<Session>>>>,
    /// Whether the task that fires the wheel was started (on the first deadline).
    running: AtomicBool,
}

impl ParkTimers {
    pub(crate) fn new() -> Arc<ParkTimers> {
        Arc::new(ParkTimers {
            start: Instant::now(),
            wheel: Mutex::new(BTreeMap::new()),
            running: AtomicBool::new(false),
        })
    }

    /// The first tick at or after `t` (at least 1: 0 means none).
    fn tick_of(&self, t: Instant) -> u32 {
        let d = t.saturating_duration_since(self.start);
        let ticks = d.as_nanos().div_ceil(TICK.as_nanos());
        u32::try_from(ticks).unwrap_or(u32::MAX).max(1)
    }

    fn now_tick(&self) -> u32 {
        let d = Instant::now().saturating_duration_since(self.start);
        u32::try_from(d.as_nanos() / TICK.as_nanos()).unwrap_or(u32::MAX)
    }

    /// The connection driving `s` parks until `deadline`: wake `s` once it has passed.
    pub(crate) fn park(self: &Arc<Self>, s: &Arc<Session>, deadline: Instant) {
        let t = self.tick_of(deadline);
        let slot = &s.park;
        // `until` is stored before `entry` is read, and the firing task clears `entry` before
        // it reads `until` (all SeqCst): one of the two sees the other, so a deadline is never
        // left without an entry.
        slot.until.store(t, SeqCst);
        let e = slot.entry.load(SeqCst);
        if e != 0 && e <= t {
            // The existing entry comes first and carries this deadline forward.
            return;
        }
        slot.entry.store(t, SeqCst);
        self.wheel.lock().entry(t).or_default().push(Arc::downgrade(s));
        if !self.running.swap(true, SeqCst) {
            tokio::spawn(fire(Arc::downgrade(self)));
        }
    }

    /// The connection driving `s` is active again: its deadline is its own timer's.
    pub(crate) fn unpark(&self, s: &Session) {
        s.park.until.store(0, SeqCst);
    }

    /// Wake the sessions whose deadline is due; carry the later ones forward.
    fn fire_due(&self) {
        let now = self.now_tick();
        let due: Vec<(u32, Vec<Weak<Session>>)> = {
            let mut w = self.wheel.lock();
            let later = w.split_off(&(now.saturating_add(1)));
            std::mem::replace(&mut *w, later).into_iter().collect()
        };
        for (tick, sessions) in due {
            for weak in sessions {
                let Some(s) = weak.upgrade() else { continue };
                let slot = &s.park;
                if slot.entry.compare_exchange(tick, 0, SeqCst, SeqCst).is_err() {
                    // Replaced by an earlier entry, which handles the session.
                    continue;
                }
                match slot.until.load(SeqCst) {
                    0 => {}
                    until if until <= now => s.wake_again(),
                    until => {
                        slot.entry.store(until, SeqCst);
                        self.wheel.lock().entry(until).or_default().push(weak);
                    }
                }
            }
        }
    }
}

/// The wheel's task: fires due buckets every tick until the broker is gone.
async fn fire(timers: Weak<ParkTimers>) {
    let mut every = tokio::time::interval(TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(t) = timers.upgrade() else { return };
        t.fire_due();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::subs::ClientKey;

    fn session() -> Arc<Session> {
        Arc::new(Session::new(ClientKey::from("c"), 0))
    }

    async fn woken_within(s: &Session, d: Duration) -> bool {
        tokio::time::timeout(d, s.woken()).await.is_ok()
    }

    #[tokio::test(start_paused = true)]
    async fn a_due_deadline_wakes_the_session_within_a_tick() {
        let timers = ParkTimers::new();
        let s = session();
        timers.park(&s, Instant::now() + Duration::from_secs(2));
        assert!(!woken_within(&s, Duration::from_millis(1900)).await, "woken before the deadline");
        assert!(woken_within(&s, TICK * 2).await, "not woken after the deadline");
    }

    #[tokio::test(start_paused = true)]
    async fn unparked_sessions_are_not_woken() {
        let timers = ParkTimers::new();
        let s = session();
        timers.park(&s, Instant::now() + Duration::from_secs(1));
        timers.unpark(&s);
        assert!(!woken_within(&s, Duration::from_secs(3)).await);
        assert!(timers.wheel.lock().is_empty(), "the stale entry was not dropped");
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_deadline_is_carried_forward_by_one_entry() {
        let timers = ParkTimers::new();
        let s = session();
        timers.park(&s, Instant::now() + Duration::from_secs(1));
        timers.unpark(&s);
        // Parked again, later: the first entry stays the only one and carries it.
        timers.park(&s, Instant::now() + Duration::from_secs(5));
        assert_eq!(timers.wheel.lock().values().map(Vec::len).sum::<usize>(), 1);
        assert!(!woken_within(&s, Duration::from_millis(4900)).await, "woken at the old deadline");
        assert!(woken_within(&s, TICK * 2).await, "not woken at the new deadline");
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_deadline_gets_its_own_entry() {
        let timers = ParkTimers::new();
        let s = session();
        timers.park(&s, Instant::now() + Duration::from_secs(10));
        timers.unpark(&s);
        timers.park(&s, Instant::now() + Duration::from_secs(1));
        assert!(woken_within(&s, Duration::from_millis(1500)).await);
        // The old entry is stale and is dropped when it comes due, without a wake-up.
        timers.unpark(&s);
        assert!(!woken_within(&s, Duration::from_secs(10)).await);
        assert!(timers.wheel.lock().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn many_sessions_each_woken_once_at_their_own_deadline() {
        let timers = ParkTimers::new();
        let sessions: Vec<_> = (0..50).map(|_| session()).collect();
        for (i, s) in sessions.iter().enumerate() {
            timers.park(s, Instant::now() + Duration::from_millis(100 * i as u64));
        }
        tokio::time::sleep(Duration::from_secs(6)).await;
        for s in &sessions {
            // One permit each: woken once, and not again.
            assert!(woken_within(s, Duration::ZERO).await);
            assert!(!woken_within(s, Duration::ZERO).await);
        }
    }
}
