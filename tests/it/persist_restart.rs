//! Persistence across a broker restart (`TestNode::restart`: graceful stop, start again on the
//! same data dir and port): persistent sessions, their queues, subscriptions, in-flight QoS 1/2
//! state in both directions, retained messages and session expiry.

use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::{GenericPacketTrait, Packet, Qos, v3_1_1, v5_0};
use mqtt_protocol_core::mqtt::result_code::{DisconnectReasonCode, PubrecReasonCode};

use crate::harness::Probe;
use crate::harness::TestNode;
use crate::persist_util::*;

const SILENCE: Duration = Duration::from_millis(400);

/// The key test (5.0): a session with expiry 3600 subscribed at QoS 1 goes offline,
/// messages are published, the broker restarts, the client resumes with Clean Start 0 and gets
/// Session Present 1 and every queued message in order.
#[tokio::test]
async fn mqtt_3_2_2_2_v5_queued_qos1_survive_restart_in_order() {
    let mut node = TestNode::start().await;
    let (mut sub, ack) = Probe::connect_v5(node.addr, "durable5", true, expiry(3600)).await;
    assert!(!ack.session_present());
    assert_eq!(sub.subscribe_v5(1, &[("q/t", 1)], vec![]).await, vec![1]);
    bye_v5(sub).await;
    wait_idle(&node).await;

    publish_qos1_v5(node.addr, "q/t", 20).await;
    node.restart().await;

    let (mut sub, ack) = Probe::connect_v5(node.addr, "durable5", false, expiry(3600)).await;
    assert!(crate::harness::probe::connack_ok(&ack));
    assert!(ack.session_present(), "session must survive the restart");
    expect_in_order_v5(&mut sub, "q/t", 0, 20).await;
    sub.expect_silence(SILENCE).await;
}

/// The same for 3.1.1 with Clean Session 0.
#[tokio::test]
async fn mqtt_3_2_2_2_v311_queued_qos1_survive_restart_in_order() {
    let mut node = TestNode::start().await;
    let (mut sub, ack) = Probe::connect_v3(node.addr, "durable3", false).await;
    assert!(!ack.session_present());
    assert_eq!(sub.subscribe_v3(1, &[("q3/t", 1)]).await, vec![1]);
    bye_v3(sub).await;
    wait_idle(&node).await;

    publish_qos1_v5(node.addr, "q3/t", 20).await;
    node.restart().await;

    let (mut sub, ack) = Probe::connect_v3(node.addr, "durable3", false).await;
    assert!(ack.session_present(), "session must survive the restart");
    expect_in_order_v3(&mut sub, "q3/t", 0, 20).await;
    sub.expect_silence(SILENCE).await;
}

/// Subscriptions of a persistent session are restored: a message published after the restart,
/// while the client is still offline, is queued for it; one published once it is back arrives
/// live.
#[tokio::test]
async fn subscriptions_survive_restart() {
    let mut node = TestNode::start().await;
    let (mut sub, _) = Probe::connect_v5(node.addr, "subkeeper", true, expiry(3600)).await;
    assert_eq!(sub.subscribe_v5(1, &[("a/+", 1), ("b/#", 1)], vec![]).await, vec![1, 1]);
    bye_v5(sub).await;
    wait_idle(&node).await;
    node.restart().await;
    assert_eq!(node.broker().subscription_count(), 2);

    // Offline, after the restart.
    publish_qos1_v5(node.addr, "a/x", 1).await;
    let (mut sub, ack) = Probe::connect_v5(node.addr, "subkeeper", false, expiry(3600)).await;
    assert!(ack.session_present());
    expect_in_order_v5(&mut sub, "a/x", 0, 1).await;

    // Online, through the other restored filter.
    publish_qos1_v5(node.addr, "b/y/z", 1).await;
    expect_in_order_v5(&mut sub, "b/y/z", 0, 1).await;
}

