//! Flapping detection: a client that connects again and again (a crash loop, a bad
//! reconnect policy, an attack) is banned for a while instead of costing a session takeover
//! and a password hash each time.
//!
//! Each CONNECT counts against its client id, its username and its source address. A key's
//! window opens at its first connect; reaching `max_connects` inside the window trips it (the
//! caller then bans that key for `ban_time`), and a connect after the window opens a new one.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::catalog::cmd::BanKind;

pub struct Flapping {
    max_connects: u32,
    window: Duration,
    /// (kind, keyed hash of the value) → (window start, connects in it). Values may be
    /// 64 KiB client ids: only a hash is kept, and at most [`Flapping::CAP`] entries.
    counts: Mutex<HashMap<(BanKind, u64), (Instant, u32)>>,
    hasher: std::hash::RandomState,
}

impl Flapping {
    pub const CAP: usize = 100_000;

    pub fn new(max_connects: u32, window: Duration) -> Flapping {
        Flapping { max_connects, window, counts: Mutex::new(HashMap::new()), hasher: std::hash::RandomState::new() }
    }

    /// Count one connect for each key; returns the keys that tripped (and resets them).
    pub fn record(&self, keys: &[(BanKind, &str)], now: Instant) -> Vec<(BanKind, String)> {
        use std::hash::BuildHasher;
        let mut counts = self.counts.lock();
        if counts.len() >= Self::CAP {
            let w = self.window;
            counts.retain(|_, (start, _)| now.saturating_duration_since(*start) < w);
        }
        let mut tripped = Vec::new();
        for (kind, value) in keys {
            let k = (*kind, self.hasher.hash_one(value));
            if counts.len() >= Self::CAP && !counts.contains_key(&k) {
                // Full of live windows: not tracked rather than unbounded.
                continue;
            }
            let e = counts.entry(k).or_insert((now, 0));
            if now.saturating_duration_since(e.0) >= self.window {
                *e = (now, 0);
            }
            e.1 += 1;
            if e.1 >= self.max_connects {
                tripped.push((*kind, (*value).to_string()));
                *e = (now, 0);
            }
        }
        tripped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_at_n_connects_within_the_window() {
        let t0 = Instant::now();
        let f = Flapping::new(3, Duration::from_secs(10));
        let keys = [(BanKind::ClientId, "c1"), (BanKind::Network, "10.0.0.1/32")];
        assert!(f.record(&keys, t0).is_empty());
        assert!(f.record(&keys, t0 + Duration::from_secs(4)).is_empty());
        let t = f.record(&keys, t0 + Duration::from_secs(9));
        assert_eq!(t, vec![(BanKind::ClientId, "c1".to_string()), (BanKind::Network, "10.0.0.1/32".to_string())]);
    }

    #[test]
    fn slow_reconnects_never_trip() {
        let t0 = Instant::now();
        let f = Flapping::new(3, Duration::from_secs(10));
        for i in 0..20u64 {
            // Two connects per window at most.
            assert!(f.record(&[(BanKind::Username, "u")], t0 + Duration::from_secs(i * 6)).is_empty(), "at {i}");
        }
    }

    #[test]
    fn keys_count_separately() {
        let t0 = Instant::now();
        let f = Flapping::new(2, Duration::from_secs(10));
        assert!(f.record(&[(BanKind::ClientId, "a")], t0).is_empty());
        assert!(f.record(&[(BanKind::ClientId, "b")], t0).is_empty());
        assert_eq!(f.record(&[(BanKind::ClientId, "a")], t0).len(), 1);
    }
}
