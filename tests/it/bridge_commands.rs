//! The in direction across an outage: commands published upstream while the gateway is down
//! wait in the bridge's upstream session and reach the local device, in order, once the gateway
//! is back. The upstream sends them right behind its CONNACK, often in the same read.

use crate::bridge_util::*;
use crate::harness::{Probe, TestNode};
use crate::persist_util::*;
use starling::config::bridge::BridgeProtocol;

async fn commands_queued_upstream_reach_the_device(protocol: BridgeProtocol) {
    let upstream = TestNode::start().await;
    let mut gw = gateway(bridge_to(upstream.addr, protocol)).await;
    wait_connected(&gw, true).await;
    let (mut dev, _) = Probe::connect_v5(gw.addr, "device", true, expiry(3600)).await;
    assert_eq!(dev.subscribe_v5(1, &[("cmd/#", 1)], vec![]).await, vec![1]);
    bye_v5(dev).await;

    gw.stop().await;
    // The bridge's upstream session keeps these for it (clean start false, session expiry).
    publish_qos1_v5(upstream.addr, "site/gw-1/cmd/x", 300).await;
    gw.restart().await;
    wait_connected(&gw, true).await;

    let (mut dev, ack) = Probe::connect_v5(gw.addr, "device", false, expiry(3600)).await;
    assert!(ack.session_present());
    expect_in_order_v5(&mut dev, "cmd/x", 0, 300).await;
    dev.expect_silence(std::time::Duration::from_millis(400)).await;
}

#[tokio::test]
async fn bridge_commands_queued_upstream_reach_the_device_after_an_outage_v5() {
    commands_queued_upstream_reach_the_device(BridgeProtocol::V5).await;
}

#[tokio::test]
async fn bridge_commands_queued_upstream_reach_the_device_after_an_outage_v311() {
    commands_queued_upstream_reach_the_device(BridgeProtocol::V311).await;
}
