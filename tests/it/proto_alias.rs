//! Topic aliases, both directions.

use mqtt_protocol_core::mqtt::packet::v5_0;

use crate::harness::TestNode;
use crate::proto_util::*;

/// A v5 PUBLISH (QoS 0) with a topic alias; `topic` may be empty.
fn aliased(topic: &str, alias: u16, payload: &[u8]) -> v5_0::Publish {
    v5_0::Publish::builder()
        .topic_name(topic)
        .expect("topic")
        .payload(payload.to_vec())
        .props(vec![p_alias(alias)])
        .build()
        .expect("publish")
}

/// Raw QoS 0 PUBLISH with a Topic Alias property of any value (0 included).
fn raw_aliased(topic: &[u8], alias: u16) -> Vec<u8> {
    let mut body = mstr(topic);
    body.push(3);
    body.push(0x23);
    body.extend(alias.to_be_bytes());
    body.extend(b"p");
    raw(0x30, &body)
}

#[tokio::test]
async fn mqtt_3_3_2_12_client_topic_alias_maps_empty_topic() {
    let node = TestNode::start_with(|c| c.mqtt.topic_alias_maximum = 5).await;
    let mut s = client5(node.addr, "als", true, vec![]).await;
    s.subscribe_v5(1, &[("al/#", 0)], vec![]).await;
    let mut p = client5(node.addr, "alp", true, vec![]).await;
    p.send(aliased("al/x", 1, b"1")).await;
    p.send(aliased("", 1, b"2")).await;
    // Remap alias 1 to another topic.
    p.send(aliased("al/y", 1, b"3")).await;
    p.send(aliased("", 1, b"4")).await;
    let got: Vec<(String, Vec<u8>)> = drain_publishes5(&mut s, QUIET, false)
        .await
        .iter()
        .map(|m| (m.topic_name().to_string(), m.payload().as_slice().to_vec()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("al/x".to_string(), b"1".to_vec()),
            ("al/x".to_string(), b"2".to_vec()),
            ("al/y".to_string(), b"3".to_vec()),
            ("al/y".to_string(), b"4".to_vec()),
        ]
    );
    assert!(sync5(&mut p).await.is_empty(), "aliasing client still connected");
}

#[tokio::test]
async fn mqtt_3_3_2_9_alias_above_maximum_disconnects_0x94() {
    let node = TestNode::start_with(|c| c.mqtt.topic_alias_maximum = 5).await;
    let mut other = client5(node.addr, "alo", true, vec![]).await;
    let mut p = client5(node.addr, "alb", true, vec![]).await;
    p.send(aliased("al/x", 6, b"x")).await;
    assert_eq!(close_reason(&mut p).await, Some(0x94));
    assert!(sync5(&mut other).await.is_empty());
}

#[tokio::test]
async fn mqtt_3_3_2_8_alias_zero_disconnects() {
    let node = TestNode::start().await;
    let mut p = client5(node.addr, "al0", true, vec![]).await;
    p.send_raw(&raw_aliased(b"al/z", 0)).await;
    // The spec names no code for alias 0 (0x94 is defined for "greater than the maximum");
    // Topic Alias invalid or Protocol Error are both fine.
    let rc = close_reason(&mut p).await;
    assert!(matches!(rc, Some(0x94) | Some(0x82)), "got {rc:?}");
}

#[tokio::test]
async fn mqtt_3_3_2_unmapped_alias_with_empty_topic_is_refused() {
    let node = TestNode::start().await;
    let mut p = client5(node.addr, "alu", true, vec![]).await;
    p.send(aliased("", 3, b"x")).await;
    let rc = close_reason(&mut p).await;
    assert!(matches!(rc, Some(0x94) | Some(0x82)), "got {rc:?}");
}

#[tokio::test]
async fn mqtt_3_3_2_10_aliases_refused_when_server_maximum_is_zero() {
    let node = TestNode::start_with(|c| c.mqtt.topic_alias_maximum = 0).await;
    let (mut p, ack) = open5(node.addr, connect5("alz", true, 30, vec![], None)).await;
    let tam = ack.props().iter().find_map(|p| match p {
        mqtt_protocol_core::mqtt::packet::Property::TopicAliasMaximum(v) => Some(v.val()),
        _ => None,
    });
    assert!(matches!(tam, None | Some(0)));
    p.send(aliased("al/x", 1, b"x")).await;
    assert_eq!(close_reason(&mut p).await, Some(0x94));
}

#[tokio::test]
async fn mqtt_3_3_2_broker_assigns_aliases_when_client_allows_them() {
    let node = TestNode::start().await;
    let mut s = client5(node.addr, "bas", true, vec![p_alias_max(4)]).await;
    s.subscribe_v5(1, &[("ba/#", 0)], vec![]).await;
    let mut p = client5(node.addr, "bap", true, vec![]).await;
    for payload in [b"1", b"2", b"3"] {
        p.publish_v5("ba/t", payload, 0, false, None, vec![]).await;
    }
    let got = drain_publishes5(&mut s, QUIET, false).await;
    assert_eq!(got.len(), 3);
    let first_alias = alias_of(got[0].props());
    let a = first_alias.expect("first PUBLISH registers a topic alias");
    assert!((1..=4).contains(&a), "alias {a} within the client's maximum");
    assert_eq!(got[0].topic_name(), "ba/t");
    for m in &got[1..] {
        assert_eq!(alias_of(m.props()), Some(a));
        assert_eq!(m.topic_name(), "", "later PUBLISHes use the alias with an empty topic");
    }
    let payloads: Vec<&[u8]> = got.iter().map(|m| m.payload().as_slice()).collect();
    assert_eq!(payloads, vec![&b"1"[..], b"2", b"3"]);
}

#[tokio::test]
async fn mqtt_3_3_2_broker_sends_no_alias_without_client_topic_alias_maximum() {
    let node = TestNode::start().await;
    let mut s = client5(node.addr, "nas", true, vec![]).await;
    s.subscribe_v5(1, &[("na", 0)], vec![]).await;
    let mut p = client5(node.addr, "nap", true, vec![]).await;
    p.publish_v5("na", b"1", 0, false, None, vec![]).await;
    p.publish_v5("na", b"2", 0, false, None, vec![]).await;
    for m in drain_publishes5(&mut s, QUIET, false).await {
        assert_eq!(m.topic_name(), "na");
        assert_eq!(alias_of(m.props()), None);
    }
}
