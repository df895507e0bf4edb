//! `Probe`: a raw MQTT client for tests. It writes whatever packets (or bytes) a test gives it —
//! including ones a well-behaved client library would refuse to send — and decodes what the
//! broker answers with mqtt-protocol-core's packet parsers.

use std::sync::Arc;
use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::{GenericPacketTrait, Packet, Property, Qos, SubEntry, SubOpts, v3_1_1, v5_0};
use mqtt_protocol_core::mqtt::result_code::ConnectReasonCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const WAIT: Duration = Duration::from_secs(5);

pub struct Probe {
    pub stream: TcpStream,
    pub v5: bool,
    buf: Vec<u8>,
}

/// What reading from the broker produced.
#[derive(Debug)]
pub enum Read {
    Packet(Packet),
    Closed,
    Timeout,
}

impl Probe {
    pub async fn tcp(addr: std::net::SocketAddr, v5: bool) -> Probe {
        let stream = TcpStream::connect(addr).await.expect("connect to broker");
        stream.set_nodelay(true).expect("nodelay");
        Probe { stream, v5, buf: Vec::new() }
    }

    /// A probe on a connection the test opened itself (after writing a PROXY header, say).
    pub fn from_stream(stream: TcpStream, v5: bool) -> Probe {
        Probe { stream, v5, buf: Vec::new() }
    }

