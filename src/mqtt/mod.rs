//! The MQTT driver: every decision a client connection makes, with no socket.
//!
//! A [`Driver`] takes what the transport read ([`Driver::feed`]) and the events of its
//! connection (a session wake-up, a confirmation from other nodes, a timer, shutdown), asks
//! the broker, and leaves what to send in its output buffer ([`Driver::output`]) and whether
//! to end in [`Driver::end`]. The transport owns the socket and the `select!` loop around it
//! (`transport::connection`); unit tests drive a `Driver` with packets alone.
//!
//! The `mqtt-protocol-core` connection inside validates packets and tracks packet ids, receive
//! maximum, topic aliases and keep-alive. One file per packet family, as mini-redis' `cmd/`:
//! `connect`, `publish` (client → broker), `ack` (the QoS flows and the cross-node
//! acknowledgement pipeline), `subscribe`, `control` (DISCONNECT, kicks, closing), `deliver`
//! (broker → client), [`reason`] (named reason codes); `dispatch` routes packets to them.

mod ack;
mod connect;
mod control;
mod deliver;
mod dispatch;
mod publish;
pub mod reason;
mod subscribe;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use mqtt_protocol_core::mqtt::connection::{ConnectionOptions, TimerKind};
use mqtt_protocol_core::mqtt::result_code::DisconnectReasonCode;
use mqtt_protocol_core::mqtt::{Connection, Version, role};
use tokio::time::Instant;

use crate::auth::ConnAcl;
use crate::auth::limits::TokenBucket;
use crate::broker::port::ClusterError;
use crate::broker::session::Session;
use crate::broker::{Broker, Will};

// What a bridge's upstream client shares with the driver: the same packets, built one way.
pub(crate) use ack::{Ack, ack_packet};
pub(crate) use deliver::{build_v3, build_v5};
pub(crate) use publish::publish_props_in;
pub(crate) use reason::Reason;

/// What a listener tells each of its connections.
#[derive(Debug, Clone)]
pub struct ListenerInfo {
    pub name: String,
    pub allow_anonymous: bool,
    /// `allow_anonymous` is the loopback default, not configured: only for loopback clients
    /// (see `transport::access`).
    pub anonymous_implicit: bool,
}

/// Whether a client at `peer` may connect without credentials. `allowed`: the listener's
/// setting as resolved from the configuration; `implicit`: it was not configured anywhere
/// (the loopback default), so the client itself must be local.
pub fn anonymous_for(allowed: bool, implicit: bool, peer: IpAddr) -> bool {
    allowed && (!implicit || peer.to_canonical().is_loopback())
}

/// Why the connection ended (a metrics label and a log field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    ClientDisconnect,
    ClientDisconnectWithWill,
    PeerClosed,
    ProtocolError,
    KeepAliveTimeout,
    ConnectTimeout,
    TakenOver,
    Kicked,
    Shutdown,
    WriteTimeout,
    IoError,
    Refused,
    /// The task panicked (see `transport::contain`).
    Panic,
}

impl End {
    /// The server ended the connection while the client may still be sending: close gracefully
    /// (`transport::contain::linger`) so what was sent last (DISCONNECT, CONNACK) is not lost
    /// to a reset.
    pub fn server_closed(self) -> bool {
        matches!(self, End::ProtocolError | End::KeepAliveTimeout | End::TakenOver | End::Kicked | End::Refused)
    }

    pub fn label(self) -> &'static str {
        match self {
            End::ClientDisconnect => "normal",
            End::ClientDisconnectWithWill => "disconnect_with_will",
            End::PeerClosed => "peer_closed",
            End::ProtocolError => "protocol_error",
            End::KeepAliveTimeout => "keepalive_timeout",
            End::ConnectTimeout => "connect_timeout",
            End::TakenOver => "takeover",
            End::Kicked => "kicked",
            End::Shutdown => "shutdown",
            End::WriteTimeout => "write_timeout",
            End::IoError => "io_error",
            End::Refused => "connack_refused",
            End::Panic => "panic",
        }
    }
}

/// How far a connection got when its task panicked: what the client may be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// No CONNECT understood yet: the version is unknown, so nothing can be sent.
    Unknown,
    /// CONNECT read, no CONNACK sent yet.
    Connecting { v5: bool },
    /// CONNACK success sent.
    Connected { v5: bool },
}

