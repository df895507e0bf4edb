//! Local delivery of a publish: match the subscription index, merge overlapping
//! subscriptions, pick shared-group members, queue for each session (the commit gate) and hold
//! the publisher while a queue is full.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::metrics::DropReason;
use crate::protocol::Message;
use crate::storage::{self};

use super::gate::OfferGate;
use super::plan;
use super::port::ForwardTarget;
use super::reserved;
use super::restore::parse_inflight_row;
use super::session::{Delivery, Offer, QueueLimits, Session};
use super::subs::{SharedGroup, SubOptions};
use super::{Broker, BrokerError, PublishOutcome, Routed, Target};
use crate::catalog::cmd::CatalogCmd;

/// What [`Broker::offer_now`] queued, and what still has to wait.
pub(super) struct Offered {
    pub(super) outcome: PublishOutcome,
    /// Targets whose queue was full, with the delivery they wait to queue.
    full: Vec<(Target, Delivery)>,
    /// Sessions handed over to another node meanwhile.
    gone: Vec<String>,
}

impl Offered {
    /// Nothing left to wait for.
    pub(super) fn settled(&self) -> bool {
        self.full.is_empty() && self.gone.is_empty()
    }
}

impl Broker {
    // ---------------------------------------------------------------- publish

    /// Route an accepted message to every matching session (and, through the cluster, to the
    /// nodes with matching routes). Resolves once it is queued (and persisted where needed),
    /// here and on every node it was forwarded to.
    pub async fn publish(self: &Arc<Self>, msg: Arc<Message>) -> Result<PublishOutcome, BrokerError> {
        self.publish_unconfirmed(msg).await?.confirmed().await
    }

    /// [`Broker::publish`] up to the point where the message is queued here and sent to the
    /// other nodes: the connection of a publisher awaits the remote confirmations while it
    /// reads further PUBLISH packets, and acknowledges them in order.
    pub async fn publish_unconfirmed(self: &Arc<Self>, msg: Arc<Message>) -> Result<Routed, BrokerError> {
        if msg.retain && self.settings.retain_available && !msg.topic.starts_with('$') {
            let message = if msg.payload.is_empty() { None } else { Some(msg.encode()) };
            self.cluster.submit(CatalogCmd::SetRetained { topic: msg.topic.to_string(), message });
            self.metrics.retained.set(self.catalog.retained_count() as i64);
        }
        self.route_unconfirmed(msg).await
    }

    /// Deliver an accepted message to local sessions and the nodes the routes name, without
    /// touching the retained store: publishing, and re-routing messages kept for a node that left.
    pub async fn route(self: &Arc<Self>, msg: Arc<Message>) -> Result<PublishOutcome, BrokerError> {
        self.route_unconfirmed(msg).await?.confirmed().await
    }

    pub(super) async fn route_unconfirmed(self: &Arc<Self>, msg: Arc<Message>) -> Result<Routed, BrokerError> {
        let (mut remote, elsewhere) = self.plan_remote(&msg);
        let targets = self.targets(&msg, |g, f| !elsewhere.iter().any(|(a, b)| a == g && b == f), None);
        // After the local targets: a session handed over between the two looks is then found
        // by one or the other (a hand-over records where it went before it leaves the registry).
        if !msg.topic.starts_with("$SYS/broker/") {
            remote.extend(self.relays(&msg.topic));
        }
        let mut outcome = if targets.is_empty() {
            if remote.is_empty() {
                // $SYS topics are published whether or not anyone listens; not a drop.
                if !msg.topic.starts_with('$') {
                    self.metrics.dropped(DropReason::NoSubscribers);
                }
                return Ok(Routed::default());
            }
            PublishOutcome::default()
        } else {
            self.offer_all(&msg, targets, true).await?
        };
        let mut confirm = None;
        if !remote.is_empty() {
            confirm = self.cluster.forward(&msg, &remote).await?;
            outcome.delivered += remote.len();
        }
        Ok(Routed { outcome, confirm })
    }

