//! The connection task: owns the socket and the `mqtt-protocol-core` server connection, and
//! drives both from one `select!` loop (socket bytes in, session deliveries out, the keep-alive
//! timer, kicks). Everything the connection writes during one loop turn is collected in a buffer
//! and flushed once.
//!
//! The protocol library validates packets and tracks packet ids, receive maximum, topic aliases
//! and keep-alive; this task decides what the broker does with each packet.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mqtt_protocol_core::mqtt::common::Cursor;
use mqtt_protocol_core::mqtt::connection::{ConnectionOptions, Event, TimerKind};
use mqtt_protocol_core::mqtt::packet::{
    AssignedClientIdentifier, GenericPacketTrait, MaximumQos, Packet, RetainAvailable, ServerKeepAlive,
    SessionExpiryInterval, TopicAliasMaximum,
};
use mqtt_protocol_core::mqtt::packet::{
    ContentType, CorrelationData, GenericStorePacket, MessageExpiryInterval, PayloadFormat, PayloadFormatIndicator,
    Property, Qos, ResponseTopic, RetainHandling, SubscriptionIdentifier, UserProperty, v3_1_1, v5_0,
};
use mqtt_protocol_core::mqtt::result_code::{
    ConnectReasonCode, ConnectReturnCode, DisconnectReasonCode, MqttError, PubackReasonCode, PubcompReasonCode,
    PubrecReasonCode, SubackReasonCode, SubackReturnCode, UnsubackReasonCode,
};
use mqtt_protocol_core::mqtt::{Connection, Version, role};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::auth::acl::Action;
use crate::auth::limits::TokenBucket;
use crate::auth::{AuthOutcome, ConnAcl, ConnectBan};
use crate::broker::cluster::{ClusterError, Confirmation};
use crate::broker::session::{Delivery, Kick, Phase, Session};
use crate::broker::subs::SubOptions;
use crate::broker::{Broker, CloseKind, PublishOutcome, Will};
use crate::protocol::message::now_ms;
use crate::protocol::topic;
use crate::protocol::{Message, PublishProps};

/// What a listener tells each of its connections.
#[derive(Debug, Clone)]
pub struct ListenerInfo {
    pub name: String,
    pub allow_anonymous: bool,
    /// `allow_anonymous` is the loopback default, not configured: only for loopback clients
    /// (see `transport::access`).
    pub anonymous_implicit: bool,
}

/// Bytes reserved for one socket read.
const READ_CHUNK: usize = 16 * 1024;

/// A byte stream a connection can run on. Reading waits for readiness first and only then
/// allocates, so an idle connection holds no read buffer.
pub trait MqttIo: AsyncWrite + Unpin + Send {
    /// Wait for data and append what is available to `buf`; 0 = end of stream.
    fn read_some(&mut self, buf: &mut Vec<u8>) -> impl std::future::Future<Output = std::io::Result<usize>> + Send;
}

impl MqttIo for tokio::net::TcpStream {
    async fn read_some(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        // `readable` + `try_read_buf` bypass tokio's cooperative budget (only `async_io` uses
        // it): without this a publisher with a full socket never yields, and the subscribers it
        // feeds starve on the same worker (measured: a QoS 0 fan-in delivered nothing until the
        // publishers stopped).
        tokio::task::consume_budget().await;
        loop {
            self.readable().await?;
            buf.reserve(READ_CHUNK);
            match self.try_read_buf(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    // Readiness was stale; give the buffer back before waiting again.
                    if buf.is_empty() {
                        *buf = Vec::new();
                    }
                    continue;
                }
                r => return r,
            }
        }
    }
}

/// Any other stream (TLS, WebSocket adapters, test pipes): a plain buffered read.
pub struct Plain<S>(pub S);

impl<S: AsyncRead + AsyncWrite + Unpin + Send> MqttIo for Plain<S> {
    async fn read_some(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        buf.reserve(READ_CHUNK);
        self.0.read_buf(buf).await
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Plain<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, data)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Deliveries taken from the session per pump step.
const PUMP_BATCH: usize = 256;
/// Stop pumping once this much is buffered; the loop flushes and comes back.
const WBUF_HIGH: usize = 1 << 20;

/// Why the connection ended (a metrics label and a log field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
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
    /// The task panicked (see `contain`).
    Panic,
}

impl End {
    /// The server ended the connection while the client may still be sending: close gracefully
    /// (`contain::linger`) so what was sent last (DISCONNECT, CONNACK) is not lost to a reset.
    fn server_closed(self) -> bool {
        matches!(self, End::ProtocolError | End::KeepAliveTimeout | End::TakenOver | End::Kicked | End::Refused)
    }

