//! Client ids the broker keeps for itself: the local session of a bridge's out side is
//! `$bridge/<name>` (see `crate::bridge`), and no MQTT client may take it over or create it.

pub const BRIDGE_CLIENT_PREFIX: &str = "$bridge/";

/// Whether an MQTT client is refused this client id at CONNECT.
pub fn is_reserved_client_id(id: &str) -> bool {
    id.starts_with(BRIDGE_CLIENT_PREFIX)
}

/// The local session id of bridge `name`.
pub fn bridge_client_id(name: &str) -> String {
    format!("{BRIDGE_CLIENT_PREFIX}{name}")
}

/// What the node's bridges report to the admin API, `/metrics` and readiness (set once by the
/// node when it starts them; the broker does not know bridges otherwise).
pub trait BridgeReport: Send + Sync {
    /// `[{"name": …, "connected": …, …}]`, the body of `/api/v1/bridges`.
    fn snapshots(&self) -> serde_json::Value;
    /// The `starling_bridge_*` families.
    fn register_metrics(&self, reg: &mut prometheus_client::registry::Registry);
    /// The backlog bound of the bridge whose local session is `client`.
    fn queue_bound(&self, client: &str) -> Option<QueueBound>;
    /// A message for the bridge of `client` was dropped (the oldest) or refused (the new one)
    /// because its backlog was full: count and log it.
    fn overflowed(&self, client: &str, dropped_oldest: bool);
}

/// The backlog bound of a bridge's session: at most `max_messages` queued; when full, either
/// the oldest queued message makes room (`drop_oldest`) or the new one is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueBound {
    pub max_messages: usize,
    pub drop_oldest: bool,
}

/// Drop the oldest queued (not in flight, committed) delivery of `s` to make room, removing
/// its row in `batch`. False if there is none to drop.
pub fn evict_oldest(
    s: &crate::broker::session::Session,
    store: &crate::storage::Store,
    limits: crate::broker::session::QueueLimits,
    batch: &mut crate::storage::Batch,
) -> bool {
    let mut st = s.state.lock();
    if st.queue.is_empty()
        && st.disk_only > 0
        && crate::broker::session::Session::refill(&mut st, &s.client_id, store, limits).is_err()
    {
        return false;
    }
    if !st.queue.front().is_some_and(|d| d.is_ready()) {
        return false;
    }
    let Some(d) = st.pop() else { return false };
    if d.seq > 0 {
        batch.remove(&store.queue, crate::storage::queue_key(&s.client_id, d.seq));
    }
    true
}
