//! Abuse limits through real sockets: connection rate per source address, message and byte
//! rates (throttled reads, not disconnects), subscription quota, topic length and levels.

use std::time::{Duration, Instant};

use crate::auth_util::*;
use crate::harness::probe::Read;
use crate::harness::{Probe, TestNode};
use crate::proto_util::{client3, client5, sync5};

#[tokio::test]
async fn limits_connection_rate_per_address_closes_before_connect() {
    let node = TestNode::start_with(|c| {
        let l = c.listeners.get_mut("tcp").expect("tcp");
        l.max_connection_rate = 0.5;
        l.connection_rate_burst = 2;
    })
    .await;
    let (_a, rc) = login5(node.addr, "r1", None, None, None).await;
    assert_eq!(rc, 0);
    let (_b, rc) = login5(node.addr, "r2", None, None, None).await;
    assert_eq!(rc, 0);
    // The third within the burst window is closed without a CONNACK.
    let mut p = Probe::tcp(node.addr, true).await;
    p.send(crate::proto_util::connect5("r3", true, 30, vec![], None)).await;
    assert!(matches!(p.recv().await, Read::Closed), "closed, no CONNACK");
    assert_eq!(refused(&node, "connection_rate"), 1);
}

#[tokio::test]
async fn limits_message_rate_throttles_reads_without_losing_messages() {
    let node = TestNode::start_with(|c| {
        c.limits.max_messages_per_second = 20.0;
        c.limits.messages_burst = 5;
    })
    .await;
    let mut sub = client5(node.addr, "mr-sub", true, vec![]).await;
    sub.subscribe_v5(1, &[("m/#", 1)], vec![]).await;
    let mut publ = client5(node.addr, "mr-pub", true, vec![]).await;
    let start = Instant::now();
    for i in 0..30u16 {
        publ.publish_v5(&format!("m/{i}"), b"x", 0, false, None, vec![]).await;
    }
    for i in 0..30u16 {
        assert_eq!(sub.expect_publish_v5().await.topic_name(), format!("m/{i}"));
    }
    // 25 messages over the burst at 20/s: the publisher was held back about a second; it was
    // not disconnected.
    assert!(start.elapsed() >= Duration::from_millis(900), "{:?}", start.elapsed());
    assert!(sync5(&mut publ).await.is_empty(), "the publisher is still connected");
    assert!(metric(&node, "starling_throttled_total{reason=\"messages\"}") >= 1);
}

#[tokio::test]
async fn limits_byte_rate_throttles_reads() {
    let node = TestNode::start_with(|c| {
        c.limits.max_bytes_per_second = 20_000;
        c.limits.bytes_burst = 10_000;
    })
    .await;
    let mut sub = client5(node.addr, "br-sub", true, vec![]).await;
    sub.subscribe_v5(1, &[("b/#", 0)], vec![]).await;
    let mut publ = client5(node.addr, "br-pub", true, vec![]).await;
    let payload = vec![7u8; 10_000];
    let start = Instant::now();
    for i in 0..4u16 {
        publ.publish_v5(&format!("b/{i}"), &payload, 0, false, None, vec![]).await;
    }
    for i in 0..4u16 {
        let p = sub.expect_publish_v5().await;
        assert_eq!((p.topic_name(), p.payload().len()), (format!("b/{i}").as_str(), 10_000));
    }
    assert!(start.elapsed() >= Duration::from_millis(900), "{:?}", start.elapsed());
    assert!(metric(&node, "starling_throttled_total{reason=\"bytes\"}") >= 1);
}

#[tokio::test]
async fn limits_max_subscriptions_0x97_v5_and_0x80_v311() {
    let node = TestNode::start_with(|c| c.limits.max_subscriptions = 2).await;
    let mut p = client5(node.addr, "q5", true, vec![]).await;
    assert_eq!(p.subscribe_v5(1, &[("a", 0), ("b", 1), ("c", 1)], vec![]).await, vec![0, 1, 0x97]);
    // Replacing an existing subscription is not a new one.
    assert_eq!(p.subscribe_v5(2, &[("a", 1)], vec![]).await, vec![1]);
    let mut p3 = client3(node.addr, "q3", true).await;
    assert_eq!(p3.subscribe_v3(1, &[("x", 0), ("y", 0), ("z", 0)]).await, vec![0, 0, 0x80]);
    assert_eq!(refused(&node, "subscription_quota"), 2);
}

#[tokio::test]
async fn limits_topic_length_and_levels() {
    let node = TestNode::start_with(|c| {
        c.mqtt.max_topic_length = 20;
        c.mqtt.max_topic_levels = 3;
    })
    .await;
    let mut p = client5(node.addr, "tl", true, vec![]).await;
    assert_eq!(
        p.subscribe_v5(1, &[("a/b/c", 0), ("a/b/c/d", 0), ("a/very-long-filter-name/x", 0)], vec![]).await,
        vec![0, 0x8F, 0x8F]
    );
    assert_eq!(refused(&node, "subscribe_filter_invalid"), 2);
    p.publish_v5("a/b/c/d", b"x", 0, false, None, vec![]).await;
    // Topic Name invalid (0x90): the connection is closed with DISCONNECT.
    let d = p.expect_close().await.expect("DISCONNECT");
    assert_eq!(d.reason_code().map(|c| c as u8), Some(0x90));
    assert_eq!(refused(&node, "publish_topic_invalid"), 1);
    let mut p = client5(node.addr, "tl2", true, vec![]).await;
    p.publish_v5("this/topic/is-far-too-long", b"x", 0, false, None, vec![]).await;
    assert!(matches!(p.expect_close().await, Some(d) if d.reason_code().map(|c| c as u8) == Some(0x90)));
}
