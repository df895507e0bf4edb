//! Sessions: Clean Start, Session Present, persistent subscriptions and offline queues,
//! redelivery on resume (DUP, PUBREL), takeover, expiry and the per-session queue limit.

use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::{Packet, Qos, v5_0};
use mqtt_protocol_core::mqtt::result_code::DisconnectReasonCode;

use crate::harness::probe::Read;
use crate::harness::{Probe, TestNode, wait_for};
use crate::proto_util::*;

async fn resume5(node: &TestNode, id: &str, expiry: u32) -> (Probe, bool) {
    let (p, ack) = open5(node.addr, connect5(id, false, 30, vec![p_session_expiry(expiry)], None)).await;
    assert!(crate::harness::probe::connack_ok(&ack));
    (p, ack.session_present())
}

#[tokio::test]
async fn mqtt_3_2_2_2_session_present_flag_v5() {
    let node = TestNode::start().await;
    let (mut p, present) = resume5(&node, "sp5", 30).await;
    assert!(!present, "no session existed");
    disconnect_normal(&mut p).await;
    let (_p, present) = resume5(&node, "sp5", 30).await;
    assert!(present, "session kept across the disconnect");
}

#[tokio::test]
async fn mqtt_3_2_2_2_session_present_flag_v311() {
    let node = TestNode::start().await;
    let (mut p, ack) = open3(node.addr, connect3("sp3", false, 30, None)).await;
    assert!(!ack.session_present());
    p.send(mqtt_protocol_core::mqtt::packet::v3_1_1::Disconnect::builder().build().expect("d")).await;
    assert!(matches!(p.recv().await, Read::Closed));
    let (_p, ack) = open3(node.addr, connect3("sp3", false, 30, None)).await;
    assert!(ack.session_present());
    // Clean session 1 never reports a session.
    let (_q, ack) = open3(node.addr, connect3("sp3c", true, 30, None)).await;
    assert!(!ack.session_present());
}

#[tokio::test]
async fn mqtt_3_1_2_4_clean_start_discards_the_session() {
    let node = TestNode::start().await;
    let (mut s, _) = resume5(&node, "cs", 30).await;
    s.subscribe_v5(1, &[("cs/t", 1)], vec![]).await;
    disconnect_normal(&mut s).await;
    let (mut s, ack) = open5(node.addr, connect5("cs", true, 30, vec![p_session_expiry(30)], None)).await;
    assert!(!ack.session_present(), "MQTT-3.2.2-2: Clean Start 1 → Session Present 0");
    let mut p = client5(node.addr, "csp", true, vec![]).await;
    p.publish_v5("cs/t", b"x", 1, false, Some(1), vec![]).await;
    assert_eq!(expect_puback5(&mut p, 1).await, 0x10, "no subscribers left");
    s.expect_silence(QUIET).await;
}

#[tokio::test]
async fn mqtt_4_1_persistent_session_keeps_subscriptions_and_queues_qos1_v5() {
    let node = TestNode::start().await;
    let (mut s, _) = resume5(&node, "ps", 30).await;
    s.subscribe_v5(1, &[("ps/#", 1)], vec![]).await;
    disconnect_normal(&mut s).await;
    let mut p = client5(node.addr, "psp", true, vec![]).await;
    for i in 1..=3u16 {
        p.publish_v5("ps/t", &[i as u8], 1, false, Some(i), vec![]).await;
        assert_eq!(expect_puback5(&mut p, i).await, 0, "queued for the offline session");
    }
    let (mut s, present) = resume5(&node, "ps", 30).await;
    assert!(present);
    let got: Vec<u8> = drain_publishes5(&mut s, QUIET, true).await.iter().map(|m| m.payload().as_slice()[0]).collect();
    assert_eq!(got, vec![1, 2, 3]);
    // The subscription is still active.
    p.publish_v5("ps/t", b"live", 0, false, None, vec![]).await;
    assert_eq!(s.expect_publish_v5().await.payload().as_slice(), b"live");
}

