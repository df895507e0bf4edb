//! The 16-byte stamp at the front of every benchmark payload.
//!
//! Layout (big endian): `[0..8]` send time in nanoseconds since [`epoch`], `[8..12]` publisher
//! index, `[12..16]` per-publisher sequence number. The time is measured from a process-local
//! monotonic epoch rather than the wall clock so a clock step cannot produce negative or huge
//! latencies; the price is that latency is only meaningful when publisher and subscriber run in
//! the same process (`starling-bench pubsub`). Publisher index and sequence let a subscriber count
//! duplicates exactly instead of guessing from totals.

use std::sync::OnceLock;
use std::time::Instant;

/// Bytes a payload needs to carry a full [`Stamp`].
pub const STAMP_LEN: usize = 16;

/// What a publisher writes into the front of each payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Nanoseconds since [`epoch`] when the message was built.
    pub sent_ns: u64,
    /// Index of the publishing client within its run (0-based).
    pub publisher: u32,
    /// 0-based sequence number within that publisher.
    pub seq: u32,
}

impl Stamp {
    /// Writes the stamp into the front of `buf`; a shorter buffer gets the prefix that fits, so
    /// tiny payloads still work (they just cannot be measured).
    pub fn write(&self, buf: &mut [u8]) {
        let mut bytes = [0u8; STAMP_LEN];
        bytes[0..8].copy_from_slice(&self.sent_ns.to_be_bytes());
        bytes[8..12].copy_from_slice(&self.publisher.to_be_bytes());
        bytes[12..16].copy_from_slice(&self.seq.to_be_bytes());
        let n = buf.len().min(STAMP_LEN);
        buf[..n].copy_from_slice(&bytes[..n]);
    }

    /// Reads a stamp from a received payload; `None` when the payload is too short to hold one.
    /// The contents are network data: callers must bound-check `publisher` and `seq`.
    pub fn read(buf: &[u8]) -> Option<Stamp> {
        let head: &[u8; STAMP_LEN] = buf.get(..STAMP_LEN)?.try_into().ok()?;
        let mut ns = [0u8; 8];
        ns.copy_from_slice(&head[0..8]);
        let mut publisher = [0u8; 4];
        publisher.copy_from_slice(&head[8..12]);
        let mut seq = [0u8; 4];
        seq.copy_from_slice(&head[12..16]);
        Some(Stamp {
            sent_ns: u64::from_be_bytes(ns),
            publisher: u32::from_be_bytes(publisher),
            seq: u32::from_be_bytes(seq),
        })
    }
}

/// The process-local instant all stamps are measured from; fixed on first use.
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds elapsed since [`epoch`]; saturates instead of wrapping (584 years).
pub fn now_ns() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips() {
        let stamp = Stamp { sent_ns: 0x0102_0304_0506_0708, publisher: 7, seq: 0xdead_beef };
        let mut buf = vec![0xffu8; 64];
        stamp.write(&mut buf);
        assert_eq!(Stamp::read(&buf), Some(stamp));
        // Bytes after the stamp are untouched.
        assert!(buf[STAMP_LEN..].iter().all(|b| *b == 0xff));
    }

    #[test]
    fn short_payloads_carry_no_stamp() {
        let stamp = Stamp { sent_ns: 1, publisher: 2, seq: 3 };
        let mut buf = [0u8; 10];
        stamp.write(&mut buf); // must not panic
        assert_eq!(Stamp::read(&buf), None);
        assert_eq!(Stamp::read(&[]), None);
    }

    #[test]
    fn clock_is_monotonic_from_epoch() {
        let a = now_ns();
        let b = now_ns();
        assert!(b >= a);
    }
}
