//! Counting and summary math: shared live counters, per-second samples, latency histograms,
//! exact duplicate detection. Everything here is pure or lock-free so it can be unit tested and
//! so the hot loops never contend on a lock.

use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Largest latency the histograms keep apart from "more than this" (60 s, in ns). Anything
/// longer is clamped, which only matters for a broker that is effectively stalled.
pub const LATENCY_MAX_NS: u64 = 60_000_000_000;

/// Live counters shared by all clients of a run and read by the progress reporter.
///
/// Clients add to these once per loop turn (not per message) so the atomics stay cheap even at
/// hundreds of thousands of messages per second.
#[derive(Debug, Default)]
pub struct Counters {
    /// Clients currently connected (CONNACK seen, not yet closed).
    pub connected: AtomicU64,
    /// Successful handshakes so far.
    pub connects_ok: AtomicU64,
    /// Handshakes that failed (refused, timed out, rejected by CONNACK).
    pub connects_failed: AtomicU64,
    /// PUBLISH packets handed to the socket buffer.
    pub sent: AtomicU64,
    /// QoS 1/2 publishes completed (PUBACK/PUBCOMP received).
    pub acked: AtomicU64,
    /// PUBLISH packets received by subscribers.
    pub received: AtomicU64,
    /// Clients that ended with an error after connecting.
    pub errors: AtomicU64,
}

/// A point-in-time copy of [`Counters`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub connected: u64,
    pub connects_ok: u64,
    pub connects_failed: u64,
    pub sent: u64,
    pub acked: u64,
    pub received: u64,
    pub errors: u64,
}

impl Counters {
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            connected: self.connected.load(Ordering::Relaxed),
            connects_ok: self.connects_ok.load(Ordering::Relaxed),
            connects_failed: self.connects_failed.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            acked: self.acked.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// Per-second rates taken by the progress reporter while the load phase runs.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Samples {
    pub sent_per_s: Vec<f64>,
    pub recv_per_s: Vec<f64>,
}

/// Median of the samples (mean of the two middle values for an even count); `None` if empty.
/// The median, not the mean, is reported because a 2-core machine shared with the broker has
/// noisy seconds, and ramp-up/ramp-down seconds would drag a mean down.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len().is_multiple_of(2) { (v[mid - 1] + v[mid]) / 2.0 } else { v[mid] })
}

/// `count / seconds`, or 0 for an empty interval (never NaN or infinity in a report).
pub fn rate(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 && seconds.is_finite() { count as f64 / seconds } else { 0.0 }
}

/// A latency histogram in nanoseconds, 3 significant digits, 1 ns … 60 s.
#[allow(clippy::expect_used)] // constant, valid bounds: not reachable from any input
pub fn latency_histogram() -> Histogram<u64> {
    // Constant bounds that satisfy hdrhistogram's rules (low >= 1, high >= 2 * low, sigfig <= 5):
    // creation cannot fail, so this is not a reachable panic.
    Histogram::new_with_bounds(1, LATENCY_MAX_NS, 3).expect("constant histogram bounds are valid")
}

/// Percentiles of a latency histogram, in microseconds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

impl LatencySummary {
    /// `None` when nothing was recorded, so reports print "n/a" instead of zeros.
    pub fn from_histogram(h: &Histogram<u64>) -> Option<LatencySummary> {
        if h.is_empty() {
            return None;
        }
        let us = |ns: u64| ns as f64 / 1_000.0;
        Some(LatencySummary {
            count: h.len(),
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
            mean_us: h.mean() / 1_000.0,
        })
    }
}

/// Highest sequence number a tracker accepts (2^28: a 32 MiB bitmap). Stamps are network data;
/// this bound keeps a corrupted one from allocating gigabytes.
pub const MAX_TRACKED_SEQ: u32 = 1 << 28;

/// What one received sequence number turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// First delivery of this sequence number.
    New,
    /// First delivery, but after a higher sequence number from the same publisher.
    NewOutOfOrder,
    /// Delivered before.
    Duplicate,
    /// Beyond [`MAX_TRACKED_SEQ`]; not tracked.
    OutOfRange,
}

/// Exact duplicate detection for one publisher → one subscriber stream, as a growable bitmap.
#[derive(Debug, Default, Clone)]
pub struct SeqTracker {
    bits: Vec<u64>,
    highest: Option<u32>,
}

