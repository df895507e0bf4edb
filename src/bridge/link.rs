//! One connection to the upstream: mqtt-protocol-core's `Connection<role::Client>` driven over
//! TCP or TLS. The out side is the bridge's local session: its deliveries are sent upstream
//! with the session's own packet ids, and completed locally only when the upstream acknowledged
//! them. The in side publishes what the upstream sends and acknowledges it upstream only after
//! the local publish was accepted.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mqtt_protocol_core::mqtt;
use mqtt_protocol_core::mqtt::connection::{Event, TimerKind};
use mqtt_protocol_core::mqtt::packet::{
    GenericPacketTrait, Packet, Property, Qos, RetainHandling, SubEntry, SubOpts, v3_1_1, v5_0,
};
use mqtt_protocol_core::mqtt::result_code::{ConnectReasonCode, ConnectReturnCode, SubackReasonCode, SubackReturnCode};
use mqtt_protocol_core::mqtt::{Connection, Version, role};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::map::{self, Side};
use super::status::{BridgeStatus, Drop};
use crate::broker::session::{Delivery, Phase, Session};
use crate::broker::{Broker, reserved};
use crate::config::bridge::{BridgeConfig, BridgeProtocol, split_host_port};
use crate::mqtt::{Ack, Reason, ack_packet, build_v3, build_v5, publish_props_in};
use crate::protocol::Message;
use crate::protocol::message::now_ms;

mod echo;
mod inbound;

/// A byte stream to the upstream, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// TCP connect and TLS handshake, each.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// CONNACK and SUBACK.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// QoS 1/2 messages in flight upstream at most (less if the upstream's Receive Maximum is).
const WINDOW: usize = 256;

/// Why a connection attempt or a connection ended; logged, then the bridge backs off.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("no address of {0} answered")]
    Unreachable(String),
    #[error(transparent)]
    Tls(#[from] Box<super::tls::TlsError>),
    #[error("{key} {}: cannot read: {source}", path.display())]
    PasswordFile { key: String, path: std::path::PathBuf, source: io::Error },
    #[error("the local session: {0}")]
    Attach(#[from] crate::broker::BrokerError),
    #[error("{op} with {addr}: {source}")]
    Io { addr: SocketAddr, op: &'static str, source: io::Error },
    #[error("{addr} refused CONNECT: {reason}")]
    Refused { addr: SocketAddr, reason: String },
    #[error("{addr} does not take the bridge bit (MQTT 3.1.1 protocol level 0x84): connecting as a plain client")]
    BridgeBitRefused { addr: SocketAddr },
    #[error("{addr} refused the subscription to {filter:?}: {reason}")]
    SubscribeRefused { addr: SocketAddr, filter: String, reason: String },
    #[error("{addr}: {what}")]
    Protocol { addr: SocketAddr, what: String },
    #[error("{addr} closed the connection")]
    Closed { addr: SocketAddr },
    #[error("the local session was taken over or the node is stopping")]
    Detached,
    #[error("{0}")]
    Local(String),
}

/// Resolve every address (a DNS name → all its addresses) and connect to the first that
/// answers, in the configured order.
pub async fn dial(name: &str, cfg: &BridgeConfig) -> Result<(Box<dyn Io>, SocketAddr), LinkError> {
    let mut last = None;
    for a in &cfg.addresses {
        let Some((host, port)) = split_host_port(a) else { continue };
        let addrs: Vec<SocketAddr> =
            match tokio::time::timeout(DIAL_TIMEOUT, tokio::net::lookup_host((host, port))).await {
                Ok(Ok(it)) => it.collect(),
                Ok(Err(e)) => {
                    last = Some(format!("{a}: cannot resolve: {e}"));
                    continue;
                }
                Err(_) => {
                    last = Some(format!("{a}: name resolution timed out"));
                    continue;
                }
            };
        for addr in addrs {
            let tcp = match tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    last = Some(format!("{addr}: {e}"));
                    continue;
                }
                Err(_) => {
                    last = Some(format!("{addr}: connect timed out"));
                    continue;
                }
            };
            // Small acknowledgements matter more than throughput on a bridge.
            let _ = tcp.set_nodelay(true);
            let Some(t) = &cfg.tls else { return Ok((Box::new(tcp), addr)) };
            let k = format!("bridges.{name}.tls");
            let connector = super::tls::connector(&k, t).map_err(Box::new)?;
            let sni = super::tls::server_name(t, host).map_err(Box::new)?;
            match tokio::time::timeout(DIAL_TIMEOUT, connector.connect(sni, tcp)).await {
                Ok(Ok(s)) => return Ok((Box::new(s), addr)),
                Ok(Err(e)) => last = Some(format!("{addr}: TLS: {e}")),
                Err(_) => last = Some(format!("{addr}: TLS handshake timed out")),
            }
        }
    }
    Err(LinkError::Unreachable(last.unwrap_or_else(|| cfg.addresses.join(", "))))
}

