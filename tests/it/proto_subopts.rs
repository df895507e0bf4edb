//! Subscription options and identifiers: No Local, overlapping subscriptions of one client,
//! Subscription Identifiers, replacing and removing subscriptions, invalid filters.

use std::collections::BTreeSet;

use mqtt_protocol_core::mqtt::packet::{Packet, Qos, v5_0};

use crate::harness::TestNode;
use crate::proto_util::*;

#[tokio::test]
async fn mqtt_3_8_3_3_no_local_suppresses_own_messages() {
    let node = TestNode::start().await;
    let mut me = client5(node.addr, "nl", true, vec![]).await;
    me.subscribe_entries_v5(1, vec![entry("nl/t", 0, true, false, 0)], vec![]).await;
    let mut other = client5(node.addr, "nlo", true, vec![]).await;
    other.subscribe_v5(1, &[("nl/t", 0)], vec![]).await;
    me.publish_v5("nl/t", b"mine", 0, false, None, vec![]).await;
    assert_eq!(other.expect_publish_v5().await.payload().as_slice(), b"mine");
    assert!(sync5(&mut me).await.is_empty(), "No Local: own message not delivered");
    // Someone else's message still arrives.
    other.publish_v5("nl/t", b"theirs", 0, false, None, vec![]).await;
    assert_eq!(me.expect_publish_v5().await.payload().as_slice(), b"theirs");
}

#[tokio::test]
async fn no_local_0_delivers_own_messages() {
    let node = TestNode::start().await;
    let mut me = client5(node.addr, "nl0", true, vec![]).await;
    me.subscribe_entries_v5(1, vec![entry("nl0/t", 0, false, false, 0)], vec![]).await;
    me.publish_v5("nl0/t", b"echo", 0, false, None, vec![]).await;
    assert_eq!(me.expect_publish_v5().await.payload().as_slice(), b"echo");
}

#[tokio::test]
async fn mqtt_3_3_4_2_overlapping_no_local_only_on_one_subscription_still_delivers() {
    let node = TestNode::start().await;
    let mut me = client5(node.addr, "nlov", true, vec![]).await;
    me.subscribe_entries_v5(1, vec![entry("ov/t", 0, true, false, 0), entry("ov/#", 0, false, false, 0)], vec![]).await;
    me.publish_v5("ov/t", b"x", 0, false, None, vec![]).await;
    let got = drain_publishes5(&mut me, QUIET, true).await;
    assert_eq!(got.len(), 1, "delivered through the subscription without No Local");
}

#[tokio::test]
async fn mqtt_3_3_4_3_subscription_identifier_is_sent_with_matching_messages() {
    let node = TestNode::start().await;
    let mut s = client5(node.addr, "sid", true, vec![]).await;
    s.subscribe_v5(1, &[("sid/+", 1)], vec![p_sub_id(7)]).await;
    s.subscribe_v5(2, &[("other", 1)], vec![]).await;
    let mut p = client5(node.addr, "sidp", true, vec![]).await;
    p.publish_v5("sid/a", b"x", 0, false, None, vec![]).await;
    assert_eq!(sub_ids_of(s.expect_publish_v5().await.props()), vec![7]);
    p.publish_v5("other", b"y", 0, false, None, vec![]).await;
    assert!(sub_ids_of(s.expect_publish_v5().await.props()).is_empty());
}

#[tokio::test]
async fn mqtt_3_3_4_2_and_3_3_4_5_overlapping_subscriptions_one_publish_max_qos_all_ids() {
    let node = TestNode::start().await;
    let mut s = client5(node.addr, "ovl", true, vec![]).await;
    assert_eq!(s.subscribe_v5(1, &[("o/+", 0)], vec![p_sub_id(1)]).await, vec![0]);
    assert_eq!(s.subscribe_v5(2, &[("o/#", 2)], vec![p_sub_id(2)]).await, vec![2]);
    assert_eq!(s.subscribe_v5(3, &[("o/t", 1)], vec![p_sub_id(3)]).await, vec![1]);
    let mut p = client5(node.addr, "ovlp", true, vec![]).await;
    p.publish_v5("o/t", b"x", 2, false, Some(1), vec![]).await;
    assert!(matches!(p.expect().await, Packet::V5_0Pubrec(_)));
    pubrel5(&mut p, 1).await;
    let m = s.expect_publish_v5().await;
    assert_eq!(m.qos(), Qos::ExactlyOnce, "highest granted QoS of the matching subscriptions");
    let ids: BTreeSet<u32> = sub_ids_of(m.props()).into_iter().collect();
    assert_eq!(ids, BTreeSet::from([1, 2, 3]));
    let pid = m.packet_id().expect("pid");
    pubrec5(&mut s, pid).await;
    assert!(matches!(s.expect().await, Packet::V5_0Pubrel(_)));
    pubcomp5(&mut s, pid).await;
    // Exactly one copy.
    assert!(sync5(&mut s).await.is_empty());
}