    /// Match a topic and merge overlapping subscriptions: one delivery per session, at the
    /// highest granted QoS, carrying every matching subscription identifier.
    pub(super) fn targets(
        &self,
        msg: &Arc<Message>,
        serve_group: impl Fn(&str, &str) -> bool,
        only: Option<&[String]>,
    ) -> Vec<Target> {
        let m = self.subs.read().matches(&msg.topic);
        if m.direct.is_empty() && m.shared.is_empty() {
            return Vec::new();
        }
        let merged = plan::merge_direct(m.direct, &msg.origin, only, m.direct_filters <= 1);
        let reg = self.sessions.lock();
        let mut out = Vec::with_capacity(merged.len() + m.shared.len());
        for (client, (qos, rap, sub_ids)) in merged {
            if let Some(s) = reg.get(&client) {
                out.push(Target { session: s.clone(), qos, rap, sub_ids, shared: None });
            }
        }
        for g in m.shared {
            if only.is_some() || !serve_group(&g.group, &g.filter) {
                continue;
            }
            match self.pick_member(&g, msg, &reg, None) {
                Some((s, o)) => out.push(Target {
                    session: s,
                    qos: o.qos,
                    rap: o.retain_as_published,
                    sub_ids: o.sub_id.into_iter().collect(),
                    shared: Some((g.group.clone(), g.filter.clone())),
                }),
                None => self.metrics.dropped(DropReason::SharedNoMember),
            }
        }
        out
    }

    /// Choose the member of a shared group for one message: by strategy among the connected
    /// members, else among all (persistent members queue while offline). `exclude` skips the
    /// member a message is being taken away from.
    pub(super) fn pick_member(
        &self,
        g: &SharedGroup,
        msg: &Message,
        reg: &super::Registry,
        exclude: Option<&str>,
    ) -> Option<(Arc<Session>, SubOptions)> {
        let cands: Vec<(Arc<Session>, SubOptions, bool)> = g
            .members
            .iter()
            .filter(|(c, _)| exclude != Some(&**c))
            .filter_map(|(c, o)| reg.get(c).map(|s| (s.clone(), *o, s.state.lock().conn.is_some())))
            .collect();
        let online: Vec<&(Arc<Session>, SubOptions, bool)> = cands.iter().filter(|c| c.2).collect();
        let pool: Vec<&(Arc<Session>, SubOptions, bool)> =
            if online.is_empty() { cands.iter().filter(|c| c.0.state.lock().persistent()).collect() } else { online };
        let i = plan::pick(self.settings.shared_strategy, pool.len(), &msg.origin, || g.next_start())?;
        pool.get(i).map(|c| (c.0.clone(), c.1))
    }

    /// Queue `msg` for `targets`. `local`: the publisher is a client of this node. A full
    /// queue of a session whose client is away refuses a local publisher at once (waiting would
    /// hold it, and every later publish, for nothing); a message forwarded by another node
    /// still waits `publisher_wait`, because that session may be moving here or away right now
    /// (a partition heal) and a refusal makes the publisher send it again through the new
    /// owner — duplicates (chaos scenario (f): 1,048 instead of 17 when forwarded messages
    /// were refused at once too).
    pub(super) async fn offer_all(
        self: &Arc<Self>,
        msg: &Arc<Message>,
        targets: Vec<Target>,
        local: bool,
    ) -> Result<PublishOutcome, BrokerError> {
        let offered = self.offer_now(msg, targets, local)?;
        self.offer_rest(msg, offered).await
    }

