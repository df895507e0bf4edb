//! Retained messages: set, replace, delete, wildcard matching, Retain Handling, Retain As
//! Published and the RETAIN flag on delivery.

use mqtt_protocol_core::mqtt::packet::Qos;

use crate::harness::TestNode;
use crate::proto_util::*;

#[tokio::test]
async fn mqtt_3_3_1_9_retained_on_subscribe_has_retain_flag_v5() {
    let node = TestNode::start().await;
    let mut p = client5(node.addr, "rp", true, vec![]).await;
    p.publish_v5("r/a", b"kept", 1, true, Some(1), vec![]).await;
    expect_puback5(&mut p, 1).await;
    let mut s = client5(node.addr, "rs", true, vec![]).await;
    s.subscribe_v5(1, &[("r/a", 1)], vec![]).await;
    let m = s.expect_publish_v5().await;
    assert_eq!(m.topic_name(), "r/a");
    assert_eq!(m.payload().as_slice(), b"kept");
    assert!(m.retain(), "retained message sent on subscribe must have RETAIN=1");
    assert_eq!(m.qos(), Qos::AtLeastOnce);
}

#[tokio::test]
async fn mqtt_3_3_1_9_retained_on_subscribe_has_retain_flag_v311() {
    let node = TestNode::start().await;
    let mut p = client3(node.addr, "rp3", true).await;
    p.publish_v3("r3/a", b"kept", 0, true, None).await;
    sync3(&mut p).await;
    let mut s = client3(node.addr, "rs3", true).await;
    s.subscribe_v3(1, &[("r3/a", 0)]).await;
    let m = s.expect_publish_v3().await;
    assert_eq!(m.payload().as_slice(), b"kept");
    assert!(m.retain());
}

#[tokio::test]
async fn mqtt_3_3_1_5_retained_message_is_replaced() {
    let node = TestNode::start().await;
    let mut p = client5(node.addr, "rrp", true, vec![]).await;
    p.publish_v5("rr", b"first", 1, true, Some(1), vec![]).await;
    expect_puback5(&mut p, 1).await;
    p.publish_v5("rr", b"second", 1, true, Some(2), vec![]).await;
    expect_puback5(&mut p, 2).await;
    let mut s = client5(node.addr, "rrs", true, vec![]).await;
    s.subscribe_v5(1, &[("rr", 1)], vec![]).await;
    let got = drain_publishes5(&mut s, QUIET, true).await;
    let payloads: Vec<&[u8]> = got.iter().map(|m| m.payload().as_slice()).collect();
    assert_eq!(payloads, vec![&b"second"[..]]);
}

#[tokio::test]
async fn mqtt_3_3_1_10_empty_retained_payload_deletes() {
    let node = TestNode::start().await;
    let mut live = client5(node.addr, "rdl", true, vec![]).await;
    live.subscribe_v5(1, &[("rd", 0)], vec![]).await;
    let mut p = client5(node.addr, "rdp", true, vec![]).await;
    p.publish_v5("rd", b"x", 1, true, Some(1), vec![]).await;
    expect_puback5(&mut p, 1).await;
    p.publish_v5("rd", b"", 1, true, Some(2), vec![]).await;
    expect_puback5(&mut p, 2).await;
    // MQTT-3.3.1-11: the zero-length retained message is still forwarded to current subscribers.
    assert_eq!(live.expect_publish_v5().await.payload().as_slice(), b"x");
    assert_eq!(live.expect_publish_v5().await.payload().len(), 0);
    let mut s = client5(node.addr, "rds", true, vec![]).await;
    s.subscribe_v5(1, &[("rd", 1)], vec![]).await;
    s.expect_silence(QUIET).await;
}

#[tokio::test]
async fn mqtt_3_3_1_6_wildcard_subscription_gets_every_matching_retained() {
    let node = TestNode::start().await;
    let mut p = client5(node.addr, "rwp", true, vec![]).await;
    for (i, t) in ["w/1", "w/2", "w/x/3", "other/1"].iter().enumerate() {
        p.publish_v5(t, t.as_bytes(), 1, true, Some(i as u16 + 1), vec![]).await;
        expect_puback5(&mut p, i as u16 + 1).await;
    }
    let mut s = client5(node.addr, "rws", true, vec![]).await;
    s.subscribe_v5(1, &[("w/+", 0)], vec![]).await;
    let mut topics: Vec<String> = drain_publishes5(&mut s, QUIET, true)
        .await
        .iter()
        .map(|m| {
            assert!(m.retain());
            m.topic_name().to_string()
        })
        .collect();
    topics.sort();
    assert_eq!(topics, vec!["w/1", "w/2"]);
    let mut s2 = client5(node.addr, "rws2", true, vec![]).await;
    s2.subscribe_v5(1, &[("w/#", 0)], vec![]).await;
    assert_eq!(drain_publishes5(&mut s2, QUIET, true).await.len(), 3);
}

async fn retained_count_after(s: &mut crate::harness::Probe, pid: u16, rh: u8) -> usize {
    s.subscribe_entries_v5(pid, vec![entry("rh/t", 0, false, false, rh)], vec![]).await;
    drain_publishes5(s, QUIET, true).await.len()
}

