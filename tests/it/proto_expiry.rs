//! Message Expiry Interval: expired messages are not delivered, forwarded ones carry the time
//! left.

use std::time::Duration;

use crate::harness::TestNode;
use crate::proto_util::*;

#[tokio::test]
async fn mqtt_3_3_2_5_expired_queued_message_not_delivered_on_resume() {
    let node = TestNode::start().await;
    let mut s = client5(node.addr, "exs", true, vec![p_session_expiry(30)]).await;
    s.subscribe_v5(1, &[("ex/#", 1)], vec![]).await;
    disconnect_normal(&mut s).await;
    let mut p = client5(node.addr, "exp", true, vec![]).await;
    p.publish_v5("ex/short", b"short", 1, false, Some(1), vec![p_expiry(1)]).await;
    expect_puback5(&mut p, 1).await;
    p.publish_v5("ex/none", b"forever", 1, false, Some(2), vec![]).await;
    expect_puback5(&mut p, 2).await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (mut s, ack) = open5(node.addr, connect5("exs", false, 30, vec![p_session_expiry(30)], None)).await;
    assert!(ack.session_present());
    let got = drain_publishes5(&mut s, QUIET, true).await;
    let payloads: Vec<&[u8]> = got.iter().map(|m| m.payload().as_slice()).collect();
    assert_eq!(payloads, vec![&b"forever"[..]], "the expired message is discarded");
}

#[tokio::test]
async fn mqtt_3_3_2_6_forwarded_expiry_reduced_by_time_waiting() {
    let node = TestNode::start().await;
    let mut s = client5(node.addr, "exr", true, vec![p_session_expiry(30)]).await;
    s.subscribe_v5(1, &[("exr", 1)], vec![]).await;
    disconnect_normal(&mut s).await;
    let mut p = client5(node.addr, "exrp", true, vec![]).await;
    p.publish_v5("exr", b"x", 1, false, Some(1), vec![p_expiry(10)]).await;
    expect_puback5(&mut p, 1).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (mut s, _) = open5(node.addr, connect5("exr", false, 30, vec![p_session_expiry(30)], None)).await;
    let m = s.expect_publish_v5().await;
    let left = message_expiry_of(m.props()).expect("Message Expiry Interval forwarded");
    assert!(left <= 8, "2 s waited: expiry {left} should be at most 8");
    assert!(left >= 6, "expiry {left} reduced by far more than the wait");
}

#[tokio::test]
async fn mqtt_3_3_2_6_live_forward_keeps_expiry_interval() {
    let node = TestNode::start().await;
    let mut s = client5(node.addr, "exl", true, vec![]).await;
    s.subscribe_v5(1, &[("exl", 0)], vec![]).await;
    let mut p = client5(node.addr, "exlp", true, vec![]).await;
    p.publish_v5("exl", b"x", 0, false, None, vec![p_expiry(100)]).await;
    let left = message_expiry_of(s.expect_publish_v5().await.props()).expect("expiry forwarded");
    assert!((99..=100).contains(&left), "{left}");
    p.publish_v5("exl", b"y", 0, false, None, vec![]).await;
    assert_eq!(message_expiry_of(s.expect_publish_v5().await.props()), None);
}

#[tokio::test]
async fn mqtt_3_3_2_5_expired_retained_message_not_sent() {
    let node = TestNode::start().await;
    let mut p = client5(node.addr, "exrt", true, vec![]).await;
    p.publish_v5("exrt/a", b"short", 1, true, Some(1), vec![p_expiry(1)]).await;
    expect_puback5(&mut p, 1).await;
    p.publish_v5("exrt/b", b"long", 1, true, Some(2), vec![p_expiry(100)]).await;
    expect_puback5(&mut p, 2).await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let mut s = client5(node.addr, "exrts", true, vec![]).await;
    s.subscribe_v5(1, &[("exrt/+", 1)], vec![]).await;
    let got = drain_publishes5(&mut s, QUIET, true).await;
    let topics: Vec<&str> = got.iter().map(|m| m.topic_name()).collect();
    assert_eq!(topics, vec!["exrt/b"]);
    let left = message_expiry_of(got[0].props()).expect("retained expiry forwarded");
    assert!(left <= 99, "retained expiry must count down: {left}");
}
