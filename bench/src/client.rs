//! One benchmark MQTT client: mqtt-protocol-core's Sans-I/O `Connection<role::Client>` driven
//! over a tokio `TcpStream`.
//!
//! The protocol core never touches the socket. It returns events; this module turns
//! `RequestSendPacket` into bytes appended to an output buffer, timer requests into deadlines,
//! and hands received packets to the caller through [`Client::inbox`]. The caller runs one loop
//! per client: produce work, then [`Client::turn`], which writes the buffer once (non-blocking),
//! waits for the socket / a deadline / the stop signal, reads everything available and fires
//! due timers. Batching writes per turn is what keeps the generator cheaper than the broker.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use mqtt_protocol_core::mqtt;
use mqtt_protocol_core::mqtt::Version;
use mqtt_protocol_core::mqtt::connection::{Event, TimerKind};
use mqtt_protocol_core::mqtt::packet::{GenericPacketTrait, Packet, Qos};
use mqtt_protocol_core::mqtt::result_code::{ConnectReasonCode, ConnectReturnCode, MqttError};
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// Reads per turn before the caller gets control back (fairness between reading and producing).
const MAX_READS_PER_TURN: usize = 8;

/// Why a client stopped working. Messages name the broker address so a refused connection is
/// obvious in a summary of thousands of clients.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connection refused by {addr}: is an MQTT broker listening there?")]
    Refused { addr: SocketAddr },
    #[error("no CONNACK/SUBACK from {addr} within {timeout:?} ({stage})")]
    Timeout { addr: SocketAddr, timeout: Duration, stage: &'static str },
    #[error("{op} on the connection to {addr} failed: {source}")]
    Io { addr: SocketAddr, op: &'static str, source: io::Error },
    #[error("{addr} closed the connection")]
    Closed { addr: SocketAddr },
    #[error("{addr} refused CONNECT of `{client_id}`: {reason}")]
    ConnectRejected { addr: SocketAddr, client_id: String, reason: String },
    #[error("{addr} refused the subscription to `{filter}`: {reason}")]
    SubscribeRejected { addr: SocketAddr, filter: String, reason: String },
    #[error("MQTT protocol error with {addr}: {detail}")]
    Protocol { addr: SocketAddr, detail: String },
    #[error("cannot build {what}: {err}")]
    Build { what: &'static str, err: MqttError },
}

impl ClientError {
    /// A short category for grouping errors of many clients in a summary.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientError::Refused { .. } => "refused",
            ClientError::Timeout { .. } => "timeout",
            ClientError::Io { .. } => "io",
            ClientError::Closed { .. } => "closed by broker",
            ClientError::ConnectRejected { .. } => "CONNECT rejected",
            ClientError::SubscribeRejected { .. } => "SUBSCRIBE rejected",
            ClientError::Protocol { .. } => "protocol",
            ClientError::Build { .. } => "packet build",
        }
    }
}

/// Everything needed to open one client connection.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub addr: SocketAddr,
    pub version: Version,
    pub client_id: String,
    pub keep_alive: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub clean: bool,
    pub session_expiry: Option<u32>,
    /// Bounds TCP connect + CONNACK (and SUBACK for [`Client::subscribe`]).
    pub timeout: Duration,
    /// Size of the read scratch buffer: small for idle clients (10k of them), large for data.
    pub read_buf: usize,
}

/// The stop signal all clients of a phase watch; `true` (or a dropped sender) means stop.
pub type Stop = watch::Receiver<bool>;

/// What ended a [`Client::turn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The socket was ready (data read and/or output possible).
    Io,
    /// A protocol timer or the caller's `wake_at` came due.
    Timer,
    /// The stop signal fired.
    Stop,
}

/// A connected MQTT client.
pub struct Client {
    addr: SocketAddr,
    stream: TcpStream,
    conn: mqtt::Connection<mqtt::role::Client>,
    version: Version,
    /// Scratch for socket reads; the protocol core buffers partial packets itself.
    rbuf: Vec<u8>,
    /// Encoded packets not yet written; written once per turn.
    wbuf: BytesMut,
    /// Deadlines requested by the core, indexed by [`timer_slot`].
    timers: [Option<Instant>; 3],
    /// Packets received since the caller last drained it.
    pub inbox: Vec<Packet>,
    /// Packet ids released (QoS 1/2 flows completed) since the caller last took them.
    released: u64,
    /// The core asked to close (malformed input, keep-alive timeout, DISCONNECT).
    close_requested: bool,
    /// The peer closed its side.
    peer_closed: bool,
    /// The last error the core reported.
    last_error: Option<MqttError>,
}

