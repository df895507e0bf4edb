//! `proxy_protocol = true`: a v1 or v2 header before anything else (before TLS on `tls`/`wss`),
//! whose source address becomes the client's address as the admin API lists it; a missing,
//! malformed or late header closes the connection with a counted reason.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use starling::config::{ListenerConfig, ListenerKind};
use starling::transport::proxy::encode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::admin_util::{KEY, get_ok};
use crate::harness::{Probe, TestNode, wait_for};
use crate::tls_util::{Ca, client_config, connack_over, tls_over, write};

const T: Duration = Duration::from_secs(10);

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

/// A node with an API key and `[listeners.lb]` of `kind` with the PROXY protocol on.
async fn start(kind: ListenerKind, tweak: impl FnOnce(&mut ListenerConfig)) -> (TestNode, SocketAddr) {
    let mut l = ListenerConfig {
        kind: Some(kind),
        bind: Some(sa("127.0.0.1:0")),
        proxy_protocol: true,
        // The clients here come from documentation addresses: anonymous access for remote
        // clients must be explicit (the loopback default looks at the PROXY source).
        allow_anonymous: Some(true),
        ..ListenerConfig::default()
    };
    tweak(&mut l);
    let node = TestNode::start_with(move |c| {
        c.admin.api_keys = vec![KEY.into()];
        c.mqtt.connect_timeout = Duration::from_secs(2);
        c.listeners.insert("lb".into(), l);
    })
    .await;
    let addr = node.handle.as_ref().expect("running").listeners.iter().find(|l| l.name == "lb").expect("lb").addr;
    (node, addr)
}

