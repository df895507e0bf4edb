//! Stopping a clustered node (SIGTERM, `NodeHandle::shutdown`) sends its clients to the other
//! nodes first (0x9C) and finishes within `--grace`, even when no other node takes the
//! sessions over: the grace period bounds every phase, not each one.

use std::time::Duration;

use mqtt_protocol_core::mqtt::result_code::DisconnectReasonCode;

use crate::harness::Probe;
use crate::harness::cluster::TestCluster;
use crate::persist_util::expiry;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clustered_shutdown_sends_clients_away_within_grace() {
    let mut c = TestCluster::start(3, 0).await;
    let mut probes = Vec::new();
    for i in 0..5 {
        // Persistent sessions that nobody takes over: the takeover phase waits as long as it may.
        let (p, _) = Probe::connect_v5(c.mqtt(0), &format!("bounded-{i}"), true, expiry(3600)).await;
        probes.push(p);
    }
    let handle = c.nodes[0].handle.take().expect("running");
    let grace = Duration::from_secs(2);
    let t0 = tokio::time::Instant::now();
    let stop = tokio::spawn(handle.shutdown(grace));
    for mut p in probes {
        let d = p.expect_close().await.expect("DISCONNECT before close");
        assert_eq!(d.reason_code(), Some(DisconnectReasonCode::UseAnotherServer));
    }
    stop.await.expect("shutdown task");
    let took = t0.elapsed();
    assert!(took <= grace + Duration::from_millis(300), "shutdown took {took:?} with --grace {grace:?}");
}
