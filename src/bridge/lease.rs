//! Which node of a cluster runs a bridge: the lease in the replicated catalog
//! (`catalog::lease` has the rules and why they need no synchronised clocks).
//!
//! A node [`Lease::acquire`]s the lease before it attaches to the bridge's session, keeps it
//! ([`Lease::keep`]: renewals every third of the lease time) while the link runs, and fences
//! itself — stops the link at once — when the catalog shows another holder or epoch, when a
//! renewal sent a lease time ago has not committed, or when the node starts draining. It
//! [`Lease::release`]s the lease when it stops or drains, so another node takes over without
//! waiting for it to expire. A cluster of one acquires at once: nobody else holds it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::broker::Broker;
use crate::catalog::cmd::{CatalogCmd, CatalogResp, NodeId};
use crate::catalog::lease::{LeaseAction, LeaseRow};

/// What this node knows of a bridge's lease, for the API and `/metrics`.
#[derive(Default)]
pub struct LeaseState {
    /// The holder as this node's catalog last showed it (0: none).
    pub holder: AtomicU64,
    pub epoch: AtomicU64,
    /// This node holds the lease and may run the link.
    pub held: AtomicBool,
    /// Holder changes this node has seen (epochs advanced) since it started.
    pub changes: AtomicU64,
}

impl LeaseState {
    /// Record the row as seen in the catalog; counts epochs that went by.
    fn saw(&self, row: &LeaseRow) {
        let before = self.epoch.swap(row.epoch, Ordering::Relaxed);
        if before != 0 && row.epoch > before {
            self.changes.fetch_add(row.epoch - before, Ordering::Relaxed);
        }
        self.holder.store(row.holder.unwrap_or(0), Ordering::Relaxed);
    }

    pub fn holder(&self) -> Option<NodeId> {
        Some(self.holder.load(Ordering::Relaxed)).filter(|h| *h != 0)
    }
}

/// A lease this node holds: its epoch, and until when it may run the link unless renewed.
#[derive(Debug, Clone, Copy)]
pub struct Held {
    pub epoch: u64,
    valid_until: Instant,
}

/// Why a held lease ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The runner finished (stop, drain, its session went): the lease is still this node's.
    Kept,
    /// Another node holds it, or it could not be renewed in time: the link was fenced.
    Lost,
}

pub struct Lease {
    pub bridge: String,
    broker: Arc<Broker>,
    /// How long a lease lasts without a renewal (`cluster.bridge_lease`).
    ttl: Duration,
    pub state: Arc<LeaseState>,
}

impl Lease {
    pub fn new(bridge: &str, broker: &Arc<Broker>, ttl: Duration, state: Arc<LeaseState>) -> Lease {
        Lease { bridge: bridge.to_string(), broker: broker.clone(), ttl, state }
    }

    /// How often the catalog row is looked at.
    fn poll(&self) -> Duration {
        (self.ttl / 10).clamp(Duration::from_millis(50), Duration::from_millis(500))
    }

    /// What the holder must keep in hand: its link stops this long before the lease could
    /// pass to another node.
    fn margin(&self) -> Duration {
        self.ttl / 5
    }

    fn row(&self) -> LeaseRow {
        let row = self.broker.catalog.bridge_lease(&self.bridge).unwrap_or_default();
        self.state.saw(&row);
        row
    }

