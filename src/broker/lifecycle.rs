//! Session lifecycle: connect (create, resume, replace), disconnect, wills, expiry and the end
//! of a session with everything stored for it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::catalog::cmd::Identity;
use crate::protocol::Message;
use crate::protocol::message::now_ms;
use crate::protocol::topic;
use crate::storage::StorageError;

use super::session::{self, Delivery, PendingWill, Phase, Session, SessionMeta};
use super::subs::ClientKey;
use super::{Attached, Broker, BrokerError, CloseKind, Connected, Will};
use crate::catalog::cmd::CatalogCmd;

impl Broker {
    // ---------------------------------------------------------------- connect / disconnect

    /// A client's CONNECT was accepted on `session`.
    pub fn client_connected(&self, session: &Session, peer: SocketAddr) {
        self.metrics.connects.inc();
        self.metrics.connections.inc();
        self.connections.fetch_add(1, Ordering::Relaxed);
        session.state.lock().peer = Some(peer);
    }

    /// Attach a connection to the session of `client`, creating, resuming or (clean start)
    /// replacing it. A connection already attached sees that it lost the session and leaves
    /// (5.0: DISCONNECT 0x8E).
    pub async fn connect(
        self: &Arc<Self>,
        client: ClientKey,
        clean_start: bool,
        requested_expiry: u32,
        conn_id: u64,
        identity: &Identity,
    ) -> Result<Connected, BrokerError> {
        let expiry = requested_expiry.min(self.settings.max_session_expiry);
        // Before anything is taken over, here or from another node.
        let local = self.sessions.lock().get(&client).cloned();
        self.check_owner(&client, local.as_ref(), identity)?;
        // A session held by another node comes here first (or, clean start, ends there).
        self.fetch_remote_session(&client, clean_start, expiry).await;
        let (session, present, was_persistent, ended) = self.attach(&client, clean_start, expiry, conn_id, identity)?;
        if let Some(old) = ended {
            // A clean start ends the previous session: its state goes, its pending will fires.
            self.end_session_state(&old, false).await;
        }
        if expiry > 0 {
            let meta = SessionMeta { expiry, disconnected_at_ms: None, owner: Some(identity.clone()) };
            self.write_meta(&client, &meta)?;
            if !was_persistent {
                self.metrics.sessions_persistent.inc();
                let owner = Some(identity.clone());
                self.cluster.submit(CatalogCmd::RegisterClient {
                    client: client.to_string(),
                    node: self.cluster.node_id(),
                    owner,
                });
            }
        } else if was_persistent {
            // The session became non-persistent: forget it on disk now.
            self.purge_disk(&client).await?;
            self.metrics.sessions_persistent.dec();
        }
        if present {
            // The rules may have changed since these subscriptions were granted.
            self.recheck_subscriptions(&session).await;
        }
        Ok(Connected { session, present, expiry })
    }

    /// The synchronous part of [`Broker::connect`]: registry and session state under their locks.
    pub(super) fn attach(
        &self,
        client: &ClientKey,
        clean_start: bool,
        expiry: u32,
        conn_id: u64,
        identity: &Identity,
    ) -> Result<Attached, BrokerError> {
        let mut reg = self.sessions.lock();
        let existing = reg.get(client).cloned();
        // Again under the registry lock: a session may have arrived while this one waited.
        self.check_owner(client, existing.as_ref(), identity)?;
        // Only a persistent session is resumed: one with expiry 0 (3.1.1 Clean Session 1) lasts
        // as long as its connection ([MQTT-3.1.2-6], [MQTT-3.2.2-3]), even if that connection
        // is still closing or is being taken over right now.
        if let Some(s) = existing.as_ref().filter(|s| !clean_start && s.state.lock().persistent()) {
            let mut st = s.state.lock();
            let was = st.persistent();
            s.set_owner(&mut st, Some(conn_id));
            st.epoch += 1;
            st.will = None;
            st.expiry = expiry;
            st.identity = Some(identity.clone());
            return Ok((s.clone(), true, was, None));
        }
        if let Some(old) = &existing {
            let mut st = old.state.lock();
            old.set_owner(&mut st, None);
            st.epoch += 1;
        }
        let s = Arc::new(Session::new(client.clone(), expiry));
        {
            let mut st = s.state.lock();
            s.set_owner(&mut st, Some(conn_id));
            st.identity = Some(identity.clone());
        }
        reg.insert(client.clone(), s.clone());
        Ok((s, false, false, existing))
    }