    fn label(self) -> &'static str {
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

struct Conn {
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
    wbuf: Vec<u8>,
    keepalive_deadline: Option<Instant>,
    /// Stream-level checks the protocol library does not make.
    frames: crate::protocol::frame::FrameCheck,
    /// MQTT 3.1 clients: their CONNECT is rewritten as 3.1.1.
    mqtt31: crate::protocol::mqtt31::Mqtt31,
    /// The username from the transport (a verified client certificate); overrides CONNECT's.
    cert_user: Option<String>,
    /// The authenticated username (`None` for an anonymous client).
    username: Option<String>,
    /// The ACL rules that apply to this client; set at CONNECT.
    acl: Option<ConnAcl>,
    /// Per-client rate limits (`[limits]`), `None` when off.
    /// (Boxed, like `held`: most connections never have one, and every idle one carries the field.)
    msg_bucket: Option<Box<TokenBucket>>,
    byte_bucket: Option<Box<TokenBucket>>,
    /// Over a rate limit: the socket is not read until then (back-pressure, not a disconnect).
    throttle_until: Option<Instant>,
    /// Set when a PUBLISH went over the message rate: the rest of the bytes already read are
    /// held back (in `held`, frame-checked, with any frame error after them) until the
    /// throttle ends, so one large read cannot carry a burst past the limit.
    hold: bool,
    held: Option<Box<(Vec<u8>, Option<crate::protocol::frame::FrameError>)>>,
    /// QoS 1/2 publishes forwarded to other nodes whose acknowledgement waits for their
    /// confirmations, oldest first: they are acknowledged in this order (MQTT-4.6.0-2/3), and
    /// everything after the first unconfirmed one waits with it. At most `receive_maximum`.
    acks: VecDeque<PendingAck>,
    end: Option<End>,
}

/// A PUBACK or PUBREC to send once the other nodes have confirmed the message.
struct PendingAck {
    pid: u16,
    qos: u8,
    /// The reason code from this node's part of the delivery.
    rc: u8,
    confirm: Option<Confirmation>,
}

/// Serve one client connection until it ends. Never panics on input; every way out is counted.
pub async fn serve<S>(
    stream: S,
    peer: SocketAddr,
    broker: Arc<Broker>,
    info: Arc<ListenerInfo>,
    shutdown: watch::Receiver<bool>,
) where
    S: MqttIo,
{
    serve_as(stream, peer, broker, info, None, shutdown).await
}

/// [`serve`] for a client already identified by its transport (a verified TLS client
/// certificate): `identity` is its username, whatever CONNECT carries, and counts as
/// credentials for the listener's anonymous-access check.
pub async fn serve_as<S>(
    stream: S,
    peer: SocketAddr,
    broker: Arc<Broker>,
    info: Arc<ListenerInfo>,
    identity: Option<String>,
    shutdown: watch::Receiver<bool>,
) where
    S: MqttIo,
{
    let s = &broker.settings;
    let opts = ConnectionOptions::new().maximum_packet_size_recv(s.max_packet_size).receive_maximum(s.receive_maximum);
    let mut mqtt = Connection::<role::Server>::with_options(Version::Undetermined, opts);
    mqtt.set_auto_ping_response(true);
    mqtt.set_auto_map_topic_alias_send(true);
    let conn_id = broker.next_conn_id();
    let mut c = Conn {
        broker: broker.clone(),
        info,
        peer,
        mqtt,
        conn_id,
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
        cert_user: identity,
        username: None,
        acl: None,
        msg_bucket: broker.auth.message_bucket().map(Box::new),
        byte_bucket: broker.auth.byte_bucket().map(Box::new),
        throttle_until: None,
        hold: false,
        held: None,
        acks: VecDeque::new(),
        end: None,
    };
    let mut stream = stream;
    let end = match super::contain::catch(c.run(&mut stream, shutdown)).await {
        Ok(end) => end,
        Err(what) => {
            let stage = c.stage();
            let (m, id, t) = (&c.broker.metrics, c.client_id.as_deref(), c.broker.settings.write_timeout);
            Box::pin(super::contain::answer_panic(&mut stream, m, id, c.peer, stage, &what, t)).await;
            End::Panic
        }
    };
    if let Err(what) = super::contain::catch(Box::pin(c.finish(end))).await {
        c.broker.metrics.connection_panics.inc();
        tracing::error!(client = ?c.client_id, peer = %c.peer, panic = what, "connection clean-up panicked");
    }
    if end.server_closed() {
        // Boxed: only a closing connection needs its state, not every idle one.
        Box::pin(super::contain::linger(&mut stream, super::contain::LINGER_TIME, super::contain::LINGER_BYTES)).await;
    }
}

impl Conn {
    async fn run<S>(&mut self, stream: &mut S, mut shutdown: watch::Receiver<bool>) -> End
    where
        S: MqttIo,
    {
        // Empty (unallocated) while the client is idle: idle connections must stay small.
        let mut rbuf: Vec<u8> = Vec::new();
        let connect_deadline = Instant::now() + self.broker.settings.connect_timeout;
        loop {
            if let Some(end) = self.end {
                let _ = self.flush(stream).await;
                return end;
            }
            if !self.wbuf.is_empty() {
                if let Err(e) = self.flush(stream).await {
                    return Box::pin(self.salvage(stream, e)).await;
                }
                if let Some(end) = self.end {
                    return end;
                }
            }
            let session = self.session.clone();
            let notified = session.as_ref().map(|s| s.wake.notified());
            let mut notified = std::pin::pin!(notified);
            // Register for wake-ups before checking for kicks, so none is missed in between.
            if let Some(n) = notified.as_mut().as_pin_mut() {
                n.enable();
            }
            if let Some(end) = self.kicked() {
                Box::pin(self.send_disconnect(end.1)).await;
                self.end = Some(end.0);
                continue;
            }
            let wake = async {
                match notified.as_mut().as_pin_mut() {
                    Some(n) => n.await,
                    None => std::future::pending().await,
                }
            };
            let deadline = if self.session.is_none() { Some(connect_deadline) } else { self.keepalive_deadline };
            let throttle = self.throttle_until;
            // One timer for both deadlines: every idle connection's task holds it.
            let first = match (deadline, throttle) {
                (Some(d), Some(t)) => Some(d.min(t)),
                (d, t) => d.or(t),
            };
            let timer = async {
                match first {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            // Stop reading while `receive_maximum` publishes wait for other nodes: back-pressure
            // for a 3.1.1 client, which has no receive maximum of its own.
            let room = self.acks.len() < usize::from(self.broker.settings.receive_maximum);
            tokio::select! {
                r = first_confirmation(&mut self.acks), if !self.acks.is_empty() => {
                    let ev = self.settle(r);
                    Box::pin(self.process(ev)).await;
                }
                r = stream.read_some(&mut rbuf), if throttle.is_none() && room => match r {
                    Ok(0) => return End::PeerClosed,
                    Ok(n) => {
                        self.broker.metrics.bytes_received.inc_by(n as u64);
                        if let Some(b) = &mut self.byte_bucket {
                            let wait = b.take_with_debt(n as f64, Instant::now().into_std());
                            self.throttle(wait, "bytes");
                        }
                        let data = std::mem::take(&mut rbuf);
                        // Boxed: packet handling is a large future, and an idle connection's task
                        // should not carry it inline.
                        Box::pin(self.feed(&data)).await;
                        if std::mem::take(&mut self.congested) {
                            // A subscriber we feed has a backlog: let its connection run.
                            tokio::task::yield_now().await;
                        }
                        // Keep a large buffer only while reads fill it (a busy client).
                        if n >= READ_CHUNK / 2 {
                            rbuf = data;
                            rbuf.clear();
                        }
                        if self.session.is_some() {
                            self.pump();
                        }
                    }
                    Err(_) => return End::IoError,
                },
                _ = wake => self.pump(),
                _ = timer => {
                    if throttle.is_some_and(|t| t <= Instant::now()) {
                        self.throttle_until = None;
                        if let Some((bytes, bad)) = self.held.take().map(|h| *h) {
                            Box::pin(self.feed_checked(&bytes, bad)).await;
                            if self.session.is_some() {
                                self.pump();
                            }
                        }
                        continue;
                    }
                    if self.session.is_none() {
                        tracing::info!(peer = %self.peer, "no CONNECT within the connect timeout; closing");
                        return End::ConnectTimeout;
                    }
                    self.keepalive_deadline = None;
                    tracing::info!(client = ?self.client_id, peer = %self.peer, "keep alive timed out");
                    self.end = Some(End::KeepAliveTimeout);
                    let ev = self.mqtt.notify_timer_fired(TimerKind::PingreqRecv);
                    Box::pin(self.process(ev)).await;
                }
                _ = shutdown.changed() => {
                    Box::pin(self.send_disconnect(DisconnectReasonCode::ServerShuttingDown)).await;
                    self.end = Some(End::Shutdown);
                }
            }
        }
    }

    /// A write failed (the client may have closed with our packets unread, so its kernel sent a
    /// reset), but what it sent before is still readable: a DISCONNECT there ends the connection
    /// normally, without the will ([MQTT-3.14.4-3]). Reads only what arrives within a short,
    /// bounded time.
    async fn salvage<S: MqttIo>(&mut self, stream: &mut S, e: End) -> End {
        if e != End::IoError || self.session.is_none() {
            return e;
        }
        let mut left = 64 * 1024usize;
        let until = Instant::now() + Duration::from_millis(100);
        while left > 0 && self.end.is_none() {
            let mut buf = Vec::new();
            match tokio::time::timeout_at(until, stream.read_some(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => {
                    left = left.saturating_sub(n);
                    self.feed(&buf).await;
                }
                _ => break,
            }
        }
        match self.end {
            Some(end @ (End::ClientDisconnect | End::ClientDisconnectWithWill)) => end,
            _ => e,
        }
    }

    /// Over a rate limit: stop reading for `wait` (the client's packets queue in its socket
    /// and its TCP window closes). The keep-alive deadline moves along, since packets the
    /// broker does not read cannot keep the connection alive.
    fn throttle(&mut self, wait: Duration, limit: &'static str) {
        if wait.is_zero() {
            return;
        }
        let until = Instant::now() + wait;
        if self.throttle_until.is_none_or(|t| t < until) {
            if self.throttle_until.is_none() {
                self.broker.metrics.throttled(limit);
            }
            self.throttle_until = Some(until);
        }
        if let Some(d) = &mut self.keepalive_deadline {
            *d += wait;
        }
    }

    /// Whether someone else ended this connection: a takeover or a kick.
    fn kicked(&self) -> Option<(End, DisconnectReasonCode)> {
        let s = self.session.as_ref()?;
        if s.owner.load(std::sync::atomic::Ordering::Acquire) != self.conn_id {
            return Some((End::TakenOver, DisconnectReasonCode::SessionTakenOver));
        }
        match Kick::from_code(s.kick.load(std::sync::atomic::Ordering::Acquire))? {
            Kick::Administrative => Some((End::Kicked, DisconnectReasonCode::AdministrativeAction)),
            Kick::Shutdown => Some((End::Shutdown, DisconnectReasonCode::ServerShuttingDown)),
            Kick::Drain => Some((End::Shutdown, DisconnectReasonCode::UseAnotherServer)),
        }
    }

    async fn flush<S: AsyncWrite + Unpin>(&mut self, stream: &mut S) -> Result<(), End> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let n = self.wbuf.len();
        // Flushed too: TLS and WebSocket streams may hold back the tail of a write.
        let write = async {
            stream.write_all(&self.wbuf).await?;
            stream.flush().await
        };
        match tokio::time::timeout(self.broker.settings.write_timeout, write).await {
            Ok(Ok(())) => {
                self.broker.metrics.bytes_sent.inc_by(n as u64);
                self.wbuf.clear();
                // A buffer from a burst is not kept for the life of an idle connection.
                if self.wbuf.capacity() > 8 * 1024 {
                    self.wbuf = Vec::new();
                }
                Ok(())
            }
            Ok(Err(_)) => Err(End::IoError),
            Err(_) => {
                tracing::info!(client = ?self.client_id, peer = %self.peer, "client does not read; dropping it");
                Err(End::WriteTimeout)
            }
        }
    }

    /// Feed received bytes to the protocol library, one packet at a time.
    async fn feed(&mut self, data: &[u8]) {
        let data = &*self.mqtt31.input(data);
        // Fixed-header flags and CONNECT's reserved bit are ours to check; bytes before a bad
        // packet are still processed.
        let (good, bad) = match self.frames.check(data) {
            Ok(()) => (data, None),
            Err(e) => (data.get(..e.offset).unwrap_or(&[]), Some(e)),
        };
        self.feed_checked(good, bad).await;
    }

    /// Feed frame-checked bytes; `bad` is the frame error right after them, if any.
    async fn feed_checked(&mut self, good: &[u8], bad: Option<crate::protocol::frame::FrameError>) {
        let mut cur = Cursor::new(good);
        while (cur.position() as usize) < good.len() && self.end.is_none() {
            let before = cur.position();
            let ev = self.mqtt.recv(&mut cur);
            let error = ev.iter().find_map(|e| match e {
                Event::NotifyError(e) => Some(*e),
                _ => None,
            });
            let closing = ev.iter().any(|e| matches!(e, Event::RequestClose));
            self.process(ev).await;
            if let Some(e) = error.filter(|_| !closing && self.end.is_none()) {
                // The library reported a bad packet without closing (e.g. a packet type a server
                // must not receive): a protocol error ends the connection (MQTT-4.13.1-1).
                let reason: DisconnectReasonCode = e.into();
                let ev = self.protocol_violation(reason, &format!("{e:?}")).await;
                self.process(ev).await;
            }
            if cur.position() == before {
                break;
            }
            if std::mem::take(&mut self.hold) && self.end.is_none() {
                let rest = good.get(cur.position() as usize..).unwrap_or(&[]);
                if !rest.is_empty() || bad.is_some() {
                    self.held = Some(Box::new((rest.to_vec(), bad)));
                    return;
                }
            }
        }
        if let Some(e) = bad.filter(|_| self.end.is_none()) {
            let ev = self.protocol_violation(DisconnectReasonCode::MalformedPacket, e.what).await;
            self.process(ev).await;
        }
    }

    /// Handle the library's events in order; handlers may produce more.
    async fn process(&mut self, events: Vec<Event>) {
        let mut work: VecDeque<Event> = events.into();
        while let Some(ev) = work.pop_front() {
            match ev {
                Event::RequestSendPacket { packet, .. } => {
                    self.broker.metrics.packet_out(packet_name(&packet));
                    self.wbuf.extend_from_slice(&packet.to_continuous_buffer());
                }
                Event::NotifyPacketReceived(p) => {
                    self.broker.metrics.packet_in(packet_name(&p));
                    let more = self.on_packet(p).await;
                    work.extend(more);
                }
                Event::RequestTimerReset { kind: TimerKind::PingreqRecv, duration_ms } => {
                    self.keepalive_deadline = Some(Instant::now() + Duration::from_millis(duration_ms));
                }
                Event::RequestTimerCancel(TimerKind::PingreqRecv) => self.keepalive_deadline = None,
                Event::RequestTimerReset { .. } | Event::RequestTimerCancel(_) => {}
                Event::NotifyPacketIdReleased(_) => {}
                Event::NotifyError(e) => {
                    tracing::info!(client = ?self.client_id, peer = %self.peer, error = ?e, "protocol error");
                    if self.session.is_none() {
                        self.end.get_or_insert(End::ProtocolError);
                    }
                }
                Event::RequestClose => {
                    self.end.get_or_insert(End::ProtocolError);
                }
            }
        }
    }

    fn v5(&self) -> bool {
        self.version == Version::V5_0
    }

    /// How far the connection got, for the answer to a panic.
    fn stage(&self) -> super::contain::Stage {
        use super::contain::Stage;
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

    /// Close with a reason: DISCONNECT for 5.0, a plain close for 3.1.1.
    async fn protocol_violation(&mut self, reason: DisconnectReasonCode, what: &str) -> Vec<Event> {
        tracing::info!(client = ?self.client_id, peer = %self.peer, reason = ?reason, "closing connection: {what}");
        self.end.get_or_insert(End::ProtocolError);
        if self.v5()
            && let Ok(d) = v5_0::Disconnect::builder().reason_code(reason).build()
        {
            return self.mqtt.send(d.into());
        }
        Vec::new()
    }

    async fn send_disconnect(&mut self, reason: DisconnectReasonCode) {
        let mut b = v5_0::Disconnect::builder().reason_code(reason);
        if reason == DisconnectReasonCode::UseAnotherServer
            && let Some(r) = &self.broker.settings.server_reference
            && let Ok(p) = mqtt_protocol_core::mqtt::packet::ServerReference::new(r.as_str())
        {
            b = b.props(vec![Property::ServerReference(p)]);
        }
        if self.v5()
            && self.session.is_some()
            && let Ok(d) = b.build()
        {
            let ev = self.mqtt.send(d.into());
            self.process(ev).await;
        }
    }

    async fn on_packet(&mut self, p: Packet) -> Vec<Event> {
        match p {
            Packet::V5_0Connect(c) => self.on_connect_v5(c).await,
            Packet::V3_1_1Connect(c) => self.on_connect_v3(c).await,
            Packet::V5_0Publish(p) => {
                if p.props().iter().any(|x| matches!(x, Property::SubscriptionIdentifier(_))) {
                    // MQTT-3.3.4-6: only the server puts subscription identifiers in a PUBLISH.
                    let what = "subscription identifier in a client PUBLISH";
                    return self.protocol_violation(DisconnectReasonCode::ProtocolError, what).await;
                }
                let props = publish_props_in(p.props());
                let expiry = p.props().iter().find_map(|x| match x {
                    Property::MessageExpiryInterval(v) => Some(v.val()),
                    _ => None,
                });
                let qos = qos_u8(p.qos());
                self.on_publish(p.topic_name(), p.payload().clone(), qos, p.retain(), p.packet_id(), props, expiry)
                    .await
            }
            Packet::V3_1_1Publish(p) => {
                let qos = qos_u8(p.qos());
                self.on_publish(
                    p.topic_name(),
                    p.payload().clone(),
                    qos,
                    p.retain(),
                    p.packet_id(),
                    PublishProps::default(),
                    None,
                )
                .await
            }
            Packet::V5_0Puback(a) => self.acked(a.packet_id()),
            Packet::V3_1_1Puback(a) => self.acked(a.packet_id()),
            Packet::V5_0Pubcomp(a) => self.acked(a.packet_id()),
            Packet::V3_1_1Pubcomp(a) => self.acked(a.packet_id()),
            Packet::V5_0Pubrec(r) => {
                let failed = r.reason_code().is_some_and(|c| c as u8 >= 0x80);
                self.pubrec(r.packet_id(), failed)
            }
            Packet::V3_1_1Pubrec(r) => self.pubrec(r.packet_id(), false),
            Packet::V5_0Pubrel(r) => self.pubrel(r.packet_id()),
            Packet::V3_1_1Pubrel(r) => self.pubrel(r.packet_id()),
            Packet::V5_0Subscribe(s) => {
                if let Some(why) =
                    bad_subscribe(s.packet_id(), s.entries().iter().map(|e| e.sub_opts().to_buffer()[0]), 0xC0)
                {
                    return self.protocol_violation(DisconnectReasonCode::MalformedPacket, why).await;
                }
                let sub_id = s.props().iter().find_map(|x| match x {
                    Property::SubscriptionIdentifier(v) => Some(v.val()),
                    _ => None,
                });
                let entries: Vec<(String, SubOptions)> = s
                    .entries()
                    .iter()
                    .map(|e| (e.topic_filter().to_string(), sub_opts(e.sub_opts(), sub_id)))
                    .collect();
                self.on_subscribe(s.packet_id(), entries).await
            }
            Packet::V3_1_1Subscribe(s) => {
                if let Some(why) =
                    bad_subscribe(s.packet_id(), s.entries().iter().map(|e| e.sub_opts().to_buffer()[0]), 0xFC)
                {
                    return self.protocol_violation(DisconnectReasonCode::MalformedPacket, why).await;
                }
                let entries: Vec<(String, SubOptions)> =
                    s.entries().iter().map(|e| (e.topic_filter().to_string(), sub_opts(e.sub_opts(), None))).collect();
                self.on_subscribe(s.packet_id(), entries).await
            }
            Packet::V5_0Unsubscribe(u) => {
                if u.packet_id() == 0 {
                    return self.protocol_violation(DisconnectReasonCode::MalformedPacket, "packet identifier 0").await;
                }
                let filters: Vec<String> = u.entries().iter().map(|e| e.as_str().to_string()).collect();
                self.on_unsubscribe(u.packet_id(), filters).await
            }
            Packet::V3_1_1Unsubscribe(u) => {
                if u.packet_id() == 0 {
                    return self.protocol_violation(DisconnectReasonCode::MalformedPacket, "packet identifier 0").await;
                }
                let filters: Vec<String> = u.entries().iter().map(|e| e.as_str().to_string()).collect();
                self.on_unsubscribe(u.packet_id(), filters).await
            }
            Packet::V5_0Disconnect(d) => {
                let rc = d.reason_code().unwrap_or(DisconnectReasonCode::NormalDisconnection);
                let expiry = d.props().as_ref().and_then(|ps| {
                    ps.iter().find_map(|x| match x {
                        Property::SessionExpiryInterval(v) => Some(v.val()),
                        _ => None,
                    })
                });
                if let Some(e) = expiry {
                    if self.connect_expiry == 0 && e != 0 {
                        // MQTT-3.14.2-2: cannot make a non-persistent session persistent here.
                        return self
                            .protocol_violation(DisconnectReasonCode::ProtocolError, "session expiry set at DISCONNECT")
                            .await;
                    }
                    self.new_expiry = Some(e);
                }
                self.end = Some(if rc == DisconnectReasonCode::DisconnectWithWillMessage {
                    End::ClientDisconnectWithWill
                } else {
                    End::ClientDisconnect
                });
                Vec::new()
            }
            Packet::V3_1_1Disconnect(_) => {
                self.end = Some(End::ClientDisconnect);
                Vec::new()
            }
            Packet::V5_0Auth(_) => {
                self.protocol_violation(DisconnectReasonCode::ProtocolError, "AUTH without an authentication method")
                    .await
            }
            Packet::V5_0Pingreq(_) | Packet::V3_1_1Pingreq(_) => Vec::new(),
            other => {
                let name = packet_name(&other);
                self.protocol_violation(
                    DisconnectReasonCode::ProtocolError,
                    &format!("unexpected {name} from a client"),
                )
                .await
            }
        }
    }

    // ------------------------------------------------------------------ CONNECT

    async fn on_connect_v5(&mut self, c: v5_0::Connect) -> Vec<Event> {
        self.version = Version::V5_0;
        let mut req = ConnectRequest {
            client_id: c.client_id().to_string(),
            clean: c.clean_start(),
            keep_alive: c.keep_alive(),
            username: c.user_name().map(str::to_string),
            password: c.password().map(<[u8]>::to_vec),
            expiry: 0,
            enhanced_auth: false,
            will: None,
        };
        for p in c.props() {
            match p {
                Property::SessionExpiryInterval(v) => req.expiry = v.val(),
                Property::ReceiveMaximum(v) => self.window = self.window.min(usize::from(v.val())),
                Property::TopicAliasMaximum(v) => self.aliases_out = v.val() > 0,
                Property::MaximumPacketSize(v) => self.max_out = v.val() as usize,
                Property::AuthenticationMethod(_) => req.enhanced_auth = true,
                _ => {}
            }
        }
        if c.will_flag() {
            let (t, p) = (c.will_topic().unwrap_or(""), c.will_payload().unwrap_or(&[]));
            req.will = Some(WillRequest::new(t, p, qos_u8(c.will_qos()), c.will_retain(), c.will_props()));
        }
        self.on_connect(req).await
    }

    async fn on_connect_v3(&mut self, c: v3_1_1::Connect) -> Vec<Event> {
        self.version = Version::V3_1_1;
        if self.mqtt31.empty_client_id {
            return self.refuse(Refusal::ClientIdNotValid, "MQTT 3.1 requires a client id");
        }
        let mut req = ConnectRequest {
            client_id: c.client_id().to_string(),
            clean: c.clean_session(),
            keep_alive: c.keep_alive(),
            username: c.user_name().map(str::to_string),
            password: c.password().map(<[u8]>::to_vec),
            // 3.1.1 has no expiry: a persistent session lasts until `session.max_session_expiry`.
            expiry: if c.clean_session() { 0 } else { u32::MAX },
            enhanced_auth: false,
            will: None,
        };
        if c.will_flag() {
            let (t, p) = (c.will_topic().unwrap_or(""), c.will_payload().unwrap_or(&[]));
            req.will = Some(WillRequest::new(t, p, qos_u8(c.will_qos()), c.will_retain(), &[]));
        }
        self.on_connect(req).await
    }

    /// CONNECT of either version: identify, admit, attach the session, answer with CONNACK.
    async fn on_connect(&mut self, req: ConnectRequest) -> Vec<Event> {
        let s = self.broker.settings.clone();
        if req.enhanced_auth {
            return self.refuse(Refusal::BadAuthenticationMethod, "enhanced authentication is not supported");
        }
        let mut client_id = req.client_id;
        let mut assigned = None;
        if client_id.is_empty() {
            if !self.v5() && !req.clean {
                return self.refuse(Refusal::ClientIdNotValid, "empty client id with clean session 0 (MQTT-3.1.3-8)");
            }
            client_id = generate_client_id();
            assigned = Some(client_id.clone());
        } else if client_id.len() > s.max_client_id_length {
            return self.refuse(Refusal::ClientIdNotValid, "client id too long");
        } else if crate::broker::reserved::is_reserved_client_id(&client_id) {
            return self
                .refuse(Refusal::ClientIdNotValid, "client ids starting with $bridge/ belong to the broker's bridges");
        }
        if let Some(user) = &self.cert_user {
            tracing::debug!(client = %client_id, peer = %self.peer, username = %user, "username from client certificate");
        }
        // Bans first: a banned client costs no password hash.
        let auth = self.broker.auth.clone();
        let presented = self.cert_user.as_deref().or(req.username.as_deref());
        if let Err(b) = auth.check_connect(&client_id, presented) {
            let (r, what) = match b {
                ConnectBan::ClientId => (Refusal::BannedClientId, "client id is banned"),
                ConnectBan::Username => (Refusal::BannedUsername, "username is banned"),
                ConnectBan::Flapping => (Refusal::Flapping, "connects too often (flapping); banned for a while"),
            };
            return self.refuse(r, &format!("client {client_id:?}, username {presented:?}: {what}"));
        }
        let outcome = auth
            .authenticate(
                req.username.as_deref(),
                req.password.as_deref(),
                self.cert_user.as_deref(),
                crate::transport::access::anonymous_for(
                    self.info.allow_anonymous,
                    self.info.anonymous_implicit,
                    self.peer.ip(),
                ),
                self.peer.ip(),
            )
            .await;
        match outcome {
            AuthOutcome::Accepted { username, method } => {
                tracing::debug!(client = %client_id, peer = %self.peer, username = ?username, method, "authenticated");
                self.username = username;
            }
            AuthOutcome::BadCredentials => {
                self.broker.metrics.auth_failed("bad_credentials");
                let user = req.username.as_deref().unwrap_or("");
                let why = format!("client {client_id:?}, username {user:?}: bad username or password");
                return self.refuse(Refusal::BadCredentials, &why);
            }
            AuthOutcome::Busy => {
                let why = format!("client {client_id:?}: too many password checks waiting; try again");
                return self.refuse(Refusal::ServerUnavailable, &why);
            }
            AuthOutcome::NotAuthorized => {
                self.broker.metrics.auth_failed("not_authorized");
                let why = format!("client {client_id:?}: no credentials, and anonymous access is not allowed here");
                return self.refuse(Refusal::NotAuthorized, &why);
            }
        }
        let will = match req.will.map(|w| self.will_from(w, &client_id)).transpose() {
            Ok(w) => w,
            Err(r) => return self.refuse(r, "will message refused"),
        };
        // A will the ACL would not let the client publish is refused now, when the client can
        // still hear about it, rather than dropped silently when it fires.
        if let Some(w) = &will
            && !auth.will_allowed(self.username.as_deref(), &client_id, &w.msg.topic)
        {
            let why = format!("client {client_id:?}: the ACL denies its will topic {:?}", &*w.msg.topic);
            return self.refuse(Refusal::WillNotAuthorized, &why);
        }
        let identity = crate::auth::ownership::Identity::of(self.username.as_deref());
        let own = self.broker.may_use_session(&client_id, &identity).then_some(client_id.as_str());
        if auth.count_connect(own, self.username.as_deref(), self.peer.ip()).is_err() {
            return self.refuse(Refusal::Flapping, &format!("client {client_id:?}: connects too often (flapping)"));
        }
        self.acl = Some(auth.conn_acl(self.username.as_deref(), &client_id));
        let connected = match self.attach(&client_id, req.clean, req.expiry).await {
            Ok(x) => x,
            Err(crate::broker::BrokerError::NotOwner(owner)) => {
                let me = crate::auth::ownership::Identity::of(self.username.as_deref());
                let why = format!("client {client_id:?}: the session belongs to {owner}, not {me}");
                return self.refuse(Refusal::SessionOwner, &why);
            }
            Err(e) => {
                tracing::error!(client = %client_id, "cannot open session: {e}");
                return self.refuse(Refusal::ServerUnavailable, "storage failure");
            }
        };
        self.will = will;
        let v5 = self.v5();
        self.restore_inflight(&connected.session, v5);
        let built = if v5 {
            let mut props: Vec<Property> = Vec::new();
            if connected.expiry != req.expiry {
                push_prop(
                    &mut props,
                    SessionExpiryInterval::new(connected.expiry).map(Property::SessionExpiryInterval),
                );
            }
            if let Some(id) = assigned {
                push_prop(&mut props, AssignedClientIdentifier::new(id).map(Property::AssignedClientIdentifier));
            }
            if s.max_keep_alive > 0 && (req.keep_alive == 0 || req.keep_alive > s.max_keep_alive) {
                push_prop(&mut props, ServerKeepAlive::new(s.max_keep_alive).map(Property::ServerKeepAlive));
            }
            if s.topic_alias_maximum > 0 {
                push_prop(&mut props, TopicAliasMaximum::new(s.topic_alias_maximum).map(Property::TopicAliasMaximum));
            }
            if s.max_qos < 2 {
                push_prop(&mut props, MaximumQos::new(s.max_qos).map(Property::MaximumQos));
            }
            if !s.retain_available {
                push_prop(&mut props, RetainAvailable::new(0).map(Property::RetainAvailable));
            }
            let mut b =
                v5_0::Connack::builder().session_present(connected.present).reason_code(ConnectReasonCode::Success);
            if !props.is_empty() {
                b = b.props(props);
            }
            b.build().map(Packet::from)
        } else {
            v3_1_1::Connack::builder()
                // Reserved (0) in MQTT 3.1's CONNACK.
                .session_present(connected.present && !self.mqtt31.is31)
                .return_code(ConnectReturnCode::Accepted)
                .build()
                .map(Packet::from)
        };
        let ev = match built {
            Ok(p) => self.mqtt.send(p),
            Err(e) => {
                tracing::error!("cannot build CONNACK: {e:?}");
                self.end = Some(End::ProtocolError);
                return Vec::new();
            }
        };
        self.connected(connected.session);
        ev
    }

    async fn attach(
        &mut self,
        client_id: &str,
        clean: bool,
        expiry: u32,
    ) -> Result<crate::broker::Connected, crate::broker::BrokerError> {
        let id: Arc<str> = client_id.into();
        self.client_id = Some(id.clone());
        let identity = crate::auth::ownership::Identity::of(self.username.as_deref());
        let r = self.broker.connect(id, clean, expiry, self.conn_id, &identity).await?;
        self.connect_expiry = r.expiry;
        Ok(r)
    }

    fn connected(&mut self, session: Arc<Session>) {
        self.broker.metrics.connects.inc();
        self.broker.metrics.connections.inc();
        self.broker.connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(client = ?self.client_id, peer = %self.peer, version = ?self.version, "client connected");
        session.state.lock().peer = Some(self.peer);
        self.session = Some(session);
    }

    /// Refuse a CONNECT with the CONNACK code of the connection's version, then close.
    /// Counted by reason; logged once per reason and source address per period (the message
    /// holds client-chosen strings: neither a log key nor unbounded in a log line).
    fn refuse(&mut self, r: Refusal, why: &str) -> Vec<Event> {
        let peer = self.peer;
        self.broker.auth.refused(r.label(), &peer.ip().to_string(), || {
            format!("CONNECT from {peer} refused ({r:?}): {}", crate::auth::limits::clip(why))
        });
        self.end = Some(End::Refused);
        let p = if self.v5() {
            v5_0::Connack::builder().session_present(false).reason_code(r.v5()).build().map(Packet::from)
        } else {
            v3_1_1::Connack::builder().session_present(false).return_code(r.v3()).build().map(Packet::from)
        };
        p.map(|p| self.mqtt.send(p)).unwrap_or_default()
    }

    fn will_from(&self, w: WillRequest, client_id: &str) -> Result<Will, Refusal> {
        let s = &self.broker.settings;
        if topic::validate_topic_name(&w.topic, s.topic_limits).is_err() {
            return Err(Refusal::TopicNameInvalid);
        }
        if w.qos > s.max_qos {
            return Err(Refusal::QosNotSupported);
        }
        if w.retain && !s.retain_available {
            return Err(Refusal::RetainNotSupported);
        }
        let payload: Arc<[u8]> = Arc::from(w.payload);
        let len = payload.len();
        // The expiry of a will counts from when it is published; approximated from now plus
        // the delay (the will is published after `delay` at the latest).
        let expires_at_ms = w.expiry.map(|e| now_ms() + (u64::from(e) + u64::from(w.delay)) * 1000);
        Ok(Will {
            msg: Arc::new(Message {
                topic: w.topic.into(),
                payload: mqtt_protocol_core::mqtt::ArcPayload::new(payload, 0, len),
                qos: w.qos,
                retain: w.retain,
                props: w.props,
                expires_at_ms,
                origin: client_id.into(),
                wire: Default::default(),
                id: crate::protocol::message::new_message_id(),
            }),
            delay: w.delay,
        })
    }

    /// Give the protocol library the session's unacknowledged messages, to be resent with DUP
    /// (PUBLISH) or as PUBREL right after CONNACK (MQTT-4.4.0-1), plus the incoming QoS 2 ids.
    fn restore_inflight(&mut self, session: &Session, v5: bool) {
        let (packets, qos2): (Vec<GenericStorePacket<u16>>, mqtt_protocol_core::mqtt::common::HashSet<u16>) = {
            let st = session.state.lock();
            let mut packets = Vec::new();
            for (pid, i) in &st.inflight {
                let p = match i.phase {
                    Phase::Published if v5 => build_v5(&i.delivery, Some(*pid), true).and_then(|p| p.try_into().ok()),
                    Phase::Published => build_v3(&i.delivery, Some(*pid), true).and_then(|p| p.try_into().ok()),
                    Phase::Released => {
                        if v5 {
                            v5_0::Pubrel::builder().packet_id(*pid).build().ok().and_then(|p| p.try_into().ok())
                        } else {
                            v3_1_1::Pubrel::builder().packet_id(*pid).build().ok().and_then(|p| p.try_into().ok())
                        }
                    }
                };
                if let Some(p) = p {
                    packets.push(p);
                }
            }
            (packets, st.incoming_qos2.iter().copied().collect())
        };
        if !packets.is_empty() {
            self.mqtt.restore_packets(packets);
        }
        if !qos2.is_empty() {
            self.mqtt.restore_qos2_publish_handled(qos2);
        }
    }

    // ------------------------------------------------------------------ PUBLISH in

    #[allow(clippy::too_many_arguments)]
    async fn on_publish(
        &mut self,
        topic_name: &str,
        payload: mqtt_protocol_core::mqtt::ArcPayload,
        qos: u8,
        retain: bool,
        pid: Option<u16>,
        props: PublishProps,
        expiry: Option<u32>,
    ) -> Vec<Event> {
        let s = &self.broker.settings;
        if let Err(e) = topic::validate_topic_name(topic_name, s.topic_limits) {
            self.broker.metrics.refused("publish_topic_invalid");
            return self
                .protocol_violation(DisconnectReasonCode::TopicNameInvalid, &format!("bad topic name: {e}"))
                .await;
        }
        if qos > s.max_qos {
            return self.protocol_violation(DisconnectReasonCode::QosNotSupported, "QoS above the maximum").await;
        }
        if retain && !s.retain_available {
            return self.protocol_violation(DisconnectReasonCode::RetainNotSupported, "retain not available").await;
        }
        if qos > 0 && pid == Some(0) {
            // MQTT-2.2.1-3: QoS 1/2 PUBLISH needs a non-zero packet identifier.
            return self.protocol_violation(DisconnectReasonCode::MalformedPacket, "packet identifier 0").await;
        }
        let (Some(session), Some(client)) = (self.session.clone(), self.client_id.clone()) else {
            return Vec::new();
        };
        if let Some(c) = self.broker.metrics.messages_received.get(usize::from(qos)) {
            c.inc();
        }
        if let Some(b) = &mut self.msg_bucket {
            let wait = b.take_with_debt(1.0, Instant::now().into_std());
            self.hold |= !wait.is_zero();
            self.throttle(wait, "messages");
        }
        if let Some(acl) = &mut self.acl
            && !acl.allows(&self.broker.auth, Action::Publish, topic_name)
        {
            // 5.0: PUBACK/PUBREC 0x87. 3.1.1 has no way to say no: acknowledged and dropped.
            let user = self.username.as_deref().unwrap_or("");
            self.broker.auth.refused("acl_publish", &format!("{client}|{topic_name}"), || {
                format!("client {client:?} (username {user:?}) may not publish to {topic_name:?}; dropped")
            });
            let rc = if self.v5() { 0x87 } else { 0x00 };
            return match (qos, pid) {
                (1, Some(pid)) => self.send_ack(Ack::Puback, pid, rc),
                (2, Some(pid)) => {
                    if rc == 0 {
                        // 3.1.1: the exchange continues to PUBREL/PUBCOMP as usual.
                        self.broker.incoming_qos2(&session, pid, true);
                    }
                    self.send_ack(Ack::Pubrec, pid, rc)
                }
                _ => Vec::new(),
            };
        }
        let msg = Arc::new(Message {
            topic: topic_name.into(),
            payload,
            qos,
            retain,
            props,
            expires_at_ms: expiry.map(|e| now_ms() + u64::from(e) * 1000),
            origin: client,
            wire: Default::default(),
            id: crate::protocol::message::new_message_id(),
        });
        if qos == 2
            && let Some(pid) = pid
        {
            self.broker.incoming_qos2(&session, pid, true);
        }
        // While some node's messages are kept in the outbox, what this publisher forwards
        // must queue behind its own earlier, still unconfirmed messages: wait for those first.
        let mut events = Vec::new();
        if !self.acks.is_empty() && self.broker.cluster.holding() {
            while !self.acks.is_empty() {
                let r = first_confirmation(&mut self.acks).await;
                events.extend(self.settle(r));
            }
        }
        let (outcome, confirm) = match self.broker.publish_unconfirmed(msg).await {
            Ok(r) => {
                self.congested |= r.outcome.congested;
                (Ok(r.outcome), r.confirm)
            }
            Err(e) => {
                tracing::error!(client = ?self.client_id, "publish failed: {e}");
                (Err(()), None)
            }
        };
        let Some(pid) = pid else { return events };
        // PUBACK and PUBREC share these reason codes.
        let rc: u8 = match outcome {
            Err(()) => 0x83,                                           // implementation specific error
            Ok(PublishOutcome { refused, .. }) if refused > 0 => 0x97, // quota exceeded
            Ok(PublishOutcome { delivered: 0, .. }) => 0x10,           // no matching subscribers
            Ok(_) => 0x00,
        };
        let ack = PendingAck { pid, qos, rc, confirm };
        if ack.confirm.is_none() && self.acks.is_empty() {
            events.extend(self.acknowledge(ack, Ok(())));
        } else {
            self.acks.push_back(ack);
            // Often confirmed already (a fast peer, or nothing forwarded).
            events.extend(self.settle_ready());
        }
        events
    }

    /// The first waiting acknowledgement's confirmation came: send it and every one after it
    /// that is ready too.
    fn settle(&mut self, first: Result<(), ClusterError>) -> Vec<Event> {
        let mut events = Vec::new();
        if let Some(a) = self.acks.pop_front() {
            events = self.acknowledge(a, first);
        }
        events.extend(self.settle_ready());
        events
    }

    /// Send the waiting acknowledgements, oldest first, up to the first one whose
    /// confirmation is still outstanding.
    fn settle_ready(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(a) = self.acks.front_mut() {
            let r = match &mut a.confirm {
                None => Ok(()),
                Some(c) => match futures_util::FutureExt::now_or_never(c.as_mut()) {
                    Some(r) => r,
                    None => break,
                },
            };
            if let Some(a) = self.acks.pop_front() {
                events.extend(self.acknowledge(a, r));
            }
        }
        events
    }

    /// PUBACK or PUBREC for a publish, given what the other nodes said.
    fn acknowledge(&mut self, a: PendingAck, remote: Result<(), ClusterError>) -> Vec<Event> {
        let mut rc = a.rc;
        if let Err(e) = remote {
            tracing::error!(client = ?self.client_id, "publish failed: {e}");
            rc = rc.max(0x83);
        }
        match a.qos {
            1 => self.send_ack(Ack::Puback, a.pid, rc),
            _ => {
                if rc >= 0x80
                    && let Some(s) = &self.session
                {
                    // A failed PUBREC ends the exchange: the id may be reused (MQTT-4.3.3).
                    self.broker.incoming_qos2(s, a.pid, false);
                }
                self.send_ack(Ack::Pubrec, a.pid, rc)
            }
        }
    }

    fn pubrel(&mut self, pid: u16) -> Vec<Event> {
        let known = match &self.session {
            Some(s) => {
                let known = s.state.lock().incoming_qos2.contains(&pid);
                self.broker.incoming_qos2(s, pid, false);
                known
            }
            None => false,
        };
        // 0x92: packet identifier not found.
        self.send_ack(Ack::Pubcomp, pid, if known { 0x00 } else { 0x92 })
    }

    /// Send an acknowledgement of the QoS 1/2 flows in the connection's version; `rc` is the 5.0
    /// reason code (3.1.1 has none).
    fn send_ack(&mut self, kind: Ack, pid: u16, rc: u8) -> Vec<Event> {
        let p: Result<Packet, MqttError> = match (self.v5(), kind) {
            (true, Ack::Puback) => v5_0::Puback::builder()
                .packet_id(pid)
                .reason_code(PubackReasonCode::try_from(rc).unwrap_or(PubackReasonCode::UnspecifiedError))
                .build()
                .map(Packet::from),
            (true, Ack::Pubrec) => v5_0::Pubrec::builder()
                .packet_id(pid)
                .reason_code(PubrecReasonCode::try_from(rc).unwrap_or(PubrecReasonCode::UnspecifiedError))
                .build()
                .map(Packet::from),
            (true, Ack::Pubrel) => v5_0::Pubrel::builder().packet_id(pid).build().map(Packet::from),
            (true, Ack::Pubcomp) => v5_0::Pubcomp::builder()
                .packet_id(pid)
                .reason_code(PubcompReasonCode::try_from(rc).unwrap_or(PubcompReasonCode::PacketIdentifierNotFound))
                .build()
                .map(Packet::from),
            (false, Ack::Puback) => v3_1_1::Puback::builder().packet_id(pid).build().map(Packet::from),
            (false, Ack::Pubrec) => v3_1_1::Pubrec::builder().packet_id(pid).build().map(Packet::from),
            (false, Ack::Pubrel) => v3_1_1::Pubrel::builder().packet_id(pid).build().map(Packet::from),
            (false, Ack::Pubcomp) => v3_1_1::Pubcomp::builder().packet_id(pid).build().map(Packet::from),
        };
        match p {
            Ok(p) => self.mqtt.send(p),
            Err(e) => {
                tracing::warn!(client = ?self.client_id, pid, error = ?e, "cannot build acknowledgement");
                Vec::new()
            }
        }
    }

    // ------------------------------------------------------------------ acks from the client

    fn acked(&mut self, pid: u16) -> Vec<Event> {
        if let Some(s) = &self.session {
            self.broker.complete(s, self.conn_id, pid);
        }
        Vec::new()
    }

    fn pubrec(&mut self, pid: u16, failed: bool) -> Vec<Event> {
        let Some(s) = self.session.clone() else {
            return Vec::new();
        };
        if failed {
            self.broker.complete(&s, self.conn_id, pid);
            return Vec::new();
        }
        self.broker.released(&s, self.conn_id, pid);
        self.send_ack(Ack::Pubrel, pid, 0)
    }

    // ------------------------------------------------------------------ SUBSCRIBE

    async fn on_subscribe(&mut self, pid: u16, entries: Vec<(String, SubOptions)>) -> Vec<Event> {
        let Some(session) = self.session.clone() else {
            return Vec::new();
        };
        let s = self.broker.settings.clone();
        let mut codes: Vec<u8> = Vec::with_capacity(entries.len());
        let mut retained: Vec<Delivery> = Vec::new();
        for (full, mut opts) in entries {
            let parsed = match topic::parse_filter(&full, s.topic_limits) {
                Ok(p) => p,
                Err(e) => {
                    tracing::debug!(client = ?self.client_id, filter = %full, "subscription refused: {e}");
                    self.broker.metrics.refused("subscribe_filter_invalid");
                    codes.push(0x8F);
                    continue;
                }
            };
            if let Some(acl) = &mut self.acl
                && !acl.allows(&self.broker.auth, Action::Subscribe, parsed.filter)
            {
                let client = self.client_id.as_deref().unwrap_or("");
                let user = self.username.as_deref().unwrap_or("");
                self.broker.auth.refused("acl_subscribe", &format!("{client}|{full}"), || {
                    format!("client {client:?} (username {user:?}) may not subscribe to {full:?}")
                });
                codes.push(0x87);
                continue;
            }
            let max = self.broker.auth.limits.max_subscriptions;
            if max > 0 {
                let st = session.state.lock();
                let over = !st.subscriptions.contains_key(&full) && st.subscriptions.len() >= max;
                drop(st);
                if over {
                    let client = self.client_id.as_deref().unwrap_or("");
                    self.broker.auth.refused("subscription_quota", client, || {
                        format!(
                            "client {client:?} has {max} subscriptions (limits.max_subscriptions); {full:?} refused"
                        )
                    });
                    codes.push(0x97);
                    continue;
                }
            }
            if parsed.group.is_some() && opts.no_local {
                // MQTT-3.8.3-4
                return self
                    .protocol_violation(DisconnectReasonCode::ProtocolError, "no local on a shared subscription")
                    .await;
            }
            opts.qos = opts.qos.min(s.max_qos);
            let existed = match self.broker.subscribe(&session, &full, opts).await {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(client = ?self.client_id, "subscribe failed: {e}");
                    codes.push(0x80);
                    continue;
                }
            };
            codes.push(opts.qos);
            let send_retained =
                parsed.group.is_none() && (opts.retain_handling == 0 || (opts.retain_handling == 1 && !existed));
            if send_retained {
                for m in self.broker.retained_for(parsed.filter) {
                    retained.push(Delivery {
                        seq: 0,
                        qos: m.qos.min(opts.qos),
                        msg: m,
                        // Retained messages sent on subscribe always carry RETAIN=1 (MQTT-3.3.1-9).
                        retain: true,
                        sub_ids: opts.sub_id.into_iter().collect(),
                        shared: None,
                        committed: None,
                    });
                }
            }
        }
        let ev = if self.v5() {
            let rcs: Vec<SubackReasonCode> = codes.iter().map(|c| suback_v5(*c)).collect();
            match v5_0::Suback::builder().packet_id(pid).reason_codes(rcs).build() {
                Ok(p) => self.mqtt.send(p.into()),
                Err(_) => Vec::new(),
            }
        } else {
            let rcs: Vec<SubackReturnCode> = codes.iter().map(|c| suback_v3(*c)).collect();
            match v3_1_1::Suback::builder().packet_id(pid).return_codes(rcs).build() {
                Ok(p) => self.mqtt.send(p.into()),
                Err(_) => Vec::new(),
            }
        };
        if !retained.is_empty() {
            let mut batch = self.broker.store.batch();
            let committed = Arc::new(std::sync::atomic::AtomicBool::new(false));
            for mut d in retained {
                if d.qos > 0 {
                    d.committed = Some(committed.clone());
                }
                if session.offer(d, s.queue, &self.broker.store, &mut batch) != crate::broker::session::Offer::Queued {
                    self.broker.metrics.dropped(crate::observe::DropReason::QueueFull);
                }
            }
            if let Err(e) = self.broker.store.commit(batch) {
                tracing::error!("retained deliveries not persisted: {e}");
            }
            committed.store(true, std::sync::atomic::Ordering::Release);
        }
        ev
    }

    async fn on_unsubscribe(&mut self, pid: u16, filters: Vec<String>) -> Vec<Event> {
        let Some(session) = self.session.clone() else {
            return Vec::new();
        };
        let mut rcs = Vec::with_capacity(filters.len());
        for f in filters {
            let rc = match self.broker.unsubscribe(&session, &f).await {
                Ok(true) => UnsubackReasonCode::Success,
                Ok(false) => UnsubackReasonCode::NoSubscriptionExisted,
                Err(e) => {
                    tracing::error!(client = ?self.client_id, "unsubscribe failed: {e}");
                    UnsubackReasonCode::UnspecifiedError
                }
            };
            rcs.push(rc);
        }
        if self.v5() {
            match v5_0::Unsuback::builder().packet_id(pid).reason_codes(rcs).build() {
                Ok(p) => self.mqtt.send(p.into()),
                Err(_) => Vec::new(),
            }
        } else {
            match v3_1_1::Unsuback::builder().packet_id(pid).build() {
                Ok(p) => self.mqtt.send(p.into()),
                Err(_) => Vec::new(),
            }
        }
    }

    // ------------------------------------------------------------------ deliveries out

    /// Move ready deliveries from the session to the socket buffer.
    fn pump(&mut self) {
        let Some(session) = self.session.clone() else {
            return;
        };
        if self.end.is_some() {
            return;
        }
        let v5 = self.v5();
        loop {
            let mqtt = &mut self.mqtt;
            let items = self
                .broker
                .take_ready(&session, self.conn_id, PUMP_BATCH, self.window, || mqtt.acquire_packet_id().ok());
            if items.is_empty() {
                return;
            }
            let n = items.len();
            for (pid, d) in items {
                if pid.is_none() && !self.aliases_out && crate::protocol::wire::shareable(&d.msg, d.qos, &d.sub_ids) {
                    // Fast path: bytes encoded once per message, shared by its subscribers.
                    let bytes = d.msg.wire.qos0(&d.msg, v5, d.retain);
                    if bytes.len() > self.max_out {
                        self.broker.metrics.dropped(crate::observe::DropReason::PacketTooLarge);
                    } else {
                        self.wbuf.extend_from_slice(&bytes);
                        self.broker.metrics.messages_sent[0].inc();
                        self.broker.metrics.packet_out("publish");
                    }
                    continue;
                }
                let Some(packet) = self.build_publish(&d, pid, v5, false) else {
                    if let Some(pid) = pid {
                        let _ = self.mqtt.release_packet_id(pid);
                        self.broker.complete(&session, self.conn_id, pid);
                    }
                    continue;
                };
                let ev = self.mqtt.send(packet);
                let mut too_large = false;
                for e in ev {
                    match e {
                        Event::RequestSendPacket { packet, .. } => {
                            self.wbuf.extend_from_slice(&packet.to_continuous_buffer());
                        }
                        Event::NotifyError(MqttError::PacketTooLarge) => too_large = true,
                        Event::NotifyError(e) => {
                            tracing::debug!(client = ?self.client_id, error = ?e, "delivery not sent");
                        }
                        _ => {}
                    }
                }
                if too_large {
                    // MQTT-3.1.2-25: a message larger than the client accepts is dropped for it.
                    self.broker.metrics.dropped(crate::observe::DropReason::PacketTooLarge);
                    if let Some(pid) = pid {
                        let _ = self.mqtt.release_packet_id(pid);
                        self.broker.complete(&session, self.conn_id, pid);
                    }
                } else {
                    if let Some(c) = self.broker.metrics.messages_sent.get(usize::from(d.qos)) {
                        c.inc();
                    }
                    self.broker.metrics.packet_out("publish");
                }
            }
            if self.wbuf.len() >= WBUF_HIGH || n < PUMP_BATCH {
                if self.wbuf.len() >= WBUF_HIGH {
                    // Come back after the flush.
                    session.wake.notify_one();
                }
                return;
            }
        }
    }

    /// A PUBLISH for `d` in the connection's protocol version. `None` if it cannot be built
    /// (logged): the caller then completes the delivery so it does not block the session.
    fn build_publish(&self, d: &Delivery, pid: Option<u16>, v5: bool, dup: bool) -> Option<Packet> {
        if v5 { build_v5(d, pid, dup).map(Packet::from) } else { build_v3(d, pid, dup).map(Packet::from) }
    }

    // ------------------------------------------------------------------ the end

    async fn finish(&mut self, end: End) {
        self.release_acks();
        let m = &self.broker.metrics;
        m.disconnected(end.label());
        let Some(session) = self.session.take() else {
            return;
        };
        m.connections.dec();
        self.broker.connections.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        let kind = match end {
            End::ClientDisconnect | End::Shutdown => CloseKind::Normal,
            _ => CloseKind::WithWill,
        };
        tracing::debug!(client = ?self.client_id, peer = %self.peer, reason = end.label(), "client disconnected");
        self.broker.disconnect(&session, self.conn_id, kind, self.will.take(), self.new_expiry).await;
    }
}

impl Conn {
    /// The connection ends with acknowledgements still waiting: their messages were sent, so
    /// see the confirmations through (what a node does not confirm goes to the outbox, in
    /// order). The client gets no acknowledgement and sends them again when it reconnects.
    fn release_acks(&mut self) {
        let acks = std::mem::take(&mut self.acks);
        if acks.is_empty() {
            return;
        }
        let broker = self.broker.clone();
        let session = self.session.clone();
        tokio::spawn(async move {
            for a in acks {
                let r = match a.confirm {
                    Some(c) => c.await,
                    None => Ok(()),
                };
                if r.is_err()
                    && a.qos == 2
                    && let Some(s) = &session
                {
                    // Not handled after all: a resent PUBLISH with this id must be routed again.
                    broker.incoming_qos2(s, a.pid, false);
                }
            }
        });
    }
}

/// The oldest waiting acknowledgement's confirmation (the caller checks there is one).
async fn first_confirmation(acks: &mut VecDeque<PendingAck>) -> Result<(), ClusterError> {
    match acks.front_mut().and_then(|a| a.confirm.as_mut()) {
        Some(c) => c.await,
        None => Ok(()),
    }
}

/// The acknowledgements of the QoS 1 and 2 flows.
#[derive(Debug, Clone, Copy)]
enum Ack {
    Puback,
    Pubrec,
    Pubrel,
    Pubcomp,
}

// ---------------------------------------------------------------------- CONNECT, version-neutral

/// What a CONNECT of either protocol version asks for.
struct ConnectRequest {
    client_id: String,
    clean: bool,
    keep_alive: u16,
    username: Option<String>,
    password: Option<Vec<u8>>,
    expiry: u32,
    /// 5.0 Authentication Method present (enhanced authentication, not supported yet).
    enhanced_auth: bool,
    will: Option<WillRequest>,
}

struct WillRequest {
    topic: String,
    payload: Vec<u8>,
    qos: u8,
    retain: bool,
    delay: u32,
    expiry: Option<u32>,
    props: PublishProps,
}

impl WillRequest {
    fn new(topic: &str, payload: &[u8], qos: u8, retain: bool, props: &[Property]) -> WillRequest {
        let mut w = WillRequest {
            topic: topic.into(),
            payload: payload.to_vec(),
            qos,
            retain,
            delay: 0,
            expiry: None,
            props: publish_props_in(props),
        };
        for p in props {
            match p {
                Property::WillDelayInterval(v) => w.delay = v.val(),
                Property::MessageExpiryInterval(v) => w.expiry = Some(v.val()),
                _ => {}
            }
        }
        w
    }
}

/// Why a CONNECT is refused, mapped to each version's code.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    ClientIdNotValid,
    NotAuthorized,
    BadCredentials,
    BannedClientId,
    BannedUsername,
    Flapping,
    WillNotAuthorized,
    BadAuthenticationMethod,
    ServerUnavailable,
    TopicNameInvalid,
    QosNotSupported,
    RetainNotSupported,
    /// The client id's session belongs to another identity.
    SessionOwner,
}

impl Refusal {
    fn v5(self) -> ConnectReasonCode {
        match self {
            Refusal::ClientIdNotValid | Refusal::SessionOwner => ConnectReasonCode::ClientIdentifierNotValid,
            Refusal::NotAuthorized | Refusal::WillNotAuthorized => ConnectReasonCode::NotAuthorized,
            Refusal::BadCredentials => ConnectReasonCode::BadUserNameOrPassword,
            Refusal::BannedClientId | Refusal::BannedUsername | Refusal::Flapping => ConnectReasonCode::Banned,
            Refusal::BadAuthenticationMethod => ConnectReasonCode::BadAuthenticationMethod,
            Refusal::ServerUnavailable => ConnectReasonCode::ServerUnavailable,
            Refusal::TopicNameInvalid => ConnectReasonCode::TopicNameInvalid,
            Refusal::QosNotSupported => ConnectReasonCode::QosNotSupported,
            Refusal::RetainNotSupported => ConnectReasonCode::RetainNotSupported,
        }
    }