#[tokio::test]
async fn mqtt_4_1_persistent_session_keeps_subscriptions_and_queues_qos1_v311() {
    let node = TestNode::start().await;
    let (mut s, _) = open3(node.addr, connect3("ps3", false, 30, None)).await;
    s.subscribe_v3(1, &[("ps3/#", 1)]).await;
    drop(s);
    let mut p = client3(node.addr, "ps3p", true).await;
    // Dropping the socket is seen asynchronously; publish until the session is offline.
    wait_for("ps3 offline", Duration::from_secs(2), || {
        node.broker().connections.load(std::sync::atomic::Ordering::Relaxed) == 1
    })
    .await;
    p.publish_v3("ps3/t", b"q", 1, false, Some(1)).await;
    assert!(matches!(p.expect().await, Packet::V3_1_1Puback(_)));
    let (mut s, ack) = open3(node.addr, connect3("ps3", false, 30, None)).await;
    assert!(ack.session_present());
    let m = s.expect_publish_v3().await;
    assert_eq!(m.payload().as_slice(), b"q");
    assert_eq!(m.qos(), Qos::AtLeastOnce);
}

#[tokio::test]
async fn mqtt_4_4_0_1_unacknowledged_qos1_redelivered_with_dup_and_same_packet_id() {
    let node = TestNode::start().await;
    let (mut s, _) = resume5(&node, "dup", 30).await;
    s.subscribe_v5(1, &[("dup", 1)], vec![]).await;
    let mut p = client5(node.addr, "dupp", true, vec![]).await;
    p.publish_v5("dup", b"again", 1, false, Some(1), vec![]).await;
    expect_puback5(&mut p, 1).await;
    let first = s.expect_publish_v5().await;
    assert!(!first.dup());
    let pid = first.packet_id().expect("pid");
    drop(s); // no PUBACK
    let (mut s, present) = resume5(&node, "dup", 30).await;
    assert!(present);
    let again = s.expect_publish_v5().await;
    assert!(again.dup(), "MQTT-3.3.1-1: redelivery has DUP=1");
    assert_eq!(again.packet_id(), Some(pid), "same packet identifier");
    assert_eq!(again.payload().as_slice(), b"again");
    puback5(&mut s, pid).await;
    assert!(sync5(&mut s).await.is_empty());
}

#[tokio::test]
async fn mqtt_4_4_0_1_v311_unacknowledged_qos1_redelivered_with_dup() {
    let node = TestNode::start().await;
    let (mut s, _) = open3(node.addr, connect3("dup3", false, 30, None)).await;
    s.subscribe_v3(1, &[("dup3", 1)]).await;
    let mut p = client3(node.addr, "dup3p", true).await;
    p.publish_v3("dup3", b"again", 1, false, Some(1)).await;
    let first = s.expect_publish_v3().await;
    let pid = first.packet_id().expect("pid");
    drop(s);
    let (mut s, ack) = open3(node.addr, connect3("dup3", false, 30, None)).await;
    assert!(ack.session_present());
    let again = s.expect_publish_v3().await;
    assert!(again.dup());
    assert_eq!(again.packet_id(), Some(pid));
}

#[tokio::test]
async fn mqtt_4_4_0_1_qos2_pubrel_resent_after_reconnect() {
    let node = TestNode::start().await;
    let (mut s, _) = resume5(&node, "rel", 30).await;
    s.subscribe_v5(1, &[("rel", 2)], vec![]).await;
    let mut p = client5(node.addr, "relp", true, vec![]).await;
    p.publish_v5("rel", b"two", 2, false, Some(1), vec![]).await;
    assert!(matches!(p.expect().await, Packet::V5_0Pubrec(_)));
    pubrel5(&mut p, 1).await;
    let m = s.expect_publish_v5().await;
    let pid = m.packet_id().expect("pid");
    pubrec5(&mut s, pid).await;
    match s.expect().await {
        Packet::V5_0Pubrel(r) => assert_eq!(r.packet_id(), pid),
        other => panic!("expected PUBREL, got {other:?}"),
    }
    drop(s); // no PUBCOMP
    let (mut s, present) = resume5(&node, "rel", 30).await;
    assert!(present);
    match s.expect().await {
        Packet::V5_0Pubrel(r) => assert_eq!(r.packet_id(), pid, "PUBREL re-sent with the same id"),
        other => panic!("expected the PUBREL again (not the PUBLISH), got {other:?}"),
    }
    pubcomp5(&mut s, pid).await;
    assert!(sync5(&mut s).await.is_empty(), "nothing else pending");
}