/// One client connection's MQTT state. Every idle connection holds one: rarely used state is
/// boxed.
pub struct Driver {
    broker: Arc<Broker>,
    info: Arc<ListenerInfo>,
    peer: SocketAddr,
    mqtt: Connection<role::Server>,
    conn_id: u64,
    version: Version,
    client_id: Option<Arc<str>>,
    session: Option<Arc<Session>>,
    will: Option<Will>,
    /// Session expiry granted at CONNECT (0 forbids a non-zero value at DISCONNECT).
    connect_expiry: u32,
    new_expiry: Option<u32>,
    /// Maximum in-flight QoS ≥ 1 messages towards the client.
    window: usize,
    /// The client accepts topic aliases (5.0 Topic Alias Maximum > 0): the library assigns them,
    /// so QoS 0 deliveries cannot use the shared encoding.
    aliases_out: bool,
    /// The client's Maximum Packet Size.
    max_out: usize,
    /// A publish of this read fed a congested session (see `PublishOutcome::congested`).
    congested: bool,
    /// Encoded packets for the transport to write; flushed once per loop turn.
    wbuf: Vec<u8>,
    keepalive_deadline: Option<Instant>,
    /// Stream-level checks the protocol library does not make.
    frames: crate::protocol::frame::FrameCheck,
    /// MQTT 3.1 clients: their CONNECT is rewritten as 3.1.1.
    mqtt31: crate::protocol::mqtt31::Mqtt31,
    /// What only the CONNECT uses (out of line; gone once it is handled).
    pre: Option<Box<PreConnect>>,
    /// The authenticated username (`None` for an anonymous client).
    username: Option<Box<str>>,
    /// The ACL rules that apply to this client; set at CONNECT. (Boxed: 72 bytes that every
    /// connection would otherwise carry inline, and a lookup reads it through one pointer.)
    acl: Option<Box<ConnAcl>>,
    /// Per-client rate limits (`[limits]`) and their throttle; `None` when none is configured
    /// (out of line: every idle connection would carry them).
    limits: Option<Box<Limits>>,
    /// QoS 1/2 publishes forwarded to other nodes whose acknowledgement waits for their
    /// confirmations, oldest first: they are acknowledged in this order (MQTT-4.6.0-2/3), and
    /// everything after the first unconfirmed one waits with it. At most `receive_maximum`.
    acks: ack::Acks,
    /// PUBACK / PUBCOMP ids of the bytes being fed, completed together once they are all
    /// handled ([`Driver::complete_acked`]). Out of line: only subscribers with QoS ≥ 1
    /// deliveries use it, and it is kept between reads while the connection is active.
    #[allow(clippy::box_collection)] // 8 bytes inline instead of 24
    acked: Option<Box<Vec<u16>>>,
    end: Option<End>,
}

/// What the CONNECT is checked with, beyond the packet.
#[derive(Default)]
struct PreConnect {
    /// The username from the transport (a verified client certificate); overrides CONNECT's.
    cert_user: Option<String>,
    /// While a CONNECT is handled: turns true when the client closes its socket, so a
    /// password check still waiting for its turn is not made (the transport watches the socket).
    peer_gone: Option<tokio::sync::watch::Receiver<bool>>,
}

/// A client's rate limits and what they hold back.
struct Limits {
    msg: Option<TokenBucket>,
    bytes: Option<TokenBucket>,
    /// Over a rate limit: the socket is not read until then (back-pressure, not a disconnect).
    until: Option<Instant>,
    /// Set when a PUBLISH went over the message rate: the rest of the bytes already read are
    /// held back (in `held`, frame-checked, with any frame error after them) until the
    /// throttle ends, so one large read cannot carry a burst past the limit.
    hold: bool,
    held: Option<(Vec<u8>, Option<crate::protocol::frame::FrameError>)>,
}

impl Limits {
    fn of(auth: &crate::auth::Auth) -> Option<Box<Limits>> {
        let (msg, bytes) = (auth.message_bucket(), auth.byte_bucket());
        (msg.is_some() || bytes.is_some())
            .then(|| Box::new(Limits { msg, bytes, until: None, hold: false, held: None }))
    }
}