/// MQTT-4.4.0-1 / MQTT-3.3.1-1 (5.0): PUBLISHes sent but not acknowledged before the restart are
/// sent again on resume with their original packet ids and DUP=1. The shutdown tells the
/// connected client why (DISCONNECT 0x8B).
#[tokio::test]
async fn mqtt_4_4_0_1_v5_unacked_qos1_resent_with_dup_after_restart() {
    let mut node = TestNode::start().await;
    let (mut sub, _) = Probe::connect_v5(node.addr, "inflight5", true, expiry(3600)).await;
    assert_eq!(sub.subscribe_v5(1, &[("f/t", 1)], vec![]).await, vec![1]);
    publish_qos1_v5(node.addr, "f/t", 3).await;
    let mut first = Vec::new();
    for i in 0..3 {
        let m = sub.expect_publish_v5().await;
        assert_eq!(m.payload().as_slice(), &msg(i)[..]);
        assert!(!m.dup(), "first delivery must not carry DUP");
        first.push(m.packet_id().expect("pid"));
    }
    // No PUBACK. Restart while the client is connected.
    node.restart().await;
    let d = sub.expect_close().await;
    assert_eq!(
        d.and_then(|d| d.reason_code()),
        Some(DisconnectReasonCode::ServerShuttingDown),
        "a 5.0 client is told the server is shutting down"
    );

    let (mut sub, ack) = Probe::connect_v5(node.addr, "inflight5", false, expiry(3600)).await;
    assert!(ack.session_present());
    for (i, pid) in first.iter().enumerate() {
        let m = sub.expect_publish_v5().await;
        assert_eq!(m.payload().as_slice(), &msg(i)[..], "resent in order");
        assert_eq!(m.packet_id(), Some(*pid), "original packet id");
        assert!(m.dup(), "DUP=1 on re-delivery");
        assert_eq!(m.qos(), Qos::AtLeastOnce);
        puback_v5(&mut sub, *pid).await;
    }
    sub.expect_silence(SILENCE).await;
}

/// MQTT-4.4.0-1 for 3.1.1, with the client gone abruptly before the restart.
#[tokio::test]
async fn mqtt_4_4_0_1_v311_unacked_qos1_resent_with_dup_after_restart() {
    let mut node = TestNode::start().await;
    let (mut sub, _) = Probe::connect_v3(node.addr, "inflight3", false).await;
    assert_eq!(sub.subscribe_v3(1, &[("f3/t", 1)]).await, vec![1]);
    publish_qos1_v5(node.addr, "f3/t", 2).await;
    let mut first = Vec::new();
    for i in 0..2 {
        let m = sub.expect_publish_v3().await;
        assert_eq!(m.payload().as_slice(), &msg(i)[..]);
        first.push(m.packet_id().expect("pid"));
    }
    drop(sub);
    wait_idle(&node).await;
    node.restart().await;

    let (mut sub, ack) = Probe::connect_v3(node.addr, "inflight3", false).await;
    assert!(ack.session_present());
    for (i, pid) in first.iter().enumerate() {
        let m = sub.expect_publish_v3().await;
        assert_eq!(m.payload().as_slice(), &msg(i)[..]);
        assert_eq!(m.packet_id(), Some(*pid), "original packet id");
        assert!(m.dup(), "DUP=1 on re-delivery");
        puback_v3(&mut sub, *pid).await;
    }
    sub.expect_silence(SILENCE).await;
}

/// PUBACKs that arrive in one read are recorded together (one storage commit for the read):
/// every one of them counts, so none of those messages comes back after a restart, and the
/// unacknowledged rest does, once, in order.
#[tokio::test]
async fn acknowledgements_in_one_read_are_all_recorded() {
    let mut node = TestNode::start().await;
    let (mut sub, _) = Probe::connect_v3(node.addr, "batchack", false).await;
    assert_eq!(sub.subscribe_v3(1, &[("ba/t", 1)]).await, vec![1]);
    publish_qos1_v5(node.addr, "ba/t", 10).await;
    let mut pids = Vec::new();
    for i in 0..10 {
        let m = sub.expect_publish_v3().await;
        assert_eq!(m.payload().as_slice(), &msg(i)[..]);
        pids.push(m.packet_id().expect("pid"));
    }
    // The first six acknowledgements in one write.
    let mut bytes = Vec::new();
    for pid in &pids[..6] {
        bytes.extend(
            Packet::from(v3_1_1::Puback::builder().packet_id(*pid).build().expect("puback")).to_continuous_buffer(),
        );
    }
    sub.send_raw(&bytes).await;
    barrier_v3(&mut sub).await;
    bye_v3(sub).await;
    wait_idle(&node).await;
    node.restart().await;

    let (mut sub, ack) = Probe::connect_v3(node.addr, "batchack", false).await;
    assert!(ack.session_present());
    for (i, pid) in pids.iter().enumerate().skip(6) {
        let m = sub.expect_publish_v3().await;
        assert_eq!(m.payload().as_slice(), &msg(i)[..]);
        assert!(m.dup(), "DUP=1 on re-delivery");
        puback_v3(&mut sub, *pid).await;
    }
    sub.expect_silence(SILENCE).await;
}

