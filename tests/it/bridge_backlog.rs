//! Store-and-forward: QoS 1 messages acknowledged to local devices while the upstream is down
//! (and across a gateway restart) reach the upstream in publish order once it is back; QoS 0
//! while offline is dropped and counted.

use crate::bridge_util::*;
use crate::harness::{Probe, TestNode};
use crate::persist_util::*;
use starling::config::bridge::BridgeProtocol;

/// An upstream with a persistent subscriber to the gateway's topics, then stopped.
async fn upstream_with_durable_subscriber() -> TestNode {
    let upstream = TestNode::start().await;
    let (mut sub, _) = Probe::connect_v5(upstream.addr, "cloud-sub", true, expiry(3600)).await;
    assert_eq!(sub.subscribe_v5(1, &[("site/gw-1/sensors/#", 1)], vec![]).await, vec![1]);
    bye_v5(sub).await;
    wait_idle(&upstream).await;
    upstream
}

async fn drain_upstream(upstream: &TestNode, count: usize) {
    let (mut sub, ack) = Probe::connect_v5(upstream.addr, "cloud-sub", false, expiry(3600)).await;
    assert!(ack.session_present());
    expect_in_order_v5(&mut sub, "site/gw-1/sensors/t", 0, count).await;
    sub.expect_silence(std::time::Duration::from_millis(400)).await;
}

#[tokio::test]
async fn bridge_backlog_is_delivered_in_order_after_the_upstream_returns() {
    let mut upstream = upstream_with_durable_subscriber().await;
    let gw = gateway(bridge_to(upstream.addr, BridgeProtocol::V5)).await;
    wait_connected(&gw, true).await;
    upstream.stop().await;
    wait_connected(&gw, false).await;

    publish_qos1_v5(gw.addr, "sensors/t", 200).await;
    // QoS 0 while the upstream is away: dropped and counted.
    let (mut dev, _) = Probe::connect_v5(gw.addr, "dev0", true, vec![]).await;
    dev.publish_v5("sensors/t", b"q0", 0, false, None, vec![]).await;
    bye_v5(dev).await;
    crate::harness::wait_for("the QoS 0 drop to be counted", std::time::Duration::from_secs(5), || {
        snapshot(&gw).dropped.get("qos0_offline").copied().unwrap_or(0) == 1
    })
    .await;
    assert_eq!(snapshot(&gw).backlog_messages + snapshot(&gw).backlog_inflight, 200);

    upstream.restart().await;
    wait_connected(&gw, true).await;
    wait_backlog_empty(&gw).await;
    drain_upstream(&upstream, 200).await;
    assert!(snapshot(&gw).reconnects >= 1);
}

#[tokio::test]
async fn bridge_backlog_survives_a_gateway_restart() {
    let mut upstream = upstream_with_durable_subscriber().await;
    let mut gw = gateway(bridge_to(upstream.addr, BridgeProtocol::V5)).await;
    wait_connected(&gw, true).await;
    upstream.stop().await;
    wait_connected(&gw, false).await;

    publish_qos1_v5(gw.addr, "sensors/t", 100).await;
    gw.restart().await;
    assert_eq!(snapshot(&gw).backlog_messages + snapshot(&gw).backlog_inflight, 100, "backlog restored");

    upstream.restart().await;
    wait_connected(&gw, true).await;
    wait_backlog_empty(&gw).await;
    drain_upstream(&upstream, 100).await;
}

#[tokio::test]
async fn bridge_to_a_311_upstream_forwards_both_ways() {
    let upstream = TestNode::start().await;
    let gw = gateway(bridge_to(upstream.addr, BridgeProtocol::V311)).await;
    wait_connected(&gw, true).await;
    let (mut cloud, _) = Probe::connect_v3(upstream.addr, "cloud311", true).await;
    assert_eq!(cloud.subscribe_v3(1, &[("site/gw-1/sensors/#", 1)]).await, vec![1]);
    let (mut dev, _) = Probe::connect_v5(gw.addr, "dev", true, vec![]).await;
    assert_eq!(dev.subscribe_v5(1, &[("cmd/#", 1)], vec![]).await, vec![1]);
    dev.publish_v5("sensors/t", &msg(0), 1, false, Some(1), vec![]).await;
    assert!(matches!(dev.expect().await, mqtt_protocol_core::mqtt::packet::Packet::V5_0Puback(_)));
    expect_in_order_v3(&mut cloud, "site/gw-1/sensors/t", 0, 1).await;
    cloud.publish_v3("site/gw-1/cmd/x", b"go", 1, false, Some(9)).await;
    let m = dev.expect_publish_v5().await;
    assert_eq!(m.topic_name(), "cmd/x");
}
