//! `ws` and `wss` listeners (MQTT spec section 6): rumqttc round trips over ws:// and wss://,
//! the HTTP answers to a wrong path (404), a missing MQTT subprotocol (400) and a plain GET
//! (426), the echoed subprotocol, packets split across frames and several packets in one
//! frame, and a text frame closing the connection. The browser test is in `ws_browser`.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use mqtt_protocol_core::mqtt::packet::{GenericPacketTrait, Packet, SubEntry, SubOpts, v3_1_1};
use starling::config::{ListenerConfig, ListenerKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::harness::{TestNode, wait_for};
use crate::tls_util::{Ca, client_config, tls_connect, write};

const T: Duration = Duration::from_secs(10);

fn ws_listener(kind: ListenerKind) -> ListenerConfig {
    ListenerConfig { kind: Some(kind), bind: Some("127.0.0.1:0".parse().expect("addr")), ..ListenerConfig::default() }
}

/// A node with its plain listener plus `[listeners.web]` as configured.
pub async fn start_ws(l: ListenerConfig) -> (TestNode, SocketAddr) {
    let node = TestNode::start_with(move |c| {
        c.listeners.insert("web".into(), l);
    })
    .await;
    let h = node.handle.as_ref().expect("running");
    let addr = h.listeners.iter().find(|l| l.name == "web").expect("web listener bound").addr;
    (node, addr)
}

async fn rumqttc_round_trip(o: rumqttc::MqttOptions, topic: &str) {
    use rumqttc::{AsyncClient, Event, Packet as RPacket, QoS};
    let (client, mut el) = AsyncClient::new(o, 10);
    client.subscribe(topic, QoS::AtLeastOnce).await.expect("subscribe");
    let got = tokio::time::timeout(T, async {
        loop {
            match el.poll().await.expect("poll") {
                Event::Incoming(RPacket::SubAck(_)) => {
                    client.publish(topic, QoS::AtLeastOnce, false, "over websocket").await.expect("publish");
                }
                Event::Incoming(RPacket::Publish(m)) => return m,
                _ => {}
            }
        }
    })
    .await
    .expect("message over WebSocket");
    assert_eq!(&got.payload[..], b"over websocket");
    assert_eq!(got.topic, topic);
}

#[tokio::test]
async fn ws_rumqttc_round_trip() {
    let (node, addr) = start_ws(ws_listener(ListenerKind::Ws)).await;
    let h = node.handle.as_ref().expect("running");
    assert_eq!(h.listeners.iter().find(|l| l.name == "web").expect("web").kind, "ws");
    let url = format!("ws://127.0.0.1:{}/mqtt", addr.port());
    let mut o = rumqttc::MqttOptions::new("ws-rt", url, addr.port());
    o.set_transport(rumqttc::Transport::Ws);
    rumqttc_round_trip(o, "ws/rt").await;
}

#[tokio::test]
async fn wss_rumqttc_round_trip() {
    let ca = Ca::new("Starling WS test CA");
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = ca.server("localhost");
    let mut l = ws_listener(ListenerKind::Wss);
    l.cert = Some(write(dir.path(), "server.pem", &cert));
    l.key = Some(write(dir.path(), "server.key", &key));
    l.path = "/mqtt/secure".into();
    let (node, addr) = start_ws(l).await;
    let h = node.handle.as_ref().expect("running");
    assert_eq!(h.listeners.iter().find(|l| l.name == "web").expect("web").kind, "wss");
    let url = format!("wss://localhost:{}/mqtt/secure", addr.port());
    let mut o = rumqttc::MqttOptions::new("wss-rt", url, addr.port());
    o.set_transport(rumqttc::Transport::wss_with_config(rumqttc::TlsConfiguration::Simple {
        ca: ca.pem().into_bytes(),
        alpn: None,
        client_auth: None,
    }));
    rumqttc_round_trip(o, "wss/rt").await;
    // The TLS handshake happens before the HTTP upgrade: a plain-text upgrade request is not
    // answered as HTTP.
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(upgrade_request("/mqtt/secure", Some("mqtt")).as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(T, s.read_to_end(&mut out)).await.expect("closed in time");
    assert!(!out.starts_with(b"HTTP/"), "{}", String::from_utf8_lossy(&out));
    // Browsers offer only HTTP ALPN ids on a WebSocket connection: wss negotiates http/1.1
    // (offering `mqtt` alone there would make rustls refuse every browser).
    let mut cfg = (*client_config(&ca.pem(), None)).clone();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tls = tls_connect(addr, std::sync::Arc::new(cfg)).await.expect("handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (ws, resp) = ws_client_over(tls, addr, "/mqtt/secure", "mqtt").await;
    assert_eq!(resp, "mqtt");
    drop(ws);
}

fn upgrade_request(path: &str, protocols: Option<&str>) -> String {
    let proto = protocols.map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n")).unwrap_or_default();
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{proto}\r\n"
    )
}

/// Send `request` on a fresh connection; the whole HTTP answer (the broker closes after it).
async fn http_answer(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(T, s.read_to_end(&mut out)).await.expect("answer in time").expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn ws_wrong_path_gets_404() {
    let (node, addr) = start_ws(ws_listener(ListenerKind::Ws)).await;
    let r = http_answer(addr, &upgrade_request("/wrong", Some("mqtt"))).await;
    assert!(r.starts_with("HTTP/1.1 404 Not Found\r\n"), "{r}");
    assert!(r.contains("no MQTT WebSocket endpoint at /wrong"), "{r}");
    let b = node.broker().clone();
    wait_for("the refusal to be counted", T, || {
        b.metrics.encode().contains("starling_websocket_upgrade_failures_total{listener=\"web\",reason=\"path\"} 1")
    })
    .await;
    // A browser opening the page itself (no upgrade) on the right path.
    let r = http_answer(addr, "GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 426 Upgrade Required\r\n"), "{r}");
    assert!(r.contains("Upgrade: websocket\r\n"), "{r}");
}

#[tokio::test]
async fn ws_without_mqtt_subprotocol_is_refused() {
    let (node, addr) = start_ws(ws_listener(ListenerKind::Ws)).await;
    for offered in [None, Some("chat, superchat"), Some("MQTT")] {
        let r = http_answer(addr, &upgrade_request("/mqtt", offered)).await;
        assert!(r.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{offered:?}: {r}");
        assert!(r.contains("subprotocol \"mqtt\""), "{r}");
    }
    let b = node.broker().clone();
    wait_for("the refusals to be counted", T, || {
        b.metrics
            .encode()
            .contains("starling_websocket_upgrade_failures_total{listener=\"web\",reason=\"subprotocol\"} 3")
    })
    .await;
    // Both MQTT subprotocols are accepted, and the chosen one is echoed.
    for (offered, chosen) in [("mqtt", "mqtt"), ("mqttv3.1", "mqttv3.1"), ("chat, mqttv3.1, mqtt", "mqttv3.1")] {
        let r = http_answer_head(addr, &upgrade_request("/mqtt", Some(offered))).await;
        assert!(r.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{r}");
        assert!(r.contains(&format!("Sec-WebSocket-Protocol: {chosen}\r\n")), "{offered}: {r}");
        assert!(r.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), "{r}");
    }
}

/// The response head of an accepted upgrade (the connection stays open).
async fn http_answer_head(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(T, async {
        while !out.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            if s.read(&mut b).await.expect("read") == 0 {
                break;
            }
            out.push(b[0]);
        }
    })
    .await
    .expect("answer in time");
    String::from_utf8_lossy(&out).into_owned()
}

/// A WebSocket client (tokio-tungstenite) over `stream`; the subprotocol the server chose.
async fn ws_client_over<S>(stream: S, addr: SocketAddr, path: &str, protocols: &str) -> (WebSocketStream<S>, String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut req = format!("ws://{addr}{path}").into_client_request().expect("request");
    req.headers_mut().insert("Sec-WebSocket-Protocol", protocols.parse().expect("header"));
    let (ws, resp) = tokio::time::timeout(T, tokio_tungstenite::client_async(req, stream))
        .await
        .expect("upgrade in time")
        .expect("upgrade");
    let chosen =
        resp.headers().get("Sec-WebSocket-Protocol").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    (ws, chosen)
}

async fn next_binary(ws: &mut WebSocketStream<TcpStream>) -> Vec<u8> {
    loop {
        match tokio::time::timeout(T, ws.next()).await.expect("a frame in time") {
            Some(Ok(Message::Binary(b))) => return b.to_vec(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }
}

/// Read frames until `want` bytes of MQTT arrived (the broker may batch packets in a frame).
async fn read_mqtt(ws: &mut WebSocketStream<TcpStream>, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < want {
        got.extend(next_binary(ws).await);
    }
    got
}

fn connect_bytes(id: &str) -> Vec<u8> {
    let c =
        v3_1_1::Connect::builder().client_id(id).expect("id").clean_session(true).keep_alive(30).build().expect("c");
    Packet::from(c).to_continuous_buffer()
}

#[tokio::test]
async fn ws_packets_span_frames_and_frames_hold_packets() {
    let (_node, addr) = start_ws(ws_listener(ListenerKind::Ws)).await;
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut ws, chosen) = ws_client_over(tcp, addr, "/mqtt", "mqtt").await;
    assert_eq!(chosen, "mqtt");
    // CONNECT in three frames, split inside the fixed header and inside the payload.
    let connect = connect_bytes("frames");
    for part in [&connect[..1], &connect[1..7], &connect[7..]] {
        ws.send(Message::binary(part.to_vec())).await.expect("send part");
    }
    assert_eq!(read_mqtt(&mut ws, 4).await, vec![0x20, 0x02, 0x00, 0x00], "CONNACK accepted");
    // SUBSCRIBE and a PUBLISH to the same topic in one frame: SUBACK, then the message.
    let entry = SubEntry::new("ws/frames", SubOpts::new()).expect("entry");
    let sub = v3_1_1::Subscribe::builder().packet_id(1).entries(vec![entry]).build().expect("subscribe");
    let publish = v3_1_1::Publish::builder()
        .topic_name("ws/frames")
        .expect("topic")
        .payload(b"batched".to_vec())
        .build()
        .expect("publish");
    let mut frame = Packet::from(sub).to_continuous_buffer();
    frame.extend(Packet::from(publish.clone()).to_continuous_buffer());
    ws.send(Message::binary(frame)).await.expect("send");
    let suback = [0x90, 0x03, 0x00, 0x01, 0x00];
    let expected_publish = Packet::from(publish).to_continuous_buffer();
    let got = read_mqtt(&mut ws, suback.len() + expected_publish.len()).await;
    assert_eq!(&got[..suback.len()], &suback, "SUBACK first");
    assert_eq!(&got[suback.len()..], &expected_publish[..], "then the message");
}

#[tokio::test]
async fn ws_text_frame_closes_the_connection() {
    let (node, addr) = start_ws(ws_listener(ListenerKind::Ws)).await;
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut ws, _) = ws_client_over(tcp, addr, "/mqtt", "mqttv3.1").await;
    ws.send(Message::binary(connect_bytes("texter"))).await.expect("send");
    assert_eq!(read_mqtt(&mut ws, 4).await[..2], [0x20, 0x02]);
    let b = node.broker().clone();
    wait_for("the client to be connected", T, || b.metrics.connections.get() == 1).await;
    ws.send(Message::text("hello")).await.expect("send text");
    let closed = tokio::time::timeout(T, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(f))) => return f.map(|f| f.code),
                None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await
    .expect("closed in time");
    assert_eq!(closed, Some(CloseCode::Unsupported), "close frame 1003");
    wait_for("the connection to end", T, || b.metrics.connections.get() == 0).await;
}

#[tokio::test]
async fn ws_listener_limits_and_defaults() {
    // max_connections applies to WebSocket listeners too: the second TCP connection is
    // closed at once, before any HTTP.
    let mut l = ws_listener(ListenerKind::Ws);
    l.max_connections = 1;
    let (node, addr) = start_ws(l).await;
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (_ws, _) = ws_client_over(tcp, addr, "/mqtt", "mqtt").await;
    let mut second = TcpStream::connect(addr).await.expect("connect");
    let _ = second.write_all(upgrade_request("/mqtt", Some("mqtt")).as_bytes()).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(T, second.read_to_end(&mut out)).await.expect("closed in time");
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    let b = node.broker().clone();
    wait_for("the refusal to be counted", T, || b.metrics.encode().contains("reason=\"max_connections\"} 1")).await;
}

#[tokio::test]
async fn ws_upgrade_is_bounded_by_the_connect_timeout() {
    let l = ws_listener(ListenerKind::Ws);
    let node = TestNode::start_with(move |c| {
        c.mqtt.connect_timeout = Duration::from_millis(300);
        c.listeners.insert("web".into(), l);
    })
    .await;
    let addr = node.handle.as_ref().expect("running").listeners.iter().find(|l| l.name == "web").expect("web").addr;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /mqtt HTTP/1.1\r\nHost: x\r\n").await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(T, s.read_to_end(&mut out)).await.expect("closed by the broker").expect("read");
    assert!(out.is_empty());
    let b = node.broker().clone();
    wait_for("the timeout to be counted", T, || b.metrics.encode().contains("reason=\"timeout\"} 1")).await;
}

#[tokio::test]
async fn ws_client_close_gets_a_close_reply() {
    let (node, addr) = start_ws(ws_listener(ListenerKind::Ws)).await;
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut ws, _) = ws_client_over(tcp, addr, "/mqtt", "mqtt").await;
    ws.send(Message::binary(connect_bytes("closer"))).await.expect("send");
    assert_eq!(read_mqtt(&mut ws, 4).await[..2], [0x20, 0x02]);
    ws.close(None).await.expect("send close");
    let reply = tokio::time::timeout(T, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) => return true,
                None | Some(Err(_)) => return false,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await
    .expect("closed in time");
    assert!(reply, "the broker answers a close frame with one");
    let b = node.broker().clone();
    wait_for("the connection to end", T, || b.metrics.connections.get() == 0).await;
}