#[tokio::test]
async fn mqtt_4_3_3_incoming_qos2_state_survives_reconnect_exactly_once() {
    let node = TestNode::start().await;
    let mut sub = client5(node.addr, "q2in-s", true, vec![]).await;
    sub.subscribe_v5(1, &[("q2in", 0)], vec![]).await;
    let (mut p, _) = resume5(&node, "q2in", 30).await;
    p.publish_v5("q2in", b"once", 2, false, Some(5), vec![]).await;
    assert!(matches!(p.expect().await, Packet::V5_0Pubrec(_)));
    drop(p); // no PUBREL
    let (mut p, present) = resume5(&node, "q2in", 30).await;
    assert!(present);
    // The client resends the PUBLISH with DUP (allowed before PUBREC was seen)...
    let again = v5_0::Publish::builder()
        .topic_name("q2in")
        .expect("t")
        .qos(Qos::ExactlyOnce)
        .dup(true)
        .packet_id(5u16)
        .payload(b"once".to_vec())
        .build()
        .expect("publish");
    p.send(again).await;
    assert!(matches!(p.expect().await, Packet::V5_0Pubrec(_)));
    pubrel5(&mut p, 5).await;
    assert!(matches!(p.expect().await, Packet::V5_0Pubcomp(_)));
    let got = drain_publishes5(&mut sub, QUIET, false).await;
    assert_eq!(got.len(), 1, "delivered exactly once");
}

#[tokio::test]
async fn mqtt_3_1_4_3_takeover_v5_old_connection_gets_0x8e() {
    let node = TestNode::start().await;
    let (mut old, _) = resume5(&node, "to", 30).await;
    old.subscribe_v5(1, &[("to/t", 1)], vec![]).await;
    let (mut new, present) = resume5(&node, "to", 30).await;
    assert!(present, "takeover with Clean Start 0 keeps the session");
    assert_eq!(close_reason(&mut old).await, Some(0x8E));
    let mut p = client5(node.addr, "top", true, vec![]).await;
    p.publish_v5("to/t", b"x", 1, false, Some(1), vec![]).await;
    expect_puback5(&mut p, 1).await;
    let m = new.expect_publish_v5().await;
    assert_eq!(m.payload().as_slice(), b"x");
}

#[tokio::test]
async fn mqtt_3_1_4_3_takeover_v311_old_connection_closed() {
    let node = TestNode::start().await;
    let (mut old, _) = open3(node.addr, connect3("to3", true, 30, None)).await;
    let (mut new, ack) = open3(node.addr, connect3("to3", true, 30, None)).await;
    assert!(!ack.session_present());
    assert!(matches!(old.recv().await, Read::Closed));
    assert!(sync3(&mut new).await.is_empty());
}

#[tokio::test]
async fn mqtt_3_1_4_3_takeover_publishes_the_old_connections_will() {
    let node = TestNode::start().await;
    let mut w = client5(node.addr, "tow", true, vec![]).await;
    w.subscribe_v5(1, &[("tw/#", 0)], vec![]).await;
    let (_old, _) =
        open5(node.addr, connect5("tk", false, 30, vec![p_session_expiry(30)], Some(will("tw/x", b"taken", vec![]))))
            .await;
    let (_new, _) = resume5(&node, "tk", 30).await;
    assert_eq!(w.expect_publish_v5().await.payload().as_slice(), b"taken");
}

#[tokio::test]
async fn mqtt_4_1_0_session_expiry_removes_the_session() {
    let node = TestNode::start().await;
    let (mut s, _) = resume5(&node, "se", 1).await;
    s.subscribe_v5(1, &[("se/t", 1)], vec![]).await;
    disconnect_normal(&mut s).await;
    assert!(matches!(s.recv().await, Read::Closed));
    assert_eq!(node.broker().session_count(), 1);
    wait_for("session expired", Duration::from_secs(3), || node.broker().session_count() == 0).await;
    let mut p = client5(node.addr, "sep", true, vec![]).await;
    p.publish_v5("se/t", b"x", 1, false, Some(1), vec![]).await;
    assert_eq!(expect_puback5(&mut p, 1).await, 0x10, "subscription went with the session");
    let (_s, present) = resume5(&node, "se", 1).await;
    assert!(!present);
}

#[tokio::test]
async fn mqtt_3_1_2_11_session_expiry_0_ends_session_at_disconnect() {
    let node = TestNode::start().await;
    let (mut s, _) = open5(node.addr, connect5("se0", false, 30, vec![], None)).await;
    s.subscribe_v5(1, &[("se0", 1)], vec![]).await;
    drop(s);
    wait_for("session gone", Duration::from_secs(2), || node.broker().session_count() == 0).await;
    let (_s, ack) = open5(node.addr, connect5("se0", false, 30, vec![], None)).await;
    assert!(!ack.session_present());
}

