//! Storage settings: every `storage.sync` policy and `storage.compression = "none"` start a
//! node and keep a persistent session (subscription and queue) and a retained message across a
//! restart.

use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::Packet;
use starling::config::{Compression, Config, SyncPolicy};

use crate::harness::{Probe, TestNode};
use crate::persist_util::*;

async fn keeps_data_across_restart(tweak: impl FnOnce(&mut Config)) {
    let mut node = TestNode::start_with(tweak).await;
    assert!(node.data_dir().join("db").is_dir(), "the database lives under data_dir/db");
    let (mut sub, _) = Probe::connect_v5(node.addr, "st-sub", true, expiry(3600)).await;
    assert_eq!(sub.subscribe_v5(1, &[("st/q", 1)], vec![]).await, vec![1]);
    bye_v5(sub).await;
    wait_idle(&node).await;
    publish_qos1_v5(node.addr, "st/q", 50).await;

    let (mut p, _) = Probe::connect_v5(node.addr, "st-ret", true, vec![]).await;
    p.publish_v5("st/retained", b"still here", 1, true, Some(1), vec![]).await;
    assert!(matches!(p.expect().await, Packet::V5_0Puback(_)));
    bye_v5(p).await;

    node.restart().await;

    let (mut sub, ack) = Probe::connect_v5(node.addr, "st-sub", false, expiry(3600)).await;
    assert!(ack.session_present());
    expect_in_order_v5(&mut sub, "st/q", 0, 50).await;
    sub.expect_silence(Duration::from_millis(300)).await;

    let (mut s, _) = Probe::connect_v5(node.addr, "st-late", true, vec![]).await;
    assert_eq!(s.subscribe_v5(1, &[("st/retained", 0)], vec![]).await, vec![0]);
    let m = s.expect_publish_v5().await;
    assert_eq!(m.payload().as_slice(), b"still here");
    assert!(m.retain());
}

#[tokio::test]
async fn storage_sync_always_keeps_data() {
    keeps_data_across_restart(|c| c.storage.sync = SyncPolicy::Always).await;
}

#[tokio::test]
async fn storage_sync_interval_keeps_data() {
    keeps_data_across_restart(|c| {
        c.storage.sync = SyncPolicy::Interval;
        c.storage.sync_interval = Duration::from_millis(10);
    })
    .await;
}

#[tokio::test]
async fn storage_sync_never_keeps_data() {
    keeps_data_across_restart(|c| c.storage.sync = SyncPolicy::Never).await;
}

#[tokio::test]
async fn storage_compression_none_keeps_data() {
    keeps_data_across_restart(|c| c.storage.compression = Compression::None).await;
}

/// A database written with lz4 can be reopened with compression off (the setting applies to
/// new blocks; existing data stays readable).
#[tokio::test]
async fn storage_compression_can_change_between_restarts() {
    let mut node = TestNode::start().await;
    let (mut sub, _) = Probe::connect_v5(node.addr, "cc-sub", true, expiry(3600)).await;
    assert_eq!(sub.subscribe_v5(1, &[("cc/q", 1)], vec![]).await, vec![1]);
    bye_v5(sub).await;
    wait_idle(&node).await;
    publish_qos1_v5(node.addr, "cc/q", 5).await;
    node.cfg.storage.compression = Compression::None;
    node.restart().await;
    let (mut sub, ack) = Probe::connect_v5(node.addr, "cc-sub", false, expiry(3600)).await;
    assert!(ack.session_present());
    expect_in_order_v5(&mut sub, "cc/q", 0, 5).await;
}