fn timer_slot(kind: TimerKind) -> usize {
    match kind {
        TimerKind::PingreqSend => 0,
        TimerKind::PingreqRecv => 1,
        TimerKind::PingrespRecv => 2,
    }
}

const TIMER_KINDS: [TimerKind; 3] = [TimerKind::PingreqSend, TimerKind::PingreqRecv, TimerKind::PingrespRecv];

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

async fn stopped(stop: Option<&mut Stop>) {
    match stop {
        Some(rx) => {
            // A dropped sender also means stop, so the error is deliberately ignored.
            let _ = rx.wait_for(|s| *s).await;
        }
        None => std::future::pending().await,
    }
}

fn build_err(what: &'static str) -> impl Fn(MqttError) -> ClientError {
    move |err| ClientError::Build { what, err }
}

fn build_connect(cfg: &ClientConfig) -> Result<Packet, ClientError> {
    let e = build_err("CONNECT");
    Ok(match cfg.version {
        Version::V5_0 => {
            use mqtt::packet::v5_0::Connect;
            let mut b = Connect::builder()
                .client_id(cfg.client_id.as_str())
                .map_err(&e)?
                .clean_start(cfg.clean)
                .keep_alive(cfg.keep_alive);
            if let Some(u) = &cfg.username {
                b = b.user_name(u.as_str()).map_err(&e)?;
            }
            if let Some(p) = &cfg.password {
                b = b.password(p.as_str()).map_err(&e)?;
            }
            if let Some(secs) = cfg.session_expiry {
                let prop = mqtt::packet::SessionExpiryInterval::new(secs).map_err(&e)?;
                b = b.props(vec![mqtt::packet::Property::SessionExpiryInterval(prop)]);
            }
            b.build().map_err(&e)?.into()
        }
        _ => {
            use mqtt::packet::v3_1_1::Connect;
            let mut b = Connect::builder()
                .client_id(cfg.client_id.as_str())
                .map_err(&e)?
                .clean_session(cfg.clean)
                .keep_alive(cfg.keep_alive);
            if let Some(u) = &cfg.username {
                b = b.user_name(u.as_str()).map_err(&e)?;
            }
            if let Some(p) = &cfg.password {
                b = b.password(p.as_str()).map_err(&e)?;
            }
            b.build().map_err(&e)?.into()
        }
    })
}

impl Client {
    /// Opens the TCP connection, sends CONNECT and waits for a successful CONNACK, all within
    /// `cfg.timeout`.
    pub async fn connect(cfg: &ClientConfig) -> Result<Client, ClientError> {
        let addr = cfg.addr;
        let deadline = Instant::now() + cfg.timeout;
        let stream = match tokio::time::timeout(cfg.timeout, TcpStream::connect(addr)).await {
            Err(_) => {
                return Err(ClientError::Timeout { addr, timeout: cfg.timeout, stage: "TCP connect" });
            }
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
                return Err(ClientError::Refused { addr });
            }
            Ok(Err(source)) => {
                return Err(ClientError::Io { addr, op: "TCP connect", source });
            }
            Ok(Ok(s)) => s,
        };
        // Latency numbers are meaningless with Nagle delaying small packets.
        stream.set_nodelay(true).map_err(|source| ClientError::Io { addr, op: "set TCP_NODELAY", source })?;