#[tokio::test]
async fn mqtt_3_14_2_disconnect_can_shorten_session_expiry_to_zero() {
    let node = TestNode::start().await;
    let (mut s, _) = resume5(&node, "sez", 60).await;
    disconnect_with_expiry(&mut s, 0).await;
    assert!(matches!(s.recv().await, Read::Closed));
    wait_for("session gone", Duration::from_secs(2), || node.broker().session_count() == 0).await;
}

#[tokio::test]
async fn mqtt_3_14_2_2_disconnect_setting_expiry_after_zero_is_protocol_error() {
    let node = TestNode::start().await;
    let mut s = client5(node.addr, "sebad", true, vec![]).await;
    disconnect_with_expiry(&mut s, 30).await;
    let rc = close_reason(&mut s).await;
    assert_eq!(rc, Some(0x82));
}

#[tokio::test]
async fn session_max_queued_drops_qos0_first() {
    let node = TestNode::start_with(|c| c.session.max_queued = 3).await;
    let (mut s, _) = resume5(&node, "mq", 30).await;
    s.subscribe_v5(1, &[("mq", 1)], vec![]).await;
    disconnect_normal(&mut s).await;
    assert!(matches!(s.recv().await, Read::Closed));
    let mut p = client5(node.addr, "mqp", true, vec![]).await;
    // a, b: QoS 0; c, d, e: QoS 1; f: QoS 0 (arrives when full of QoS 1 and QoS 0 → dropped).
    p.publish_v5("mq", b"a", 0, false, None, vec![]).await;
    p.publish_v5("mq", b"b", 0, false, None, vec![]).await;
    for (i, x) in [b"c", b"d", b"e"].iter().enumerate() {
        let pid = i as u16 + 1;
        p.publish_v5("mq", *x, 1, false, Some(pid), vec![]).await;
        assert_eq!(expect_puback5(&mut p, pid).await, 0, "room made by dropping QoS 0");
    }
    p.publish_v5("mq", b"f", 0, false, None, vec![]).await;
    sync5(&mut p).await;
    let (mut s, _) = resume5(&node, "mq", 30).await;
    let got: Vec<Vec<u8>> =
        drain_publishes5(&mut s, QUIET, true).await.iter().map(|m| m.payload().as_slice().to_vec()).collect();
    assert_eq!(got, vec![b"c".to_vec(), b"d".to_vec(), b"e".to_vec()]);
}

/// A QoS ≥ 1 publish that no queue can take is held for `session.publisher_wait`, then refused
/// with PUBACK 0x97.
#[tokio::test]
async fn session_max_queued_full_of_qos1_refuses_publish_with_0x97() {
    let node = TestNode::start_with(|c| {
        c.session.max_queued = 2;
        c.session.publisher_wait = Duration::from_millis(300);
    })
    .await;
    let (mut s, _) = resume5(&node, "mqf", 30).await;
    s.subscribe_v5(1, &[("mqf", 1)], vec![]).await;
    disconnect_normal(&mut s).await;
    let mut p = client5(node.addr, "mqfp", true, vec![]).await;
    for pid in 1..=2u16 {
        p.publish_v5("mqf", b"x", 1, false, Some(pid), vec![]).await;
        assert_eq!(expect_puback5(&mut p, pid).await, 0);
    }
    p.publish_v5("mqf", b"over", 1, false, Some(3), vec![]).await;
    match p.recv_within(Duration::from_secs(3)).await {
        Read::Packet(Packet::V5_0Puback(a)) => {
            assert_eq!(a.reason_code().map(|c| c as u8), Some(0x97));
        }
        other => panic!("expected PUBACK 0x97, got {other:?}"),
    }
}

#[tokio::test]
async fn v5_normal_disconnect_keeps_session_then_resume_gets_queued() {
    let node = TestNode::start().await;
    let (mut s, _) = resume5(&node, "nd", 30).await;
    s.subscribe_v5(1, &[("nd", 2)], vec![]).await;
    s.disconnect_v5(DisconnectReasonCode::NormalDisconnection).await;
    let mut p = client5(node.addr, "ndp", true, vec![]).await;
    p.publish_v5("nd", b"q2", 2, false, Some(1), vec![]).await;
    assert!(matches!(p.expect().await, Packet::V5_0Pubrec(_)));
    pubrel5(&mut p, 1).await;
    assert!(matches!(p.expect().await, Packet::V5_0Pubcomp(_)));
    let (mut s, _) = resume5(&node, "nd", 30).await;
    let m = s.expect_publish_v5().await;
    assert_eq!(m.qos(), Qos::ExactlyOnce);
    assert!(!m.dup(), "first transmission after resume is not a duplicate");
}