    async fn propose(&self, action: LeaseAction) -> Result<LeaseRow, String> {
        let me = self.broker.cluster.node_id();
        let cmd = CatalogCmd::BridgeLease { bridge: self.bridge.clone(), node: me, action };
        match tokio::time::timeout(self.ttl, self.broker.cluster.propose(cmd)).await {
            Ok(Ok(CatalogResp::Lease(row))) => Ok(row),
            Ok(Ok(other)) => Err(format!("unexpected answer {other:?}")),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("not committed within {:?}", self.ttl)),
        }
    }

    /// Wait until this node holds the lease: at once when nobody holds it (or this node does,
    /// from before a restart), when the holder left the membership, or when the holder has not
    /// renewed for the whole lease time. Never while the node drains. `None`: `stop` fired.
    pub async fn acquire(&self, stop: &mut watch::Receiver<bool>) -> Option<Held> {
        let me = self.broker.cluster.node_id();
        // The version last seen and since when (this node's monotonic clock).
        let mut seen: Option<(u64, Instant)> = None;
        let mut logged_wait = false;
        loop {
            if *stop.borrow() {
                return None;
            }
            let row = self.row();
            let now = Instant::now();
            let since = match seen {
                Some((v, t)) if v == row.version => t,
                _ => {
                    seen = Some((row.version, now));
                    now
                }
            };
            let free = row.holder.is_none_or(|h| h == me);
            // Only a node that is itself a member judges the membership: a node still joining
            // has an empty view of it.
            let gone =
                row.holder.is_some_and(|h| !self.broker.cluster.is_member(h)) && self.broker.cluster.is_member(me);
            let expired = now.duration_since(since) >= self.ttl;
            if !self.broker.is_draining() && (free || gone || expired) {
                let sent = Instant::now();
                match self.propose(LeaseAction::Acquire { seen: row.version }).await {
                    Ok(r) => {
                        self.state.saw(&r);
                        if r.holder == Some(me) {
                            self.state.held.store(true, Ordering::Relaxed);
                            tracing::info!(
                                bridge = %self.bridge,
                                epoch = r.epoch,
                                previous = ?row.holder.filter(|h| *h != me),
                                why = if free { "free" } else if gone { "holder left the cluster" } else { "holder silent" },
                                "bridge lease acquired: this node runs the bridge"
                            );
                            return Some(Held { epoch: r.epoch, valid_until: sent + self.ttl - self.margin() });
                        }
                    }
                    Err(e) => tracing::debug!(bridge = %self.bridge, "bridge lease not acquired: {e}"),
                }
            } else if !logged_wait && row.holder.is_some() {
                logged_wait = true;
                tracing::info!(bridge = %self.bridge, holder = ?row.holder, "bridge runs on another node; standing by");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.poll()) => {}
                r = stop.changed() => if r.is_err() { return None },
            }
        }
    }

    /// Keep `held` while the runner works: renew it, and raise `fence` (stopping the link) as
    /// soon as it is lost, the node drains or `stop` fires. Returns once `done` is notified
    /// (the runner ended); a lost lease raises `fence` first and still waits for `done`.
    pub async fn keep(
        &self,
        held: Held,
        fence: &watch::Sender<bool>,
        done: &Notify,
        mut stop: watch::Receiver<bool>,
    ) -> Ended {
        let me = self.broker.cluster.node_id();
        let mut valid_until = held.valid_until;
        let mut next_renew = Instant::now() + self.ttl / 3;
        let mut renewal: Option<(Instant, crate::broker::port::BoxFuture<'_, Result<LeaseRow, String>>)> = None;
        let mut ended = Ended::Kept;
        let finished = done.notified();
        tokio::pin!(finished);
        loop {
            let renewed = async {
                match renewal.as_mut() {
                    Some((_, f)) => f.as_mut().await,
                    None => std::future::pending().await,
                }
            };
            let event = tokio::select! {
                _ = &mut finished => break,
                r = renewed => Some(r),
                r = stop.changed(), if !*fence.borrow() => {
                    if r.is_err() || *stop.borrow() {
                        fence.send_replace(true);
                    }
                    None
                }
                _ = tokio::time::sleep(self.poll()) => None,
            };
            if let Some(r) = event {
                let sent = renewal.take().map_or(valid_until, |(t, _)| t);
                match r {
                    Ok(row) if row.holder == Some(me) && row.epoch == held.epoch => {
                        valid_until = valid_until.max(sent + self.ttl - self.margin());
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(bridge = %self.bridge, "bridge lease not renewed: {e}"),
                }
            }
            if *fence.borrow() {
                continue;
            }
            let row = self.row();
            let now = Instant::now();
            let why = if row.holder != Some(me) || row.epoch != held.epoch {
                Some(format!("the catalog names node {:?} (epoch {})", row.holder, row.epoch))
            } else if now >= valid_until {
                Some(format!("no renewal committed within {:?}", self.ttl - self.margin()))
            } else if self.broker.is_draining() {
                // Not lost: released once the link has stopped.
                fence.send_replace(true);
                continue;
            } else {
                None
            };
            if let Some(why) = why {
                tracing::warn!(bridge = %self.bridge, epoch = held.epoch, "bridge lease lost ({why}); stopping the link");
                self.state.held.store(false, Ordering::Relaxed);
                ended = Ended::Lost;
                fence.send_replace(true);
                continue;
            }
            if renewal.is_none() && now >= next_renew {
                next_renew = now + self.ttl / 3;
                renewal = Some((now, Box::pin(self.propose(LeaseAction::Renew { epoch: held.epoch }))));
            }
        }
        ended
    }

    /// Give the lease up (after the link stopped), so another node takes it at once.
    pub async fn release(&self, held: Held) {
        self.state.held.store(false, Ordering::Relaxed);
        match self.propose(LeaseAction::Release { epoch: held.epoch }).await {
            Ok(r) => {
                self.state.saw(&r);
                tracing::info!(bridge = %self.bridge, epoch = held.epoch, "bridge lease released");
            }
            Err(e) => tracing::warn!(
                bridge = %self.bridge,
                "bridge lease not released ({e}); another node takes it once it expires"
            ),
        }
    }
}