#[tokio::test]
async fn mqtt_3_3_1_9_retain_handling_0_sends_on_every_subscribe() {
    let node = TestNode::start().await;
    let mut p = client5(node.addr, "rh0p", true, vec![]).await;
    p.publish_v5("rh/t", b"r", 1, true, Some(1), vec![]).await;
    expect_puback5(&mut p, 1).await;
    let mut s = client5(node.addr, "rh0", true, vec![]).await;
    assert_eq!(retained_count_after(&mut s, 1, 0).await, 1);
    assert_eq!(retained_count_after(&mut s, 2, 0).await, 1);
}

#[tokio::test]
async fn mqtt_3_3_1_10_retain_handling_1_sends_only_for_new_subscription() {
    let node = TestNode::start().await;
    let mut p = client5(node.addr, "rh1p", true, vec![]).await;
    p.publish_v5("rh/t", b"r", 1, true, Some(1), vec![]).await;
    expect_puback5(&mut p, 1).await;
    let mut s = client5(node.addr, "rh1", true, vec![]).await;
    assert_eq!(retained_count_after(&mut s, 1, 1).await, 1);
    assert_eq!(retained_count_after(&mut s, 2, 1).await, 0);
}

#[tokio::test]
async fn mqtt_3_3_1_11_retain_handling_2_never_sends_retained() {
    let node = TestNode::start().await;
    let mut p = client5(node.addr, "rh2p", true, vec![]).await;
    p.publish_v5("rh/t", b"r", 1, true, Some(1), vec![]).await;
    expect_puback5(&mut p, 1).await;
    let mut s = client5(node.addr, "rh2", true, vec![]).await;
    assert_eq!(retained_count_after(&mut s, 1, 2).await, 0);
    // Live messages still flow.
    p.publish_v5("rh/t", b"live", 0, false, None, vec![]).await;
    assert_eq!(s.expect_publish_v5().await.payload().as_slice(), b"live");
}

#[tokio::test]
async fn mqtt_3_3_1_12_13_retain_as_published_controls_live_retain_flag() {
    let node = TestNode::start().await;
    let mut s0 = client5(node.addr, "rap0", true, vec![]).await;
    s0.subscribe_entries_v5(1, vec![entry("rap", 0, false, false, 0)], vec![]).await;
    let mut s1 = client5(node.addr, "rap1", true, vec![]).await;
    s1.subscribe_entries_v5(1, vec![entry("rap", 0, false, true, 0)], vec![]).await;
    let mut p = client5(node.addr, "rapp", true, vec![]).await;
    p.publish_v5("rap", b"live", 0, true, None, vec![]).await;
    assert!(!s0.expect_publish_v5().await.retain(), "RAP=0 → RETAIN=0");
    assert!(s1.expect_publish_v5().await.retain(), "RAP=1 → RETAIN kept");
    // A non-retained publish never gets RETAIN=1.
    p.publish_v5("rap", b"plain", 0, false, None, vec![]).await;
    assert!(!s1.expect_publish_v5().await.retain());
}

#[tokio::test]
async fn mqtt_3_3_1_12_v311_live_forward_clears_retain_flag() {
    let node = TestNode::start().await;
    let mut s = client3(node.addr, "r3l", true).await;
    s.subscribe_v3(1, &[("r3l", 0)]).await;
    let mut p = client3(node.addr, "r3lp", true).await;
    p.publish_v3("r3l", b"x", 0, true, None).await;
    let m = s.expect_publish_v3().await;
    assert!(!m.retain(), "a live delivery to an existing subscription has RETAIN=0");
}

#[tokio::test]
async fn retained_delivery_uses_minimum_of_message_and_subscription_qos() {
    let node = TestNode::start().await;
    let mut p = client5(node.addr, "rqp", true, vec![]).await;
    p.publish_v5("rq", b"q1", 1, true, Some(1), vec![]).await;
    expect_puback5(&mut p, 1).await;
    let mut s = client5(node.addr, "rqs", true, vec![]).await;
    s.subscribe_v5(1, &[("rq", 0)], vec![]).await;
    assert_eq!(s.expect_publish_v5().await.qos(), Qos::AtMostOnce);
    let mut s2 = client5(node.addr, "rqs2", true, vec![]).await;
    s2.subscribe_v5(1, &[("rq", 2)], vec![]).await;
    assert_eq!(s2.expect_publish_v5().await.qos(), Qos::AtLeastOnce);
}

#[tokio::test]
async fn v5_retain_not_available_publish_disconnects_0x9a() {
    let node = TestNode::start_with(|c| c.mqtt.retain_available = false).await;
    let (mut p, ack) = open5(node.addr, connect5("rna", true, 30, vec![], None)).await;
    let ra = ack.props().iter().find_map(|p| match p {
        mqtt_protocol_core::mqtt::packet::Property::RetainAvailable(v) => Some(v.val()),
        _ => None,
    });
    assert_eq!(ra, Some(0), "CONNACK announces Retain Available 0");
    p.publish_v5("rna", b"x", 0, true, None, vec![]).await;
    assert_eq!(close_reason(&mut p).await, Some(0x9A));
}
