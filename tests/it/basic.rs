//! Smoke: CONNECT, SUBSCRIBE, PUBLISH at each QoS through the probe, both versions.

use crate::harness::{Probe, TestNode};
use mqtt_protocol_core::mqtt::packet::Packet;

#[tokio::test]
async fn v5_pub_sub_qos_0_1_2() {
    let node = TestNode::start().await;
    let (mut sub, ack) = Probe::connect_v5(node.addr, "sub", true, vec![]).await;
    assert!(crate::harness::probe::connack_ok(&ack));
    assert_eq!(sub.subscribe_v5(1, &[("t/#", 2)], vec![]).await, vec![2]);
    let (mut pubr, _) = Probe::connect_v5(node.addr, "pub", true, vec![]).await;
    pubr.publish_v5("t/0", b"zero", 0, false, None, vec![]).await;
    pubr.publish_v5("t/1", b"one", 1, false, Some(1), vec![]).await;
    assert!(matches!(pubr.expect().await, Packet::V5_0Puback(_)));
    pubr.publish_v5("t/2", b"two", 2, false, Some(2), vec![]).await;
    assert!(matches!(pubr.expect().await, Packet::V5_0Pubrec(_)));
    for (topic, payload) in [("t/0", &b"zero"[..]), ("t/1", b"one"), ("t/2", b"two")] {
        let p = sub.expect_publish_v5().await;
        assert_eq!(p.topic_name(), topic);
        assert_eq!(p.payload().as_slice(), payload);
    }
}

#[tokio::test]
async fn v311_pub_sub() {
    let node = TestNode::start().await;
    let (mut sub, _) = Probe::connect_v3(node.addr, "sub3", true).await;
    assert_eq!(sub.subscribe_v3(1, &[("a/+", 1)]).await, vec![1]);
    let (mut pubr, _) = Probe::connect_v3(node.addr, "pub3", true).await;
    pubr.publish_v3("a/b", b"x", 1, false, Some(7)).await;
    assert!(matches!(pubr.expect().await, Packet::V3_1_1Puback(_)));
    let p = sub.expect_publish_v3().await;
    assert_eq!(p.topic_name(), "a/b");
}
