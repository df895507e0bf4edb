//! Subscriptions: the local index, this node's routes in the catalog (added on a filter's
//! first local subscriber, removed on its last), durable subscriptions, retained messages.

use std::sync::Arc;

use crate::protocol::Message;
use crate::protocol::topic;

use super::gate::OfferGate;
use super::session::{Delivery, Offer, Session};
use super::subs::SubOptions;
use super::{Broker, BrokerError};
use crate::catalog::cmd::{CatalogCmd, SubOptionsWire};
use crate::metrics::DropReason;

impl Broker {
    // ---------------------------------------------------------------- subscriptions

    /// Add or replace a subscription. Returns whether it already existed (for Retain Handling 1).
    pub async fn subscribe(
        self: &Arc<Self>,
        session: &Arc<Session>,
        full_filter: &str,
        opts: SubOptions,
    ) -> Result<bool, BrokerError> {
        let Ok(p) = topic::parse_filter(full_filter, self.settings.topic_limits) else {
            return Ok(false);
        };
        let (existed, persistent) = {
            let mut st = session.state.lock();
            (st.subscriptions.insert(full_filter.to_string(), opts).is_some(), st.persistent())
        };
        self.subs.write().insert(p.filter, p.group, session.client_id.clone(), opts);
        if !existed {
            self.ref_filter(&p.route_key()).await?;
        }
        if persistent {
            self.save_durable_subs(session).await?;
        }
        self.metrics.subscriptions.set(self.subscription_count() as i64);
        Ok(existed)
    }

    pub async fn unsubscribe(self: &Arc<Self>, session: &Arc<Session>, full_filter: &str) -> Result<bool, BrokerError> {
        let (existed, persistent) = {
            let mut st = session.state.lock();
            (st.subscriptions.remove(full_filter).is_some(), st.persistent())
        };
        if !existed {
            return Ok(false);
        }
        if let Ok(p) = topic::parse_filter(full_filter, self.settings.topic_limits) {
            self.subs.write().remove(p.filter, p.group, &session.client_id);
            self.unref_filter(&p.route_key()).await;
        }
        if persistent {
            self.save_durable_subs(session).await?;
        }
        self.metrics.subscriptions.set(self.subscription_count() as i64);
        Ok(true)
    }

    pub(super) async fn save_durable_subs(&self, session: &Session) -> Result<(), BrokerError> {
        let subs: Vec<(String, SubOptionsWire)> =
            session.state.lock().subscriptions.iter().map(|(f, o)| (f.clone(), SubOptionsWire::from(*o))).collect();
        self.cluster.submit(CatalogCmd::SetDurableSubs { client: session.client_id.to_string(), subs });
        Ok(())
    }

    pub(super) async fn ref_filter(&self, filter: &str) -> Result<(), BrokerError> {
        let first = {
            let mut lf = self.local_filters.lock();
            let n = lf.entry(filter.to_string()).or_insert(0);
            *n += 1;
            *n == 1
        };
        if first {
            self.cluster.submit(CatalogCmd::AddRoute { filter: filter.into(), node: self.cluster.node_id() });
        }
        Ok(())
    }

    pub(super) async fn unref_filter(&self, filter: &str) {
        let last = {
            let mut lf = self.local_filters.lock();
            match lf.get_mut(filter) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                Some(_) => {
                    lf.remove(filter);
                    true
                }
                None => false,
            }
        };
        if last {
            self.cluster.submit(CatalogCmd::RemoveRoute { filter: filter.into(), node: self.cluster.node_id() });
        }
    }

    /// Retained messages for a new subscription (including this node's `$SYS` topics).
    pub fn retained_for(&self, filter: &str) -> Vec<Arc<Message>> {
        let mut v = self.catalog.retained_matching(filter);
        if filter.starts_with('$') {
            let sys = self.sys_retained.read();
            v.extend(sys.iter().filter(|(t, _)| topic::matches(filter, t)).map(|(_, m)| m.clone()));
        }
        v
    }

    /// Queue the retained messages a new subscription receives, through one [`OfferGate`]:
    /// QoS ≥ 1 deliveries are sent only once they are stored.
    pub fn queue_retained(&self, session: &Arc<Session>, deliveries: Vec<Delivery>) {
        if deliveries.is_empty() {
            return;
        }
        let mut gate = OfferGate::new(&self.store);
        for d in deliveries {
            if gate.offer(session, d, self.settings.queue) != Offer::Queued {
                self.metrics.dropped(DropReason::QueueFull);
            }
        }
        if let Err(e) = gate.commit() {
            tracing::error!("retained deliveries not persisted: {e}");
        }
    }
}
