//! Read and administrative access to the broker's state, for the admin API (`admin`).
//!
//! Everything here takes short snapshots: the registry lock is held only to copy the session
//! handles, and each session's own lock only while one session is read. Listing is therefore
//! O(sessions) per request, which is fine for an operator's query and never blocks the data path
//! for longer than a single publish would.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::broker::session::{Kick, Session, SessionMeta};
use crate::broker::subs::{ClientKey, SubOptions};
use crate::broker::{Broker, BrokerError};
use crate::catalog::cmd::CatalogCmd;
use crate::metrics::DropReason;
use crate::protocol::Message;
use crate::protocol::topic;

/// One page of a listing, and how many items matched in all.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub total: usize,
    pub items: Vec<T>,
}

/// Which clients to list.
#[derive(Debug, Clone, Default)]
pub struct ClientQuery {
    pub client_id_prefix: Option<String>,
    pub connected: Option<bool>,
    pub offset: usize,
    pub limit: usize,
}

/// A session as listed.
#[derive(Debug, Clone)]
pub struct ClientSummary {
    pub client_id: ClientKey,
    pub connected: bool,
    /// The connected client's address.
    pub peer: Option<std::net::SocketAddr>,
    pub persistent: bool,
    /// Session Expiry Interval granted, seconds (`u32::MAX` = never).
    pub expiry: u32,
    pub subscriptions: usize,
    /// Queued for delivery (in memory and on disk), not yet sent.
    pub queued: usize,
    /// Sent with QoS 1/2 and not yet acknowledged.
    pub inflight: usize,
}

/// A session in detail.
#[derive(Debug, Clone)]
pub struct ClientDetail {
    pub summary: ClientSummary,
    pub subscriptions: Vec<(String, SubOptions)>,
    /// When a persistent session's connection ended (unix ms), from its stored record.
    pub disconnected_at_ms: Option<u64>,
    /// A will waiting for its delay interval.
    pub will_pending: bool,
}

/// One subscription of one session.
#[derive(Debug, Clone)]
pub struct SubscriptionEntry {
    pub client_id: ClientKey,
    /// As subscribed, including a `$share/<group>/` prefix.
    pub filter: String,
    pub options: SubOptions,
}

/// What an administrative kick found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KickOutcome {
    Kicked,
    NotConnected,
    NoSuchClient,
}

/// Counters and gauges for the status endpoint, read in one place.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub connections: u64,
    pub sessions: usize,
    pub persistent_sessions: usize,
    pub subscriptions: usize,
    pub routes: usize,
    pub retained: usize,
    pub queued: usize,
    pub inflight: usize,
    pub messages_received: u64,
    pub messages_sent: u64,
    pub messages_dropped: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
}

/// Every drop reason, for totals (the metric family has no cheap iteration).
const DROP_REASONS: [DropReason; 6] = [
    DropReason::QueueFull,
    DropReason::Expired,
    DropReason::PacketTooLarge,
    DropReason::NoSubscribers,
    DropReason::SharedNoMember,
    DropReason::HandoverOverflow,
];

fn summary(s: &Session) -> ClientSummary {
    let st = s.state.lock();
    ClientSummary {
        client_id: s.client_id.clone(),
        connected: st.conn.is_some(),
        peer: st.conn.and(st.peer),
        persistent: st.persistent(),
        expiry: st.expiry,
        subscriptions: st.subscriptions.len(),
        queued: st.queue.len() + st.disk_only,
        inflight: st.inflight.len(),
    }
}

impl Broker {
    /// The session handles, sorted by client id, so that paging is stable between requests.
    fn sorted_sessions(&self) -> Vec<Arc<Session>> {
        let mut v: Vec<Arc<Session>> = self.sessions.lock().values().cloned().collect();
        v.sort_unstable_by(|a, b| a.client_id.cmp(&b.client_id));
        v
    }

    /// Sessions matching `q`, one page of them. The filters use the lock-free `owner` mirror,
    /// so only the sessions on the returned page are locked.
    pub fn clients(&self, q: &ClientQuery) -> Page<ClientSummary> {
        let all = self.sorted_sessions();
        let matching: Vec<&Arc<Session>> = all
            .iter()
            .filter(|s| q.client_id_prefix.as_deref().is_none_or(|p| s.client_id.starts_with(p)))
            .filter(|s| q.connected.is_none_or(|c| (s.owner.load(Ordering::Acquire) != 0) == c))
            .collect();
        let items = matching.iter().skip(q.offset).take(q.limit).map(|s| summary(s)).collect();
        Page { total: matching.len(), items }
    }

