//! A session belongs to the identity that created it (issue 13, item 1): another user who
//! presents the same client id — live session, persisted session after a restart, or a session
//! held by another node — is refused (5.0 CONNACK 0x85, 3.1.1 return code 2); the owner is not
//! kicked and its session is not touched. `session.bind_to_identity = false` turns this off.

use std::net::SocketAddr;
use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::{Packet, Property, SessionExpiryInterval, v3_1_1, v5_0};

use crate::auth_util::*;
use crate::harness::cluster::TestCluster;
use crate::harness::probe::Read;
use crate::harness::{Probe, TestNode, wait_for};

const T: Duration = Duration::from_secs(10);

/// A v5 CONNECT with optional credentials, clean start and a session expiry: (probe, reason
/// code, session present).
pub async fn owner_login5(
    addr: SocketAddr,
    id: &str,
    user: Option<(&str, &str)>,
    clean: bool,
    expiry: u32,
) -> (Probe, u8, bool) {
    let mut b = v5_0::Connect::builder().client_id(id).expect("id").clean_start(clean).keep_alive(60);
    if let Some((u, p)) = user {
        b = b.user_name(u).expect("user").password(p.as_bytes().to_vec()).expect("password");
    }
    if expiry > 0 {
        let e = SessionExpiryInterval::new(expiry).expect("expiry");
        b = b.props(vec![Property::SessionExpiryInterval(e)]);
    }
    let mut p = Probe::tcp(addr, true).await;
    p.send(b.build().expect("connect")).await;
    match p.recv().await {
        Read::Packet(Packet::V5_0Connack(c)) => {
            let present = c.session_present();
            (p, c.reason_code() as u8, present)
        }
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

async fn owner_login3(addr: SocketAddr, id: &str, user: Option<(&str, &str)>, clean: bool) -> (Probe, u8) {
    let mut b = v3_1_1::Connect::builder().client_id(id).expect("id").clean_session(clean).keep_alive(60);
    if let Some((u, p)) = user {
        b = b.user_name(u).expect("user").password(p.as_bytes().to_vec()).expect("password");
    }
    let mut p = Probe::tcp(addr, false).await;
    p.send(b.build().expect("connect")).await;
    match p.recv().await {
        Read::Packet(Packet::V3_1_1Connack(c)) => (p, c.return_code() as u8),
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

const ALICE: Option<(&str, &str)> = Some(("alice", "alice-pw"));
const BOB: Option<(&str, &str)> = Some(("bob", "bob-pw"));

/// Publish `payload` to `topic` at QoS 1 from a fresh anonymous client and wait for PUBACK.
async fn publish_one(addr: SocketAddr, topic: &str, payload: &[u8]) {
    let (mut p, ack) = Probe::connect_v5(addr, &format!("pub-{}", rand::random::<u32>()), true, vec![]).await;
    assert!(crate::harness::probe::connack_ok(&ack));
    p.publish_v5(topic, payload, 1, false, Some(1), vec![]).await;
    match p.expect().await {
        Packet::V5_0Puback(_) => {}
        other => panic!("expected PUBACK, got {other:?}"),
    }
}

/// Another user cannot resume, replace (clean start) or kick a live session; neither version.
#[tokio::test]
async fn auth_session_owner_live_session_refuses_another_identity() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = password_file(dir.path(), &[("alice", "alice-pw"), ("bob", "bob-pw")]);
    let node = TestNode::start_with(|c| c.auth.password_file = Some(f.clone())).await;
    let (mut alice, rc, _) = owner_login5(node.addr, "dev-1", ALICE, false, 3600).await;
    assert_eq!(rc, 0);
    assert_eq!(alice.subscribe_v5(1, &[("alice/#", 1)], vec![]).await, vec![1]);

    let (_, rc, present) = owner_login5(node.addr, "dev-1", BOB, false, 3600).await;
    assert_eq!((rc, present), (0x85, false), "bob resuming alice's session");
    let (_, rc, _) = owner_login5(node.addr, "dev-1", BOB, true, 0).await;
    assert_eq!(rc, 0x85, "bob replacing alice's session with a clean start");
    let (_, rc, _) = owner_login5(node.addr, "dev-1", None, false, 3600).await;
    assert_eq!(rc, 0x85, "an anonymous client is another identity too");
    let (_, rc) = owner_login3(node.addr, "dev-1", BOB, false).await;
    assert_eq!(rc, 2, "3.1.1: identifier rejected");

    // Alice was not kicked and her subscription still delivers.
    publish_one(node.addr, "alice/x", b"still yours").await;
    assert_eq!(alice.expect_publish_v5().await.payload().as_slice(), b"still yours");
    assert_eq!(refused(&node, "connect_session_owner"), 4);

    // The owner itself takes its session over as before.
    let (_, rc, present) = owner_login5(node.addr, "dev-1", ALICE, false, 3600).await;
    assert_eq!((rc, present), (0, true));
}

/// The owner is recorded on disk: after a restart another user still cannot resume the
/// persisted session, and the owner finds its queued message.
#[tokio::test]
async fn auth_session_owner_persisted_session_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = password_file(dir.path(), &[("alice", "alice-pw"), ("bob", "bob-pw")]);
    let mut node = TestNode::start_with(|c| c.auth.password_file = Some(f.clone())).await;
    let (mut alice, rc, _) = owner_login5(node.addr, "dev-2", ALICE, false, 3600).await;
    assert_eq!(rc, 0);
    assert_eq!(alice.subscribe_v5(1, &[("alice/#", 1)], vec![]).await, vec![1]);
    drop(alice);
    wait_for("alice disconnected", T, || node.broker().connections.load(std::sync::atomic::Ordering::Relaxed) == 0)
        .await;
    node.restart().await;
    publish_one(node.addr, "alice/queued", b"for alice only").await;

    let (mut bob, rc, present) = owner_login5(node.addr, "dev-2", BOB, false, 3600).await;
    assert_eq!((rc, present), (0x85, false), "bob resuming alice's persisted session");
    assert!(matches!(bob.recv_within(Duration::from_millis(300)).await, Read::Closed | Read::Timeout));
    let (_, rc, _) = owner_login5(node.addr, "dev-2", BOB, true, 0).await;
    assert_eq!(rc, 0x85, "bob cannot discard it with a clean start either");

    let (mut alice, rc, present) = owner_login5(node.addr, "dev-2", ALICE, false, 3600).await;
    assert_eq!((rc, present), (0, true));
    assert_eq!(alice.expect_publish_v5().await.payload().as_slice(), b"for alice only");
}

/// `session.bind_to_identity = false` is the documented opt-out: the old behaviour.
#[tokio::test]
async fn auth_session_owner_opt_out_lets_any_identity_resume() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = password_file(dir.path(), &[("alice", "alice-pw"), ("bob", "bob-pw")]);
    let node = TestNode::start_with(|c| {
        c.auth.password_file = Some(f.clone());
        c.session.bind_to_identity = false;
    })
    .await;
    let (_alice, rc, _) = owner_login5(node.addr, "dev-3", ALICE, false, 3600).await;
    assert_eq!(rc, 0);
    let (_, rc, present) = owner_login5(node.addr, "dev-3", BOB, false, 3600).await;
    assert_eq!((rc, present), (0, true));
}

/// The owner is in the replicated client registry: a user on another node cannot take the
/// session over from the node that holds it, and the owner there keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_session_owner_refused_on_another_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = password_file(dir.path(), &[("alice", "alice-pw"), ("bob", "bob-pw")]);
    let c = TestCluster::start_with(2, 0, |_, cfg| cfg.auth.password_file = Some(f.clone())).await;
    let (mut alice, rc, _) = owner_login5(c.mqtt(0), "dev-4", ALICE, false, 3600).await;
    assert_eq!(rc, 0);
    assert_eq!(alice.subscribe_v5(1, &[("alice/#", 1)], vec![]).await, vec![1]);
    c.wait_applied(T).await;
    wait_for("client registered on node 2", T, || c.nodes[1].broker().catalog.owner_of("dev-4").is_some()).await;

    let (_, rc, present) = owner_login5(c.mqtt(1), "dev-4", BOB, false, 3600).await;
    assert_eq!((rc, present), (0x85, false), "bob on the other node");
    let (_, rc, _) = owner_login5(c.mqtt(1), "dev-4", BOB, true, 0).await;
    assert_eq!(rc, 0x85, "clean start on the other node");
    assert_eq!(refused(&c.nodes[1], "connect_session_owner"), 2);

    publish_one(c.mqtt(0), "alice/x", b"still here").await;
    assert_eq!(alice.expect_publish_v5().await.payload().as_slice(), b"still here");
    // The owner can move to the other node as before.
    let (_, rc, present) = owner_login5(c.mqtt(1), "dev-4", ALICE, false, 3600).await;
    assert_eq!((rc, present), (0, true));
}