/// The `peer` the admin API lists for `client_id` (waits for the client to show up).
async fn listed_peer(node: &TestNode, client_id: &str) -> String {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let page = get_ok(node, &format!("/api/v1/clients?client_id_prefix={client_id}")).await;
        if let Some(c) = page["data"].as_array().and_then(|d| d.iter().find(|c| c["client_id"] == client_id))
            && c["connected"] == true
        {
            return c["peer"].as_str().unwrap_or("<null>").to_string();
        }
        assert!(tokio::time::Instant::now() < deadline, "{client_id} not listed as connected: {page}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn proxy_v1_and_v2_source_address_is_the_client_address() {
    let (node, addr) = start(ListenerKind::Tcp, |_| {}).await;
    // v1, IPv4.
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(&encode::v1(sa("192.0.2.10:56324"), addr)).await.expect("header");
    let mut p1 = Probe::from_stream(tcp, false);
    p1.send(connect("via-v1")).await;
    accepted(&mut p1).await;
    assert_eq!(listed_peer(&node, "via-v1").await, "192.0.2.10:56324");
    // v2, IPv6, with TLVs.
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let header = encode::v2(sa("[2001:db8::7]:40000"), sa("[2001:db8::1]:1883"), &[(0x01, b"mqtt")]);
    tcp.write_all(&header).await.expect("header");
    let mut p2 = Probe::from_stream(tcp, false);
    p2.send(connect("via-v2")).await;
    accepted(&mut p2).await;
    assert_eq!(listed_peer(&node, "via-v2").await, "[2001:db8::7]:40000");
    // v2 LOCAL (a load balancer's health check): the TCP peer is the client.
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let local = tcp.local_addr().expect("local addr");
    tcp.write_all(&encode::v2_local()).await.expect("header");
    let mut p3 = Probe::from_stream(tcp, false);
    p3.send(connect("via-local")).await;
    accepted(&mut p3).await;
    assert_eq!(listed_peer(&node, "via-local").await, local.to_string());
    // Without PROXY protocol, the plain listener lists the TCP peer.
    let plain = node.handle.as_ref().expect("running").listeners.iter().find(|l| l.name == "tcp").expect("tcp").addr;
    let (p4, _) = Probe::connect_v3(plain, "direct", true).await;
    let direct = p4.stream.local_addr().expect("local addr");
    assert_eq!(listed_peer(&node, "direct").await, direct.to_string());
}

async fn accepted(p: &mut Probe) {
    use mqtt_protocol_core::mqtt::packet::Packet;
    use mqtt_protocol_core::mqtt::result_code::ConnectReturnCode;
    match p.expect().await {
        Packet::V3_1_1Connack(c) => assert_eq!(c.return_code(), ConnectReturnCode::Accepted),
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

fn connect(id: &str) -> mqtt_protocol_core::mqtt::packet::v3_1_1::Connect {
    mqtt_protocol_core::mqtt::packet::v3_1_1::Connect::builder()
        .client_id(id)
        .expect("id")
        .clean_session(true)
        .keep_alive(30)
        .build()
        .expect("connect")
}

/// Write `bytes` on a fresh connection and wait until the broker closes it; what it sent.
async fn refused(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(T, s.read_to_end(&mut out)).await.expect("the broker closes the connection");
    out
}

#[tokio::test]
async fn proxy_missing_bad_or_late_header_closes_with_a_counted_reason() {
    let (node, addr) = start(ListenerKind::Tcp, |_| {}).await;
    let b = node.broker().clone();
    let count = |reason: &str| {
        let line = format!("starling_proxy_protocol_errors_total{{listener=\"lb\",reason=\"{reason}\"}} 1");
        let b = b.clone();
        move || b.metrics.encode().contains(&line)
    };
    // A client that sends CONNECT straight away: no CONNACK, closed.
    let out = refused(
        addr,
        &mqtt_protocol_core::mqtt::packet::GenericPacketTrait::to_continuous_buffer(
            &mqtt_protocol_core::mqtt::packet::Packet::from(connect("no-header")),
        ),
    )
    .await;
    assert!(out.is_empty(), "{out:?}");
    wait_for("reason missing", T, count("missing")).await;
    assert!(refused(addr, b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n").await.is_empty());
    wait_for("reason malformed", T, count("malformed")).await;
    let mut long = b"PROXY TCP6 ".to_vec();
    long.resize(200, b'1');
    assert!(refused(addr, &long).await.is_empty());
    wait_for("reason oversize", T, count("oversize")).await;
    // Half a header, then silence: closed at the connect timeout (2 s here).
    assert!(refused(addr, b"PROXY TCP4 1.2.3.4").await.is_empty());
    wait_for("reason timeout", T, count("timeout")).await;
    assert!(b.metrics.connects.get() == 0, "nobody got in");
}

#[tokio::test]
async fn proxy_header_comes_before_the_tls_handshake() {
    let ca = Ca::new("Starling PROXY test CA");
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = ca.server("localhost");
    let (cert, key) = (write(dir.path(), "s.pem", &cert), write(dir.path(), "s.key", &key));
    let (c2, k2) = (cert.clone(), key.clone());
    let (node, addr) = start(ListenerKind::Tls, move |l| {
        l.cert = Some(c2);
        l.key = Some(k2);
    })
    .await;
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(&encode::v2(sa("198.51.100.20:5555"), addr, &[])).await.expect("header");
    let mut tls = tls_over(tcp, client_config(&ca.pem(), None)).await.expect("TLS after the header");
    assert_eq!(connack_over(&mut tls, "tls-proxied").await, Some(0));
    assert_eq!(listed_peer(&node, "tls-proxied").await, "198.51.100.20:5555");
    drop(node);

    // wss: PROXY header, TLS, WebSocket upgrade, MQTT.
    let (node, addr) = start(ListenerKind::Wss, move |l| {
        l.cert = Some(cert);
        l.key = Some(key);
    })
    .await;
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(&encode::v1(sa("203.0.113.50:6000"), addr)).await.expect("header");
    let tls = tls_over(tcp, client_config(&ca.pem(), None)).await.expect("TLS after the header");
    let mut req = format!("wss://localhost:{}/mqtt", addr.port()).into_client_request().expect("request");
    req.headers_mut().insert("Sec-WebSocket-Protocol", "mqtt".parse().expect("header"));
    let (mut ws, _) = tokio::time::timeout(T, tokio_tungstenite::client_async(req, tls))
        .await
        .expect("upgrade in time")
        .expect("upgrade");
    let bytes = mqtt_protocol_core::mqtt::packet::GenericPacketTrait::to_continuous_buffer(
        &mqtt_protocol_core::mqtt::packet::Packet::from(connect("wss-proxied")),
    );
    ws.send(Message::binary(bytes)).await.expect("send");
    match tokio::time::timeout(T, ws.next()).await.expect("CONNACK in time") {
        Some(Ok(Message::Binary(b))) => assert_eq!(&b[..], &[0x20, 0x02, 0x00, 0x00]),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    assert_eq!(listed_peer(&node, "wss-proxied").await, "203.0.113.50:6000");
}
