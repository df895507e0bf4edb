//! Will messages: when they are published and when not, the Will Delay Interval and its
//! interplay with session expiry and reconnects.

use std::time::{Duration, Instant};

use mqtt_protocol_core::mqtt::packet::Qos;
use mqtt_protocol_core::mqtt::result_code::DisconnectReasonCode;

use crate::harness::probe::Read;
use crate::harness::{Probe, TestNode};
use crate::proto_util::*;

async fn watcher(node: &TestNode, id: &str) -> Probe {
    let mut w = client5(node.addr, id, true, vec![]).await;
    w.subscribe_v5(1, &[("will/#", 1)], vec![]).await;
    w
}

/// Wait for the next will on the watcher, acking it.
async fn expect_will(w: &mut Probe, within: Duration) -> mqtt_protocol_core::mqtt::packet::v5_0::Publish {
    match w.recv_within(within).await {
        Read::Packet(mqtt_protocol_core::mqtt::packet::Packet::V5_0Publish(m)) => {
            if let Some(pid) = m.packet_id() {
                puback5(w, pid).await;
            }
            m
        }
        other => panic!("expected the will, got {other:?}"),
    }
}

#[tokio::test]
async fn mqtt_3_1_2_8_v5_will_published_when_socket_dropped() {
    let node = TestNode::start().await;
    let mut w = watcher(&node, "w1").await;
    let mut spec = will("will/a", b"gone", vec![p_user("why", "drop"), p_content_type("text/plain")]);
    spec.qos = 1;
    let (c, ack) = open5(node.addr, connect5("dies", true, 30, vec![], Some(spec))).await;
    assert!(crate::harness::probe::connack_ok(&ack));
    drop(c);
    let m = expect_will(&mut w, Duration::from_secs(3)).await;
    assert_eq!(m.topic_name(), "will/a");
    assert_eq!(m.payload().as_slice(), b"gone");
    assert_eq!(m.qos(), Qos::AtLeastOnce);
    assert_eq!(user_props_of(m.props()), vec![("why".to_string(), "drop".to_string())]);
    assert!(m.props().iter().any(|p| matches!(p,
        mqtt_protocol_core::mqtt::packet::Property::ContentType(v) if v.val() == "text/plain")));
}

#[tokio::test]
async fn mqtt_3_1_2_8_v311_will_published_when_socket_dropped() {
    let node = TestNode::start().await;
    let mut w = watcher(&node, "w3").await;
    let (c, _) = open3(node.addr, connect3("dies3", true, 30, Some(will("will/b", b"gone3", vec![])))).await;
    drop(c);
    let m = expect_will(&mut w, Duration::from_secs(3)).await;
    assert_eq!((m.topic_name(), m.payload().as_slice()), ("will/b", &b"gone3"[..]));
}

