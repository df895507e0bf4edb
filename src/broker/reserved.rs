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
    /// The [`delivery_bytes`] of the QoS ≥ 1 messages in the backlog of `client`'s bridge.
    fn backlog_bytes(&self, client: &str) -> u64;
    /// A QoS ≥ 1 message of `bytes` was queued in the backlog of `client`'s bridge.
    fn backlog_grew(&self, client: &str, bytes: u64);
    /// A message for the bridge of `client` was dropped (the oldest, freeing `Some(bytes)`) or
    /// refused (the new one, `None`) because its backlog was full: count and log it.
    fn overflowed(&self, client: &str, freed: Option<u64>);
    /// The oldest message for the bridge of `client`, of `freed` bytes, was past its expiry
    /// (`backlog.max_age`) and was dropped to make room: count and log it.
    fn expired(&self, client: &str, freed: u64);
}

/// The backlog bound of a bridge's session: at most `max_messages` queued and `max_bytes` of
/// QoS ≥ 1 messages; when full, either the oldest queued messages make room (`drop_oldest`)
/// or the new one is refused. Messages older than `max_age_ms` are not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueBound {
    pub max_messages: usize,
    pub max_bytes: u64,
    pub max_age_ms: u64,
    pub drop_oldest: bool,
}

/// What a message costs against `max_bytes`: its topic and payload (QoS 0 is never stored
/// and costs nothing).
pub fn delivery_bytes(d: &crate::broker::session::Delivery) -> u64 {
    if d.qos == 0 {
        return 0;
    }
    (d.msg.topic.len() + d.msg.payload.len()) as u64
}

/// Take the oldest queued (not in flight, committed) delivery of `s` if `pred` holds for it,
/// removing its row in `batch`. `None` if there is none or `pred` refuses it.
pub fn evict_front(
    s: &crate::broker::session::Session,
    store: &crate::storage::Store,
    limits: crate::broker::session::QueueLimits,
    batch: &mut crate::storage::Batch,
    pred: impl Fn(&crate::broker::session::Delivery) -> bool,
) -> Option<crate::broker::session::Delivery> {
    let mut st = s.state.lock();
    if st.queue.is_empty()
        && st.disk_only > 0
        && crate::broker::session::Session::refill(&mut st, &s.client_id, store, limits).is_err()
    {
        return None;
    }
    if !st.queue.front().is_some_and(|d| d.is_ready() && pred(d)) {
        return None;
    }
    let d = st.pop()?;
    if d.seq > 0 {
        batch.remove(&store.queue, crate::storage::queue_key(&s.client_id, d.seq));
    }
    Some(d)
}
