//! Cross-node delivery: which other nodes get a publish, forwarding and its confirmations,
//! and the delivery of messages other nodes forwarded here (including relays for sessions that
//! are moving).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::broker::handover::SessionTransfer;
use crate::catalog::cmd::NodeId;
use crate::protocol::Message;

use super::plan;
use super::port::{BoxFuture, ForwardTarget};
use super::{Broker, BrokerError, PublishOutcome};

/// A forwarded publish whose delivery [`Broker::start_forwarded`] began: done there and then
/// (the usual case), or still waiting for something.
pub enum ForwardedDelivery {
    Done(Result<PublishOutcome, BrokerError>),
    Waiting(BoxFuture<'static, Result<PublishOutcome, BrokerError>>),
}

impl Broker {
    /// Some node's messages wait in the outbox: a publisher's new forwards must queue behind
    /// its own unconfirmed ones.
    pub fn forwarding_held(&self) -> bool {
        self.cluster.holding()
    }

    /// Forward to other nodes and wait for their confirmations.
    pub(super) async fn forward_confirmed(
        &self,
        msg: &Arc<Message>,
        targets: &[ForwardTarget],
    ) -> Result<(), BrokerError> {
        if let Some(c) = self.cluster.forward(msg, targets).await? {
            c.await?;
        }
        Ok(())
    }

    /// Which other nodes get a publish, and the shared groups (group, filter) another node
    /// serves for it. A shared group with members on several nodes gets the message on one node
    /// only, chosen by the shared-subscription strategy among the nodes with members.
    pub(super) fn plan_remote(&self, msg: &Message) -> (Vec<ForwardTarget>, Vec<(String, String)>) {
        // `$SYS/broker/...` is per node: never forwarded (`$SYS/brokers/<node>/...` is).
        if msg.topic.starts_with("$SYS/broker/") {
            return (Vec::new(), Vec::new());
        }
        let routes = self.cluster.routes_for(&msg.topic);
        plan::plan_remote(self.cluster.node_id(), routes, self.settings.shared_strategy, &msg.origin, |group| {
            let mut cur = self.group_cursors.lock();
            let c = cur.entry(group.to_string()).or_insert(0);
            *c = c.wrapping_add(1);
            *c
        })
    }

    /// Until when relayed messages for `clients` wait for their sessions to arrive: one wait per
    /// client and hand-over, shared by every message relayed meanwhile. The messages of a
    /// pipelining publisher arrive back to back, and each waiting the whole `takeover_timeout`
    /// in turn would hold up the node's forwarded deliveries for that long times their number.
    pub(super) fn relay_deadline(&self, clients: &[String]) -> tokio::time::Instant {
        let now = tokio::time::Instant::now();
        let wait = self.settings.takeover_timeout;
        let mut waits = self.relay_waits.lock();
        // A wait long over is forgotten: a later hand-over gets a wait of its own.
        waits.retain(|_, d| *d + wait > now);
        clients.iter().map(|c| *waits.entry(c.clone()).or_insert(now + wait)).min().unwrap_or(now + wait)
    }

    /// Start [`Broker::deliver_forwarded`] without a future where nothing has to wait: no
    /// relay for moving sessions and every queue with room. The link reader delivers a whole
    /// read of forwarded publishes this way in one synchronous pass; only what has to wait
    /// becomes a task.
    pub fn start_forwarded(
        self: &Arc<Self>,
        msg: Arc<Message>,
        groups: Vec<(String, String)>,
        clients: Vec<String>,
        except: Vec<String>,
    ) -> ForwardedDelivery {
        if clients.is_empty() {
            let mut targets = self.targets(&msg, |g, f| groups.iter().any(|(a, b)| a == g && b == f), None);
            targets.retain(|t| t.shared.is_some() || !except.iter().any(|c| **c == *t.session.client_id));
            // Relays (rare: a hand-over under way) take the general path below.
            let relayed = self.relays(&msg.topic).iter().any(|r| r.clients.iter().any(|c| !except.contains(c)));
            if !relayed {
                if targets.is_empty() {
                    return ForwardedDelivery::Done(Ok(PublishOutcome::default()));
                }
                let offered = match self.offer_now(&msg, targets, false) {
                    Ok(o) => o,
                    Err(e) => return ForwardedDelivery::Done(Err(e)),
                };
                if offered.settled() {
                    return ForwardedDelivery::Done(Ok(offered.outcome));
                }
                let broker = self.clone();
                return ForwardedDelivery::Waiting(Box::pin(async move { broker.offer_rest(&msg, offered).await }));
            }
        }
        let broker = self.clone();
        ForwardedDelivery::Waiting(Box::pin(
            async move { broker.deliver_forwarded(msg, &groups, &clients, &except).await },
        ))
    }