#[tokio::test]
async fn mqtt_3_1_2_10_v5_no_will_after_normal_disconnect() {
    let node = TestNode::start().await;
    let mut w = watcher(&node, "w0").await;
    let (mut c, _) = open5(node.addr, connect5("polite", true, 30, vec![], Some(will("will/c", b"x", vec![])))).await;
    disconnect_normal(&mut c).await;
    assert!(matches!(c.recv().await, Read::Closed));
    w.expect_silence(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn mqtt_3_1_2_10_v311_no_will_after_disconnect() {
    let node = TestNode::start().await;
    let mut w = watcher(&node, "w03").await;
    let (mut c, _) = open3(node.addr, connect3("polite3", true, 30, Some(will("will/d", b"x", vec![])))).await;
    c.send(mqtt_protocol_core::mqtt::packet::v3_1_1::Disconnect::builder().build().expect("d")).await;
    assert!(matches!(c.recv().await, Read::Closed));
    w.expect_silence(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn mqtt_3_14_2_v5_will_published_after_disconnect_with_will_0x04() {
    let node = TestNode::start().await;
    let mut w = watcher(&node, "w4").await;
    let (mut c, _) = open5(node.addr, connect5("dww", true, 30, vec![], Some(will("will/e", b"asked", vec![])))).await;
    c.disconnect_v5(DisconnectReasonCode::DisconnectWithWillMessage).await;
    let m = expect_will(&mut w, Duration::from_secs(3)).await;
    assert_eq!(m.payload().as_slice(), b"asked");
}

#[tokio::test]
async fn will_published_on_protocol_error_close() {
    let node = TestNode::start().await;
    let mut w = watcher(&node, "wpe").await;
    let (mut c, _) = open5(node.addr, connect5("bad", true, 30, vec![], Some(will("will/f", b"err", vec![])))).await;
    // A PUBLISH with a wildcard in its topic name.
    let mut body = mstr(b"a/#");
    body.push(0); // no properties
    c.send_raw(&raw(0x30, &body)).await;
    assert_eq!(close_reason(&mut c).await, Some(0x90));
    assert_eq!(expect_will(&mut w, Duration::from_secs(3)).await.payload().as_slice(), b"err");
}

#[tokio::test]
async fn will_published_on_keep_alive_timeout() {
    let node = TestNode::start().await;
    let mut w = watcher(&node, "wka").await;
    let (_c, _) = open3(node.addr, connect3("silent", true, 1, Some(will("will/g", b"timeout", vec![])))).await;
    assert_eq!(expect_will(&mut w, Duration::from_secs(3)).await.payload().as_slice(), b"timeout");
}

#[tokio::test]
async fn mqtt_3_1_2_11_will_retain_stores_retained_will() {
    let node = TestNode::start().await;
    let mut spec = will("will/r", b"retained-will", vec![]);
    spec.retain = true;
    let (c, _) = open5(node.addr, connect5("wr", true, 30, vec![], Some(spec))).await;
    drop(c);
    let mut s = client5(node.addr, "wrs", true, vec![]).await;
    // Poll by resubscribing (Retain Handling 0) until the will is retained.
    let mut found = None;
    for i in 1..=20u16 {
        s.subscribe_v5(i, &[("will/r", 0)], vec![]).await;
        if let Read::Packet(mqtt_protocol_core::mqtt::packet::Packet::V5_0Publish(m)) =
            s.recv_within(Duration::from_millis(150)).await
        {
            found = Some(m);
            break;
        }
    }
    let m = found.expect("the will was stored as retained");
    assert!(m.retain());
    assert_eq!(m.payload().as_slice(), b"retained-will");
}

#[tokio::test]
async fn mqtt_3_1_3_9_will_delay_postpones_the_will() {
    let node = TestNode::start().await;
    let mut w = watcher(&node, "wd").await;
    let (c, _) = open5(
        node.addr,
        connect5("delayed", true, 30, vec![p_session_expiry(10)], Some(will("will/h", b"late", vec![p_will_delay(1)]))),
    )
    .await;
    let t = Instant::now();
    drop(c);
    w.expect_silence(Duration::from_millis(600)).await;
    let m = expect_will(&mut w, Duration::from_secs(3)).await;
    assert_eq!(m.payload().as_slice(), b"late");
    let e = t.elapsed();
    assert!(e >= Duration::from_millis(900), "will came after {e:?}, before its 1 s delay");
}

#[tokio::test]
async fn mqtt_3_1_3_9_will_not_published_when_client_reconnects_within_delay() {
    let node = TestNode::start().await;
    let mut w = watcher(&node, "wdr").await;
    let connect =
        || connect5("back", false, 30, vec![p_session_expiry(10)], Some(will("will/i", b"x", vec![p_will_delay(1)])));
    let (c, _) = open5(node.addr, connect()).await;
    drop(c);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (mut c2, ack) = open5(node.addr, connect()).await;
    assert!(ack.session_present());
    w.expect_silence(Duration::from_millis(1600)).await;
    assert!(sync5(&mut c2).await.is_empty());
    disconnect_normal(&mut c2).await;
}

#[tokio::test]
async fn mqtt_3_1_3_9_will_published_at_session_end_when_expiry_shorter_than_delay() {
    let node = TestNode::start().await;
    let mut w = watcher(&node, "wse").await;
    let (c, _) = open5(
        node.addr,
        connect5("short", true, 30, vec![p_session_expiry(1)], Some(will("will/j", b"ended", vec![p_will_delay(30)]))),
    )
    .await;
    let t = Instant::now();
    drop(c);
    let m = expect_will(&mut w, Duration::from_secs(3)).await;
    assert_eq!(m.payload().as_slice(), b"ended");
    assert!(t.elapsed() >= Duration::from_millis(800), "will before the session ended: {:?}", t.elapsed());
}

#[tokio::test]
async fn mqtt_3_1_2_pending_will_published_when_session_ended_by_clean_start() {
    let node = TestNode::start().await;
    let mut w = watcher(&node, "wcs").await;
    let (c, _) = open5(
        node.addr,
        connect5(
            "cleaner",
            false,
            30,
            vec![p_session_expiry(30)],
            Some(will("will/k", b"cleaned", vec![p_will_delay(30)])),
        ),
    )
    .await;
    drop(c);
    tokio::time::sleep(Duration::from_millis(200)).await;
    w.expect_silence(Duration::from_millis(100)).await;
    // Clean start ends the old session: its delayed will goes out now.
    let (_c2, ack) = open5(node.addr, connect5("cleaner", true, 30, vec![], None)).await;
    assert!(!ack.session_present());
    let m = expect_will(&mut w, Duration::from_secs(2)).await;
    assert_eq!(m.payload().as_slice(), b"cleaned");
}

#[tokio::test]
async fn mqtt_3_1_2_will_invalid_topic_refused_at_connect() {
    let node = TestNode::start().await;
    let (mut c, ack) = open5(node.addr, connect5("wbad", true, 30, vec![], Some(will("will/+", b"x", vec![])))).await;
    assert_eq!(ack.reason_code() as u8, 0x90, "Topic Name invalid");
    assert!(close_reason(&mut c).await.is_none());
}
