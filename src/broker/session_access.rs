//! What the drivers of a session (the MQTT driver and the socket loop under it, a bridge's out
//! side) may read and do to a [`Session`]. Its fields are private to `broker/`: this list is
//! the whole of the drivers' access, and every method takes the session lock at most once, for
//! a short, non-blocking critical section.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

use tokio::sync::futures::Notified;

use super::session::{Delivery, InflightOut, Kick, Phase, Session};
use super::subs::ClientKey;

impl Session {
    pub(crate) fn client_id(&self) -> &ClientKey {
        &self.client_id
    }

    /// A wake-up of the driving connection: new deliveries, a commit finished, a kick or a
    /// takeover. Create (and `enable`) it before checking for work, so none is missed.
    pub(crate) fn woken(&self) -> Notified<'_> {
        self.wake.notified()
    }

    /// Wake the driving connection once more (it stopped sending to flush and must come back).
    pub(crate) fn wake_again(&self) {
        self.wake.notify_one();
    }

    /// Whether connection `conn` still drives the session (false once it was taken over).
    pub(crate) fn driven_by(&self, conn: u64) -> bool {
        self.owner.load(Ordering::Acquire) == conn
    }

    /// Why the driving connection was asked to go away, if it was.
    pub(crate) fn pending_kick(&self) -> Option<Kick> {
        Kick::from_code(self.kick.load(Ordering::Acquire))
    }

    /// Wake publishers waiting for room in the queue (the driver removed deliveries from it).
    pub(crate) fn notify_space(&self) {
        self.space.notify_waiters();
    }

    /// Whether incoming QoS 2 packet id `pid` was received and not yet released.
    pub(crate) fn has_incoming_qos2(&self, pid: u16) -> bool {
        self.state.lock().incoming_qos2.contains(&pid)
    }

    /// The incoming QoS 2 packet ids not yet released.
    pub(crate) fn incoming_qos2_ids(&self) -> Vec<u16> {
        self.state.lock().incoming_qos2.iter().copied().collect()
    }

    /// Whether a subscription to `filter` would be one more than `max` (0 = no limit); a
    /// filter the session has already replaces its subscription and never counts.
    pub(crate) fn over_subscription_quota(&self, filter: &str, max: usize) -> bool {
        let st = self.state.lock();
        max > 0 && !st.subscriptions.contains_key(filter) && st.subscriptions.len() >= max
    }

    /// The filters the session subscribes to.
    pub(crate) fn subscription_filters(&self) -> Vec<String> {
        self.state.lock().subscriptions.keys().cloned().collect()
    }

    /// `f` over the outgoing deliveries awaiting acknowledgement (by packet id) and the incoming
    /// QoS 2 ids not yet released, under the session lock: `f` must be short and not block.
    pub(crate) fn with_inflight<R>(&self, f: impl FnOnce(&BTreeMap<u16, InflightOut>, &BTreeSet<u16>) -> R) -> R {
        let st = self.state.lock();
        f(&st.inflight, &st.incoming_qos2)
    }

    /// The outgoing deliveries awaiting acknowledgement, while connection `conn` drives the
    /// session (`None` once it does not).
    pub(crate) fn inflight_for(&self, conn: u64) -> Option<Vec<(u16, Delivery, Phase)>> {
        let st = self.state.lock();
        (st.conn == Some(conn))
            .then(|| st.inflight.iter().map(|(pid, i)| (*pid, i.delivery.clone(), i.phase)).collect())
    }

    /// How many deliveries await acknowledgement.
    pub(crate) fn inflight_len(&self) -> usize {
        self.state.lock().inflight.len()
    }

    /// (queued in memory or on disk, awaiting acknowledgement).
    pub(crate) fn backlog_counts(&self) -> (usize, usize) {
        let st = self.state.lock();
        (st.queue.len() + st.disk_only, st.inflight.len())
    }

    /// Whether the oldest queued delivery can be sent now: it is committed, and it is QoS 0 or
    /// fewer than `window` deliveries await acknowledgement.
    pub(crate) fn next_ready(&self, window: usize) -> bool {
        let st = self.state.lock();
        st.queue.front().is_some_and(|d| d.is_ready() && (d.qos == 0 || st.inflight.len() < window))
    }

    /// Drop the queued QoS 0 deliveries (nobody to send them to), waking publishers waiting for
    /// room when there were any; returns how many.
    pub(crate) fn shed_qos0(&self) -> usize {
        let shed = {
            let mut st = self.state.lock();
            let before = st.queue.len();
            st.queue.retain(|d| d.qos > 0);
            let n = before - st.queue.len();
            st.queued_qos0 = st.queued_qos0.saturating_sub(n);
            n
        };
        if shed > 0 {
            self.notify_space();
        }
        shed
    }
}