    /// Open a connection and complete CONNECT/CONNACK (5.0) with the given builder tweaks.
    pub async fn connect_v5(
        addr: std::net::SocketAddr,
        client_id: &str,
        clean_start: bool,
        props: Vec<Property>,
    ) -> (Probe, v5_0::Connack) {
        let mut p = Probe::tcp(addr, true).await;
        let mut b = v5_0::Connect::builder().client_id(client_id).expect("id").clean_start(clean_start).keep_alive(60);
        if !props.is_empty() {
            b = b.props(props);
        }
        p.send(b.build().expect("connect")).await;
        match p.recv().await {
            Read::Packet(Packet::V5_0Connack(c)) => (p, c),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    pub async fn connect_v3(addr: std::net::SocketAddr, client_id: &str, clean: bool) -> (Probe, v3_1_1::Connack) {
        let mut p = Probe::tcp(addr, false).await;
        let c = v3_1_1::Connect::builder()
            .client_id(client_id)
            .expect("id")
            .clean_session(clean)
            .keep_alive(60)
            .build()
            .expect("connect");
        p.send(c).await;
        match p.recv().await {
            Read::Packet(Packet::V3_1_1Connack(c)) => (p, c),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    pub async fn send(&mut self, packet: impl Into<Packet>) {
        let p: Packet = packet.into();
        self.send_raw(&p.to_continuous_buffer()).await;
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        // The broker may already have closed the socket; tests check that through recv.
        let _ = self.stream.write_all(bytes).await;
    }

    /// Next packet from the broker within [`WAIT`].
    pub async fn recv(&mut self) -> Read {
        self.recv_within(WAIT).await
    }

    pub async fn recv_within(&mut self, wait: Duration) -> Read {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(p) = self.try_decode() {
                return Read::Packet(p);
            }
            let mut chunk = [0u8; 8192];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return Read::Timeout,
                Ok(Ok(0)) | Ok(Err(_)) => return Read::Closed,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Expect a packet; panic with what came instead.
    pub async fn expect(&mut self) -> Packet {
        match self.recv().await {
            Read::Packet(p) => p,
            other => panic!("expected a packet, got {other:?}"),
        }
    }

    /// Expect the next v5 PUBLISH.
    pub async fn expect_publish_v5(&mut self) -> v5_0::Publish {
        match self.expect().await {
            Packet::V5_0Publish(p) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    pub async fn expect_publish_v3(&mut self) -> v3_1_1::Publish {
        match self.expect().await {
            Packet::V3_1_1Publish(p) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// Nothing arrives within `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        match self.recv_within(wait).await {
            Read::Timeout => {}
            other => panic!("expected nothing, got {other:?}"),
        }
    }

    /// The broker closes the connection (after an optional DISCONNECT, which is returned).
    pub async fn expect_close(&mut self) -> Option<v5_0::Disconnect> {
        let mut disconnect = None;
        loop {
            match self.recv().await {
                Read::Closed => return disconnect,
                Read::Timeout => panic!("connection not closed by the broker"),
                Read::Packet(Packet::V5_0Disconnect(d)) => disconnect = Some(d),
                Read::Packet(_) => {}
            }
        }
    }

    /// Subscribe (5.0) and return the SUBACK reason codes as bytes.
    pub async fn subscribe_v5(&mut self, pid: u16, filters: &[(&str, u8)], props: Vec<Property>) -> Vec<u8> {
        let entries: Vec<SubEntry> =
            filters.iter().map(|(f, q)| SubEntry::new(*f, SubOpts::new().set_qos(qos(*q))).expect("entry")).collect();
        self.subscribe_entries_v5(pid, entries, props).await
    }

    pub async fn subscribe_entries_v5(&mut self, pid: u16, entries: Vec<SubEntry>, props: Vec<Property>) -> Vec<u8> {
        let mut b = v5_0::Subscribe::builder().packet_id(pid).entries(entries);
        if !props.is_empty() {
            b = b.props(props);
        }
        self.send(b.build().expect("subscribe")).await;
        match self.expect().await {
            Packet::V5_0Suback(s) => s.reason_codes().iter().map(|c| *c as u8).collect(),
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    pub async fn subscribe_v3(&mut self, pid: u16, filters: &[(&str, u8)]) -> Vec<u8> {
        let entries: Vec<SubEntry> =
            filters.iter().map(|(f, q)| SubEntry::new(*f, SubOpts::new().set_qos(qos(*q))).expect("entry")).collect();
        self.send(v3_1_1::Subscribe::builder().packet_id(pid).entries(entries).build().expect("subscribe")).await;
        match self.expect().await {
            Packet::V3_1_1Suback(s) => s.return_codes().iter().map(|c| *c as u8).collect(),
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// Publish (5.0) without waiting for an acknowledgement.
    pub async fn publish_v5(
        &mut self,
        topic: &str,
        payload: &[u8],
        q: u8,
        retain: bool,
        pid: Option<u16>,
        props: Vec<Property>,
    ) {
        let mut b = v5_0::Publish::builder()
            .topic_name(topic)
            .expect("topic")
            .qos(qos(q))
            .retain(retain)
            .payload(payload.to_vec());
        if let Some(pid) = pid {
            b = b.packet_id(pid);
        }
        if !props.is_empty() {
            b = b.props(props);
        }
        self.send(b.build().expect("publish")).await;
    }

    pub async fn publish_v3(&mut self, topic: &str, payload: &[u8], q: u8, retain: bool, pid: Option<u16>) {
        let mut b = v3_1_1::Publish::builder()
            .topic_name(topic)
            .expect("topic")
            .qos(qos(q))
            .retain(retain)
            .payload(payload.to_vec());
        if let Some(pid) = pid {
            b = b.packet_id(pid);
        }
        self.send(b.build().expect("publish")).await;
    }

    pub async fn disconnect_v5(&mut self, reason: mqtt_protocol_core::mqtt::result_code::DisconnectReasonCode) {
        self.send(v5_0::Disconnect::builder().reason_code(reason).build().expect("disconnect")).await;
    }

    fn try_decode(&mut self) -> Option<Packet> {
        let (body_start, len) = frame(&self.buf)?;
        let end = body_start + len;
        let first = self.buf[0];
        let body: Vec<u8> = self.buf[body_start..end].to_vec();
        self.buf.drain(..end);
        Some(decode(first, body, self.v5).unwrap_or_else(|e| panic!("broker sent an undecodable packet: {e}")))
    }
}

pub fn qos(q: u8) -> Qos {
    match q {
        0 => Qos::AtMostOnce,
        1 => Qos::AtLeastOnce,
        _ => Qos::ExactlyOnce,
    }
}

pub fn connack_ok(c: &v5_0::Connack) -> bool {
    c.reason_code() == ConnectReasonCode::Success
}

/// (offset of the body, body length) once a whole packet is buffered.
fn frame(buf: &[u8]) -> Option<(usize, usize)> {
    let mut len = 0usize;
    let mut mult = 1usize;
    for i in 1..5 {
        let b = *buf.get(i)?;
        len += usize::from(b & 0x7f) * mult;
        if b & 0x80 == 0 {
            return (buf.len() >= i + 1 + len).then_some((i + 1, len));
        }
        mult *= 128;
    }
    None
}

fn decode(first: u8, body: Vec<u8>, v5: bool) -> Result<Packet, String> {
    let e = |e| format!("{e:?}");
    let ty = first >> 4;
    let flags = first & 0x0f;
    Ok(if v5 {
        match ty {
            2 => v5_0::Connack::parse(&body).map_err(e)?.0.into(),
            3 => v5_0::Publish::parse(flags, Arc::from(body)).map_err(e)?.0.into(),
            4 => v5_0::Puback::parse(&body).map_err(e)?.0.into(),
            5 => v5_0::Pubrec::parse(&body).map_err(e)?.0.into(),
            6 => v5_0::Pubrel::parse(&body).map_err(e)?.0.into(),
            7 => v5_0::Pubcomp::parse(&body).map_err(e)?.0.into(),
            9 => v5_0::Suback::parse(&body).map_err(e)?.0.into(),
            11 => v5_0::Unsuback::parse(&body).map_err(e)?.0.into(),
            13 => v5_0::Pingresp::parse(&body).map_err(e)?.0.into(),
            14 => v5_0::Disconnect::parse(&body).map_err(e)?.0.into(),
            15 => v5_0::Auth::parse(&body).map_err(e)?.0.into(),
            t => return Err(format!("unexpected packet type {t} from the broker")),
        }
    } else {
        match ty {
            2 => v3_1_1::Connack::parse(&body).map_err(e)?.0.into(),
            3 => v3_1_1::Publish::parse(flags, Arc::from(body)).map_err(e)?.0.into(),
            4 => v3_1_1::Puback::parse(&body).map_err(e)?.0.into(),
            5 => v3_1_1::Pubrec::parse(&body).map_err(e)?.0.into(),
            6 => v3_1_1::Pubrel::parse(&body).map_err(e)?.0.into(),
            7 => v3_1_1::Pubcomp::parse(&body).map_err(e)?.0.into(),
            9 => v3_1_1::Suback::parse(&body).map_err(e)?.0.into(),
            11 => v3_1_1::Unsuback::parse(&body).map_err(e)?.0.into(),
            13 => v3_1_1::Pingresp::parse(&body).map_err(e)?.0.into(),
            t => return Err(format!("unexpected packet type {t} from the broker")),
        }
    })
}
