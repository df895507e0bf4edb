//! The one way deliveries are queued: every offer writes its storage rows into one batch, the
//! batch is committed, and only then are the QoS ≥ 1 deliveries released for sending (their
//! shared `committed` flag flips) and their sessions woken. A subscriber never receives a
//! message that is not yet durable in its session's queue here.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::storage::{Batch, StorageError, Store};

use super::session::{self, Delivery, Offer, QueueLimits, Session};

pub struct OfferGate<'a> {
    store: &'a Store,
    batch: Batch,
    committed: Arc<AtomicBool>,
    woken: Vec<Arc<Session>>,
}

impl<'a> OfferGate<'a> {
    pub fn new(store: &'a Store) -> Self {
        Self::with_capacity(store, 0)
    }

    /// A gate for about `n` offers (one publish's targets), so recording whom to wake does not
    /// grow a vector delivery by delivery.
    pub fn with_capacity(store: &'a Store, n: usize) -> Self {
        OfferGate {
            store,
            batch: store.batch(),
            committed: Arc::new(AtomicBool::new(false)),
            woken: Vec::with_capacity(n),
        }
    }

    /// Queue `d` for `session` under `limits`; a QoS ≥ 1 delivery is held until [`Self::commit`].
    pub fn offer(&mut self, session: &Arc<Session>, mut d: Delivery, limits: QueueLimits) -> Offer {
        d.committed = (d.qos > 0).then(|| self.committed.clone());
        let r = session.offer(d, limits, self.store, &mut self.batch);
        if r == Offer::Queued {
            self.woken.push(session.clone());
        }
        r
    }

    /// Drop the oldest queued delivery of `session` if `pred` holds for it, to make room in a
    /// bridge's backlog; its row goes in this gate's batch. `None` if none could go.
    pub fn evict_front(
        &mut self,
        session: &Session,
        limits: QueueLimits,
        pred: impl Fn(&Delivery) -> bool,
    ) -> Option<Delivery> {
        super::reserved::evict_front(session, self.store, limits, &mut self.batch, pred)
    }

    /// Commit what the offers wrote, release the deliveries and wake their sessions. The
    /// deliveries are released even when the commit fails: the caller reports the failure, and
    /// a delivery held for good would block its session's queue behind it.
    pub fn commit(self) -> Result<(), StorageError> {
        let r = self.store.commit(self.batch);
        self.committed.store(true, Ordering::Release);
        for s in self.woken {
            session::wake(s);
        }
        r
    }
}
