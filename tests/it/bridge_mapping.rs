//! A starling → starling bridge maps topics both ways, caps QoS, carries retain and the MQTT 5
//! properties, and sends nothing back the way it came (no loop).

use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::{
    ContentType, CorrelationData, Packet, Property, Qos, ResponseTopic, UserProperty,
};

use crate::bridge_util::*;
use crate::harness::{Probe, TestNode};
use crate::persist_util::puback_v5;
use starling::config::bridge::BridgeProtocol;

fn props() -> Vec<Property> {
    vec![
        Property::UserProperty(UserProperty::new("unit", "C").expect("prop")),
        Property::ContentType(ContentType::new("text/plain").expect("prop")),
        Property::ResponseTopic(ResponseTopic::new("sensors/reply/1").expect("prop")),
        Property::CorrelationData(CorrelationData::new(b"abc".to_vec()).expect("prop")),
    ]
}

#[tokio::test]
async fn bridge_maps_topics_caps_qos_and_carries_properties_both_ways() {
    let upstream = TestNode::start().await;
    let mut cfg = bridge_to(upstream.addr, BridgeProtocol::V5);
    // Everything local goes up too: the in side's messages must still not come back.
    cfg.out.push(rule("cmd/#", 2, "", "site/gw-1/"));
    let gw = gateway(cfg).await;
    wait_connected(&gw, true).await;

    let (mut cloud, _) = Probe::connect_v5(upstream.addr, "cloud-sub", true, vec![]).await;
    assert_eq!(cloud.subscribe_v5(1, &[("site/#", 2)], vec![]).await, vec![2]);
    let (mut dev, _) = Probe::connect_v5(gw.addr, "device", true, vec![]).await;
    assert_eq!(dev.subscribe_v5(1, &[("cmd/#", 2)], vec![]).await, vec![2]);

    // Out: QoS 2 capped to the rule's 1, prefix added, properties carried, response topic mapped.
    dev.publish_v5("sensors/t1", b"21.5", 2, false, Some(7), props()).await;
    match dev.expect().await {
        Packet::V5_0Pubrec(r) => assert_eq!(r.packet_id(), 7),
        other => panic!("expected PUBREC, got {other:?}"),
    }
    let m = cloud.expect_publish_v5().await;
    assert_eq!(m.topic_name(), "site/gw-1/sensors/t1");
    assert_eq!(m.payload().as_slice(), b"21.5");
    assert_eq!(m.qos(), Qos::AtLeastOnce, "capped at the out rule's QoS");
    let p = m.props();
    assert!(p.iter().any(|x| matches!(x, Property::UserProperty(u) if u.key() == "unit" && u.val() == "C")));
    assert!(p.iter().any(|x| matches!(x, Property::ContentType(c) if c.val() == "text/plain")));
    assert!(p.iter().any(|x| matches!(x, Property::CorrelationData(c) if c.val() == b"abc")));
    assert!(
        p.iter().any(|x| matches!(x, Property::ResponseTopic(r) if r.val() == "site/gw-1/sensors/reply/1")),
        "response topic mapped like the topic: {p:?}"
    );
    puback_v5(&mut cloud, m.packet_id().expect("pid")).await;

    // In: prefix removed, QoS 2 capped to 1, retain carried.
    let (mut ops, _) = Probe::connect_v5(upstream.addr, "ops", true, vec![]).await;
    ops.publish_v5("site/gw-1/cmd/open", b"now", 2, true, Some(3), vec![]).await;
    let m = dev.expect_publish_v5().await;
    assert_eq!(m.topic_name(), "cmd/open");
    assert_eq!(m.qos(), Qos::AtLeastOnce, "capped at the in rule's QoS");
    assert_eq!(m.payload().as_slice(), b"now");
    puback_v5(&mut dev, m.packet_id().expect("pid")).await;

    // The upstream subscriber sees ops' command once: the gateway did not send it back up
    // although its out rule `cmd/#` matches it (no local on the bridge's own session).
    let m = cloud.expect_publish_v5().await;
    assert_eq!(m.topic_name(), "site/gw-1/cmd/open");
    puback_v5(&mut cloud, m.packet_id().expect("pid")).await;
    cloud.expect_silence(Duration::from_millis(600)).await;

    // The retained command is kept on the gateway with the local topic.
    let (mut late, _) = Probe::connect_v5(gw.addr, "late", true, vec![]).await;
    assert_eq!(late.subscribe_v5(1, &[("cmd/open", 0)], vec![]).await, vec![0]);
    let m = late.expect_publish_v5().await;
    assert!(m.retain(), "retain carried by the in rule");

    let s = snapshot(&gw);
    assert_eq!(s.forwarded_in, 1);
    assert!(s.forwarded_out >= 1);
}