    /// The part of [`Broker::offer_all`] that never waits: queue where there is room and commit.
    /// What has to wait (full queues, sessions handed over meanwhile) comes back in [`Offered`]
    /// for [`Broker::offer_rest`].
    pub(super) fn offer_now(
        &self,
        msg: &Arc<Message>,
        targets: Vec<Target>,
        local: bool,
    ) -> Result<Offered, BrokerError> {
        let limits = self.settings.queue;
        let mut gate = OfferGate::with_capacity(&self.store, targets.len());
        let mut outcome = PublishOutcome::default();
        let mut full = Vec::new();
        let mut gone: Vec<String> = Vec::new();
        for t in targets {
            let (limits, bound) = self.bridge_bound(&t.session).unwrap_or((limits, None));
            let d = match bound {
                Some(b) => bridge_copy(make_delivery(msg, &t), b),
                None => make_delivery(msg, &t),
            };
            // Only a QoS ≥ 1 delivery can find the queue full and wait: QoS 0 needs no copy.
            let keep = (d.qos > 0).then(|| d.clone());
            match self.offer_bounded(&mut gate, &t.session, d, limits, bound) {
                Offer::Queued => {
                    outcome.delivered += 1;
                    outcome.congested |= t.session.congested.load(Ordering::Relaxed);
                }
                Offer::DroppedQos0 => {
                    outcome.congested = true;
                    self.metrics.dropped(DropReason::QueueFull);
                }
                // An offline session makes no room until its client returns (see above).
                Offer::Full if local && t.session.state.lock().conn.is_none() => {
                    outcome.refused += 1;
                    self.bridge_refused(&t.session);
                    self.metrics.dropped(DropReason::QueueFull);
                    tracing::debug!(client = %t.session.client_id, topic = %msg.topic, "queue full, client away: QoS>=1 message refused");
                }
                Offer::Full => match keep {
                    Some(d) => full.push((t, d)),
                    None => self.metrics.dropped(DropReason::QueueFull),
                },
                Offer::Gone => gone.push(t.session.client_id.to_string()),
            }
        }
        if let Err(e) = gate.commit() {
            self.metrics.storage_errors.inc();
            return Err(e.into());
        }
        Ok(Offered { outcome, full, gone })
    }

    /// Finish what [`Broker::offer_now`] left: follow handed-over sessions, wait for full queues.
    pub(super) async fn offer_rest(
        self: &Arc<Self>,
        msg: &Arc<Message>,
        Offered { mut outcome, full, gone }: Offered,
    ) -> Result<PublishOutcome, BrokerError> {
        // Sessions handed over while this publish was on its way: follow them.
        for client in gone {
            match self.moved_to(&client) {
                Some(node) => {
                    let relay = [ForwardTarget { node, groups: Vec::new(), clients: vec![client] }];
                    self.forward_confirmed(msg, &relay).await?;
                    outcome.delivered += 1;
                }
                None => outcome.refused += 1,
            }
        }
        // Backpressure: hold this publisher until slow sessions make room, then give up.
        for (t, d) in full {
            if self.offer_waiting(&t.session, d).await? {
                outcome.delivered += 1;
            } else {
                outcome.refused += 1;
                self.bridge_refused(&t.session);
                self.metrics.dropped(DropReason::QueueFull);
                tracing::debug!(client = %t.session.client_id, topic = %msg.topic, "queue full: QoS>=1 message refused");
            }
        }
        Ok(outcome)
    }

    /// The queue limits of a bridge's session (`[bridges.*.backlog]`); `None` for any other.
    fn bridge_bound(&self, s: &Session) -> Option<(QueueLimits, Option<reserved::QueueBound>)> {
        if !reserved::is_reserved_client_id(&s.client_id) {
            return None;
        }
        let b = self.bridges.get()?.queue_bound(&s.client_id)?;
        Some((QueueLimits { max_queued: b.max_messages, ..self.settings.queue }, Some(b)))
    }

    /// A message for a bridge's backlog was refused because the backlog is full: the bridge
    /// counts and logs it.
    fn bridge_refused(&self, s: &Session) {
        if let (Some(b), Some(_)) = (self.bridges.get(), self.bridge_bound(s)) {
            b.overflowed(&s.client_id, None);
        }
    }

    /// Offer `d` to `s` through `gate`. A bridge's backlog (`bound`) is also bounded in bytes,
    /// and under `drop_oldest` its oldest queued messages make room for the new one whichever
    /// bound is reached; otherwise `Full` goes back to the caller, which refuses the message.
    fn offer_bounded(
        &self,
        gate: &mut OfferGate<'_>,
        s: &Arc<Session>,
        d: Delivery,
        limits: QueueLimits,
        bound: Option<reserved::QueueBound>,
    ) -> Offer {
        let (Some(b), Some(r)) = (bound, self.bridges.get()) else { return gate.offer(s, d, limits) };
        let size = reserved::delivery_bytes(&d);
        let now = crate::protocol::message::now_ms();
        loop {
            if size == 0 || r.backlog_bytes(&s.client_id).saturating_add(size) <= b.max_bytes {
                let before = s.state.lock().backlog();
                let o = gate.offer(s, d.clone(), limits);
                // A duplicate (the same message id again) reports Queued without queueing.
                if o == Offer::Queued && size > 0 && s.state.lock().backlog() > before {
                    r.backlog_grew(&s.client_id, size);
                }
                if o != Offer::Full {
                    return o;
                }
            }
            // What is too old to be sent gives way first, under either policy.
            if let Some(old) = gate.evict_front(s, limits, |q| q.msg.expired(now)) {
                r.expired(&s.client_id, reserved::delivery_bytes(&old));
                continue;
            }
            if !b.drop_oldest {
                return Offer::Full;
            }
            match gate.evict_front(s, limits, |_| true) {
                Some(old) => r.overflowed(&s.client_id, Some(reserved::delivery_bytes(&old))),
                None => return Offer::Full,
            }
        }
    }

