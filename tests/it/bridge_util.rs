//! Helpers for the bridge tests: a gateway node bridged to an upstream address, and waits on
//! the bridge's status.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use starling::bridge::status::BridgeSnapshot;
use starling::config::bridge::{BacklogConfig, BridgeConfig, BridgeProtocol, TopicRule};

use crate::harness::{Probe, TestNode, wait_for};
use crate::persist_util::*;

pub fn rule(topic: &str, qos: u8, local_prefix: &str, remote_prefix: &str) -> TopicRule {
    TopicRule {
        topic: topic.into(),
        qos,
        local_prefix: local_prefix.into(),
        remote_prefix: remote_prefix.into(),
        retain: true,
    }
}

/// A bridge to `upstream` with fast reconnects, carrying `sensors/#` up as `site/gw-1/sensors/#`
/// and `site/gw-1/cmd/#` down as `cmd/#`.
pub fn bridge_to(upstream: SocketAddr, protocol: BridgeProtocol) -> BridgeConfig {
    BridgeConfig {
        addresses: vec![upstream.to_string()],
        protocol,
        client_id: "gw-1".into(),
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(300),
        out: vec![rule("sensors/#", 1, "", "site/gw-1/")],
        inbound: vec![rule("cmd/#", 1, "", "site/gw-1/")],
        ..BridgeConfig::default()
    }
}

pub async fn gateway(bridge: BridgeConfig) -> TestNode {
    TestNode::start_with(|c| {
        c.bridges.insert("cloud".into(), bridge);
    })
    .await
}

pub fn snapshot(node: &TestNode) -> BridgeSnapshot {
    let v = node.broker().bridges.get().expect("bridges started").snapshots();
    let list: Vec<BridgeSnapshot> = serde_json::from_value(v).expect("snapshots");
    list.into_iter().next().expect("one bridge")
}

pub async fn wait_connected(node: &TestNode, up: bool) {
    let what = if up { "the bridge to connect" } else { "the bridge to notice the upstream is gone" };
    wait_for(what, Duration::from_secs(10), || snapshot(node).connected == up).await;
}

pub async fn wait_backlog_empty(node: &TestNode) {
    wait_for("the backlog to drain", Duration::from_secs(20), || {
        let s = snapshot(node);
        s.backlog_messages == 0 && s.backlog_inflight == 0
    })
    .await;
}

/// An upstream with a persistent subscriber "cloud-sub" to `site/gw-1/sensors/#` and a gateway
/// bridged to it (MQTT 5, the given backlog, publishers held 100 ms on a full backlog), then the
/// upstream stopped: the gateway's backlog is filling. (upstream, gateway).
pub async fn gateway_cut_off(backlog: BacklogConfig) -> (TestNode, TestNode) {
    let mut upstream = TestNode::start().await;
    let (mut sub, _) = Probe::connect_v5(upstream.addr, "cloud-sub", true, expiry(3600)).await;
    assert_eq!(sub.subscribe_v5(1, &[("site/gw-1/sensors/#", 1)], vec![]).await, vec![1]);
    bye_v5(sub).await;
    wait_idle(&upstream).await;
    let mut b = bridge_to(upstream.addr, BridgeProtocol::V5);
    b.backlog = backlog;
    let gw = TestNode::start_with(|c| {
        c.session.publisher_wait = Duration::from_millis(100);
        c.bridges.insert("cloud".into(), b);
    })
    .await;
    wait_connected(&gw, true).await;
    upstream.stop().await;
    wait_connected(&gw, false).await;
    (upstream, gw)
}

/// The upstream of [`gateway_cut_off`] comes back and the gateway's backlog drains.
pub async fn upstream_returns(upstream: &mut TestNode, gw: &TestNode) {
    upstream.restart().await;
    wait_connected(gw, true).await;
    wait_backlog_empty(gw).await;
}

/// "cloud-sub" gets messages `from..to` on `site/gw-1/sensors/t` in order, and nothing else.
pub async fn expect_upstream(upstream: &TestNode, from: usize, to: usize) {
    let (mut sub, ack) = Probe::connect_v5(upstream.addr, "cloud-sub", false, expiry(3600)).await;
    assert!(ack.session_present());
    expect_in_order_v5(&mut sub, "site/gw-1/sensors/t", from, to).await;
    sub.expect_silence(Duration::from_millis(400)).await;
}
