//! Helpers for the bridge tests: a gateway node bridged to an upstream address, and waits on
//! the bridge's status.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use starling::bridge::status::BridgeSnapshot;
use starling::config::bridge::{BridgeConfig, BridgeProtocol, TopicRule};

use crate::harness::{TestNode, wait_for};

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
