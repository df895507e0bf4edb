//! Connections idle for longer than a second park (their loop's state is freed and they wait
//! in a small future). Everything that can reach an idle client must still reach a parked one:
//! deliveries, its own packets, a takeover, the keep-alive deadline and shutdown.

use std::time::Duration;

use crate::harness::TestNode;
use crate::harness::probe::connack_ok;
use crate::proto_util::*;

/// Longer than the broker's park delay (1 s), so the connection is parked when this ends.
const IDLE: Duration = Duration::from_millis(1600);

#[tokio::test]
async fn a_parked_client_gets_deliveries_and_is_answered() {
    let node = TestNode::start().await;
    let mut sub = client5(node.addr, "parked-sub", true, vec![]).await;
    assert_eq!(sub.subscribe_v5(1, &[("park/#", 1)], vec![]).await, vec![1]);
    let mut publisher = client5(node.addr, "parked-pub", true, vec![]).await;
    for round in 0..3u16 {
        tokio::time::sleep(IDLE).await;
        // Woken by the session: a QoS 1 and a QoS 0 message from another client.
        publisher.publish_v5("park/a", b"one", 1, false, Some(round + 1), vec![]).await;
        assert_eq!(expect_puback5(&mut publisher, round + 1).await, 0);
        publisher.publish_v5("park/b", b"two", 0, false, None, vec![]).await;
        let p = sub.expect_publish_v5().await;
        assert_eq!((p.topic_name(), p.payload().as_slice()), ("park/a", &b"one"[..]));
        puback5(&mut sub, p.packet_id().expect("QoS 1 has an id")).await;
        let p = sub.expect_publish_v5().await;
        assert_eq!((p.topic_name(), p.payload().as_slice()), ("park/b", &b"two"[..]));
        tokio::time::sleep(IDLE).await;
        // Woken by the socket: its own publish, and a ping.
        sub.publish_v5("elsewhere", b"x", 1, false, Some(100 + round), vec![]).await;
        assert_eq!(expect_puback5(&mut sub, 100 + round).await, 0x10, "acknowledged: No matching subscribers");
        assert!(sync5(&mut sub).await.is_empty(), "nothing but the PINGRESP");
    }
}

#[tokio::test]
async fn a_parked_client_is_taken_over() {
    let node = TestNode::start().await;
    let mut old = client5(node.addr, "parked-twice", false, vec![p_session_expiry(60)]).await;
    tokio::time::sleep(IDLE).await;
    let (mut new, ack) = open5(node.addr, connect5("parked-twice", false, 60, vec![p_session_expiry(60)], None)).await;
    assert!(connack_ok(&ack));
    assert_eq!(close_reason(&mut old).await, Some(0x8E), "Session taken over");
    assert!(sync5(&mut new).await.is_empty());
}

#[tokio::test]
async fn a_parked_client_times_out_and_a_parked_one_without_keep_alive_hears_the_shutdown() {
    let mut node = TestNode::start().await;
    let (mut silent, ack) = open5(node.addr, connect5("parked-ka", true, 2, vec![], None)).await;
    assert!(connack_ok(&ack));
    let (mut forever, ack) = open5(node.addr, connect5("parked-no-ka", true, 0, vec![], None)).await;
    assert!(connack_ok(&ack));
    // Keep-alive 2 s: dropped at 3 s, long after it parked.
    let started = std::time::Instant::now();
    assert_eq!(close_reason(&mut silent).await, Some(0x8D), "Keep Alive timeout");
    let after = started.elapsed();
    assert!(after >= Duration::from_millis(2900) && after < Duration::from_millis(4500), "closed after {after:?}");
    let closing = tokio::spawn(async move { close_reason(&mut forever).await });
    node.stop().await;
    let reason = tokio::time::timeout(Duration::from_secs(10), closing).await.expect("closed in time").expect("join");
    assert_eq!(reason, Some(0x8B), "Server shutting down");
}
