//! QoS 0/1/2 in both directions, packet identifiers, downgrade to the granted QoS and
//! `mqtt.max_qos`.

use std::collections::HashSet;
use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::{Packet, Qos, v5_0};

use crate::harness::TestNode;
use crate::harness::probe::Read;
use crate::proto_util::*;

#[tokio::test]
async fn mqtt_4_3_2_v5_qos1_both_directions_with_packet_ids() {
    let node = TestNode::start().await;
    let mut sub = client5(node.addr, "q1s", true, vec![]).await;
    assert_eq!(sub.subscribe_v5(1, &[("q/1", 1)], vec![]).await, vec![1]);
    let mut pubr = client5(node.addr, "q1p", true, vec![]).await;
    pubr.publish_v5("q/1", b"a", 1, false, Some(42), vec![]).await;
    assert_eq!(expect_puback5(&mut pubr, 42).await, 0x00);
    let m = sub.expect_publish_v5().await;
    assert_eq!(m.qos(), Qos::AtLeastOnce);
    let pid = m.packet_id().expect("QoS 1 PUBLISH carries a packet id");
    assert_ne!(pid, 0);
    assert!(!m.dup());
    puback5(&mut sub, pid).await;
    // Acknowledged: nothing is redelivered.
    assert!(sync5(&mut sub).await.is_empty());
}

#[tokio::test]
async fn mqtt_4_3_3_v5_qos2_both_directions_full_handshake() {
    let node = TestNode::start().await;
    let mut sub = client5(node.addr, "q2s", true, vec![]).await;
    assert_eq!(sub.subscribe_v5(1, &[("q/2", 2)], vec![]).await, vec![2]);
    let mut pubr = client5(node.addr, "q2p", true, vec![]).await;
    pubr.publish_v5("q/2", b"b", 2, false, Some(7), vec![]).await;
    match pubr.expect().await {
        Packet::V5_0Pubrec(r) => {
            assert_eq!(r.packet_id(), 7);
            assert!(r.reason_code().is_none_or(|c| (c as u8) < 0x80));
        }
        other => panic!("expected PUBREC, got {other:?}"),
    }
    pubrel5(&mut pubr, 7).await;
    match pubr.expect().await {
        Packet::V5_0Pubcomp(c) => assert_eq!(c.packet_id(), 7),
        other => panic!("expected PUBCOMP, got {other:?}"),
    }
    let m = sub.expect_publish_v5().await;
    assert_eq!(m.qos(), Qos::ExactlyOnce);
    let pid = m.packet_id().expect("pid");
    pubrec5(&mut sub, pid).await;
    match sub.expect().await {
        Packet::V5_0Pubrel(r) => assert_eq!(r.packet_id(), pid),
        other => panic!("expected PUBREL, got {other:?}"),
    }
    pubcomp5(&mut sub, pid).await;
    assert!(sync5(&mut sub).await.is_empty());
}

#[tokio::test]
async fn mqtt_4_3_3_2_qos2_duplicate_publish_before_pubrel_delivered_once() {
    let node = TestNode::start().await;
    let mut sub = client5(node.addr, "dups", true, vec![]).await;
    sub.subscribe_v5(1, &[("d/#", 2)], vec![]).await;
    let mut pubr = client5(node.addr, "dupp", true, vec![]).await;
    pubr.publish_v5("d/x", b"once", 2, false, Some(9), vec![]).await;
    assert!(matches!(pubr.expect().await, Packet::V5_0Pubrec(_)));
    // Resend with DUP before releasing.
    let again = v5_0::Publish::builder()
        .topic_name("d/x")
        .expect("topic")
        .qos(Qos::ExactlyOnce)
        .dup(true)
        .packet_id(9u16)
        .payload(b"once".to_vec())
        .build()
        .expect("publish");
    pubr.send(again).await;
    assert!(matches!(pubr.expect().await, Packet::V5_0Pubrec(_)));
    pubrel5(&mut pubr, 9).await;
    assert!(matches!(pubr.expect().await, Packet::V5_0Pubcomp(_)));
    let m = sub.expect_publish_v5().await;
    pubrec5(&mut sub, m.packet_id().expect("pid")).await;
    assert!(matches!(sub.expect().await, Packet::V5_0Pubrel(_)));
    pubcomp5(&mut sub, m.packet_id().expect("pid")).await;
    sub.expect_silence(QUIET).await;
}