    /// One session in detail, `None` if there is none for `client_id`.
    pub fn client(&self, client_id: &str) -> Option<ClientDetail> {
        let s = self.sessions.lock().get(client_id).cloned()?;
        let summary = summary(&s);
        let (subscriptions, will_pending) = {
            let st = s.state.lock();
            (st.subscriptions.iter().map(|(f, o)| (f.clone(), *o)).collect(), st.will.is_some())
        };
        let disconnected_at_ms = if summary.persistent && !summary.connected {
            // Only the stored record knows when the connection ended; a read error just leaves
            // the field empty, it must not fail an inspection.
            self.store
                .sessions
                .get(client_id.as_bytes())
                .ok()
                .flatten()
                .and_then(|v| serde_json::from_slice::<SessionMeta>(&v).ok())
                .and_then(|m| m.disconnected_at_ms)
        } else {
            None
        };
        Some(ClientDetail { summary, subscriptions, disconnected_at_ms, will_pending })
    }

    /// Ask a client's connection to leave (5.0: DISCONNECT 0x98). The session itself stays, as
    /// after any disconnect: a persistent one keeps queueing until it expires.
    pub fn kick_client(&self, client_id: &str) -> KickOutcome {
        let Some(s) = self.sessions.lock().get(client_id).cloned() else {
            return KickOutcome::NoSuchClient;
        };
        if s.owner.load(Ordering::Acquire) == 0 {
            return KickOutcome::NotConnected;
        }
        s.kick(Kick::Administrative);
        KickOutcome::Kicked
    }

    /// Subscriptions of every session (or of one client), sorted by client id then filter.
    pub fn subscriptions(&self, client_id: Option<&str>, offset: usize, limit: usize) -> Page<SubscriptionEntry> {
        let sessions = match client_id {
            Some(id) => self.sessions.lock().get(id).cloned().into_iter().collect(),
            None => self.sorted_sessions(),
        };
        let mut total = 0;
        let mut items = Vec::new();
        for s in sessions {
            let st = s.state.lock();
            let n = st.subscriptions.len();
            // Skip whole sessions before the page without copying their filters.
            if total + n <= offset || items.len() >= limit {
                total += n;
                continue;
            }
            for (i, (f, o)) in st.subscriptions.iter().enumerate() {
                if total + i >= offset && items.len() < limit {
                    items.push(SubscriptionEntry { client_id: s.client_id.clone(), filter: f.clone(), options: *o });
                }
            }
            total += n;
        }
        Page { total, items }
    }

    /// This node's routes: each filter it has local subscribers for, with their number.
    /// (Standalone, that is the whole route table; a cluster adds the other nodes' routes.)
    pub fn local_routes(&self) -> Vec<(String, usize)> {
        let mut v: Vec<(String, usize)> = self.local_filters.lock().iter().map(|(f, n)| (f.clone(), *n)).collect();
        v.sort_unstable();
        v
    }

    pub fn route_count(&self) -> usize {
        self.local_filters.lock().len()
    }

    /// Retained messages (catalog only, not `$SYS`) whose topic matches `filter`, by topic.
    pub fn retained_messages(&self, filter: &str) -> Vec<Arc<Message>> {
        let mut v = self.catalog.retained_matching(filter);
        v.sort_unstable_by(|a, b| a.topic.cmp(&b.topic));
        v
    }

    /// The retained message of exactly `topic_name`.
    pub fn retained_message(&self, topic_name: &str) -> Option<Arc<Message>> {
        if topic::has_wildcards(topic_name) {
            return None;
        }
        self.catalog.retained_matching(topic_name).into_iter().next()
    }

    /// Delete the retained message of `topic_name` through the catalog (so every node drops
    /// it). Returns whether there was one.
    pub async fn delete_retained(&self, topic_name: &str) -> Result<bool, BrokerError> {
        if self.retained_message(topic_name).is_none() {
            return Ok(false);
        }
        self.cluster.propose(CatalogCmd::SetRetained { topic: topic_name.to_string(), message: None }).await?;
        self.metrics.retained.set(self.catalog.retained_count() as i64);
        Ok(true)
    }

    /// Whether storage answers a read; readiness depends on it.
    pub fn storage_readable(&self) -> Result<(), crate::storage::StorageError> {
        self.store.sessions.contains_key(b"\0readiness-probe").map(|_| ()).map_err(crate::storage::StorageError::Read)
    }

    /// Everything the status endpoint and the scrape-time gauges report.
    pub fn totals(&self) -> Totals {
        let m = &self.metrics;
        let sum = |c: &[prometheus_client::metrics::counter::Counter; 3]| c.iter().map(|c| c.get()).sum::<u64>();
        let (queued, inflight) = self.queue_totals();
        let persistent_sessions = self.sessions.lock().values().filter(|s| s.state.lock().persistent()).count();
        Totals {
            connections: self.connections.load(Ordering::Relaxed),
            sessions: self.session_count(),
            persistent_sessions,
            subscriptions: self.subscription_count(),
            routes: self.route_count(),
            retained: self.catalog.retained_count(),
            queued,
            inflight,
            messages_received: sum(&m.messages_received),
            messages_sent: sum(&m.messages_sent),
            messages_dropped: DROP_REASONS.iter().map(|r| m.dropped_count(*r)).sum(),
            bytes_received: m.bytes_received.get(),
            bytes_sent: m.bytes_sent.get(),
        }
    }
}
