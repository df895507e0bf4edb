//! The metrics registry (prometheus-client). Hot-path counters are resolved once into plain
//! handles (an atomic add each); labelled families are used only where the label set is small and
//! known in advance.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TaskLabel {
    pub task: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabel {
    pub listener: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerReasonLabel {
    pub listener: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerResultLabel {
    pub listener: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QosLabel {
    pub qos: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabel {
    pub r#type: String,
}

/// Why a message was not delivered to some subscriber. Every drop is counted under one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    QueueFull,
    Expired,
    PacketTooLarge,
    NoSubscribers,
    SharedNoMember,
    /// A hand-back (a previous owner's held messages) met a session queue already twice its
    /// `session.max_queued`.
    HandoverOverflow,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::Expired => "expired",
            DropReason::PacketTooLarge => "packet_too_large",
            DropReason::NoSubscribers => "no_subscribers",
            DropReason::SharedNoMember => "shared_no_member",
            DropReason::HandoverOverflow => "handover_overflow",
        }
    }
}

/// MQTT packet type labels, in a fixed order for the pre-resolved counters.
pub const PACKET_TYPES: [&str; 15] = [
    "connect",
    "connack",
    "publish",
    "puback",
    "pubrec",
    "pubrel",
    "pubcomp",
    "subscribe",
    "suback",
    "unsubscribe",
    "unsuback",
    "pingreq",
    "pingresp",
    "disconnect",
    "auth",
];

pub struct Metrics {
    pub registry: parking_lot::Mutex<Registry>,
    pub connections: Gauge,
    pub connects: Counter,
    pub disconnects: Family<ReasonLabel, Counter>,
    pub packets_received: Family<TypeLabel, Counter>,
    pub packets_sent: Family<TypeLabel, Counter>,
    /// `packets_received` / `packets_sent` resolved once per type (indexed like [`PACKET_TYPES`]).
    packets_in: Vec<Counter>,
    packets_out: Vec<Counter>,
    pub messages_received: [Counter; 3],
    pub messages_sent: [Counter; 3],
    pub messages_dropped: Family<ReasonLabel, Counter>,
    pub bytes_received: Counter,
    pub bytes_sent: Counter,
    pub retained: Gauge,
    pub subscriptions: Gauge,
    pub sessions_persistent: Gauge,
    pub queued: Gauge,
    pub inflight: Gauge,
    /// Failed authentications by reason (`bad_credentials`, `not_authorized`).
    pub auth_failures: Family<ReasonLabel, Counter>,
    /// Background tasks that panicked, by task name (`node::supervisor`).
    pub task_panics: Family<TaskLabel, Counter>,
    /// Password hashes computed to check a CONNECT (dummy hashes for unknown users included).
    pub password_checks: Counter,
    /// Times a client was read more slowly because it went over a rate limit, by limit.
    pub throttled: Family<ReasonLabel, Counter>,
    /// TLS handshakes that failed or timed out.
    pub tls_handshake_failures: Counter,
    /// TLS material reloads (file change or SIGHUP) by listener and result (`ok`, `error`).
    pub tls_reloads: Family<ListenerResultLabel, Counter>,
    /// When the certificate a TLS listener serves expires (Unix seconds).
    pub tls_cert_expiry: Family<ListenerLabel, Gauge>,
    /// Connections closed because their PROXY protocol header was missing or bad.
    pub proxy_protocol_errors: Family<ListenerReasonLabel, Counter>,
    /// WebSocket upgrades refused (wrong path, no MQTT subprotocol, bad HTTP, timeout).
    pub websocket_upgrade_failures: Family<ListenerReasonLabel, Counter>,
    pub refused: Family<ReasonLabel, Counter>,
    pub storage_errors: Counter,
    /// Connection tasks that panicked (caught, logged, answered; see `transport::contain`).
    pub connection_panics: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let packets_received = Family::<TypeLabel, Counter>::default();
        let packets_sent = Family::<TypeLabel, Counter>::default();
        let recv = Family::<QosLabel, Counter>::default();
        let sent = Family::<QosLabel, Counter>::default();
        // A clone of a counter shares its atomic, so the handles below feed the families.
        let by_qos = |f: &Family<QosLabel, Counter>| {
            [0, 1, 2].map(|q| f.get_or_create(&QosLabel { qos: q.to_string() }).clone())
        };
        let by_type = |f: &Family<TypeLabel, Counter>| {
            PACKET_TYPES.iter().map(|t| f.get_or_create(&TypeLabel { r#type: (*t).into() }).clone()).collect::<Vec<_>>()
        };
        let m = Metrics {
            registry: parking_lot::Mutex::new(Registry::default()),
            connections: Gauge::default(),
            connects: Counter::default(),
            disconnects: Family::default(),
            packets_in: by_type(&packets_received),
            packets_out: by_type(&packets_sent),
            packets_received,
            packets_sent,
            messages_received: by_qos(&recv),
            messages_sent: by_qos(&sent),
            messages_dropped: Family::default(),
            bytes_received: Counter::default(),
            bytes_sent: Counter::default(),
            retained: Gauge::default(),
            subscriptions: Gauge::default(),
            sessions_persistent: Gauge::default(),
            queued: Gauge::default(),
            inflight: Gauge::default(),
            auth_failures: Family::default(),
            task_panics: Family::default(),
            password_checks: Counter::default(),
            throttled: Family::default(),
            tls_handshake_failures: Counter::default(),
            tls_reloads: Family::default(),
            tls_cert_expiry: Family::default(),
            proxy_protocol_errors: Family::default(),
            websocket_upgrade_failures: Family::default(),
            refused: Family::default(),
            storage_errors: Counter::default(),
            connection_panics: Counter::default(),
        };
        let mut r = Registry::with_prefix("starling");
        r.register("connections", "Open MQTT connections", m.connections.clone());
        r.register("connects", "Accepted MQTT connections (CONNACK success)", m.connects.clone());
        r.register("disconnects", "Closed MQTT connections by reason", m.disconnects.clone());
        r.register("packets_received", "MQTT packets received by type", m.packets_received.clone());
        r.register("packets_sent", "MQTT packets sent by type", m.packets_sent.clone());
        r.register("messages_received", "Application messages received from clients by QoS", recv);
        r.register("messages_sent", "Application messages sent to clients by QoS", sent);
        r.register("messages_dropped", "Messages not delivered to a subscriber, by reason", m.messages_dropped.clone());
        r.register("bytes_received", "Bytes read from client sockets", m.bytes_received.clone());
        r.register("bytes_sent", "Bytes written to client sockets", m.bytes_sent.clone());
        r.register("retained_messages", "Retained messages", m.retained.clone());
        r.register("subscriptions", "Subscriptions on this node", m.subscriptions.clone());
        r.register("sessions_persistent", "Sessions with a non-zero expiry", m.sessions_persistent.clone());
        r.register("queued_messages", "Messages queued for sessions", m.queued.clone());
        r.register("inflight_messages", "QoS 1/2 messages sent and not yet acknowledged", m.inflight.clone());
        r.register("auth_failures", "Failed authentications by reason", m.auth_failures.clone());
        r.register("task_panics", "Background tasks that panicked, by task", m.task_panics.clone());
        r.register("password_checks", "Password hashes computed for CONNECTs", m.password_checks.clone());
        r.register(
            "throttled",
            "Times a client's reads were paused for going over a rate limit, by limit",
            m.throttled.clone(),
        );
        r.register(
            "tls_handshake_failures",
            "TLS handshakes that failed (bad certificate, protocol mismatch, timeout)",
            m.tls_handshake_failures.clone(),
        );
        r.register(
            "tls_reloads",
            "Reloads of a TLS listener's certificate, key, CA and CRL files, by result",
            m.tls_reloads.clone(),
        );
        r.register(
            "tls_certificate_expiry_timestamp_seconds",
            "When the certificate a TLS listener serves expires (Unix time)",
            m.tls_cert_expiry.clone(),
        );
        r.register(
            "proxy_protocol_errors",
            "Connections closed because the PROXY protocol header was missing, malformed or late",
            m.proxy_protocol_errors.clone(),
        );
        r.register(
            "websocket_upgrade_failures",
            "WebSocket upgrades refused: wrong path, no MQTT subprotocol, bad request, timeout",
            m.websocket_upgrade_failures.clone(),
        );
        r.register("refused", "Connections, packets or messages refused by a limit, by reason", m.refused.clone());
        r.register("storage_errors", "Failed storage writes", m.storage_errors.clone());
        r.register(
            "connection_panics",
            "Connection tasks that panicked; each was closed and its client told where possible",
            m.connection_panics.clone(),
        );
        *m.registry.lock() = r;
        m
    }

    pub fn dropped(&self, reason: DropReason) {
        self.messages_dropped.get_or_create(&ReasonLabel { reason: reason.as_str().into() }).inc();
    }

    pub fn refused(&self, reason: &str) {
        self.refused.get_or_create(&ReasonLabel { reason: reason.into() }).inc();
    }

    pub fn auth_failed(&self, reason: &str) {
        self.auth_failures.get_or_create(&ReasonLabel { reason: reason.into() }).inc();
    }

    pub fn task_panicked(&self, task: &str) {
        self.task_panics.get_or_create(&TaskLabel { task: task.into() }).inc();
    }

    pub fn task_panics_of(&self, task: &str) -> u64 {
        self.task_panics.get_or_create(&TaskLabel { task: task.into() }).get()
    }

    pub fn throttled(&self, limit: &str) {
        self.throttled.get_or_create(&ReasonLabel { reason: limit.into() }).inc();
    }

    pub fn proxy_protocol_error(&self, listener: &str, reason: &str) {
        self.proxy_protocol_errors
            .get_or_create(&ListenerReasonLabel { listener: listener.into(), reason: reason.into() })
            .inc();
    }

    pub fn websocket_upgrade_failure(&self, listener: &str, reason: &str) {
        self.websocket_upgrade_failures
            .get_or_create(&ListenerReasonLabel { listener: listener.into(), reason: reason.into() })
            .inc();
    }

    pub fn tls_reload(&self, listener: &str, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.tls_reloads.get_or_create(&ListenerResultLabel { listener: listener.into(), result: result.into() }).inc();
    }

    pub fn tls_reload_count(&self, listener: &str, ok: bool) -> u64 {
        let result = if ok { "ok" } else { "error" };
        self.tls_reloads.get_or_create(&ListenerResultLabel { listener: listener.into(), result: result.into() }).get()
    }

    pub fn disconnected(&self, reason: &str) {
        self.disconnects.get_or_create(&ReasonLabel { reason: reason.into() }).inc();
    }

    pub fn packet_in(&self, ty: &'static str) {
        match PACKET_TYPES.iter().position(|t| *t == ty).and_then(|i| self.packets_in.get(i)) {
            Some(c) => c.inc(),
            None => self.packets_received.get_or_create(&TypeLabel { r#type: ty.into() }).inc(),
        };
    }

    pub fn packet_out(&self, ty: &'static str) {
        self.packets_out_n(ty, 1);
    }

    /// `n` packets of type `ty` sent (a batch counted once: the counters are shared by every
    /// connection's thread).
    pub fn packets_out_n(&self, ty: &'static str, n: u64) {
        match PACKET_TYPES.iter().position(|t| *t == ty).and_then(|i| self.packets_out.get(i)) {
            Some(c) => c.inc_by(n),
            None => self.packets_sent.get_or_create(&TypeLabel { r#type: ty.into() }).inc_by(n),
        };
    }

    pub fn dropped_count(&self, reason: DropReason) -> u64 {
        self.messages_dropped.get_or_create(&ReasonLabel { reason: reason.as_str().into() }).get()
    }

    /// Text exposition format.
    pub fn encode(&self) -> String {
        let mut s = String::new();
        if prometheus_client::encoding::text::encode(&mut s, &self.registry.lock()).is_err() {
            s.clear();
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_feed_the_exported_families() {
        let m = Metrics::new();
        m.messages_received[1].inc();
        m.packet_in("publish");
        m.dropped(DropReason::QueueFull);
        let text = m.encode();
        assert!(text.contains("starling_messages_received_total{qos=\"1\"} 1"), "{text}");
        assert!(text.contains("starling_packets_received_total{type=\"publish\"} 1"), "{text}");
        assert!(text.contains("starling_messages_dropped_total{reason=\"queue_full\"} 1"), "{text}");
    }
}