/// Messages acknowledged before the restart are not delivered again; the unacknowledged rest
/// is, once.
#[tokio::test]
async fn acknowledged_messages_not_replayed_after_restart() {
    let mut node = TestNode::start().await;
    let (mut sub, _) = Probe::connect_v5(node.addr, "partial", true, expiry(3600)).await;
    assert_eq!(sub.subscribe_v5(1, &[("p/t", 1)], vec![]).await, vec![1]);
    publish_qos1_v5(node.addr, "p/t", 10).await;
    for i in 0..10 {
        let m = sub.expect_publish_v5().await;
        assert_eq!(m.payload().as_slice(), &msg(i)[..]);
        if i < 4 {
            puback_v5(&mut sub, m.packet_id().expect("pid")).await;
        }
    }
    barrier_v5(&mut sub).await;
    bye_v5(sub).await;
    wait_idle(&node).await;
    node.restart().await;

    let (mut sub, ack) = Probe::connect_v5(node.addr, "partial", false, expiry(3600)).await;
    assert!(ack.session_present());
    for i in 4..10 {
        let m = sub.expect_publish_v5().await;
        assert_eq!(String::from_utf8_lossy(m.payload().as_slice()), String::from_utf8_lossy(&msg(i)));
        assert!(m.dup());
        puback_v5(&mut sub, m.packet_id().expect("pid")).await;
    }
    sub.expect_silence(SILENCE).await;
}

/// MQTT-4.4.0-1: an outgoing QoS 2 message in the PUBREL state (PUBREC received, PUBCOMP not)
/// is resumed after the restart with a PUBREL for the same packet id, not a new PUBLISH; once
/// PUBCOMP arrives it is finished for good, even across a second restart.
#[tokio::test]
async fn mqtt_4_4_0_1_qos2_pubrel_state_survives_restart() {
    let mut node = TestNode::start().await;
    let (mut sub, _) = Probe::connect_v5(node.addr, "rel", true, expiry(3600)).await;
    assert_eq!(sub.subscribe_v5(1, &[("x/2", 2)], vec![]).await, vec![2]);

    let (mut pubr, _) = Probe::connect_v5(node.addr, "rel-pub", true, vec![]).await;
    pubr.publish_v5("x/2", b"exactly", 2, false, Some(1), vec![]).await;
    assert!(matches!(pubr.expect().await, Packet::V5_0Pubrec(_)));
    pubr.send(v5_0::Pubrel::builder().packet_id(1).build().expect("pubrel")).await;
    assert!(matches!(pubr.expect().await, Packet::V5_0Pubcomp(_)));
    bye_v5(pubr).await;

    let m = sub.expect_publish_v5().await;
    assert_eq!(m.qos(), Qos::ExactlyOnce);
    let pid = m.packet_id().expect("pid");
    sub.send(v5_0::Pubrec::builder().packet_id(pid).build().expect("pubrec")).await;
    match sub.expect().await {
        Packet::V5_0Pubrel(r) => assert_eq!(r.packet_id(), pid),
        other => panic!("expected PUBREL, got {other:?}"),
    }
    // No PUBCOMP.
    drop(sub);
    wait_idle(&node).await;
    node.restart().await;

    let (mut sub, ack) = Probe::connect_v5(node.addr, "rel", false, expiry(3600)).await;
    assert!(ack.session_present());
    match sub.expect().await {
        Packet::V5_0Pubrel(r) => assert_eq!(r.packet_id(), pid, "PUBREL with the original id"),
        other => panic!("expected the PUBREL to be resent, got {other:?}"),
    }
    sub.send(v5_0::Pubcomp::builder().packet_id(pid).build().expect("pubcomp")).await;
    sub.expect_silence(SILENCE).await;
    barrier_v5(&mut sub).await;
    bye_v5(sub).await;
    wait_idle(&node).await;

    node.restart().await;
    let (mut sub, ack) = Probe::connect_v5(node.addr, "rel", false, expiry(3600)).await;
    assert!(ack.session_present());
    sub.expect_silence(SILENCE).await;
}

