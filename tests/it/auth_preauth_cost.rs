//! What a client costs before it has authenticated is bounded (issue 13, item 5): bans and the
//! connection rate apply before a WebSocket upgrade; an unknown user is answered as slowly as
//! a known one with a wrong password; failed logins from a stranger do not make the real user
//! "flap"; refusals with huge client ids are counted and their log key is bounded.

use std::time::{Duration, Instant};

use starling::config::{ListenerConfig, ListenerKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::auth_util::*;
use crate::harness::TestNode;

/// A banned address gets no WebSocket upgrade answer at all: closed before the upgrade.
#[tokio::test]
async fn auth_preauth_ban_applies_before_the_websocket_upgrade() {
    let node = TestNode::start_with(|c| {
        c.bans.networks = vec!["127.0.0.0/8".into()];
        let web = ListenerConfig {
            kind: Some(ListenerKind::Ws),
            bind: Some("127.0.0.1:0".parse().expect("addr")),
            ..Default::default()
        };
        c.listeners.insert("web".into(), web);
    })
    .await;
    let addr = node.handle.as_ref().expect("running").listeners.iter().find(|l| l.name == "web").expect("web").addr;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let req = "GET /mqtt HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
               Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
               Sec-WebSocket-Protocol: mqtt\r\n\r\n";
    let _ = s.write_all(req.as_bytes()).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await.expect("closed");
    assert!(out.is_empty(), "answered: {}", String::from_utf8_lossy(&out));
    assert_eq!(refused(&node, "banned_network"), 1);
}

/// Unknown users are checked against a dummy hash: no faster than a wrong password.
#[tokio::test]
async fn auth_preauth_unknown_user_takes_as_long_as_a_wrong_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = password_file(dir.path(), &[("alice", "alice-pw")]);
    let node = TestNode::start_with(|c| {
        no_anonymous(c);
        c.auth.password_file = Some(f.clone());
    })
    .await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..7 {
        let t = Instant::now();
        assert_eq!(login5(node.addr, &format!("k{i}"), Some("alice"), Some("wrong"), None).await.1, 0x86);
        known.push(t.elapsed());
        let t = Instant::now();
        assert_eq!(login5(node.addr, &format!("u{i}"), Some("nobody"), Some("wrong"), None).await.1, 0x86);
        unknown.push(t.elapsed());
    }
    known.sort();
    unknown.sort();
    let (k, u) = (known[3], unknown[3]);
    assert!(u * 3 > k, "unknown user answered in {u:?}, a wrong password in {k:?}");
}

/// Five bad logins with alice's name from a stranger do not lock alice out.
#[tokio::test]
async fn auth_preauth_failed_logins_do_not_count_as_flapping() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = password_file(dir.path(), &[("alice", "alice-pw")]);
    let node = TestNode::start_with(|c| {
        c.auth.password_file = Some(f.clone());
        c.flapping.enabled = true;
        c.flapping.max_connects = 5;
        c.flapping.window = Duration::from_secs(60);
        c.flapping.ban_time = Duration::from_secs(300);
    })
    .await;
    for i in 0..8 {
        let rc = login5(node.addr, "alices-phone", Some("alice"), Some(&format!("guess-{i}")), None).await.1;
        assert_eq!(rc, 0x86);
    }
    assert_eq!(login5(node.addr, "alices-phone", Some("alice"), Some("alice-pw"), None).await.1, 0);
    assert_eq!(refused(&node, "connect_flapping"), 0);
    assert!(node.broker().auth.bans.list(&node.broker().catalog).is_empty());
}

/// Refused CONNECTs with 40 KB client ids are all counted; the log keeps one line per source.
#[tokio::test]
async fn auth_preauth_huge_client_ids_are_counted_not_stored() {
    let node = TestNode::start_with(|c| {
        no_anonymous(c);
        c.mqtt.max_client_id_length = 64 * 1024;
    })
    .await;
    for i in 0..50 {
        let id = format!("{i}-{}", "x".repeat(40_000));
        assert_eq!(login5(node.addr, &id, None, None, None).await.1, 0x87);
    }
    assert_eq!(refused(&node, "connect_not_authorized"), 50);
    assert_eq!(node.broker().auth.log_keys(), 1, "one log key: reason and source address");
}

/// One address flooding CONNECTs cannot take the whole password-check queue: what is over its
/// share is refused at once (0x88 Server unavailable) and a user from another address still
/// gets in while the flood is being checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_preauth_password_queue_is_bounded_per_source() {
    use mqtt_protocol_core::mqtt::packet::Packet;
    let dir = tempfile::tempdir().expect("tempdir");
    let f = password_file(dir.path(), &[("alice", "alice-pw")]);
    let node = TestNode::start_with(|c| {
        no_anonymous(c);
        c.auth.password_file = Some(f.clone());
    })
    .await;
    let slots = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let share = (slots * 4).max(8);
    let addr = node.addr;
    let flood: Vec<_> = (0..share + 30)
        .map(|i| {
            tokio::spawn(async move { login5(addr, &format!("f{i}"), Some("alice"), Some("guess"), None).await.1 })
        })
        .collect();
    // Alice, from another loopback address, while the flood waits.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.bind("127.0.0.2:0".parse().expect("addr")).expect("bind 127.0.0.2");
    let stream = sock.connect(addr).await.expect("connect");
    let mut p = crate::harness::Probe::from_stream(stream, true);
    p.send(connect5_with("alice-2", "alice", "alice-pw")).await;
    match p.expect().await {
        Packet::V5_0Connack(a) => assert_eq!(a.reason_code() as u8, 0, "alice refused during the flood"),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    let mut busy = 0;
    for h in flood {
        let rc = h.await.expect("join");
        assert!(rc == 0x86 || rc == 0x88, "flood got {rc:#x}");
        busy += usize::from(rc == 0x88);
    }
    assert!(busy >= 1, "the flood's surplus over its share is refused at once");
    assert_eq!(refused(&node, "connect_server_unavailable"), busy as u64);
}
