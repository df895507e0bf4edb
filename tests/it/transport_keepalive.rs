//! Keep-alive with many connections, each with its own deadline. A silent client is dropped at
//! 1.5 × its keep-alive, a client that keeps sending is not, and the listener's shutdown reaches a client without any deadline.

use std::time::{Duration, Instant};

use crate::harness::TestNode;
use crate::harness::probe::connack_ok;
use crate::proto_util::*;

#[tokio::test]
async fn silent_clients_drop_at_one_and_a_half_keep_alives_while_active_ones_stay() {
    let node = TestNode::start().await;
    // Active clients ping every 600 ms (keep-alive 1 s) beside the silent ones.
    let mut active = Vec::new();
    for i in 0..5 {
        let (p, ack) = open5(node.addr, connect5(&format!("active-{i}"), true, 1, vec![], None)).await;
        assert!(connack_ok(&ack));
        active.push(p);
    }
    let t = Instant::now();
    let mut silent = Vec::new();
    for (i, ka) in [1u16, 2].into_iter().enumerate() {
        let (p, ack) = open5(node.addr, connect5(&format!("silent-{i}"), true, ka, vec![], None)).await;
        assert!(connack_ok(&ack));
        silent.push((
            ka,
            tokio::spawn(async move {
                let mut p = p;
                (close_reason(&mut p).await, Instant::now())
            }),
        ));
    }
    let pinging = tokio::spawn(async move {
        for _ in 0..7 {
            tokio::time::sleep(Duration::from_millis(600)).await;
            for p in &mut active {
                assert!(sync5(p).await.is_empty(), "PINGRESP expected: an active client stays");
            }
        }
    });
    for (ka, h) in silent {
        let (reason, at) = h.await.expect("join");
        assert_eq!(reason, Some(0x8D), "keep-alive {ka} s: Keep Alive timeout");
        let e = at - t;
        let expect = Duration::from_millis(1500 * u64::from(ka));
        assert!(
            e >= expect - Duration::from_millis(100) && e < expect + Duration::from_millis(1100),
            "keep-alive {ka} s: closed after {e:?}, expected about {expect:?}"
        );
    }
    pinging.await.expect("active clients stayed connected for 4.2 s");
}

#[tokio::test]
async fn shutdown_reaches_a_client_without_keep_alive() {
    let mut node = TestNode::start().await;
    let (mut p, ack) = open5(node.addr, connect5("no-ka", true, 0, vec![], None)).await;
    assert!(connack_ok(&ack));
    let closing = tokio::spawn(async move { close_reason(&mut p).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    node.stop().await;
    let reason = tokio::time::timeout(Duration::from_secs(10), closing).await.expect("closed in time").expect("join");
    assert_eq!(reason, Some(0x8B), "Server shutting down");
}