/// MQTT-4.3.3-9: until PUBREL arrives, a resent QoS 2 PUBLISH with the same packet id is
/// acknowledged with PUBREC but not delivered again — also when the broker restarted in
/// between.
#[tokio::test]
async fn mqtt_4_3_3_9_incoming_qos2_not_delivered_twice_after_restart() {
    let mut node = TestNode::start().await;
    let (mut sub, _) = Probe::connect_v5(node.addr, "once-sub", true, expiry(3600)).await;
    assert_eq!(sub.subscribe_v5(1, &[("once/#", 1)], vec![]).await, vec![1]);

    let (mut pubr, _) = Probe::connect_v5(node.addr, "once-pub", true, expiry(3600)).await;
    pubr.publish_v5("once/t", b"only-once", 2, false, Some(7), vec![]).await;
    match pubr.expect().await {
        Packet::V5_0Pubrec(r) => {
            assert_eq!(r.packet_id(), 7);
            assert_eq!(r.reason_code().unwrap_or(PubrecReasonCode::Success), PubrecReasonCode::Success);
        }
        other => panic!("expected PUBREC, got {other:?}"),
    }
    let m = sub.expect_publish_v5().await;
    assert_eq!(m.payload().as_slice(), b"only-once");
    puback_v5(&mut sub, m.packet_id().expect("pid")).await;
    barrier_v5(&mut sub).await;
    // The publisher never sent PUBREL.
    drop(pubr);
    wait_for_conns(&node, 1).await;
    node.restart().await;
    let _ = sub.expect_close().await;

    let (mut sub, ack) = Probe::connect_v5(node.addr, "once-sub", false, expiry(3600)).await;
    assert!(ack.session_present());
    let (mut pubr, ack) = Probe::connect_v5(node.addr, "once-pub", false, expiry(3600)).await;
    assert!(ack.session_present());
    let dup = v5_0::Publish::builder()
        .topic_name("once/t")
        .expect("topic")
        .qos(Qos::ExactlyOnce)
        .packet_id(7)
        .dup(true)
        .payload(b"only-once".to_vec())
        .build()
        .expect("publish");
    pubr.send(dup).await;
    match pubr.expect().await {
        Packet::V5_0Pubrec(r) => assert_eq!(r.packet_id(), 7),
        other => panic!("expected PUBREC for the resent PUBLISH, got {other:?}"),
    }
    pubr.send(v5_0::Pubrel::builder().packet_id(7).build().expect("pubrel")).await;
    match pubr.expect().await {
        Packet::V5_0Pubcomp(c) => assert_eq!(c.packet_id(), 7),
        other => panic!("expected PUBCOMP, got {other:?}"),
    }
    pubr.publish_v5("once/marker", b"marker", 1, false, Some(8), vec![]).await;
    assert!(matches!(pubr.expect().await, Packet::V5_0Puback(_)));

    let m = sub.expect_publish_v5().await;
    assert_eq!(m.topic_name(), "once/marker", "the resent QoS 2 PUBLISH must not be delivered a second time");
}