#[tokio::test]
async fn mqtt_3_8_4_3_resubscribe_replaces_the_subscription() {
    let node = TestNode::start().await;
    let mut s = client5(node.addr, "rs", true, vec![]).await;
    s.subscribe_v5(1, &[("rs/t", 0)], vec![p_sub_id(5)]).await;
    s.subscribe_v5(2, &[("rs/t", 1)], vec![]).await;
    let mut p = client5(node.addr, "rsp", true, vec![]).await;
    p.publish_v5("rs/t", b"x", 1, false, Some(1), vec![]).await;
    expect_puback5(&mut p, 1).await;
    let got = drain_publishes5(&mut s, QUIET, true).await;
    assert_eq!(got.len(), 1, "one subscription, one copy");
    assert_eq!(got[0].qos(), Qos::AtLeastOnce, "new options apply");
    assert!(sub_ids_of(got[0].props()).is_empty(), "the identifier went with the old subscription");
}

#[tokio::test]
async fn mqtt_3_10_4_unsubscribe_stops_delivery_and_reports_missing() {
    let node = TestNode::start().await;
    let mut s = client5(node.addr, "us", true, vec![]).await;
    s.subscribe_v5(1, &[("us/t", 0)], vec![]).await;
    let un = v5_0::Unsubscribe::builder()
        .packet_id(2u16)
        .entries(vec!["us/t", "never/subscribed"])
        .expect("entries")
        .build()
        .expect("unsubscribe");
    s.send(un).await;
    match s.expect().await {
        Packet::V5_0Unsuback(u) => {
            assert_eq!(u.packet_id(), 2);
            let rcs: Vec<u8> = u.reason_codes().iter().map(|c| *c as u8).collect();
            assert_eq!(rcs, vec![0x00, 0x11]);
        }
        other => panic!("expected UNSUBACK, got {other:?}"),
    }
    let mut p = client5(node.addr, "usp", true, vec![]).await;
    p.publish_v5("us/t", b"x", 0, false, None, vec![]).await;
    assert!(sync5(&mut p).await.is_empty());
    s.expect_silence(QUIET).await;
}

#[tokio::test]
async fn mqtt_3_9_3_invalid_filter_refused_per_entry() {
    let node = TestNode::start().await;
    let mut s = client5(node.addr, "bad", true, vec![]).await;
    let rcs = s.subscribe_v5(1, &[("ok/+", 1), ("bad/#/x", 1), ("bad+", 0)], vec![]).await;
    assert_eq!(rcs, vec![1, 0x8F, 0x8F]);
    let mut s3 = client3(node.addr, "bad3", true).await;
    assert_eq!(s3.subscribe_v3(1, &[("a/#/b", 0), ("ok", 0)]).await, vec![0x80, 0]);
}

/// A real client (rumqttc, MQTT 5.0) subscribing with a Subscription Identifier.
#[tokio::test]
async fn rumqttc_v5_subscription_identifier_round_trip() {
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::mqttbytes::v5::{Packet as RPacket, SubscribeProperties};
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    use std::time::Duration;
    let node = TestNode::start().await;
    let mut o = MqttOptions::new("rumq5", "127.0.0.1", node.port());
    o.set_keep_alive(Duration::from_secs(5));
    let (client, mut ev) = AsyncClient::new(o, 10);
    let props = SubscribeProperties { id: Some(42), user_properties: vec![] };
    client.subscribe_with_properties("r5/#", QoS::AtLeastOnce, props).await.expect("subscribe");
    let got = tokio::time::timeout(Duration::from_secs(5), async {
        let mut published = false;
        loop {
            match ev.poll().await.expect("event loop") {
                Event::Incoming(RPacket::SubAck(_)) if !published => {
                    published = true;
                    client.publish("r5/x", QoS::AtLeastOnce, false, "v5").await.expect("publish");
                }
                Event::Incoming(RPacket::Publish(p)) => return p,
                _ => {}
            }
        }
    })
    .await
    .expect("message within 5 s");
    assert_eq!(&got.topic[..], b"r5/x");
    let ids = got.properties.map(|p| p.subscription_identifiers).unwrap_or_default();
    assert_eq!(ids, vec![42]);
}
