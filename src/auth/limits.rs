//! Rate limits: a token bucket, the per-source-IP connection rate of a listener, and a
//! once-per-period gate for log lines about refusals.
//!
//! Time is passed in (`now: Instant`) rather than read inside, so tests drive the buckets with
//! a fake clock and the data path reads the clock once per event.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// A token bucket: `rate` tokens per second, at most `burst` saved up. Starts full.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate: f64, burst: f64, now: Instant) -> TokenBucket {
        let burst = burst.max(1.0);
        TokenBucket { rate, burst, tokens: burst, last: now }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        self.last = now;
    }

    /// Take `n` tokens if they are there.
    pub fn try_take(&mut self, n: f64, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }

    /// Take `n` tokens, going into debt if needed; returns how long until the balance is back
    /// to zero (zero = no wait). Used for back-pressure: the bytes were already read, the
    /// connection waits that long before reading more.
    pub fn take_with_debt(&mut self, n: f64, now: Instant) -> Duration {
        self.refill(now);
        self.tokens -= n;
        if self.tokens >= 0.0 || self.rate <= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64((-self.tokens / self.rate).min(3600.0))
    }

    /// Full again (an idle key can be forgotten).
    fn full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }
}

/// New connections per second per source address on one listener.
pub struct ConnRate {
    rate: f64,
    burst: f64,
    buckets: Mutex<(HashMap<IpAddr, TokenBucket>, usize)>,
}

impl ConnRate {
    pub fn new(rate: f64, burst: f64) -> ConnRate {
        ConnRate { rate, burst, buckets: Mutex::new((HashMap::new(), 1024)) }
    }

    /// Whether a connection from `ip` may proceed now.
    pub fn admit(&self, ip: IpAddr, now: Instant) -> bool {
        let mut g = self.buckets.lock();
        let (map, prune_at) = &mut *g;
        if map.len() >= *prune_at {
            // Forget addresses whose bucket refilled: they are idle. Bounded memory under
            // connections from many addresses, amortized over the inserts.
            map.retain(|_, b| !b.full(now));
            *prune_at = (map.len() * 2).max(1024);
        }
        map.entry(ip).or_insert_with(|| TokenBucket::new(self.rate, self.burst, now)).try_take(1.0, now)
    }
}

/// Logs about refusals: once per key per period, not once per packet.
/// `s`, cut to a length fit for a log line (client ids and usernames may be 64 KiB).
pub fn clip(s: &str) -> std::borrow::Cow<'_, str> {
    const MAX: usize = 256;
    if s.len() <= MAX {
        return s.into();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len()).into()
}

/// Keys are often client-chosen strings (client ids, topics): only a keyed hash of each is
/// kept, and at most [`LogOnce::CAP`] of them.
pub struct LogOnce {
    period: Duration,
    hasher: std::hash::RandomState,
    seen: Mutex<HashMap<u64, Instant>>,
}

impl LogOnce {
    pub const CAP: usize = 10_000;

    pub fn new(period: Duration) -> LogOnce {
        LogOnce { period, hasher: std::hash::RandomState::new(), seen: Mutex::new(HashMap::new()) }
    }

    /// True the first time `key` is seen in a period. When the table is full of keys seen
    /// within the period, one line per period still gets through (callers' messages say that
    /// further refusals are counted, not logged), the rest is only counted.
    pub fn should_log(&self, key: &str, now: Instant) -> bool {
        use std::hash::BuildHasher;
        let h = self.hasher.hash_one(key);
        let mut seen = self.seen.lock();
        let period = self.period;
        if seen.len() >= Self::CAP {
            seen.retain(|_, t| now.saturating_duration_since(*t) < period);
        }
        let full = seen.len() >= Self::CAP;
        let key = if full { 0 } else { h };
        match seen.get_mut(&key) {
            Some(t) if now.saturating_duration_since(*t) < period => false,
            Some(t) => {
                *t = now;
                true
            }
            None if full => {
                // The overflow slot itself may exceed the cap by one.
                seen.insert(0, now);
                true
            }
            None => {
                seen.insert(key, now);
                true
            }
        }
    }

    pub fn len(&self) -> usize {
        self.seen.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(2.0, 3.0, t0);
        assert!(b.try_take(1.0, t0) && b.try_take(1.0, t0) && b.try_take(1.0, t0));
        assert!(!b.try_take(1.0, t0), "burst used up");
        assert!(!b.try_take(1.0, t0 + Duration::from_millis(400)));
        assert!(b.try_take(1.0, t0 + Duration::from_millis(500)), "2/s refills one token in 500 ms");
        // Never more than the burst, however long it waited.
        let later = t0 + Duration::from_secs(3600);
        assert!(b.try_take(3.0, later));
        assert!(!b.try_take(1.0, later));
    }

    #[test]
    fn debt_gives_the_wait() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1000.0, 1000.0, t0);
        assert_eq!(b.take_with_debt(1000.0, t0), Duration::ZERO);
        let w = b.take_with_debt(500.0, t0);
        assert!((w.as_secs_f64() - 0.5).abs() < 1e-9, "{w:?}");
        assert_eq!(b.take_with_debt(0.0, t0 + Duration::from_millis(500)), Duration::ZERO);
    }

    #[test]
    fn conn_rate_is_per_address() {
        let t0 = Instant::now();
        let r = ConnRate::new(1.0, 2.0);
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        assert!(r.admit(a, t0) && r.admit(a, t0));
        assert!(!r.admit(a, t0));
        assert!(r.admit(b, t0), "another address has its own bucket");
        assert!(r.admit(a, t0 + Duration::from_secs(1)));
    }

    #[test]
    fn log_once_per_key_per_period() {
        let t0 = Instant::now();
        let l = LogOnce::new(Duration::from_secs(60));
        assert!(l.should_log("k", t0));
        assert!(!l.should_log("k", t0 + Duration::from_secs(59)));
        assert!(l.should_log("other", t0));
        assert!(l.should_log("k", t0 + Duration::from_secs(61)));
    }

    #[test]
    fn log_once_is_bounded_whatever_the_keys() {
        let t0 = Instant::now();
        let l = LogOnce::new(Duration::from_secs(60));
        let big = "x".repeat(40_000);
        let mut logged = 0;
        for i in 0..3 * LogOnce::CAP {
            logged += usize::from(l.should_log(&format!("{i}{big}"), t0));
        }
        assert!(l.len() <= LogOnce::CAP + 1, "{}", l.len());
        assert_eq!(logged, LogOnce::CAP + 1, "one line for everything over the cap");
    }
}