/// Retained messages survive a restart, and so does clearing one.
#[tokio::test]
async fn retained_messages_survive_restart() {
    let mut node = TestNode::start().await;
    let (mut p, _) = Probe::connect_v5(node.addr, "retainer", true, vec![]).await;
    p.publish_v5("r/keep", b"kept", 1, true, Some(1), vec![]).await;
    assert!(matches!(p.expect().await, Packet::V5_0Puback(_)));
    p.publish_v5("r/gone", b"short-lived", 1, true, Some(2), vec![]).await;
    assert!(matches!(p.expect().await, Packet::V5_0Puback(_)));
    p.publish_v5("r/gone", b"", 1, true, Some(3), vec![]).await;
    assert!(matches!(p.expect().await, Packet::V5_0Puback(_)));
    bye_v5(p).await;
    node.restart().await;

    let (mut s, _) = Probe::connect_v5(node.addr, "late", true, vec![]).await;
    assert_eq!(s.subscribe_v5(1, &[("r/#", 1)], vec![]).await, vec![1]);
    let m = s.expect_publish_v5().await;
    assert_eq!(m.topic_name(), "r/keep");
    assert_eq!(m.payload().as_slice(), b"kept");
    assert!(m.retain(), "delivered as retained");
    s.expect_silence(SILENCE).await;
}

/// A session whose expiry passed while the broker was down is gone after the restart: Session
/// Present 0 and none of its queued messages.
#[tokio::test]
async fn expired_session_is_gone_after_restart() {
    let mut node = TestNode::start().await;
    let (mut sub, _) = Probe::connect_v5(node.addr, "shortlived", true, expiry(1)).await;
    assert_eq!(sub.subscribe_v5(1, &[("e/t", 1)], vec![]).await, vec![1]);
    bye_v5(sub).await;
    wait_idle(&node).await;
    publish_qos1_v5(node.addr, "e/t", 3).await;
    node.stop().await;
    // Expiry is wall-clock time; it must pass while the broker is down.
    tokio::time::sleep(Duration::from_secs(2)).await;
    node.restart().await;

    let (mut sub, ack) = Probe::connect_v5(node.addr, "shortlived", false, expiry(1)).await;
    assert!(!ack.session_present(), "expired session must not be resumed");
    sub.expect_silence(SILENCE).await;
    assert_eq!(node.broker().subscription_count(), 0);
}

/// A session restored at start-up still expires on time (its timer is re-armed with the
/// remaining interval).
#[tokio::test]
async fn restored_session_expires_after_restart() {
    let mut node = TestNode::start().await;
    let (mut sub, _) = Probe::connect_v5(node.addr, "rearm", true, expiry(2)).await;
    assert_eq!(sub.subscribe_v5(1, &[("ra/t", 1)], vec![]).await, vec![1]);
    bye_v5(sub).await;
    wait_idle(&node).await;
    publish_qos1_v5(node.addr, "ra/t", 1).await;
    node.restart().await;
    assert_eq!(node.broker().subscription_count(), 1, "restored");
    let b = node.broker().clone();
    crate::harness::wait_for("the restored session to expire", Duration::from_secs(5), || b.subscription_count() == 0)
        .await;
    let (mut sub, ack) = Probe::connect_v5(node.addr, "rearm", false, expiry(2)).await;
    assert!(!ack.session_present());
    sub.expect_silence(SILENCE).await;
}

/// 5,000 queued QoS 1 messages with a memory window of 100 are all replayed, in order, after a
/// restart (the rest is read back from disk batch by batch).
#[tokio::test]
async fn large_queue_replayed_completely_in_order_after_restart() {
    let mut node = TestNode::start_with(|c| c.session.memory_window = 100).await;
    let (mut sub, _) = Probe::connect_v5(node.addr, "bigq", true, expiry(3600)).await;
    assert_eq!(sub.subscribe_v5(1, &[("big/t", 1)], vec![]).await, vec![1]);
    bye_v5(sub).await;
    wait_idle(&node).await;
    publish_qos1_v5(node.addr, "big/t", 5000).await;
    node.restart().await;

    let (mut sub, ack) = Probe::connect_v5(node.addr, "bigq", false, expiry(3600)).await;
    assert!(ack.session_present());
    expect_in_order_v5(&mut sub, "big/t", 0, 5000).await;
    sub.expect_silence(SILENCE).await;
}

/// Wait until exactly `n` connections are open.
async fn wait_for_conns(node: &TestNode, n: u64) {
    let b = node.broker().clone();
    crate::harness::wait_for("connection count", Duration::from_secs(5), || {
        b.connections.load(std::sync::atomic::Ordering::Relaxed) == n
    })
    .await;
}