    /// 3.1.1 has only a handful of return codes; will problems are "not authorized".
    fn v3(self) -> ConnectReturnCode {
        match self {
            Refusal::ClientIdNotValid | Refusal::SessionOwner => ConnectReturnCode::IdentifierRejected,
            Refusal::ServerUnavailable => ConnectReturnCode::ServerUnavailable,
            Refusal::BadCredentials => ConnectReturnCode::BadUserNameOrPassword,
            _ => ConnectReturnCode::NotAuthorized,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Refusal::ClientIdNotValid => "connect_client_id",
            Refusal::NotAuthorized => "connect_not_authorized",
            Refusal::BadCredentials => "connect_bad_credentials",
            Refusal::BannedClientId => "connect_banned_client_id",
            Refusal::BannedUsername => "connect_banned_username",
            Refusal::Flapping => "connect_flapping",
            Refusal::WillNotAuthorized => "connect_will_not_authorized",
            Refusal::BadAuthenticationMethod => "connect_auth_method",
            Refusal::ServerUnavailable => "connect_server_unavailable",
            Refusal::TopicNameInvalid => "connect_will_topic",
            Refusal::QosNotSupported => "connect_will_qos",
            Refusal::RetainNotSupported => "connect_will_retain",
            Refusal::SessionOwner => "connect_session_owner",
        }
    }
}

// ---------------------------------------------------------------------- helpers

/// SUBSCRIBE checks the library leaves to us: a non-zero packet id (MQTT-2.2.1-3), reserved
/// subscription-option bits clear (3.1.1: all but QoS; 5.0: the top two), QoS ≠ 3 and Retain
/// Handling ≠ 3 (MQTT-3.8.3-5).
fn bad_subscribe(pid: u16, options: impl Iterator<Item = u8>, reserved: u8) -> Option<&'static str> {
    if pid == 0 {
        return Some("packet identifier 0");
    }
    for o in options {
        if o & reserved != 0 {
            return Some("reserved subscription option bits set");
        }
        if o & 0x03 == 3 || (o >> 4) & 0x03 == 3 {
            return Some("QoS 3 or Retain Handling 3 in SUBSCRIBE");
        }
    }
    None
}

pub(crate) fn build_v5(d: &Delivery, pid: Option<u16>, dup: bool) -> Option<v5_0::Publish> {
    let m = &d.msg;
    let mut props: Vec<Property> = Vec::new();
    if let Some(pf) = m.props.payload_format {
        let f = if pf == 1 { PayloadFormat::String } else { PayloadFormat::Binary };
        push_prop(&mut props, PayloadFormatIndicator::new(f).map(Property::PayloadFormatIndicator));
    }
    if let Some(e) = m.remaining_expiry(now_ms()) {
        push_prop(&mut props, MessageExpiryInterval::new(e).map(Property::MessageExpiryInterval));
    }
    if let Some(ct) = &m.props.content_type {
        push_prop(&mut props, ContentType::new(ct.as_str()).map(Property::ContentType));
    }
    if let Some(rt) = &m.props.response_topic {
        push_prop(&mut props, ResponseTopic::new(rt.as_str()).map(Property::ResponseTopic));
    }
    if let Some(cd) = &m.props.correlation_data {
        push_prop(&mut props, CorrelationData::new(cd.clone()).map(Property::CorrelationData));
    }
    for (k, v) in &m.props.user_properties {
        push_prop(&mut props, UserProperty::new(k.as_str(), v.as_str()).map(Property::UserProperty));
    }
    for id in &d.sub_ids {
        push_prop(&mut props, SubscriptionIdentifier::new(*id).map(Property::SubscriptionIdentifier));
    }
    let r = v5_0::Publish::builder().topic_name(&*m.topic).and_then(|b| {
        let mut b = b.qos(qos_of(d.qos)).retain(d.retain).dup(dup).payload(m.payload.clone());
        if let Some(pid) = pid {
            b = b.packet_id(pid);
        }
        if !props.is_empty() {
            b = b.props(props);
        }
        b.build()
    });
    r.map_err(|e| tracing::warn!(topic = %m.topic, error = ?e, "cannot build PUBLISH")).ok()
}

pub(crate) fn build_v3(d: &Delivery, pid: Option<u16>, dup: bool) -> Option<v3_1_1::Publish> {
    let m = &d.msg;
    let r = v3_1_1::Publish::builder().topic_name(&*m.topic).and_then(|b| {
        let mut b = b.qos(qos_of(d.qos)).retain(d.retain).dup(dup).payload(m.payload.clone());
        if let Some(pid) = pid {
            b = b.packet_id(pid);
        }
        b.build()
    });
    r.map_err(|e| tracing::warn!(topic = %m.topic, error = ?e, "cannot build PUBLISH")).ok()
}

fn push_prop(props: &mut Vec<Property>, p: Result<Property, MqttError>) {
    match p {
        Ok(p) => props.push(p),
        Err(e) => tracing::debug!(error = ?e, "property dropped"),
    }
}

fn generate_client_id() -> String {
    format!("starling-{:016x}", rand::random::<u64>())
}

fn qos_u8(q: Qos) -> u8 {
    match q {
        Qos::AtMostOnce => 0,
        Qos::AtLeastOnce => 1,
        Qos::ExactlyOnce => 2,
    }
}

fn qos_of(q: u8) -> Qos {
    match q {
        0 => Qos::AtMostOnce,
        1 => Qos::AtLeastOnce,
        _ => Qos::ExactlyOnce,
    }
}

fn sub_opts(o: &mqtt_protocol_core::mqtt::packet::SubOpts, sub_id: Option<u32>) -> SubOptions {
    SubOptions {
        qos: qos_u8(o.qos()),
        no_local: o.nl(),
        retain_as_published: o.rap(),
        retain_handling: match o.rh() {
            RetainHandling::SendRetained => 0,
            RetainHandling::SendRetainedIfNotExists => 1,
            RetainHandling::DoNotSendRetained => 2,
        },
        sub_id,
    }
}

fn suback_v5(c: u8) -> SubackReasonCode {
    match c {
        0 => SubackReasonCode::GrantedQos0,
        1 => SubackReasonCode::GrantedQos1,
        2 => SubackReasonCode::GrantedQos2,
        0x8F => SubackReasonCode::TopicFilterInvalid,
        0x87 => SubackReasonCode::NotAuthorized,
        0x97 => SubackReasonCode::QuotaExceeded,
        _ => SubackReasonCode::UnspecifiedError,
    }
}

fn suback_v3(c: u8) -> SubackReturnCode {
    match c {
        0 => SubackReturnCode::SuccessMaximumQos0,
        1 => SubackReturnCode::SuccessMaximumQos1,
        2 => SubackReturnCode::SuccessMaximumQos2,
        _ => SubackReturnCode::Failure,
    }
}

/// PUBLISH (or will) properties the broker forwards unchanged.
pub(crate) fn publish_props_in(props: &[Property]) -> PublishProps {
    let mut out = PublishProps::default();
    for p in props {
        match p {
            Property::PayloadFormatIndicator(v) => out.payload_format = Some(v.val()),
            Property::ContentType(v) => out.content_type = Some(v.val().to_string()),
            Property::ResponseTopic(v) => out.response_topic = Some(v.val().to_string()),
            Property::CorrelationData(v) => out.correlation_data = Some(v.val().to_vec()),
            Property::UserProperty(v) => out.user_properties.push((v.key().to_string(), v.val().to_string())),
            _ => {}
        }
    }
    out
}

fn packet_name(p: &Packet) -> &'static str {
    match p {
        Packet::V3_1_1Connect(_) | Packet::V5_0Connect(_) => "connect",
        Packet::V3_1_1Connack(_) | Packet::V5_0Connack(_) => "connack",
        Packet::V3_1_1Publish(_) | Packet::V5_0Publish(_) => "publish",
        Packet::V3_1_1Puback(_) | Packet::V5_0Puback(_) => "puback",
        Packet::V3_1_1Pubrec(_) | Packet::V5_0Pubrec(_) => "pubrec",
        Packet::V3_1_1Pubrel(_) | Packet::V5_0Pubrel(_) => "pubrel",
        Packet::V3_1_1Pubcomp(_) | Packet::V5_0Pubcomp(_) => "pubcomp",
        Packet::V3_1_1Subscribe(_) | Packet::V5_0Subscribe(_) => "subscribe",
        Packet::V3_1_1Suback(_) | Packet::V5_0Suback(_) => "suback",
        Packet::V3_1_1Unsubscribe(_) | Packet::V5_0Unsubscribe(_) => "unsubscribe",
        Packet::V3_1_1Unsuback(_) | Packet::V5_0Unsuback(_) => "unsuback",
        Packet::V3_1_1Pingreq(_) | Packet::V5_0Pingreq(_) => "pingreq",
        Packet::V3_1_1Pingresp(_) | Packet::V5_0Pingresp(_) => "pingresp",
        Packet::V3_1_1Disconnect(_) | Packet::V5_0Disconnect(_) => "disconnect",
        Packet::V5_0Auth(_) => "auth",
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// Idle connections must stay small: keep an eye on what one costs.
    #[tokio::test]
    async fn connection_footprint() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let c = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = crate::config::Config::default();
        cfg.data_dir = dir.path().into();
        cfg.listeners.clear();
        cfg.admin.enabled = false;
        let node = crate::node::Node::start(cfg).await.expect("node");
        let (_tx, rx) = watch::channel(false);
        let info = Arc::new(ListenerInfo { name: "t".into(), allow_anonymous: true, anonymous_implicit: false });
        let fut = serve(c, addr, node.broker.clone(), info, rx);
        eprintln!(
            "serve future: {} bytes, Conn: {} bytes, protocol connection: {} bytes",
            std::mem::size_of_val(&fut),
            std::mem::size_of::<Conn>(),
            std::mem::size_of::<Connection<role::Server>>()
        );
        // Everything here is held for the life of an idle connection (3.2 KiB in a debug build
        // when this bound was set; release builds lay futures out tighter).
        assert!(std::mem::size_of_val(&fut) < 4096);
    }
}