        let mut conn = mqtt::Connection::<mqtt::role::Client>::new(cfg.version);
        // PUBACK/PUBREC/PUBREL/PUBCOMP and PINGRESP handling is the core's job, not ours.
        conn.set_auto_pub_response(true);
        conn.set_auto_ping_response(true);
        let mut client = Client {
            addr,
            stream,
            conn,
            version: cfg.version,
            rbuf: vec![0; cfg.read_buf.max(256)],
            wbuf: BytesMut::new(),
            timers: [None; 3],
            inbox: Vec::new(),
            released: 0,
            close_requested: false,
            peer_closed: false,
            last_error: None,
        };
        let connect = build_connect(cfg)?;
        client.send(connect)?;
        loop {
            if client.turn(Some(deadline), None).await? == Wake::Timer && Instant::now() >= deadline {
                return Err(ClientError::Timeout { addr, timeout: cfg.timeout, stage: "waiting for CONNACK" });
            }
            // Anything before CONNACK is a broker bug we ignore; the first CONNACK decides.
            let verdict = client.inbox.drain(..).find_map(|packet| match packet {
                Packet::V3_1_1Connack(ack) if ack.return_code() == ConnectReturnCode::Accepted => Some(None),
                Packet::V3_1_1Connack(ack) => Some(Some(ack.return_code().to_string())),
                Packet::V5_0Connack(ack) if ack.reason_code() == ConnectReasonCode::Success => Some(None),
                Packet::V5_0Connack(ack) => Some(Some(ack.reason_code().to_string())),
                _ => None,
            });
            match verdict {
                None => {}
                Some(None) => return Ok(client),
                Some(Some(reason)) => {
                    return Err(ClientError::ConnectRejected { addr, client_id: cfg.client_id.clone(), reason });
                }
            }
        }
    }

    /// Subscribes to one filter and waits for a successful SUBACK until `timeout`.
    /// Publishes that arrive before the SUBACK (retained messages) are discarded.
    pub async fn subscribe(&mut self, filter: &str, qos: Qos, timeout: Duration) -> Result<(), ClientError> {
        let addr = self.addr;
        let e = build_err("SUBSCRIBE");
        let pid = self.conn.acquire_packet_id().map_err(&e)?;
        let opts = mqtt::packet::SubOpts::new().set_qos(qos);
        let entry = mqtt::packet::SubEntry::new(filter, opts).map_err(&e)?;
        let packet: Packet = match self.version {
            Version::V5_0 => {
                mqtt::packet::v5_0::Subscribe::builder().entries(vec![entry]).packet_id(pid).build().map_err(&e)?.into()
            }
            _ => mqtt::packet::v3_1_1::Subscribe::builder()
                .entries(vec![entry])
                .packet_id(pid)
                .build()
                .map_err(&e)?
                .into(),
        };
        self.send(packet)?;
        let deadline = Instant::now() + timeout;
        loop {
            if self.turn(Some(deadline), None).await? == Wake::Timer && Instant::now() >= deadline {
                return Err(ClientError::Timeout { addr, timeout, stage: "waiting for SUBACK" });
            }
            let verdict = self.inbox.drain(..).find_map(|packet| match packet {
                Packet::V3_1_1Suback(ack) => {
                    Some(ack.return_codes().into_iter().find(|c| c.is_failure()).map(|c| format!("{c:?}")))
                }
                Packet::V5_0Suback(ack) => {
                    Some(ack.reason_codes().into_iter().find(|c| c.is_failure()).map(|c| format!("{c:?}")))
                }
                _ => None,
            });
            match verdict {
                None => {}
                Some(None) => return Ok(()),
                Some(Some(reason)) => {
                    return Err(ClientError::SubscribeRejected { addr, filter: filter.to_owned(), reason });
                }
            }
        }
    }

    /// Queues one PUBLISH. For QoS 1/2 this takes a packet id; the caller bounds how many are
    /// outstanding (see [`Client::take_released`]).
    pub fn publish(&mut self, topic: &str, qos: Qos, retain: bool, payload: Vec<u8>) -> Result<(), ClientError> {
        let e = build_err("PUBLISH");
        let pid = match qos {
            Qos::AtMostOnce => None,
            _ => Some(self.conn.acquire_packet_id().map_err(&e)?),
        };
        let packet: Packet = match self.version {
            Version::V5_0 => {
                let mut b = mqtt::packet::v5_0::Publish::builder()
                    .topic_name(topic)
                    .map_err(&e)?
                    .qos(qos)
                    .retain(retain)
                    .payload(payload);
                if let Some(pid) = pid {
                    b = b.packet_id(pid);
                }
                b.build().map_err(&e)?.into()
            }
            _ => {
                let mut b = mqtt::packet::v3_1_1::Publish::builder()
                    .topic_name(topic)
                    .map_err(&e)?
                    .qos(qos)
                    .retain(retain)
                    .payload(payload);
                if let Some(pid) = pid {
                    b = b.packet_id(pid);
                }
                b.build().map_err(&e)?.into()
            }
        };
        self.send(packet)
    }

    /// How many more QoS 1/2 publishes the broker allows right now (MQTT 5 Receive Maximum);
    /// `None` when the broker set no limit.
    pub fn broker_window(&self) -> Option<u16> {
        self.conn.get_receive_maximum_vacancy_for_send()
    }

    /// Completed QoS 1/2 flows since the last call.
    pub fn take_released(&mut self) -> u64 {
        std::mem::take(&mut self.released)
    }

    /// Bytes queued but not yet written.
    pub fn pending_output(&self) -> usize {
        self.wbuf.len()
    }

    fn send(&mut self, packet: Packet) -> Result<(), ClientError> {
        let events = self.conn.send(packet);
        self.apply(events);
        self.check()
    }

    /// Turns the core's events into buffered bytes, deadlines and inbox entries.
    fn apply(&mut self, events: Vec<Event>) {
        for event in events {
            match event {
                Event::RequestSendPacket { packet, .. } => {
                    for slice in packet.to_buffers() {
                        self.wbuf.extend_from_slice(&slice);
                    }
                }
                Event::NotifyPacketReceived(packet) => self.inbox.push(packet),
                Event::NotifyPacketIdReleased(_) => self.released += 1,
                Event::RequestTimerReset { kind, duration_ms } => {
                    self.timers[timer_slot(kind)] = Some(Instant::now() + Duration::from_millis(duration_ms));
                }
                Event::RequestTimerCancel(kind) => self.timers[timer_slot(kind)] = None,
                Event::NotifyError(err) => self.last_error = Some(err),
                Event::RequestClose => self.close_requested = true,
            }
        }
    }

    /// Reports a protocol error or a close the core or the peer asked for.
    fn check(&mut self) -> Result<(), ClientError> {
        if let Some(err) = self.last_error.take() {
            return Err(ClientError::Protocol { addr: self.addr, detail: err.to_string() });
        }
        if self.close_requested || self.peer_closed {
            return Err(ClientError::Closed { addr: self.addr });
        }
        Ok(())
    }

    /// Writes as much of the output buffer as the socket takes without waiting.
    fn try_flush(&mut self) -> Result<(), ClientError> {
        while !self.wbuf.is_empty() {
            match self.stream.try_write(&self.wbuf) {
                Ok(0) => return Err(ClientError::Closed { addr: self.addr }),
                Ok(n) => self.wbuf.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(source) => {
                    return Err(ClientError::Io { addr: self.addr, op: "write", source });
                }
            }
        }
        Ok(())
    }

    /// Reads whatever is available and feeds it to the core, one packet per `recv` call.
    fn read_available(&mut self) -> Result<(), ClientError> {
        let mut buf = std::mem::take(&mut self.rbuf);
        let result = self.read_into(&mut buf);
        self.rbuf = buf;
        result
    }

    fn read_into(&mut self, buf: &mut [u8]) -> Result<(), ClientError> {
        for _ in 0..MAX_READS_PER_TURN {
            let n = match self.stream.try_read(buf) {
                Ok(0) => {
                    self.peer_closed = true;
                    let events = self.conn.notify_closed();
                    self.apply(events);
                    return Ok(());
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(source) => {
                    return Err(ClientError::Io { addr: self.addr, op: "read", source });
                }
            };
            let mut cursor = mqtt::common::Cursor::new(&buf[..n]);
            while (cursor.position() as usize) < n {
                let before = cursor.position();
                let events = self.conn.recv(&mut cursor);
                self.apply(events);
                if cursor.position() == before || self.close_requested {
                    break;
                }
            }
            if n < buf.len() {
                return Ok(()); // drained the socket for now
            }
        }
        Ok(())
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        for kind in TIMER_KINDS {
            let slot = timer_slot(kind);
            if self.timers[slot].is_some_and(|t| t <= now) {
                self.timers[slot] = None;
                let events = self.conn.notify_timer_fired(kind);
                self.apply(events);
            }
        }
    }

    /// One loop turn: write buffered output, then wait for the socket (readable, or writable
    /// while output is pending), the earliest of the protocol timers and `wake_at`, or `stop`;
    /// then read what is available and fire due timers. A `wake_at` in the past means "do not
    /// wait": the turn only services the socket and yields to the scheduler. Received packets land in
    /// [`Client::inbox`]. Errors and peer closes are reported after the inbox was filled, so
    /// the caller can still count messages that arrived just before a close.
    ///
    /// Cancel safety: not needed; callers always await it to completion.
    pub async fn turn(&mut self, wake_at: Option<Instant>, stop: Option<&mut Stop>) -> Result<Wake, ClientError> {
        self.check()?;
        self.try_flush()?;
        // Checked up front because the select below prefers the socket: a subscriber whose
        // socket never runs dry would otherwise never see the stop signal.
        if stop.as_ref().is_some_and(|s| *s.borrow()) {
            return Ok(Wake::Stop);
        }
        let immediate = wake_at.is_some_and(|t| t <= Instant::now());
        if immediate && self.wbuf.is_empty() {
            // The caller has more work right now and the socket took everything: service the
            // socket without waiting, and yield so other clients on this worker get a turn.
            self.read_available()?;
            self.fire_timers();
            tokio::task::yield_now().await;
            let stopped = stop.is_some_and(|s| *s.borrow());
            return Ok(if stopped { Wake::Stop } else { Wake::Timer });
        }
        // Output still pending: the socket is full, so wait for it rather than spin.
        let wake_at = if immediate { None } else { wake_at };
        let interest = if self.wbuf.is_empty() { Interest::READABLE } else { Interest::READABLE | Interest::WRITABLE };
        let deadline = self.timers.iter().flatten().copied().chain(wake_at).min();
        enum Got {
            Ready(io::Result<tokio::io::Ready>),
            Timer,
            Stop,
        }
        let got = tokio::select! {
            biased;
            r = self.stream.ready(interest) => Got::Ready(r),
            _ = sleep_until_opt(deadline) => Got::Timer,
            _ = stopped(stop) => Got::Stop,
        };
        let wake = match got {
            Got::Ready(Err(source)) => {
                return Err(ClientError::Io { addr: self.addr, op: "poll", source });
            }
            Got::Ready(Ok(ready)) => {
                if ready.is_readable() || ready.is_read_closed() {
                    self.read_available()?;
                }
                Wake::Io
            }
            Got::Timer => Wake::Timer,
            Got::Stop => Wake::Stop,
        };
        self.fire_timers();
        Ok(wake)
    }

    /// Writes everything buffered, waiting for the socket, until `deadline`.
    pub async fn flush(&mut self, deadline: Instant) -> Result<(), ClientError> {
        let addr = self.addr;
        while !self.wbuf.is_empty() {
            match tokio::time::timeout_at(deadline.into(), self.stream.write_buf(&mut self.wbuf)).await {
                Err(_) => {
                    return Err(ClientError::Timeout { addr, timeout: Duration::ZERO, stage: "flushing output" });
                }
                Ok(Ok(0)) => return Err(ClientError::Closed { addr }),
                Ok(Ok(_)) => {}
                Ok(Err(source)) => {
                    return Err(ClientError::Io { addr, op: "write", source });
                }
            }
        }
        Ok(())
    }

    /// Sends DISCONNECT (best effort, bounded by `timeout`) and closes the socket.
    pub async fn disconnect(mut self, timeout: Duration) {
        let packet: Option<Packet> = match self.version {
            Version::V5_0 => mqtt::packet::v5_0::Disconnect::builder().build().ok().map(Into::into),
            _ => mqtt::packet::v3_1_1::Disconnect::builder().build().ok().map(Into::into),
        };
        if let Some(packet) = packet {
            let events = self.conn.send(packet);
            self.apply(events);
        }
        let deadline = Instant::now() + timeout;
        // Best effort: the run is over, a broker that cannot take the DISCONNECT is not news.
        let _ = self.flush(deadline).await;
        let _ = tokio::time::timeout_at(deadline.into(), self.stream.shutdown()).await;
    }
}