    /// Deliver a publish forwarded by another node to this node's sessions only (it is never
    /// forwarded again, and its retained flag was already recorded by the origin): plain
    /// subscribers, and the shared groups the origin chose this node for; never to the clients
    /// in `except` (they moved to a node the origin sent the message to directly).
    pub async fn deliver_forwarded(
        self: &Arc<Self>,
        msg: Arc<Message>,
        groups: &[(String, String)],
        clients: &[String],
        except: &[String],
    ) -> Result<PublishOutcome, BrokerError> {
        let only = (!clients.is_empty()).then_some(clients);
        if let Some(only) = only {
            // A relay for sessions that moved here: one may still be on its way (the hand-over
            // answer and this message race). Wait for it briefly; if it never arrives, say the
            // message was not queued rather than confirm a delivery that did not happen.
            let deadline = self.relay_deadline(only);
            let settled = |c: &String| self.sessions.lock().contains_key(c.as_str());
            while !only.iter().all(settled) {
                if tokio::time::Instant::now() >= deadline {
                    tracing::warn!(clients = ?only, "relayed message for a session that did not arrive here");
                    return Ok(PublishOutcome { refused: 1, ..Default::default() });
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let mut waits = self.relay_waits.lock();
            for c in only {
                waits.remove(c);
            }
        }
        let mut targets = self.targets(&msg, |g, f| groups.iter().any(|(a, b)| a == g && b == f), only);
        targets.retain(|t| t.shared.is_some() || !except.iter().any(|c| **c == *t.session.client_id));
        // After the local targets (see `route`): sessions that moved from here while the
        // sender's routes still point here get the message passed on, confirmed before this
        // node confirms, so the acknowledgement chain holds.
        let relays: Vec<ForwardTarget> = self
            .relays(&msg.topic)
            .into_iter()
            .map(|mut r| {
                if let Some(only) = only {
                    r.clients.retain(|c| only.contains(c));
                }
                r.clients.retain(|c| !except.contains(c));
                r
            })
            .filter(|r| !r.clients.is_empty())
            .collect();
        if !relays.is_empty() {
            self.forward_confirmed(&msg, &relays).await?;
        }
        if targets.is_empty() {
            return Ok(PublishOutcome { delivered: relays.len(), ..Default::default() });
        }
        let mut outcome = self.offer_all(&msg, targets, false).await?;
        outcome.delivered += relays.len();
        Ok(outcome)
    }
}

impl super::port::Inbound for Broker {
    fn start_forwarded(
        self: &Arc<Self>,
        msg: Arc<Message>,
        groups: Vec<(String, String)>,
        clients: Vec<String>,
        except: Vec<String>,
    ) -> ForwardedDelivery {
        Broker::start_forwarded(self, msg, groups, clients, except)
    }

    fn route(self: &Arc<Self>, msg: Arc<Message>) -> impl Future<Output = Result<PublishOutcome, BrokerError>> + Send {
        Broker::route(self, msg)
    }

    fn export_session(
        self: &Arc<Self>,
        client: &str,
        to: NodeId,
    ) -> impl Future<Output = Result<Option<SessionTransfer>, BrokerError>> + Send {
        Broker::export_session(self, client, to)
    }

    fn import_session(self: &Arc<Self>, t: SessionTransfer) -> impl Future<Output = Result<(), BrokerError>> + Send {
        Broker::import_session(self, t)
    }
}