/// A client frame, masked as RFC 6455 requires of clients.
fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
    let len = payload.len();
    if len < 126 {
        f.push(0x80 | len as u8);
    } else if let Ok(l) = u16::try_from(len) {
        f.push(0x80 | 126);
        f.extend(l.to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend((len as u64).to_be_bytes());
    }
    f.extend(mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// One server frame (servers do not mask): its opcode and payload, or None at end of stream.
async fn server_frame(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    tokio::time::timeout(T, s.read_exact(&mut h)).await.expect("a frame in time").ok()?;
    assert_eq!(h[0] & 0x80, 0x80, "the broker sends final frames");
    assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
    let len = match h[1] & 0x7f {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).await.ok()?;
            u64::from(u16::from_be_bytes(l))
        }
        127 => {
            let mut l = [0u8; 8];
            s.read_exact(&mut l).await.ok()?;
            u64::from_be_bytes(l)
        }
        l => u64::from(l),
    };
    let mut payload = vec![0u8; usize::try_from(len).expect("length")];
    tokio::time::timeout(T, s.read_exact(&mut payload)).await.expect("payload in time").ok()?;
    Some((h[0] & 0x0f, payload))
}

/// A raw WebSocket connection: the upgrade done by hand, frames written and read as bytes.
async fn raw_ws(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(upgrade_request("/mqtt", Some("mqtt")).as_bytes()).await.expect("write");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tokio::time::timeout(T, s.read_u8()).await.expect("answer in time").expect("read"));
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "), "{}", String::from_utf8_lossy(&head));
    s
}

