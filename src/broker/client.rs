//! What a client connection's MQTT driver (`crate::mqtt`) asks of the broker besides
//! sessions, routing and the QoS flows: its settings, counters and access control, the
//! connected-client count, and queueing retained messages for a new subscription.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::session::{Delivery, Offer, Session};
use super::{Broker, CloseKind, Settings, Will};
use crate::metrics::{DropReason, Metrics};

impl Broker {
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Authentication, ACL, bans and limits.
    pub fn auth(&self) -> &Arc<crate::auth::Auth> {
        &self.auth
    }

    /// Some node's messages wait in the outbox: a publisher's new forwards must queue behind
    /// its own unconfirmed ones.
    pub fn forwarding_held(&self) -> bool {
        self.cluster.holding()
    }

    /// A client's CONNECT was accepted on `session`.
    pub fn client_connected(&self, session: &Session, peer: SocketAddr) {
        self.metrics.connects.inc();
        self.metrics.connections.inc();
        self.connections.fetch_add(1, Ordering::Relaxed);
        session.state.lock().peer = Some(peer);
    }

    /// The connection `conn_id` of a connected client ended: counted, then [`Broker::disconnect`].
    pub async fn client_closed(
        self: &Arc<Self>,
        session: &Arc<Session>,
        conn_id: u64,
        kind: CloseKind,
        will: Option<Will>,
        new_expiry: Option<u32>,
    ) {
        self.metrics.connections.dec();
        self.connections.fetch_sub(1, Ordering::Relaxed);
        self.disconnect(session, conn_id, kind, will, new_expiry).await;
    }

    /// Queue the retained messages a new subscription receives, in one storage batch. QoS ≥ 1
    /// deliveries are sent only once the batch is committed.
    pub fn queue_retained(&self, session: &Session, deliveries: Vec<Delivery>) {
        if deliveries.is_empty() {
            return;
        }
        let mut batch = self.store.batch();
        let committed = Arc::new(AtomicBool::new(false));
        for mut d in deliveries {
            if d.qos > 0 {
                d.committed = Some(committed.clone());
            }
            if session.offer(d, self.settings.queue, &self.store, &mut batch) != Offer::Queued {
                self.metrics.dropped(DropReason::QueueFull);
            }
        }
        if let Err(e) = self.store.commit(batch) {
            tracing::error!("retained deliveries not persisted: {e}");
        }
        committed.store(true, Ordering::Release);
    }
}
