//! The cluster link before the handshake (issue 13, item 5): a stranger on the cluster network
//! cannot make a node allocate a large frame (frames before the handshake are limited to a few
//! KiB), cannot hold more than a few unauthenticated connections, and each must finish the
//! handshake within a deadline.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::cluster::{TestCluster, node_ip};

/// Wait until the node closes `s`; how long that took (None: still open after `within`).
async fn closed_within(s: &mut TcpStream, within: Duration) -> Option<Duration> {
    let t = Instant::now();
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout_at((t + within).into(), s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(t.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_link_preauth_frames_connections_and_deadline_are_bounded() {
    let c = TestCluster::start(1, 0).await;
    let link = SocketAddr::new(node_ip(c.base, 1), 4370);

    // A 60 MiB frame header before any handshake: refused at once, nothing allocated.
    let mut big = TcpStream::connect(link).await.expect("connect");
    let mut header = (60u32 * 1024 * 1024).to_be_bytes().to_vec();
    header.push(1);
    big.write_all(&header).await.expect("write");
    let took = closed_within(&mut big, Duration::from_secs(3)).await;
    assert!(took.is_some_and(|t| t < Duration::from_secs(2)), "60 MiB frame: closed after {took:?}");

    // Idle unauthenticated connections: those over the cap are closed at once, the rest by
    // the handshake deadline.
    let mut idle = Vec::new();
    for _ in 0..40 {
        idle.push(TcpStream::connect(link).await.expect("connect"));
    }
    let mut early = 0;
    for s in idle.iter_mut() {
        if closed_within(s, Duration::from_millis(100)).await.is_some() {
            early += 1;
        }
    }
    assert!(early >= 8, "only {early} of 40 idle connections closed at accept");
    for s in idle.iter_mut() {
        assert!(closed_within(s, Duration::from_secs(8)).await.is_some(), "not closed by the handshake deadline");
    }
    // The node still serves MQTT.
    let (_p, ack) = crate::harness::Probe::connect_v5(c.mqtt(0), "still-fine", true, vec![]).await;
    assert!(crate::harness::probe::connack_ok(&ack));
}
