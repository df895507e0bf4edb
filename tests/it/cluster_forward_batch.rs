//! A burst of publishes crossing the cluster link, where the sending node coalesces them into
//! batch frames and the receiving node delivers a read of them at a time: every message
//! arrives once, in the order published, and QoS 1 acknowledgements still wait for the
//! receiving node.

use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::Packet;

use crate::harness::cluster::TestCluster;
use crate::harness::{Probe, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_crosses_the_link_whole_and_in_order() {
    let c = TestCluster::start(2, 0).await;
    let (mut sub, _) = Probe::connect_v5(c.mqtt(1), "burst-sub", true, vec![]).await;
    assert_eq!(sub.subscribe_v5(1, &[("burst/#", 0)], vec![]).await, vec![0]);
    wait_for("route replicated", Duration::from_secs(10), || {
        c.nodes[0].broker().cluster.routes_for("burst/a").nodes.len() == 1
    })
    .await;
    let (mut publ, _) = Probe::connect_v5(c.mqtt(0), "burst-pub", true, vec![]).await;
    // Back to back, far more than one batch frame holds, on a few topics, with payloads of
    // varied size (some larger than a batch frame, which go in frames of their own).
    let n = 3000usize;
    let payload = |i: usize| {
        let mut p = format!("m{i}:").into_bytes();
        let extra = if i % 997 == 0 { 70 * 1024 } else { i % 200 };
        p.resize(p.len() + extra, b'x');
        p
    };
    for i in 0..n {
        publ.publish_v5(&format!("burst/{}", i % 4), &payload(i), 0, false, None, vec![]).await;
    }
    // A QoS 1 publish behind the burst is acknowledged once the receiving node queued it.
    publ.publish_v5("burst/last", b"last", 1, false, Some(1), vec![]).await;
    match tokio::time::timeout(Duration::from_secs(20), publ.expect()).await.expect("PUBACK in time") {
        Packet::V5_0Puback(a) => assert_eq!(a.reason_code().map_or(0, |c| c as u8), 0),
        other => panic!("unexpected {other:?}"),
    }
    let mut got = Vec::with_capacity(n + 1);
    while got.len() < n + 1 {
        let p = tokio::time::timeout(Duration::from_secs(20), sub.expect_publish_v5()).await.expect("in time");
        got.push(p.payload().as_slice().to_vec());
    }
    let mut want: Vec<Vec<u8>> = (0..n).map(payload).collect();
    want.push(b"last".to_vec());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(g == w, "message {i}: got {:?}…", String::from_utf8_lossy(&g[..g.len().min(12)]));
    }
}
