//! Outgoing flow: what a connection may send now (queue → in flight within the window), and
//! the acknowledgements that complete, release or record deliveries.

use std::sync::atomic::Ordering;

use crate::metrics::DropReason;
use crate::protocol::message::now_ms;
use crate::storage::{self};

use super::Broker;
use super::restore::inflight_row;
use super::session::{Delivery, InflightOut, Phase, Session};

impl Broker {
    // ---------------------------------------------------------------- outgoing flow

    /// Take deliveries that may be sent now on connection `conn_id`: up to `max` messages, with
    /// QoS ≥ 1 ones only while the in-flight window has room and `assign_pid` yields an id.
    /// QoS ≥ 1 deliveries become in flight (persisted for persistent sessions).
    pub fn take_ready(
        &self,
        session: &Session,
        conn_id: u64,
        max: usize,
        window: usize,
        mut assign_pid: impl FnMut() -> Option<u16>,
    ) -> Vec<(Option<u16>, Delivery)> {
        let mut out = Vec::new();
        // Created on the first row to write: most sessions persist nothing here.
        let mut batch = None;
        let now = now_ms();
        let mut expired_rows = 0usize;
        let backlog = {
            let mut st = session.state.lock();
            if st.conn != Some(conn_id) {
                return out;
            }
            let persistent = st.persistent();
            // Sized once: grown push by push, the vector's copies cost more than the deliveries.
            out.reserve_exact(max.min(st.queue.len() + st.disk_only));
            while out.len() < max {
                if st.queue.is_empty()
                    && st.disk_only > 0
                    && let Err(e) = Session::refill(&mut st, &session.client_id, &self.store, self.settings.queue)
                {
                    tracing::error!(client = %session.client_id, "cannot read queued messages: {e}");
                    break;
                }
                let Some(front) = st.queue.front() else { break };
                if !front.is_ready() {
                    break;
                }
                if front.msg.expired(now) {
                    if let Some(d) = st.pop() {
                        if d.seq > 0 {
                            let b = batch.get_or_insert_with(|| self.store.batch());
                            b.remove(&self.store.queue, storage::queue_key(&session.client_id, d.seq));
                        }
                        expired_rows += 1;
                    }
                    continue;
                }
                if front.qos > 0 {
                    if st.inflight.len() >= window {
                        break;
                    }
                    let Some(pid) = assign_pid() else { break };
                    let Some(d) = st.pop() else { break };
                    if persistent && d.seq > 0 {
                        batch.get_or_insert_with(|| self.store.batch()).insert(
                            &self.store.inflight,
                            storage::inflight_out_key(&session.client_id, pid),
                            inflight_row(d.seq, Phase::Published),
                        );
                    }
                    st.inflight.insert(pid, InflightOut { delivery: d.clone(), phase: Phase::Published });
                    out.push((Some(pid), d));
                } else if let Some(d) = st.pop() {
                    out.push((None, d));
                }
            }
            st.queue.len() + st.disk_only
        };
        for _ in 0..expired_rows {
            self.metrics.dropped(DropReason::Expired);
        }
        if let Some(batch) = batch
            && let Err(e) = self.store.commit(batch)
        {
            self.metrics.storage_errors.inc();
            tracing::error!(client = %session.client_id, "cannot record in-flight messages: {e}");
        }
        if !out.is_empty() || expired_rows > 0 {
            session.space.notify_waiters();
            if backlog < (self.settings.queue.max_queued / 4).max(16) {
                session.congested.store(false, Ordering::Relaxed);
            }
        }
        out
    }

    /// PUBACK, PUBCOMP, a failed PUBREC or a message dropped as too large: the delivery is done.
    pub fn complete(&self, session: &Session, conn_id: u64, pid: u16) {
        self.complete_all(session, conn_id, &[pid]);
    }

    /// [`Broker::complete`] for every id of `pids` (the acknowledgements of one read): one
    /// session lock, one storage commit and one wake-up of waiting publishers for all of them.
    /// The subscriber's connection and the publishers feeding it share the lock; taken once per
    /// acknowledgement, it changes hands between the cores for every message.
    pub fn complete_all(&self, session: &Session, conn_id: u64, pids: &[u16]) {
        // (packet id, queue sequence) of the persisted deliveries among them.
        let mut rows: Vec<(u16, u64)> = Vec::new();
        let mut done = 0usize;
        {
            let mut st = session.state.lock();
            if st.conn != Some(conn_id) {
                return;
            }
            for &pid in pids {
                if let Some(i) = st.inflight.remove(&pid) {
                    done += 1;
                    if i.delivery.seq > 0 {
                        rows.push((pid, i.delivery.seq));
                    }
                }
            }
        }
        if done == 0 {
            return;
        }
        if !rows.is_empty() {
            let mut b = self.store.batch();
            for (pid, seq) in rows {
                b.remove(&self.store.queue, storage::queue_key(&session.client_id, seq));
                b.remove(&self.store.inflight, storage::inflight_out_key(&session.client_id, pid));
            }
            if let Err(e) = self.store.commit(b) {
                self.metrics.storage_errors.inc();
                tracing::error!(client = %session.client_id, "cannot record acknowledgement: {e}");
            }
        }
        session.space.notify_waiters();
    }

    /// PUBREC with success: the message is delivered, PUBREL is on its way.
    pub fn released(&self, session: &Session, conn_id: u64, pid: u16) {
        let seq = {
            let mut st = session.state.lock();
            if st.conn != Some(conn_id) {
                return;
            }
            match st.inflight.get_mut(&pid) {
                Some(i) => {
                    i.phase = Phase::Released;
                    i.delivery.seq
                }
                None => return,
            }
        };
        if seq > 0 {
            let mut b = self.store.batch();
            b.insert(
                &self.store.inflight,
                storage::inflight_out_key(&session.client_id, pid),
                inflight_row(seq, Phase::Released),
            );
            if let Err(e) = self.store.commit(b) {
                self.metrics.storage_errors.inc();
                tracing::error!(client = %session.client_id, "cannot record PUBREC: {e}");
            }
        }
    }

    /// Record / forget an incoming QoS 2 packet id (persistent sessions only).
    pub fn incoming_qos2(&self, session: &Session, pid: u16, received: bool) {
        let persistent = {
            let mut st = session.state.lock();
            if received {
                st.incoming_qos2.insert(pid)
            } else {
                st.incoming_qos2.remove(&pid)
            };
            st.persistent()
        };
        if persistent {
            let mut b = self.store.batch();
            let k = storage::inflight_in_key(&session.client_id, pid);
            if received {
                b.insert(&self.store.inflight, k, Vec::new());
            } else {
                b.remove(&self.store.inflight, k);
            }
            if let Err(e) = self.store.commit(b) {
                self.metrics.storage_errors.inc();
                tracing::error!(client = %session.client_id, "cannot record QoS 2 state: {e}");
            }
        }
    }
}