impl SeqTracker {
    pub fn observe(&mut self, seq: u32) -> Seen {
        if seq >= MAX_TRACKED_SEQ {
            return Seen::OutOfRange;
        }
        let word = (seq / 64) as usize;
        let bit = 1u64 << (seq % 64);
        if word >= self.bits.len() {
            // Grow geometrically so a steady stream costs amortised O(1).
            let want = (word + 1).max(self.bits.len() * 2);
            self.bits.resize(want, 0);
        }
        if self.bits[word] & bit != 0 {
            return Seen::Duplicate;
        }
        self.bits[word] |= bit;
        match self.highest {
            Some(h) if seq < h => Seen::NewOutOfOrder,
            _ => {
                self.highest = Some(seq);
                Seen::New
            }
        }
    }
}

/// Delivery bookkeeping of one subscriber: one [`SeqTracker`] per known publisher.
#[derive(Debug, Default, Clone)]
pub struct DeliveryTracker {
    per_publisher: Vec<SeqTracker>,
    /// Number of publishers whose stamps are trusted; others count as `foreign`.
    publishers: u32,
    pub unique: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    /// Messages whose stamp is missing or names an unknown publisher / absurd sequence.
    pub foreign: u64,
}

impl DeliveryTracker {
    pub fn new(publishers: u32) -> DeliveryTracker {
        DeliveryTracker { publishers, ..Default::default() }
    }

    /// Records one delivery; true when it is the first delivery of that message (so its
    /// latency should be recorded).
    pub fn observe(&mut self, publisher: u32, seq: u32) -> bool {
        if publisher >= self.publishers {
            self.foreign += 1;
            return false;
        }
        let idx = publisher as usize;
        if idx >= self.per_publisher.len() {
            self.per_publisher.resize_with(idx + 1, SeqTracker::default);
        }
        match self.per_publisher[idx].observe(seq) {
            Seen::New => {
                self.unique += 1;
                true
            }
            Seen::NewOutOfOrder => {
                self.unique += 1;
                self.out_of_order += 1;
                true
            }
            Seen::Duplicate => {
                self.duplicates += 1;
                false
            }
            Seen::OutOfRange => {
                self.foreign += 1;
                false
            }
        }
    }

    pub fn observe_unstamped(&mut self) {
        self.foreign += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 2.0]), Some(2.0));
    }

    #[test]
    fn rate_never_divides_by_zero() {
        assert_eq!(rate(10, 0.0), 0.0);
        assert_eq!(rate(10, 2.0), 5.0);
        assert_eq!(rate(10, f64::INFINITY), 0.0);
    }

    #[test]
    fn latency_percentiles_in_microseconds() {
        let mut h = latency_histogram();
        for i in 1..=1000u64 {
            h.saturating_record(i * 1_000); // 1 µs … 1000 µs
        }
        let s = LatencySummary::from_histogram(&h).expect("recorded");
        assert_eq!(s.count, 1000);
        let close = |a: f64, b: f64| (a - b).abs() / b < 0.01;
        assert!(close(s.p50_us, 500.0), "{s:?}");
        assert!(close(s.p90_us, 900.0), "{s:?}");
        assert!(close(s.p99_us, 990.0), "{s:?}");
        assert!(close(s.p999_us, 999.0), "{s:?}");
        assert!(close(s.max_us, 1000.0), "{s:?}");
        assert!(close(s.mean_us, 500.5), "{s:?}");
    }

    #[test]
    fn empty_histogram_has_no_summary() {
        assert_eq!(LatencySummary::from_histogram(&latency_histogram()), None);
    }

    #[test]
    fn huge_latencies_are_clamped_not_lost() {
        let mut h = latency_histogram();
        h.saturating_record(u64::MAX);
        assert_eq!(h.len(), 1);
        assert!(h.max() >= LATENCY_MAX_NS / 2);
    }

    #[test]
    fn seq_tracker_counts_duplicates_and_reordering() {
        let mut t = SeqTracker::default();
        assert_eq!(t.observe(0), Seen::New);
        assert_eq!(t.observe(2), Seen::New);
        assert_eq!(t.observe(1), Seen::NewOutOfOrder);
        assert_eq!(t.observe(2), Seen::Duplicate);
        assert_eq!(t.observe(1000), Seen::New);
        assert_eq!(t.observe(MAX_TRACKED_SEQ), Seen::OutOfRange);
    }

    #[test]
    fn delivery_tracker_separates_publishers_and_foreign_stamps() {
        let mut d = DeliveryTracker::new(2);
        assert!(d.observe(0, 0));
        assert!(d.observe(1, 0));
        assert!(!d.observe(1, 0));
        assert!(!d.observe(7, 0)); // unknown publisher
        d.observe_unstamped();
        assert_eq!(d.unique, 2);
        assert_eq!(d.duplicates, 1);
        assert_eq!(d.foreign, 2);
    }
}
