//! Anonymous access is decided by the client's real address (issue 13, item 3): a loopback
//! listener behind the PROXY protocol whose `allow_anonymous` is unset admits anonymous clients
//! only when the PROXY source is loopback too; a remote source needs credentials.

use std::net::SocketAddr;

use mqtt_protocol_core::mqtt::packet::{Packet, v3_1_1};
use starling::config::{ListenerConfig, ListenerKind};
use starling::transport::proxy::encode;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::auth_util::*;
use crate::harness::{Probe, TestNode};

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

/// CONNECT (3.1.1) through a PROXY header (v1 for IPv4, v2 for IPv6) claiming `source`; the CONNACK return code.
async fn connect_via(addr: SocketAddr, source: &str, user: Option<(&str, &str)>) -> u8 {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let source = sa(source);
    let header = if source.is_ipv4() { encode::v1(source, addr) } else { encode::v2(source, sa("[::1]:1883"), &[]) };
    tcp.write_all(&header).await.expect("header");
    let mut p = Probe::from_stream(tcp, false);
    let mut b = v3_1_1::Connect::builder().client_id("via-proxy").expect("id").clean_session(true).keep_alive(30);
    if let Some((u, pw)) = user {
        b = b.user_name(u).expect("user").password(pw.as_bytes().to_vec()).expect("pw");
    }
    p.send(b.build().expect("connect")).await;
    match p.expect().await {
        Packet::V3_1_1Connack(c) => c.return_code() as u8,
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

async fn start(tweak: impl FnOnce(&mut ListenerConfig)) -> (TestNode, SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = password_file(dir.path(), &[("carol", "carol-pw")]);
    let mut l = ListenerConfig {
        kind: Some(ListenerKind::Tcp),
        bind: Some(sa("127.0.0.1:0")),
        proxy_protocol: true,
        ..ListenerConfig::default()
    };
    tweak(&mut l);
    let node = TestNode::start_with(move |c| {
        c.auth.password_file = Some(f);
        c.listeners.insert("lb".into(), l);
    })
    .await;
    let addr = node.handle.as_ref().expect("running").listeners.iter().find(|l| l.name == "lb").expect("lb").addr;
    (node, addr, dir)
}

#[tokio::test]
async fn auth_anonymous_by_real_address_behind_proxy_protocol() {
    let (node, addr, _dir) = start(|_| {}).await;
    assert_eq!(connect_via(addr, "203.0.113.9:4000", None).await, 5, "a remote client is not local");
    assert_eq!(connect_via(addr, "[2001:db8::9]:4000", None).await, 5);
    assert_eq!(connect_via(addr, "203.0.113.9:4000", Some(("carol", "carol-pw"))).await, 0, "with credentials");
    assert_eq!(connect_via(addr, "127.0.0.1:4000", None).await, 0, "a local client behind the proxy");
    assert_eq!(refused(&node, "connect_not_authorized"), 2);
    // The listener without PROXY is bound to loopback and reached from loopback: unchanged.
    let plain = node.handle.as_ref().expect("running").listeners.iter().find(|l| l.name == "tcp").expect("tcp").addr;
    let (_p, ack) = Probe::connect_v3(plain, "direct", true).await;
    assert_eq!(ack.return_code() as u8, 0);
}

/// `allow_anonymous = true`, set explicitly, is the operator's decision and holds for anyone.
#[tokio::test]
async fn auth_anonymous_explicit_setting_is_kept() {
    let (_node, addr, _dir) = start(|l| l.allow_anonymous = Some(true)).await;
    assert_eq!(connect_via(addr, "203.0.113.9:4000", None).await, 0);
}