impl Driver {
    /// A driver for a client at `peer`; `identity` is the username its transport verified (a
    /// TLS client certificate), which wins over CONNECT's and counts as credentials.
    pub fn new(broker: Arc<Broker>, info: Arc<ListenerInfo>, peer: SocketAddr, identity: Option<String>) -> Driver {
        let s = broker.settings();
        let opts =
            ConnectionOptions::new().maximum_packet_size_recv(s.max_packet_size).receive_maximum(s.receive_maximum);
        let mut mqtt = Connection::<role::Server>::with_options(Version::Undetermined, opts);
        mqtt.set_auto_ping_response(true);
        mqtt.set_auto_map_topic_alias_send(true);
        Driver {
            conn_id: broker.next_conn_id(),
            info,
            peer,
            mqtt,
            version: Version::Undetermined,
            client_id: None,
            session: None,
            will: None,
            connect_expiry: 0,
            new_expiry: None,
            window: usize::from(s.max_inflight),
            aliases_out: false,
            max_out: usize::MAX,
            congested: false,
            wbuf: Vec::new(),
            keepalive_deadline: None,
            frames: crate::protocol::frame::FrameCheck::server(),
            mqtt31: Default::default(),
            pre: identity.map(|u| Box::new(PreConnect { cert_user: Some(u), peer_gone: None })),
            username: None,
            acl: None,
            limits: Limits::of(broker.auth()),
            acks: ack::Acks::default(),
            acked: None,
            end: None,
            broker,
        }
    }

    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// How the connection ends, once decided; the transport flushes the output and stops.
    pub fn end(&self) -> Option<End> {
        self.end
    }

    /// While the transport feeds bytes that may hold the CONNECT, it watches the socket and
    /// passes the flag here: a password check still waiting when the client closes is skipped.
    pub fn watch_peer(&mut self, gone: Option<tokio::sync::watch::Receiver<bool>>) {
        match gone {
            Some(rx) => self.pre.get_or_insert_default().peer_gone = Some(rx),
            None => {
                if let Some(p) = &mut self.pre {
                    p.peer_gone = None;
                    if p.cert_user.is_none() {
                        self.pre = None;
                    }
                }
            }
        }
    }

    /// The session, once CONNECT was accepted (the transport waits on its wake-ups).
    pub fn session(&self) -> Option<&Arc<Session>> {
        self.session.as_ref()
    }

    /// Bytes to write to the client.
    pub fn output(&self) -> &[u8] {
        &self.wbuf
    }

    /// The output was written.
    pub fn written(&mut self) {
        self.broker.metrics().bytes_sent.inc_by(self.wbuf.len() as u64);
        self.wbuf.clear();
        // A buffer from a burst is not kept for the life of an idle connection.
        if self.wbuf.capacity() > 8 * 1024 {
            self.wbuf = Vec::new();
        }
    }

    /// The connection is going idle (the transport parks it): buffers kept for the next burst
    /// are given back. (`written` keeps up to 8 KiB between writes of a busy connection.)
    pub fn release_buffers(&mut self) {
        if self.wbuf.is_empty() {
            self.wbuf = Vec::new();
        }
        self.acks.shrink();
        if self.acked.as_ref().is_some_and(|a| a.is_empty()) {
            self.acked = None;
        }
    }

    /// The next time [`Driver::timer`] must run: the keep-alive (or, before CONNECT, `connect`)
    /// deadline or the end of a rate-limit throttle, whichever is first.
    pub fn deadline(&self, connect: Instant) -> Option<Instant> {
        let deadline = if self.session.is_none() { Some(connect) } else { self.keepalive_deadline };
        match (deadline, self.throttle_until()) {
            (Some(d), Some(t)) => Some(d.min(t)),
            (d, t) => d.or(t),
        }
    }

    /// When the keep-alive expires without a packet from the client, if it has one.
    pub fn keepalive_deadline(&self) -> Option<Instant> {
        self.keepalive_deadline
    }

    /// Whether the transport may read: not throttled, and not `receive_maximum` publishes
    /// waiting for other nodes (back-pressure for a 3.1.1 client, which has no receive maximum
    /// of its own).
    pub fn readable(&self) -> bool {
        self.throttle_until().is_none() && self.acks.len() < usize::from(self.broker.settings().receive_maximum)
    }

    /// `n` bytes arrived: count them against the byte rate.
    pub fn received(&mut self, n: usize) {
        self.broker.metrics().bytes_received.inc_by(n as u64);
        if let Some(b) = self.limits.as_mut().and_then(|l| l.bytes.as_mut()) {
            let wait = b.take_with_debt(n as f64, Instant::now().into_std());
            self.throttle(wait, "bytes");
        }
    }

