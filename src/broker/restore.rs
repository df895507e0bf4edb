//! Restart: rebuild persistent sessions, their subscriptions, queues and in-flight rows from
//! disk.

use std::sync::Arc;

use crate::protocol::message::now_ms;
use crate::protocol::topic;
use crate::storage::{self, StorageError};

use super::session::{Delivery, InflightOut, Phase, Session, SessionMeta};
use super::subs::SubOptions;
use super::{Broker, BrokerError};
use crate::catalog::cmd::CatalogCmd;

impl Broker {
    // ---------------------------------------------------------------- restart

    /// Rebuild persistent sessions from disk after a restart; expired ones are removed.
    pub async fn restore(self: &Arc<Self>) -> Result<usize, BrokerError> {
        // This node's routes are re-added below as its sessions come back; whatever the catalog
        // still holds from before the restart would be counted twice.
        self.cluster.submit(CatalogCmd::ClearNodeRoutes { node: self.cluster.node_id() });
        let now = now_ms();
        let mut metas = Vec::new();
        for item in self.store.sessions.iter() {
            let (k, v) = item.into_inner().map_err(StorageError::Read)?;
            let client = String::from_utf8_lossy(&k).into_owned();
            match serde_json::from_slice::<SessionMeta>(&v) {
                Ok(m) => metas.push((client, m)),
                Err(e) => tracing::error!(client, "skipping unreadable session record: {e}"),
            }
        }
        let mut restored = 0;
        for (client, meta) in metas {
            let since = meta.disconnected_at_ms.unwrap_or(now);
            let expired = meta.expiry != u32::MAX && since + u64::from(meta.expiry) * 1000 <= now;
            if expired {
                self.purge_disk(&client).await?;
                continue;
            }
            let session = Arc::new(Session::new(client.as_str().into(), meta.expiry));
            session.state.lock().identity = meta.owner.clone();
            self.load_session_rows(&session)?;
            self.sessions.lock().insert(client.as_str().into(), session.clone());
            for (full, opts) in self.catalog.durable_subscriptions(&client) {
                let opts = SubOptions::from(opts);
                if let Ok(p) = topic::parse_filter(&full, self.settings.topic_limits) {
                    session.state.lock().subscriptions.insert(full.clone(), opts);
                    self.subs.write().insert(p.filter, p.group, session.client_id.clone(), opts);
                    self.ref_filter(&p.route_key()).await?;
                }
            }
            self.metrics.sessions_persistent.inc();
            let remaining = if meta.expiry == u32::MAX {
                u32::MAX
            } else {
                let left_ms = (since + u64::from(meta.expiry) * 1000).saturating_sub(now);
                u32::try_from(left_ms.div_ceil(1000)).unwrap_or(u32::MAX)
            };
            let epoch = session.state.lock().epoch;
            self.arm_expiry(session, epoch, remaining);
            restored += 1;
        }
        // The ACL file may have changed while the node was down.
        self.revoke_denied_subscriptions().await;
        self.metrics.subscriptions.set(self.subscription_count() as i64);
        self.metrics.retained.set(self.catalog.retained_count() as i64);
        Ok(restored)
    }

    pub(super) fn load_session_rows(&self, session: &Session) -> Result<(), StorageError> {
        let prefix = storage::client_key(&session.client_id);
        let plen = prefix.len();
        let mut st = session.state.lock();
        let mut out_rows = Vec::new();
        for item in self.store.inflight.prefix(&prefix) {
            let (k, v) = item.into_inner().map_err(StorageError::Read)?;
            let (Some(kind), Some(pid)) = (k.get(plen), k.get(plen + 1..plen + 3)) else {
                continue;
            };
            let pid = u16::from_be_bytes([pid[0], pid[1]]);
            match kind {
                b'r' => {
                    st.incoming_qos2.insert(pid);
                }
                b'o' => {
                    if let Some((seq, phase)) = parse_inflight_row(&v) {
                        out_rows.push((pid, seq, phase));
                    }
                }
                _ => {}
            }
        }
        for (pid, seq, phase) in out_rows {
            let Some(v) =
                self.store.queue.get(storage::queue_key(&session.client_id, seq)).map_err(StorageError::Read)?
            else {
                continue;
            };
            let d = Delivery::decode(seq, &v)
                .map_err(|e| StorageError::Corrupt { table: "queue", reason: e.to_string() })?;
            st.inflight.insert(pid, InflightOut { delivery: d, phase });
        }
        // Count what is queued; the memory window is filled lazily by `refill`.
        let mut first = None;
        let mut last = 0;
        let mut count = 0usize;
        for item in self.store.queue.prefix(&prefix) {
            let k = item.key().map_err(StorageError::Read)?;
            let Some(seq) = storage::seq_of_queue_key(&k) else {
                continue;
            };
            last = last.max(seq);
            if st.inflight.values().any(|i| i.delivery.seq == seq) {
                continue;
            }
            first.get_or_insert(seq);
            count += 1;
        }
        st.next_seq = last + 1;
        st.disk_only = count;
        st.disk_from = first.unwrap_or(last + 1);
        Session::refill(&mut st, &session.client_id, &self.store, self.settings.queue)
    }
}

pub(crate) fn inflight_row(seq: u64, phase: Phase) -> Vec<u8> {
    let mut v = seq.to_be_bytes().to_vec();
    v.push(match phase {
        Phase::Published => 0,
        Phase::Released => 1,
    });
    v
}

pub(super) fn parse_inflight_row(v: &[u8]) -> Option<(u64, Phase)> {
    let seq = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
    let phase = match v.get(8)? {
        0 => Phase::Published,
        _ => Phase::Released,
    };
    Some((seq, phase))
}