    pub(super) fn write_meta(&self, client: &str, meta: &SessionMeta) -> Result<(), StorageError> {
        let mut b = self.store.batch();
        b.insert(&self.store.sessions, client.as_bytes().to_vec(), serde_json::to_vec(meta).unwrap_or_default());
        self.store.commit(b)
    }

    /// The connection `conn_id` of `session` (counted by [`Broker::client_connected`]) has ended.
    pub async fn disconnect(
        self: &Arc<Self>,
        session: &Arc<Session>,
        conn_id: u64,
        kind: CloseKind,
        will: Option<Will>,
        new_expiry: Option<u32>,
    ) {
        self.metrics.connections.dec();
        self.connections.fetch_sub(1, Ordering::Relaxed);
        self.leave(session, conn_id, kind, will, new_expiry).await;
    }

    /// [`Broker::disconnect`] for an attachment that was never counted as a client connection
    /// (a bridge's out side): the session is left the same way, the connection count stays.
    pub async fn leave(
        self: &Arc<Self>,
        session: &Arc<Session>,
        conn_id: u64,
        kind: CloseKind,
        will: Option<Will>,
        new_expiry: Option<u32>,
    ) {
        let will = if kind == CloseKind::WithWill { will } else { None };
        let Some((epoch, expiry, redistribute)) = self.detach(session, conn_id, new_expiry) else {
            // Taken over: the session lives on in the new connection, which disarmed any
            // delayed will; an immediate will still goes out (MQTT-3.1.2-8 with delay 0).
            if let Some(w) = will.filter(|w| w.delay == 0) {
                self.publish_will(w.msg).await;
            }
            return;
        };
        for d in redistribute {
            self.redeliver_shared(d, &session.client_id).await;
        }
        if expiry == 0 {
            self.remove_session(session).await;
            if let Some(w) = will {
                self.publish_will(w.msg).await;
            }
            return;
        }
        let owner = session.state.lock().identity.clone();
        let meta = SessionMeta { expiry, disconnected_at_ms: Some(now_ms()), owner };
        if let Err(e) = self.write_meta(&session.client_id, &meta) {
            tracing::error!(client = %session.client_id, "cannot record disconnect: {e}");
        }
        if let Some(w) = will {
            if w.delay == 0 {
                self.publish_will(w.msg).await;
            } else {
                session.state.lock().will = Some(PendingWill { msg: w.msg, armed_by: epoch });
                // The will fires after its delay or when the session ends, whichever is first.
                let after = Duration::from_secs(u64::from(w.delay.min(expiry)));
                // Timers hold the broker weakly: a stopped node must be able to go away (and
                // release its data dir) while timers of its sessions still sleep.
                let broker = Arc::downgrade(self);
                let s = session.clone();
                // Per session timer; it ends after `after` and does nothing if the broker is gone.
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let Some(broker) = broker.upgrade() else { return };
                    let due = {
                        let mut st = s.state.lock();
                        match &st.will {
                            Some(p) if p.armed_by == epoch && st.epoch == epoch => st.will.take(),
                            _ => None,
                        }
                    };
                    if let Some(p) = due {
                        broker.publish_will(p.msg).await;
                    }
                });
            }
        }
        self.arm_expiry(session.clone(), epoch, expiry);
    }

    /// Detach connection `conn_id` from its session; `None` if another connection owns it now.
    pub(super) fn detach(
        &self,
        session: &Session,
        conn_id: u64,
        new_expiry: Option<u32>,
    ) -> Option<(u64, u32, Vec<Delivery>)> {
        let mut st = session.state.lock();
        if st.conn != Some(conn_id) {
            return None;
        }
        session.set_owner(&mut st, None);
        st.epoch += 1;
        if let Some(e) = new_expiry {
            st.expiry = e.min(self.settings.max_session_expiry);
        }
        let redistribute = take_shared(&mut st);
        Some((st.epoch, st.expiry, redistribute))
    }

    pub(super) fn arm_expiry(self: &Arc<Self>, session: Arc<Session>, epoch: u64, expiry: u32) {
        if expiry == u32::MAX {
            return;
        }
        let broker = Arc::downgrade(self);
        // Per session timer; it ends after `expiry` and does nothing if the broker is gone.
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(u64::from(expiry))).await;
            let Some(broker) = broker.upgrade() else { return };
            let still_idle = {
                let st = session.state.lock();
                st.epoch == epoch && st.conn.is_none()
            };
            if still_idle {
                tracing::debug!(client = %session.client_id, "session expired");
                broker.end_session_state(&session, true).await;
            }
        });
    }

    /// End a session for good: publish a pending will, drop its subscriptions and stored data.
    pub(super) async fn end_session_state(self: &Arc<Self>, session: &Arc<Session>, unregister: bool) {
        let (will, redistribute, persistent) = {
            let mut st = session.state.lock();
            (st.will.take(), take_shared(&mut st), st.persistent())
        };
        for d in redistribute {
            self.redeliver_shared(d, &session.client_id).await;
        }
        if unregister {
            let mut reg = self.sessions.lock();
            if reg.get(&session.client_id).is_some_and(|s| Arc::ptr_eq(s, session)) {
                reg.remove(&session.client_id);
            }
        }
        self.drop_subscriptions(session).await;
        if persistent {
            self.metrics.sessions_persistent.dec();
            if let Err(e) = self.purge_disk(&session.client_id).await {
                tracing::error!(client = %session.client_id, "cannot remove expired session data: {e}");
            }
        }
        if let Some(w) = will {
            self.publish_will(w.msg).await;
        }
    }

    pub(super) async fn remove_session(self: &Arc<Self>, session: &Arc<Session>) {
        {
            let mut reg = self.sessions.lock();
            if reg.get(&session.client_id).is_some_and(|s| Arc::ptr_eq(s, session)) {
                reg.remove(&session.client_id);
            }
        }
        self.drop_subscriptions(session).await;
    }

    pub(super) async fn drop_subscriptions(self: &Arc<Self>, session: &Arc<Session>) {
        let subs: Vec<String> = {
            let mut st = session.state.lock();
            st.queue.clear();
            st.queued_qos0 = 0;
            st.inflight.clear();
            std::mem::take(&mut st.subscriptions).into_keys().collect()
        };
        for full in subs {
            if let Ok(p) = topic::parse_filter(&full, self.settings.topic_limits) {
                self.subs.write().remove(p.filter, p.group, &session.client_id);
                self.unref_filter(&p.route_key()).await;
            }
        }
    }

    /// Delete everything stored for a client, here and its catalog entries.
    pub(super) async fn purge_disk(&self, client: &str) -> Result<(), BrokerError> {
        self.purge_local(client)?;
        let node = self.cluster.node_id();
        self.cluster.submit(CatalogCmd::SetDurableSubs { client: client.into(), subs: Vec::new() });
        self.cluster.submit(CatalogCmd::UnregisterClient { client: client.into(), node });
        Ok(())
    }

    pub(super) async fn publish_will(self: &Arc<Self>, msg: Arc<Message>) {
        tracing::debug!(topic = %msg.topic, "publishing will message");
        if let Err(e) = self.publish(msg).await {
            tracing::warn!("will message not published: {e}");
        }
    }
}

/// Remove shared-subscription deliveries (queued or in flight) from a session that is going away.
pub(super) fn take_shared(st: &mut session::SessionState) -> Vec<Delivery> {
    let mut out: Vec<Delivery> = Vec::new();
    let (shared, rest): (Vec<Delivery>, Vec<Delivery>) = st.queue.drain(..).partition(|d| d.shared.is_some());
    st.queue.extend(rest);
    st.queued_qos0 = st.queue.iter().filter(|d| d.qos == 0).count();
    out.extend(shared);
    let pids: Vec<u16> = st
        .inflight
        .iter()
        .filter(|(_, i)| i.delivery.shared.is_some() && i.phase == Phase::Published)
        .map(|(p, _)| *p)
        .collect();
    for p in pids {
        if let Some(i) = st.inflight.remove(&p) {
            out.push(i.delivery);
        }
    }
    out
}