    pub(super) async fn offer_waiting(&self, session: &Arc<Session>, d: Delivery) -> Result<bool, BrokerError> {
        let deadline = tokio::time::Instant::now() + self.settings.full_wait;
        loop {
            let notified = session.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let mut gate = OfferGate::new(&self.store);
            let (limits, bound) = self.bridge_bound(session).unwrap_or((self.settings.queue, None));
            if self.offer_bounded(&mut gate, session, d.clone(), limits, bound) == Offer::Queued {
                gate.commit()?;
                return Ok(true);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(false);
            }
        }
    }

    /// Hand a shared-subscription delivery that its member did not acknowledge to another member.
    pub(super) async fn redeliver_shared(self: &Arc<Self>, d: Delivery, from: &str) {
        let Some((group, filter)) = d.shared.clone() else {
            return;
        };
        if d.seq > 0 {
            // It leaves this session's persisted queue; the new member persists its own copy.
            let mut b = self.store.batch();
            b.remove(&self.store.queue, storage::queue_key(from, d.seq));
            for item in self.store.inflight.prefix(storage::client_key(from)) {
                if let Ok((k, v)) = item.into_inner()
                    && parse_inflight_row(&v).is_some_and(|(seq, _)| seq == d.seq)
                {
                    b.remove(&self.store.inflight, k);
                }
            }
            if let Err(e) = self.store.commit(b) {
                tracing::error!("cannot move a shared delivery off {from}: {e}");
            }
        }
        let picked = {
            let ix = self.subs.read();
            let m = ix.matches(&d.msg.topic);
            let g = m.shared.into_iter().find(|g| g.group == group && g.filter == filter);
            let reg = self.sessions.lock();
            g.and_then(|g| self.pick_member(&g, &d.msg, &reg, Some(from)))
        };
        let Some((session, opts)) = picked else {
            self.metrics.dropped(DropReason::SharedNoMember);
            return;
        };
        let t = Target {
            session,
            qos: opts.qos,
            rap: opts.retain_as_published,
            sub_ids: opts.sub_id.into_iter().collect(),
            shared: Some((group, filter)),
        };
        let mut gate = OfferGate::new(&self.store);
        if gate.offer(&t.session, make_delivery(&d.msg, &t), self.settings.queue) != Offer::Queued {
            self.metrics.dropped(DropReason::QueueFull);
        }
        if let Err(e) = gate.commit() {
            tracing::error!("shared redelivery not persisted: {e}");
        }
    }
}

/// A bridge's copy of a delivery carries the backlog's `max_age` as its expiry (if that is
/// sooner than its own), so it is persisted with it and dropped, not sent, once it is older.
fn bridge_copy(mut d: Delivery, b: reserved::QueueBound) -> Delivery {
    if d.qos == 0 {
        return d;
    }
    let deadline = crate::protocol::message::now_ms().saturating_add(b.max_age_ms);
    if d.msg.expires_at_ms.is_none_or(|e| e > deadline) {
        let mut m = (*d.msg).clone();
        m.expires_at_ms = Some(deadline);
        m.wire = Default::default();
        d.msg = Arc::new(m);
    }
    d
}

/// The delivery of `msg` for one target: QoS downgraded to the granted one, Retain As Published.
fn make_delivery(msg: &Arc<Message>, t: &Target) -> Delivery {
    Delivery {
        seq: 0,
        msg: msg.clone(),
        qos: msg.qos.min(t.qos),
        retain: msg.retain && t.rap,
        sub_ids: t.sub_ids.clone(),
        shared: t.shared.clone(),
        committed: None,
    }
}
