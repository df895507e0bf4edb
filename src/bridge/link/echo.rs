//! No loops over MQTT 3.1.1, where a subscription cannot ask for *no local*.
//!
//! First choice, the *bridge bit*: the CONNECT's protocol level is sent as `0x84` (Mosquitto's
//! `try_private`); an upstream that knows it (Mosquitto, Starling) treats this client as a bridge
//! and does not send back what it published. An upstream that does not refuses it with CONNACK
//! 1 (unacceptable protocol version) or closes the connection; the bridge then connects as a
//! plain 3.1.1 client.
//!
//! Plain 3.1.1: the upstream sends back every message this bridge forwarded that also matches
//! one of its `in` subscriptions. [`Echoes`] remembers what was sent (topic as sent upstream and
//! payload) for [`ECHO_WINDOW`]; a message from the upstream with the same topic and payload
//! takes one of those and is acknowledged upstream but not published here again. Limits: an
//! identical message (same topic, same payload) that another upstream client publishes within
//! the window is taken for an echo, once per copy this bridge sent; an echo that comes later
//! than the window (or after a restart of this node) is published here once — a duplicate, not
//! a loop, since the out side never forwards what the in side published.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

/// How long a forwarded message waits for its echo.
pub(super) const ECHO_WINDOW: Duration = Duration::from_secs(60);
/// Forwarded messages remembered at most (the oldest are forgotten first).
const MAX_REMEMBERED: usize = 100_000;

/// Set the bridge bit in an encoded 3.1.1 CONNECT (the protocol level after the fixed header
/// and the protocol name "MQTT"). False if `connect` is not one.
pub(super) fn set_bridge_bit(connect: &mut [u8]) -> bool {
    if connect.first() != Some(&0x10) {
        return false;
    }
    // The remaining length takes 1 to 4 bytes.
    let Some(len_bytes) = connect.iter().skip(1).take(4).position(|b| b & 0x80 == 0) else { return false };
    let at = 1 + len_bytes + 1;
    match connect.get_mut(at..at + 7) {
        Some([0, 4, b'M', b'Q', b'T', b'T', level]) if *level == 4 => {
            *level = 0x84;
            true
        }
        _ => false,
    }
}

/// The messages this bridge forwarded to a plain 3.1.1 upstream, waiting for their echo.
#[derive(Default)]
pub(super) struct Echoes {
    /// Per (topic, payload) hash: copies sent and not yet expired, and how many of those (the
    /// oldest, since echoes come back in order) were matched by an echo already.
    counts: HashMap<u64, (u32, u32)>,
    /// When each copy was sent, oldest first, for expiry.
    order: VecDeque<(Instant, u64)>,
}

fn key(topic: &str, payload: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    topic.hash(&mut h);
    payload.hash(&mut h);
    h.finish()
}

impl Echoes {
    /// A copy of `topic`/`payload` was sent upstream.
    pub(super) fn sent(&mut self, topic: &str, payload: &[u8], now: Instant) {
        self.expire(now);
        if self.order.len() >= MAX_REMEMBERED {
            self.forget_oldest();
        }
        let k = key(topic, payload);
        self.order.push_back((now, k));
        self.counts.entry(k).or_default().0 += 1;
    }

    /// Whether a message from the upstream is the echo of a copy sent (and takes that copy).
    pub(super) fn take(&mut self, topic: &str, payload: &[u8], now: Instant) -> bool {
        self.expire(now);
        match self.counts.get_mut(&key(topic, payload)) {
            Some((sent, echoed)) if *echoed < *sent => {
                *echoed += 1;
                true
            }
            _ => false,
        }
    }

    fn expire(&mut self, now: Instant) {
        while self.order.front().is_some_and(|(t, _)| now.duration_since(*t) >= ECHO_WINDOW) {
            self.forget_oldest();
        }
    }

    /// Forget the oldest copy: the echoed ones of a key are its oldest, so it was one of those
    /// if any.
    fn forget_oldest(&mut self) {
        let Some((_, k)) = self.order.pop_front() else { return };
        if let Some((sent, echoed)) = self.counts.get_mut(&k) {
            *sent -= 1;
            *echoed = echoed.saturating_sub(1);
            if *sent == 0 {
                self.counts.remove(&k);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_copy_sent_takes_one_echo() {
        let t = Instant::now();
        let mut e = Echoes::default();
        e.sent("a/b", b"1", t);
        e.sent("a/b", b"1", t);
        e.sent("a/b", b"2", t);
        assert!(e.take("a/b", b"1", t));
        assert!(e.take("a/b", b"1", t));
        assert!(!e.take("a/b", b"1", t), "two copies sent, two echoes taken");
        assert!(!e.take("a/c", b"2", t), "another topic is no echo");
        assert!(e.take("a/b", b"2", t));
    }

    #[test]
    fn copies_expire_oldest_first_and_echoed_ones_first() {
        let t = Instant::now();
        let mut e = Echoes::default();
        e.sent("x", b"p", t);
        e.sent("x", b"p", t + ECHO_WINDOW / 2);
        assert!(e.take("x", b"p", t + Duration::from_secs(1)));
        // The first copy (already echoed) expires; the second still waits for its echo.
        assert!(e.take("x", b"p", t + ECHO_WINDOW));
        assert!(!e.take("x", b"p", t + ECHO_WINDOW), "both copies were echoed");
        assert!(!e.take("x", b"p", t + ECHO_WINDOW * 2));
        assert_eq!(e.len(), 0);
        e.sent("y", b"p", t);
        assert!(!e.take("y", b"p", t + ECHO_WINDOW), "past the window: not an echo any more");
    }

    #[test]
    fn memory_is_bounded() {
        let t = Instant::now();
        let mut e = Echoes::default();
        for i in 0..MAX_REMEMBERED + 10 {
            e.sent("t", &i.to_be_bytes(), t);
        }
        assert_eq!(e.len(), MAX_REMEMBERED);
        assert!(!e.take("t", &0usize.to_be_bytes(), t), "the oldest were forgotten");
        assert!(e.take("t", &(MAX_REMEMBERED + 9).to_be_bytes(), t));
    }

    #[test]
    fn the_bridge_bit_goes_into_the_protocol_level() {
        let mut c = vec![0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 0];
        assert!(set_bridge_bit(&mut c));
        assert_eq!(c[8], 0x84);
        assert!(!set_bridge_bit(&mut c), "already set");
        let mut long = vec![0x10, 0x80, 0x01, 0, 4, b'M', b'Q', b'T', b'T', 4];
        assert!(set_bridge_bit(&mut long));
        assert_eq!(long[9], 0x84);
        assert!(!set_bridge_bit(&mut [0x30, 2, 0, 0]), "not a CONNECT");
        assert!(!set_bridge_bit(&mut [0x10, 2, 0, 4]), "too short");
    }
}