/// The upstream connection, the local session it serves, and what the core asked for.
pub struct Link<'a> {
    pub name: &'a str,
    pub cfg: &'a BridgeConfig,
    pub broker: &'a Arc<Broker>,
    pub session: &'a Arc<Session>,
    pub conn_id: u64,
    pub status: &'a BridgeStatus,
    pub addr: SocketAddr,
    stream: Box<dyn Io>,
    mqtt: Connection<role::Client>,
    v5: bool,
    /// 3.1.1: this connection's CONNECT carries the bridge bit.
    bridge_bit: bool,
    /// A plain 3.1.1 upstream (no bridge bit) with `in` rules: what it echoes back is dropped.
    echoes: Option<echo::Echoes>,
    wbuf: Vec<u8>,
    inbox: Vec<Packet>,
    timers: [Option<Instant>; 3],
    closed: bool,
    error: Option<mqtt::result_code::MqttError>,
    /// When each in-flight packet id was sent, for the round-trip time.
    sent_at: std::collections::HashMap<u16, Instant>,
}

fn timer_slot(kind: TimerKind) -> usize {
    match kind {
        TimerKind::PingreqSend => 0,
        TimerKind::PingreqRecv => 1,
        TimerKind::PingrespRecv => 2,
    }
}

const TIMER_KINDS: [TimerKind; 3] = [TimerKind::PingreqSend, TimerKind::PingreqRecv, TimerKind::PingrespRecv];

fn qos_of(q: u8) -> Qos {
    match q {
        0 => Qos::AtMostOnce,
        1 => Qos::AtLeastOnce,
        _ => Qos::ExactlyOnce,
    }
}

fn qos_u8(q: Qos) -> u8 {
    match q {
        Qos::AtMostOnce => 0,
        Qos::AtLeastOnce => 1,
        Qos::ExactlyOnce => 2,
    }
}