    /// A publish fed a subscriber with a backlog since the last call: the transport should
    /// yield so its connection runs.
    pub fn take_congested(&mut self) -> bool {
        std::mem::take(&mut self.congested)
    }

    /// A timer set by [`Driver::deadline`] fired. `Some` ends the connection at once.
    pub async fn timer(&mut self) -> Option<End> {
        if let Some(l) = &mut self.limits
            && l.until.is_some_and(|t| t <= Instant::now())
        {
            l.until = None;
            if let Some((bytes, bad)) = l.held.take() {
                self.feed_checked(&bytes, bad).await;
                self.pump();
            }
            return None;
        }
        if self.session.is_none() {
            tracing::info!(peer = %self.peer, "no CONNECT within the connect timeout; closing");
            return Some(End::ConnectTimeout);
        }
        self.keepalive_deadline = None;
        tracing::info!(client = ?self.client_id, peer = %self.peer, "keep alive timed out");
        self.end = Some(End::KeepAliveTimeout);
        let ev = self.mqtt.notify_timer_fired(TimerKind::PingreqRecv);
        self.process(ev).await;
        None
    }

    /// The server shuts down.
    pub async fn shutdown(&mut self) {
        self.send_disconnect(DisconnectReasonCode::ServerShuttingDown).await;
        self.end = Some(End::Shutdown);
    }

    /// Over a rate limit: stop reading for `wait` (the client's packets queue in its socket
    /// and its TCP window closes). The keep-alive deadline moves along, since packets the
    /// broker does not read cannot keep the connection alive.
    fn throttle(&mut self, wait: Duration, limit: &'static str) {
        if wait.is_zero() {
            return;
        }
        let Some(l) = &mut self.limits else { return };
        let until = Instant::now() + wait;
        if l.until.is_none_or(|t| t < until) {
            if l.until.is_none() {
                self.broker.metrics().throttled(limit);
            }
            l.until = Some(until);
        }
        if let Some(d) = &mut self.keepalive_deadline {
            *d += wait;
        }
    }

    /// The end of the current rate-limit throttle, if reading is throttled.
    fn throttle_until(&self) -> Option<Instant> {
        self.limits.as_ref().and_then(|l| l.until)
    }

    /// Acknowledgements wait for other nodes ([`Driver::confirmation`]).
    pub fn awaiting_confirmation(&self) -> bool {
        !self.acks.is_empty()
    }

    /// The oldest acknowledgement's confirmation from other nodes; pending while there is none
    /// (the transport selects on it). Cancel-safe: the confirmation stays in the queue.
    pub async fn confirmation(&mut self) -> Result<(), ClusterError> {
        match self.acks.front_mut() {
            Some(a) => a.confirmed().await,
            None => std::future::pending().await,
        }
    }

    fn v5(&self) -> bool {
        self.version == Version::V5_0
    }

    /// How far the connection got, for the answer to a panic.
    pub fn stage(&self) -> Stage {
        // The library knows the version once it has read CONNECT's level, before the broker does.
        let version =
            if self.version == Version::Undetermined { self.mqtt.get_protocol_version() } else { self.version };
        let v5 = match version {
            Version::V5_0 => true,
            Version::V3_1_1 => false,
            _ => return Stage::Unknown,
        };
        if self.session.is_some() { Stage::Connected { v5 } } else { Stage::Connecting { v5 } }
    }

    /// The connection is over: count it, hand the session back to the broker (with the will,
    /// unless the client disconnected normally).
    pub async fn finish(&mut self, end: End) {
        // Acknowledged by the client: not to be sent again (a feed cut short by a panic).
        self.complete_acked();
        self.release_acks();
        self.broker.metrics().disconnected(end.label());
        let Some(session) = self.session.take() else {
            return;
        };
        let kind = match end {
            End::ClientDisconnect | End::Shutdown => crate::broker::CloseKind::Normal,
            _ => crate::broker::CloseKind::WithWill,
        };
        tracing::debug!(client = ?self.client_id, peer = %self.peer, reason = end.label(), "client disconnected");
        self.broker.disconnect(&session, self.conn_id, kind, self.will.take(), self.new_expiry).await;
    }
}