#[tokio::test]
async fn mqtt_4_3_v311_qos1_and_qos2_both_directions() {
    let node = TestNode::start().await;
    let mut sub = client3(node.addr, "v3s", true).await;
    assert_eq!(sub.subscribe_v3(1, &[("v3/#", 2)]).await, vec![2]);
    let mut pubr = client3(node.addr, "v3p", true).await;
    pubr.publish_v3("v3/1", b"one", 1, false, Some(3)).await;
    match pubr.expect().await {
        Packet::V3_1_1Puback(a) => assert_eq!(a.packet_id(), 3),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    pubr.publish_v3("v3/2", b"two", 2, false, Some(4)).await;
    match pubr.expect().await {
        Packet::V3_1_1Pubrec(a) => assert_eq!(a.packet_id(), 4),
        other => panic!("expected PUBREC, got {other:?}"),
    }
    pubrel3(&mut pubr, 4).await;
    match pubr.expect().await {
        Packet::V3_1_1Pubcomp(a) => assert_eq!(a.packet_id(), 4),
        other => panic!("expected PUBCOMP, got {other:?}"),
    }
    let m1 = sub.expect_publish_v3().await;
    assert_eq!((m1.topic_name(), m1.qos()), ("v3/1", Qos::AtLeastOnce));
    puback3(&mut sub, m1.packet_id().expect("pid")).await;
    let m2 = sub.expect_publish_v3().await;
    assert_eq!((m2.topic_name(), m2.qos()), ("v3/2", Qos::ExactlyOnce));
    let pid = m2.packet_id().expect("pid");
    pubrec3(&mut sub, pid).await;
    match sub.expect().await {
        Packet::V3_1_1Pubrel(r) => assert_eq!(r.packet_id(), pid),
        other => panic!("expected PUBREL, got {other:?}"),
    }
    pubcomp3(&mut sub, pid).await;
    assert!(sync3(&mut sub).await.is_empty());
}

#[tokio::test]
async fn mqtt_3_8_4_8_delivery_downgraded_to_granted_qos() {
    let node = TestNode::start().await;
    let mut s0 = client5(node.addr, "g0", true, vec![]).await;
    let mut s1 = client5(node.addr, "g1", true, vec![]).await;
    let mut s2 = client5(node.addr, "g2", true, vec![]).await;
    s0.subscribe_v5(1, &[("g/t", 0)], vec![]).await;
    s1.subscribe_v5(1, &[("g/t", 1)], vec![]).await;
    s2.subscribe_v5(1, &[("g/t", 2)], vec![]).await;
    let mut pubr = client5(node.addr, "gp", true, vec![]).await;
    pubr.publish_v5("g/t", b"q2", 2, false, Some(1), vec![]).await;
    assert!(matches!(pubr.expect().await, Packet::V5_0Pubrec(_)));
    pubrel5(&mut pubr, 1).await;
    assert!(matches!(pubr.expect().await, Packet::V5_0Pubcomp(_)));
    let m = s0.expect_publish_v5().await;
    assert_eq!(m.qos(), Qos::AtMostOnce);
    assert_eq!(m.packet_id(), None);
    let m = s1.expect_publish_v5().await;
    assert_eq!(m.qos(), Qos::AtLeastOnce);
    let m = s2.expect_publish_v5().await;
    assert_eq!(m.qos(), Qos::ExactlyOnce);
    // A QoS 0 publish stays QoS 0 for a QoS 2 subscriber.
    pubr.publish_v5("g/t", b"q0", 0, false, None, vec![]).await;
    let m = s2.expect_publish_v5().await;
    assert_eq!(m.payload().as_slice(), b"q0");
    assert_eq!(m.qos(), Qos::AtMostOnce);
}

#[tokio::test]
async fn mqtt_2_2_1_concurrent_inflight_deliveries_use_distinct_packet_ids() {
    let node = TestNode::start().await;
    let mut sub = client5(node.addr, "ids", true, vec![]).await;
    sub.subscribe_v5(1, &[("ids", 1)], vec![]).await;
    let mut pubr = client5(node.addr, "idp", true, vec![]).await;
    for i in 1..=10u16 {
        pubr.publish_v5("ids", &[i as u8], 1, false, Some(i), vec![]).await;
        expect_puback5(&mut pubr, i).await;
    }
    let msgs = drain_publishes5(&mut sub, QUIET, false).await;
    assert_eq!(msgs.len(), 10);
    let pids: HashSet<u16> = msgs.iter().map(|m| m.packet_id().expect("pid")).collect();
    assert_eq!(pids.len(), 10, "in-flight packet ids must be unique");
    let payloads: Vec<u8> = msgs.iter().map(|m| m.payload().as_slice()[0]).collect();
    assert_eq!(payloads, (1..=10).collect::<Vec<u8>>(), "order kept");
}

#[tokio::test]
async fn v5_qos1_publish_without_subscribers_gets_puback_0x10() {
    let node = TestNode::start().await;
    let mut pubr = client5(node.addr, "nobody", true, vec![]).await;
    pubr.publish_v5("no/one/listens", b"x", 1, false, Some(5), vec![]).await;
    assert_eq!(expect_puback5(&mut pubr, 5).await, 0x10);
}

#[tokio::test]
async fn max_qos_suback_grants_at_most_the_server_maximum() {
    let node = TestNode::start_with(|c| c.mqtt.max_qos = 1).await;
    let mut s = client5(node.addr, "mq5", true, vec![]).await;
    assert_eq!(s.subscribe_v5(1, &[("a", 2), ("b", 1), ("c", 0)], vec![]).await, vec![1, 1, 0]);
    let mut s3 = client3(node.addr, "mq3", true).await;
    assert_eq!(s3.subscribe_v3(1, &[("a", 2)]).await, vec![1]);
}

#[tokio::test]
async fn mqtt_3_3_1_v5_publish_above_max_qos_disconnects_0x9b() {
    let node = TestNode::start_with(|c| c.mqtt.max_qos = 1).await;
    let mut sub = client5(node.addr, "mqs", true, vec![]).await;
    sub.subscribe_v5(1, &[("mq", 1)], vec![]).await;
    let mut p = client5(node.addr, "mqp", true, vec![]).await;
    p.publish_v5("mq", b"too high", 2, false, Some(1), vec![]).await;
    assert_eq!(close_reason(&mut p).await, Some(0x9B));
    sub.expect_silence(QUIET).await;
}

#[tokio::test]
async fn v311_publish_above_max_qos_closes() {
    let node = TestNode::start_with(|c| c.mqtt.max_qos = 0).await;
    let mut p = client3(node.addr, "mq3p", true).await;
    p.publish_v3("mq", b"too high", 1, false, Some(1)).await;
    assert!(matches!(p.recv().await, Read::Closed));
}

/// A real client (rumqttc, MQTT 3.1.1) publishing QoS 1 to itself.
#[tokio::test]
async fn rumqttc_v311_qos1_roundtrip() {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet as RPacket, QoS};
    let node = TestNode::start().await;
    let mut o = MqttOptions::new("rumq3", "127.0.0.1", node.port());
    o.set_keep_alive(Duration::from_secs(5));
    let (client, mut ev) = AsyncClient::new(o, 10);
    client.subscribe("rq/+", QoS::AtLeastOnce).await.expect("subscribe");
    let got = tokio::time::timeout(Duration::from_secs(5), async {
        let mut published = false;
        loop {
            match ev.poll().await.expect("event loop") {
                Event::Incoming(RPacket::SubAck(_)) if !published => {
                    published = true;
                    client.publish("rq/x", QoS::AtLeastOnce, false, "hello").await.expect("publish");
                }
                Event::Incoming(RPacket::Publish(p)) => return p,
                _ => {}
            }
        }
    })
    .await
    .expect("message within 5 s");
    assert_eq!(got.topic, "rq/x");
    assert_eq!(&got.payload[..], b"hello");
    assert_eq!(got.qos, QoS::AtLeastOnce);
}