impl<'a> Link<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &'a str,
        cfg: &'a BridgeConfig,
        broker: &'a Arc<Broker>,
        session: &'a Arc<Session>,
        conn_id: u64,
        status: &'a BridgeStatus,
        stream: Box<dyn Io>,
        addr: SocketAddr,
    ) -> Link<'a> {
        let v5 = cfg.protocol == BridgeProtocol::V5;
        let mut mqtt = Connection::<role::Client>::new(if v5 { Version::V5_0 } else { Version::V3_1_1 });
        // Acknowledgements are sent by this code: upstream messages only once published here.
        mqtt.set_auto_pub_response(false);
        mqtt.set_auto_ping_response(true);
        Link {
            name,
            cfg,
            broker,
            session,
            conn_id,
            status,
            addr,
            stream,
            mqtt,
            v5,
            bridge_bit: false,
            echoes: None,
            wbuf: Vec::new(),
            inbox: Vec::new(),
            timers: [None; 3],
            closed: false,
            error: None,
            sent_at: Default::default(),
        }
    }

    fn apply(&mut self, events: Vec<Event>) {
        for e in events {
            match e {
                Event::RequestSendPacket { packet, .. } => {
                    for s in packet.to_buffers() {
                        self.wbuf.extend_from_slice(&s);
                    }
                }
                Event::NotifyPacketReceived(p) => self.inbox.push(p),
                Event::NotifyPacketIdReleased(_) => {}
                Event::RequestTimerReset { kind, duration_ms } => {
                    self.timers[timer_slot(kind)] = Some(Instant::now() + Duration::from_millis(duration_ms));
                }
                Event::RequestTimerCancel(kind) => self.timers[timer_slot(kind)] = None,
                Event::NotifyError(err) => self.error = Some(err),
                Event::RequestClose => self.closed = true,
            }
        }
    }

    /// Send a packet; `Err` with the core's complaint if it would not.
    fn send(&mut self, p: Packet) -> Result<(), mqtt::result_code::MqttError> {
        let events = self.mqtt.send(p);
        self.apply(events);
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn proto(&self, what: impl Into<String>) -> LinkError {
        LinkError::Protocol { addr: self.addr, what: what.into() }
    }

    async fn flush(&mut self) -> Result<(), LinkError> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let addr = self.addr;
        let wait = self.cfg.keep_alive.max(Duration::from_secs(10));
        match tokio::time::timeout(wait, self.stream.write_all(&self.wbuf)).await {
            Ok(Ok(())) => {
                self.wbuf.clear();
                Ok(())
            }
            Ok(Err(source)) => Err(LinkError::Io { addr, op: "write", source }),
            Err(_) => Err(LinkError::Io { addr, op: "write", source: io::ErrorKind::TimedOut.into() }),
        }
    }

    /// Read once (waiting at most until `until`) and feed the core.
    async fn read_some(&mut self, buf: &mut [u8], until: Option<Instant>) -> Result<(), LinkError> {
        let addr = self.addr;
        let deadline = self.timers.iter().flatten().copied().chain(until).min();
        let read = self.stream.read(buf);
        let n = match deadline {
            Some(d) => tokio::time::timeout_at(d.into(), read).await.ok(),
            None => Some(read.await),
        };
        match n {
            None => {}
            Some(Ok(0)) => {
                let events = self.mqtt.notify_closed();
                self.apply(events);
                return Err(LinkError::Closed { addr });
            }
            Some(Ok(n)) => self.feed(&buf[..n]),
            Some(Err(source)) => return Err(LinkError::Io { addr, op: "read", source }),
        }
        self.fire_timers();
        self.check()
    }

    fn feed(&mut self, data: &[u8]) {
        let mut cursor = mqtt::common::Cursor::new(data);
        while (cursor.position() as usize) < data.len() {
            let before = cursor.position();
            let events = self.mqtt.recv(&mut cursor);
            self.apply(events);
            if cursor.position() == before || self.closed {
                break;
            }
        }
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        for kind in TIMER_KINDS {
            let slot = timer_slot(kind);
            if self.timers[slot].is_some_and(|t| t <= now) {
                self.timers[slot] = None;
                let events = self.mqtt.notify_timer_fired(kind);
                self.apply(events);
            }
        }
    }

    fn check(&mut self) -> Result<(), LinkError> {
        if let Some(e) = self.error.take() {
            return Err(self.proto(e.to_string()));
        }
        if self.closed {
            return Err(LinkError::Closed { addr: self.addr });
        }
        Ok(())
    }

    /// CONNECT and wait for CONNACK; returns whether the upstream still had the session.
    pub async fn connect(&mut self, client_id: &str, password: Option<String>) -> Result<bool, LinkError> {
        let c = self.cfg;
        let keep_alive = c.keep_alive.as_secs().min(65535) as u16;
        let expiry = c.session_expiry.as_secs().min(u64::from(u32::MAX)) as u32;
        let packet: Result<Packet, _> = if self.v5 {
            v5_0::Connect::builder().client_id(client_id).and_then(|b| {
                let mut b = b.clean_start(false).keep_alive(keep_alive);
                if let Some(u) = &c.username {
                    b = b.user_name(u.as_str())?;
                }
                if let Some(p) = &password {
                    b = b.password(p.as_str())?;
                }
                let prop = mqtt::packet::SessionExpiryInterval::new(expiry)?;
                b.props(vec![Property::SessionExpiryInterval(prop)]).build().map(Packet::from)
            })
        } else {
            v3_1_1::Connect::builder().client_id(client_id).and_then(|b| {
                // 3.1.1 has no expiry: Clean Session 0 keeps the session as long as the upstream does.
                let mut b = b.clean_session(false).keep_alive(keep_alive);
                if let Some(u) = &c.username {
                    b = b.user_name(u.as_str())?;
                }
                if let Some(p) = &password {
                    b = b.password(p.as_str())?;
                }
                b.build().map(Packet::from)
            })
        };
        let packet = packet.map_err(|e| LinkError::Local(format!("cannot build CONNECT: {e:?}")))?;
        self.send(packet).map_err(|e| self.proto(e.to_string()))?;
        let st = self.status;
        // After an attempt with the bridge bit was closed unanswered, one without it: if that
        // one is accepted, the upstream does not take the bit.
        let mut after_unanswered = false;
        if !self.v5 && !st.bridge_bit_refused.load(Ordering::Relaxed) {
            after_unanswered = st.bridge_bit_unanswered.swap(false, Ordering::Relaxed);
            if !after_unanswered {
                self.bridge_bit = echo::set_bridge_bit(&mut self.wbuf);
            }
        }
        self.flush().await?;
        let deadline = Instant::now() + ACK_TIMEOUT;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            if Instant::now() >= deadline {
                return Err(self.proto("no CONNACK"));
            }
            if let Err(e) = self.read_some(&mut buf, Some(deadline)).await {
                if self.bridge_bit && matches!(e, LinkError::Closed { .. } | LinkError::Io { .. }) {
                    st.bridge_bit_unanswered.store(true, Ordering::Relaxed);
                }
                return Err(e);
            }
            // The first packet must be the CONNACK; what came after it in the same read (a
            // resumed session's queued PUBLISHes, at once) stays in the inbox for the run loop:
            // dropping it would leave them unacknowledged upstream, filling its in-flight window.
            if !self.inbox.is_empty() {
                let p = self.inbox.remove(0);
                match p {
                    Packet::V5_0Connack(a) if a.reason_code() == ConnectReasonCode::Success => {
                        return Ok(a.session_present());
                    }
                    Packet::V5_0Connack(a) => {
                        return Err(LinkError::Refused { addr: self.addr, reason: a.reason_code().to_string() });
                    }
                    Packet::V3_1_1Connack(a) if a.return_code() == ConnectReturnCode::Accepted => {
                        if after_unanswered {
                            st.bridge_bit_refused.store(true, Ordering::Relaxed);
                        }
                        if !self.bridge_bit && !self.cfg.inbound.is_empty() {
                            self.echoes = Some(echo::Echoes::default());
                        }
                        return Ok(a.session_present());
                    }
                    Packet::V3_1_1Connack(a)
                        if self.bridge_bit && a.return_code() == ConnectReturnCode::UnacceptableProtocolVersion =>
                    {
                        st.bridge_bit_refused.store(true, Ordering::Relaxed);
                        return Err(LinkError::BridgeBitRefused { addr: self.addr });
                    }
                    Packet::V3_1_1Connack(a) => {
                        return Err(LinkError::Refused { addr: self.addr, reason: a.return_code().to_string() });
                    }
                    other => return Err(self.proto(format!("{other:?} before CONNACK"))),
                }
            }
        }
    }

    /// Subscribe upstream to every `in` rule (no local on MQTT 5, so what this bridge sends up
    /// is not sent back down) and wait for the SUBACK.
    pub async fn subscribe(&mut self) -> Result<(), LinkError> {
        let rules = &self.cfg.inbound;
        if rules.is_empty() {
            return Ok(());
        }
        let mut entries = Vec::new();
        for r in rules {
            let mut o = SubOpts::new().set_qos(qos_of(r.qos));
            if self.v5 {
                o = o.set_nl(true).set_rap(true).set_rh(RetainHandling::SendRetained);
            }
            let e = SubEntry::new(r.remote_filter(), o).map_err(|e| LinkError::Local(format!("{e:?}")))?;
            entries.push(e);
        }
        let pid = self.mqtt.acquire_packet_id().map_err(|e| LinkError::Local(format!("{e:?}")))?;
        let packet: Result<Packet, _> = if self.v5 {
            v5_0::Subscribe::builder().entries(entries).packet_id(pid).build().map(Packet::from)
        } else {
            v3_1_1::Subscribe::builder().entries(entries).packet_id(pid).build().map(Packet::from)
        };
        let packet = packet.map_err(|e| LinkError::Local(format!("cannot build SUBSCRIBE: {e:?}")))?;
        self.send(packet).map_err(|e| self.proto(e.to_string()))?;
        self.flush().await?;
        let deadline = Instant::now() + ACK_TIMEOUT;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            if Instant::now() >= deadline {
                return Err(self.proto("no SUBACK"));
            }
            self.read_some(&mut buf, Some(deadline)).await?;
            let mut failed: Option<(usize, String)> = None;
            let mut acked = false;
            for p in std::mem::take(&mut self.inbox) {
                match p {
                    Packet::V5_0Suback(a) => {
                        acked = true;
                        failed = a.reason_codes().iter().enumerate().find_map(|(i, c)| {
                            (!matches!(
                                c,
                                SubackReasonCode::GrantedQos0
                                    | SubackReasonCode::GrantedQos1
                                    | SubackReasonCode::GrantedQos2
                            ))
                            .then(|| (i, format!("{c:?}")))
                        });
                    }
                    Packet::V3_1_1Suback(a) => {
                        acked = true;
                        failed = a
                            .return_codes()
                            .iter()
                            .enumerate()
                            .find_map(|(i, c)| (*c == SubackReturnCode::Failure).then(|| (i, format!("{c:?}"))));
                    }
                    // Retained messages may come before the SUBACK: handled like any other.
                    other => self.on_packet(other).await?,
                }
            }
            if let Some((i, reason)) = failed {
                let filter = rules.get(i).map(|r| r.remote_filter()).unwrap_or_default();
                return Err(LinkError::SubscribeRefused { addr: self.addr, filter, reason });
            }
            if acked {
                return Ok(());
            }
        }
    }

    /// Send again what the upstream has not acknowledged (oldest first), as a client must on a
    /// resumed session; also after the upstream lost the session, since nothing was acknowledged.
    pub fn resend_inflight(&mut self) -> Result<(), LinkError> {
        let Some(mut inflight) = self.session.inflight_for(self.conn_id) else {
            return Err(LinkError::Detached);
        };
        inflight.sort_by_key(|(pid, d, _)| (d.seq, *pid));
        for (pid, d, phase) in inflight {
            // The core hands out ids itself; these were given out by the local session.
            let _ = self.mqtt.register_packet_id(pid);
            match phase {
                Phase::Published => self.forward(pid, &d, true)?,
                Phase::Released => self.send_ack(Ack::Pubrel, pid, Reason::Success)?,
            }
        }
        Ok(())
    }

    /// The run loop of a connected, subscribed link: until the connection fails or the local
    /// session goes away.
    pub async fn run(&mut self, stop: &mut watch::Receiver<bool>) -> Result<(), LinkError> {
        let mut buf = vec![0u8; 64 * 1024];
        // Packets read with the CONNACK or SUBACK and not handled yet.
        for p in std::mem::take(&mut self.inbox) {
            self.on_packet(p).await?;
        }
        loop {
            self.pump()?;
            self.flush().await?;
            if *stop.borrow() {
                return Err(LinkError::Detached);
            }
            let notified = self.session.woken();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.session.driven_by(self.conn_id) || self.session.pending_kick().is_some() {
                return Err(LinkError::Detached);
            }
            if self.pump_ready() {
                continue;
            }
            let deadline = self.timers.iter().flatten().copied().min();
            let timer = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            let addr = self.addr;
            tokio::select! {
                r = self.stream.read(&mut buf) => match r {
                    Ok(0) => return Err(LinkError::Closed { addr }),
                    Ok(n) => {
                        let data = buf[..n].to_vec();
                        self.feed(&data);
                        for p in std::mem::take(&mut self.inbox) {
                            self.on_packet(p).await?;
                        }
                    }
                    Err(source) => return Err(LinkError::Io { addr, op: "read", source }),
                },
                _ = &mut notified => {}
                _ = timer => {}
                r = stop.changed() => if r.is_err() { return Err(LinkError::Detached) },
            }
            self.fire_timers();
            self.check()?;
        }
    }

    /// Whether the session has something to send right now (so the loop does not sleep).
    fn pump_ready(&self) -> bool {
        // Before taking the lock: `window` takes it too (parking_lot's mutex is not reentrant).
        let window = self.window();
        self.session.next_ready(window)
    }

    fn window(&self) -> usize {
        let vacancy = self.mqtt.get_receive_maximum_vacancy_for_send().map(usize::from);
        let inflight = self.session.inflight_len();
        match vacancy {
            Some(v) => (inflight + v).min(WINDOW),
            None => WINDOW,
        }
    }

    /// Take what the local session has ready and send it upstream.
    fn pump(&mut self) -> Result<(), LinkError> {
        self.drop_expired();
        let window = self.window();
        let mqtt = &mut self.mqtt;
        let ready = self.broker.take_ready(self.session, self.conn_id, 64, window, || mqtt.acquire_packet_id().ok());
        for (pid, d) in ready {
            match pid {
                Some(pid) => self.forward(pid, &d, false)?,
                None => self.forward_qos0(&d)?,
            }
        }
        Ok(())
    }

    /// Drop the queued messages at the front that are older than `backlog.max_age` (their
    /// expiry was set to it when queued) or past their own Message Expiry Interval: counted as
    /// `expired`, never sent.
    fn drop_expired(&self) {
        let store = &self.broker.store;
        let limits = self.broker.settings.queue;
        let now = now_ms();
        let mut batch = store.batch();
        let (mut n, mut bytes) = (0u64, 0u64);
        while let Some(d) = reserved::evict_front(self.session, store, limits, &mut batch, |d| d.msg.expired(now)) {
            n += 1;
            bytes += reserved::delivery_bytes(&d);
        }
        if n == 0 {
            return;
        }
        if let Err(e) = store.commit(batch) {
            tracing::error!(bridge = self.name, "cannot remove expired backlog messages: {e}");
        }
        self.status.backlog_shrank(bytes);
        self.session.notify_space();
        self.status.dropped_n(Drop::Expired, n, self.name, "older than backlog.max_age or their message expiry");
    }

    /// The local session is done with in-flight `pid` (acknowledged upstream, or dropped).
    fn complete(&self, pid: u16) {
        let bytes = self
            .session
            .with_inflight(|inflight, _| inflight.get(&pid).map_or(0, |i| reserved::delivery_bytes(&i.delivery)));
        self.broker.complete(self.session, self.conn_id, pid);
        self.status.backlog_shrank(bytes);
    }

    fn forward_qos0(&mut self, d: &Delivery) -> Result<(), LinkError> {
        let Some(p) = self.outgoing(d, None, false) else { return Ok(()) };
        self.note_sent(&p);
        match self.send(p) {
            Ok(()) => {
                self.status.forwarded_out.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.status.dropped(Drop::Rejected, self.name, &format!("QoS 0 message to {}: {e}", d.msg.topic));
                Ok(())
            }
        }
    }

    fn forward(&mut self, pid: u16, d: &Delivery, dup: bool) -> Result<(), LinkError> {
        let Some(p) = self.outgoing(d, Some(pid), dup) else {
            // Not carried by any rule any more (the configuration changed): done with it.
            self.complete(pid);
            let _ = self.mqtt.release_packet_id(pid);
            return Ok(());
        };
        self.note_sent(&p);
        match self.send(p) {
            Ok(()) => {
                self.sent_at.insert(pid, Instant::now());
                Ok(())
            }
            Err(e) => {
                // The upstream will never take it (e.g. larger than its Maximum Packet Size):
                // dropped, counted and logged rather than blocking the backlog forever.
                self.status.dropped(Drop::Rejected, self.name, &format!("message to {}: {e}", d.msg.topic));
                self.complete(pid);
                let _ = self.mqtt.release_packet_id(pid);
                Ok(())
            }
        }
    }

    /// A plain 3.1.1 upstream will send `p` back if one of the `in` subscriptions matches it.
    fn note_sent(&mut self, p: &Packet) {
        let (Some(echoes), Packet::V3_1_1Publish(p)) = (&mut self.echoes, p) else { return };
        let t = p.topic_name();
        if self.cfg.inbound.iter().any(|r| crate::protocol::topic::matches(&r.remote_filter(), t)) {
            echoes.sent(t, p.payload().as_slice(), Instant::now());
        }
    }

    /// The PUBLISH for the upstream: topic mapped, QoS capped, retain as the rule says.
    fn outgoing(&self, d: &Delivery, pid: Option<u16>, dup: bool) -> Option<Packet> {
        let (rule, topic) = map::map(&self.cfg.out, Side::Local, &d.msg.topic)?;
        let mut m: Message = (*d.msg).clone();
        m.topic = topic.into();
        m.wire = Default::default();
        if let Some(rt) = &d.msg.props.response_topic {
            m.props.response_topic = Some(map::carry_prefix(rule, Side::Local, rt));
        }
        let qos = d.qos.min(rule.qos);
        let qos = if pid.is_none() { 0 } else { qos.max(1) };
        let out = Delivery {
            seq: d.seq,
            msg: Arc::new(m),
            qos,
            retain: d.retain && rule.retain,
            sub_ids: Vec::new(),
            shared: None,
            committed: None,
        };
        if self.v5 { build_v5(&out, pid, dup).map(Packet::from) } else { build_v3(&out, pid, dup).map(Packet::from) }
    }

    async fn on_packet(&mut self, p: Packet) -> Result<(), LinkError> {
        match p {
            Packet::V5_0Publish(p) => {
                let expiry = p.props().iter().find_map(|x| match x {
                    Property::MessageExpiryInterval(v) => Some(v.val()),
                    _ => None,
                });
                let props = publish_props_in(p.props());
                self.on_publish(
                    p.topic_name(),
                    p.payload().clone(),
                    qos_u8(p.qos()),
                    p.retain(),
                    p.packet_id(),
                    props,
                    expiry,
                )
                .await
            }
            Packet::V3_1_1Publish(p) => {
                let props = Default::default();
                self.on_publish(
                    p.topic_name(),
                    p.payload().clone(),
                    qos_u8(p.qos()),
                    p.retain(),
                    p.packet_id(),
                    props,
                    None,
                )
                .await
            }
            Packet::V5_0Puback(a) => {
                if a.reason_code().is_some_and(|c| c as u8 >= 0x80) {
                    self.status.dropped(Drop::Rejected, self.name, &format!("upstream refused: {:?}", a.reason_code()));
                }
                self.acked(a.packet_id());
                Ok(())
            }
            Packet::V3_1_1Puback(a) => {
                self.acked(a.packet_id());
                Ok(())
            }
            Packet::V5_0Pubrec(a) => {
                let pid = a.packet_id();
                if a.reason_code().is_some_and(|c| c as u8 >= 0x80) {
                    self.status.dropped(Drop::Rejected, self.name, &format!("upstream refused: {:?}", a.reason_code()));
                    self.acked(pid);
                    return Ok(());
                }
                self.broker.released(self.session, self.conn_id, pid);
                self.send_ack(Ack::Pubrel, pid, Reason::Success)
            }
            Packet::V3_1_1Pubrec(a) => {
                let pid = a.packet_id();
                self.broker.released(self.session, self.conn_id, pid);
                self.send_ack(Ack::Pubrel, pid, Reason::Success)
            }
            Packet::V5_0Pubcomp(a) => {
                self.acked(a.packet_id());
                Ok(())
            }
            Packet::V3_1_1Pubcomp(a) => {
                self.acked(a.packet_id());
                Ok(())
            }
            Packet::V5_0Pubrel(r) => self.on_pubrel(r.packet_id()),
            Packet::V3_1_1Pubrel(r) => self.on_pubrel(r.packet_id()),
            Packet::V5_0Disconnect(d) => Err(self.proto(format!("DISCONNECT {:?} from the upstream", d.reason_code()))),
            Packet::V3_1_1Pingresp(_) | Packet::V5_0Pingresp(_) => Ok(()),
            Packet::V5_0Suback(_) | Packet::V3_1_1Suback(_) => Ok(()),
            other => Err(self.proto(format!("unexpected {other:?}"))),
        }
    }

    fn acked(&mut self, pid: u16) {
        if let Some(t) = self.sent_at.remove(&pid) {
            self.status.rtt_us.store(t.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
        self.complete(pid);
        self.status.forwarded_out.fetch_add(1, Ordering::Relaxed);
    }

    fn send_ack(&mut self, kind: Ack, pid: u16, rc: Reason) -> Result<(), LinkError> {
        let p = ack_packet(self.v5, kind, pid, rc);
        let p = p.map_err(|e| LinkError::Local(format!("cannot build acknowledgement: {e:?}")))?;
        if kind == Ack::Pubrel {
            let _ = self.mqtt.register_packet_id(pid);
        }
        self.send(p).map_err(|e| self.proto(e.to_string()))
    }

    /// Best-effort DISCONNECT (normal: the upstream session stays).
    pub async fn disconnect(mut self) {
        let p: Option<Packet> = if self.v5 {
            v5_0::Disconnect::builder().build().ok().map(Into::into)
        } else {
            v3_1_1::Disconnect::builder().build().ok().map(Into::into)
        };
        if let Some(p) = p {
            let _ = self.send(p);
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), self.flush()).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), self.stream.shutdown()).await;
    }
}
