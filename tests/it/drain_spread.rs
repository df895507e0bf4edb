//! `starling ctl node drain` (POST /api/v1/node/drain) sends clients away like NATS's lame-duck
//! mode: readiness fails at once, and the clients get DISCONNECT 0x9C spread over
//! `drain.window`, at most `drain.rate` per second — not all in the same instant.

use std::time::Duration;

use axum::http::Method;
use mqtt_protocol_core::mqtt::result_code::DisconnectReasonCode;
use tokio::time::Instant;

use crate::admin_util::{KEY, admin_addr, request};
use crate::harness::{Probe, TestNode};

/// Connect `n` clients, drain, and return when each was told to go (from the drain request).
async fn drain_times(node: &TestNode, n: usize) -> Vec<Duration> {
    let mut probes = Vec::new();
    for i in 0..n {
        let (p, _) = Probe::connect_v5(node.addr, &format!("drain-{i}"), true, vec![]).await;
        probes.push(p);
    }
    let t0 = Instant::now();
    // Watching before the request, so each time is when the DISCONNECT arrived.
    let waits: Vec<_> = probes
        .into_iter()
        .map(|mut p| {
            tokio::spawn(async move {
                let d =
                    tokio::time::timeout(Duration::from_secs(10), p.expect_close()).await.expect("sent away in time");
                let d = d.expect("DISCONNECT before close");
                assert_eq!(d.reason_code(), Some(DisconnectReasonCode::UseAnotherServer));
                t0.elapsed()
            })
        })
        .collect();
    let r = request(admin_addr(node), Method::POST, "/api/v1/node/drain", Some(KEY)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let ready = request(admin_addr(node), Method::GET, "/readyz", None).await;
    assert_eq!(ready.status, 503, "readiness fails at once: {}", ready.text());
    let mut times = Vec::new();
    for w in waits {
        times.push(w.await.expect("probe task"));
    }
    times.sort();
    times
}

#[tokio::test]
async fn drain_spreads_clients_over_the_window() {
    let node = TestNode::start_with(|c| {
        c.admin.api_keys = vec![KEY.into()];
        c.drain.window = Duration::from_millis(1000);
        c.drain.rate = 0;
    })
    .await;
    let t = drain_times(&node, 20).await;
    // Margins for a loaded machine: the point is "spread", not the exact schedule.
    assert!(t[0] < Duration::from_millis(500), "the first client goes at once: {t:?}");
    assert!(t[19] - t[0] >= Duration::from_millis(500), "spread over the window, not all at once: {t:?}");
    assert!(t[19] < Duration::from_millis(2500), "all gone by the end of the window: {t:?}");
    // New connections are refused while draining.
    let refused = tokio::net::TcpStream::connect(node.addr).await;
    if let Ok(mut s) = refused {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await.expect("closed").unwrap_or(0);
        assert_eq!(n, 0, "a new connection is closed at once");
    }
}

#[tokio::test]
async fn drain_rate_bounds_how_fast_clients_are_sent_away() {
    let node = TestNode::start_with(|c| {
        c.admin.api_keys = vec![KEY.into()];
        c.drain.window = Duration::from_millis(100);
        c.drain.rate = 10;
    })
    .await;
    let t = drain_times(&node, 6).await;
    // 6 clients at 10 per second: the last one half a second after the first.
    assert!(t[5] - t[0] >= Duration::from_millis(400), "rate limits the window: {t:?}");
}
