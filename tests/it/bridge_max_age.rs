//! `[bridges.*.backlog] max_age`: messages that waited in the backlog longer than that are
//! dropped, counted as `expired`, instead of sent when the upstream returns; younger ones are
//! sent in order.

use std::time::Duration;

use crate::bridge_util::*;
use crate::harness::{Probe, TestNode};
use crate::persist_util::*;
use starling::config::bridge::BridgeProtocol;

#[tokio::test]
async fn bridge_max_age_drops_what_waited_too_long() {
    let mut upstream = TestNode::start().await;
    let (mut sub, _) = Probe::connect_v5(upstream.addr, "cloud-sub", true, expiry(3600)).await;
    assert_eq!(sub.subscribe_v5(1, &[("site/gw-1/sensors/#", 1)], vec![]).await, vec![1]);
    bye_v5(sub).await;
    wait_idle(&upstream).await;
    let mut b = bridge_to(upstream.addr, BridgeProtocol::V5);
    b.backlog.max_age = Duration::from_secs(1);
    let gw = gateway(b).await;
    wait_connected(&gw, true).await;
    upstream.stop().await;
    wait_connected(&gw, false).await;

    publish_qos1_v5(gw.addr, "sensors/old", 3).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    publish_qos1_v5(gw.addr, "sensors/t", 4).await;
    upstream.restart().await;
    wait_connected(&gw, true).await;
    wait_backlog_empty(&gw).await;
    assert_eq!(snapshot(&gw).dropped.get("expired").copied(), Some(3));

    let (mut sub, ack) = Probe::connect_v5(upstream.addr, "cloud-sub", false, expiry(3600)).await;
    assert!(ack.session_present());
    expect_in_order_v5(&mut sub, "site/gw-1/sensors/t", 0, 4).await;
    sub.expect_silence(Duration::from_millis(400)).await;
}