/// Binary payloads until `want` bytes arrived; pongs are returned separately, in order seen.
async fn raw_binary(s: &mut TcpStream, want: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
    let (mut got, mut pongs) = (Vec::new(), Vec::new());
    while got.len() < want {
        match server_frame(s).await.expect("a frame, not the end") {
            (0x2, p) => got.extend(p),
            (0xA, p) => pongs.push(p),
            (op, p) => panic!("unexpected frame {op:#x} {p:?}"),
        }
    }
    (got, pongs)
}

#[tokio::test]
async fn ws_split_fragmented_and_large_frames_after_idle() {
    let (_node, addr) = start_ws(ws_listener(ListenerKind::Ws)).await;
    let mut s = raw_ws(addr).await;
    // The CONNECT frame a byte at a time: its header, mask and payload each cut across reads.
    for b in client_frame(true, 0x2, &connect_bytes("raw-frames")) {
        s.write_all(&[b]).await.expect("write");
        s.flush().await.expect("flush");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(raw_binary(&mut s, 4).await.0, vec![0x20, 0x02, 0x00, 0x00], "CONNACK");
    let entry = SubEntry::new("ws/big", SubOpts::new()).expect("entry");
    let sub = v3_1_1::Subscribe::builder().packet_id(1).entries(vec![entry]).build().expect("subscribe");
    s.write_all(&client_frame(true, 0x2, &Packet::from(sub).to_continuous_buffer())).await.expect("write");
    assert_eq!(raw_binary(&mut s, 5).await.0, vec![0x90, 0x03, 0x00, 0x01, 0x00], "SUBACK");
    // Idle: the broker holds no read buffer now. Then a message far larger than any buffer it
    // kept before (8 KiB), as a fragmented message with a ping between its fragments, written
    // in pieces that do not line up with the frames.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let publish =
        v3_1_1::Publish::builder().topic_name("ws/big").expect("topic").payload(payload).build().expect("publish");
    let bytes = Packet::from(publish).to_continuous_buffer();
    let mut wire = client_frame(false, 0x2, &bytes[..10]);
    wire.extend(client_frame(true, 0x9, b"mid-message"));
    wire.extend(client_frame(false, 0x0, &bytes[10..70_000]));
    wire.extend(client_frame(true, 0x0, &bytes[70_000..]));
    for piece in wire.chunks(7_777) {
        s.write_all(piece).await.expect("write");
    }
    let (got, pongs) = raw_binary(&mut s, bytes.len()).await;
    assert_eq!(pongs, vec![b"mid-message".to_vec()], "the ping inside the message is answered");
    assert_eq!(got.len(), bytes.len());
    assert!(got == bytes, "the 200 KB message comes back intact");
    // A ping while idle, then the closing handshake: the close code is echoed.
    s.write_all(&client_frame(true, 0x9, b"idle")).await.expect("write");
    assert_eq!(server_frame(&mut s).await, Some((0xA, b"idle".to_vec())));
    s.write_all(&client_frame(true, 0x8, &1000u16.to_be_bytes())).await.expect("write");
    assert_eq!(server_frame(&mut s).await, Some((0x8, 1000u16.to_be_bytes().to_vec())), "close echoed");
    assert_eq!(server_frame(&mut s).await, None, "then the broker closes");
}

#[tokio::test]
async fn ws_protocol_violations_close_with_their_code() {
    let (node, addr) = start_ws(ws_listener(ListenerKind::Ws)).await;
    let unmasked = {
        let mut f = vec![0x82, 0x02];
        f.extend([0x00, 0x00]);
        f
    };
    let cases: [(&str, Vec<u8>, u16); 4] = [
        ("unmasked", unmasked, 1002),
        ("continuation without a message", client_frame(true, 0x0, b"x"), 1002),
        ("fragmented ping", client_frame(false, 0x9, b"x"), 1002),
        ("reserved opcode", client_frame(true, 0x3, b"x"), 1002),
    ];
    for (what, frame, code) in cases {
        let mut s = raw_ws(addr).await;
        s.write_all(&client_frame(true, 0x2, &connect_bytes("violator"))).await.expect("write");
        assert_eq!(raw_binary(&mut s, 4).await.0[..2], [0x20, 0x02], "{what}: CONNACK");
        s.write_all(&frame).await.expect("write");
        let close = server_frame(&mut s).await.expect("a close frame");
        assert_eq!(close.0, 0x8, "{what}");
        assert_eq!(close.1[..2], code.to_be_bytes(), "{what}");
        assert_eq!(server_frame(&mut s).await, None, "{what}: then the broker closes");
    }
    let b = node.broker().clone();
    wait_for("the connections to end", T, || b.metrics.connections.get() == 0).await;
}

#[tokio::test]
async fn ws_message_over_the_limit_is_refused_with_1009() {
    let (_node, addr) = start_ws(ws_listener(ListenerKind::Ws)).await;
    let mut s = raw_ws(addr).await;
    s.write_all(&client_frame(true, 0x2, &connect_bytes("too-big"))).await.expect("write");
    assert_eq!(raw_binary(&mut s, 4).await.0[..2], [0x20, 0x02]);
    // Announce a frame far over the limit: refused from its header, before any payload.
    let mut head = vec![0x82, 0x80 | 127];
    head.extend((1u64 << 40).to_be_bytes());
    head.extend([1, 2, 3, 4]);
    s.write_all(&head).await.expect("write");
    let close = server_frame(&mut s).await.expect("a close frame");
    assert_eq!((close.0, &close.1[..2]), (0x8, &1009u16.to_be_bytes()[..]));
}
