//! A full backlog (`[bridges.*.backlog] max_messages` or `max_bytes`) while the upstream is
//! away: with `drop_oldest` the oldest messages go, with `refuse` the new one is refused to its
//! publisher (PUBACK 0x97); both counted as `overflow` drops.

use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::Packet;
use mqtt_protocol_core::mqtt::result_code::PubackReasonCode;

use crate::bridge_util::*;
use crate::harness::{Probe, TestNode, wait_for};
use crate::persist_util::*;
use starling::config::bridge::{BacklogConfig, Overflow};

/// Each test message is "sensors/t" (9 bytes) + "m00000" (6 bytes).
const MESSAGE_BYTES: u64 = 15;

/// A backlog bounded to 10 messages by `max_messages`.
fn by_count(overflow: Overflow) -> BacklogConfig {
    BacklogConfig { max_messages: 10, overflow, ..BacklogConfig::default() }
}

/// A backlog bounded to 10 messages by `max_bytes` (the message bound far away).
fn by_bytes(overflow: Overflow) -> BacklogConfig {
    BacklogConfig { max_messages: 1000, max_bytes: 10 * MESSAGE_BYTES, overflow, ..BacklogConfig::default() }
}

fn overflow_drops(gw: &TestNode) -> u64 {
    snapshot(gw).dropped.get("overflow").copied().unwrap_or(0)
}

async fn drain(upstream: &mut TestNode, gw: &TestNode, from: usize, to: usize) {
    upstream_returns(upstream, gw).await;
    expect_upstream(upstream, from, to).await;
}

async fn drop_oldest_keeps_the_newest(backlog: BacklogConfig) {
    let (mut upstream, gw) = gateway_cut_off(backlog).await;
    publish_qos1_v5(gw.addr, "sensors/t", 15).await;
    assert_eq!(overflow_drops(&gw), 5);
    assert_eq!(snapshot(&gw).backlog_messages, 10);
    drain(&mut upstream, &gw, 5, 15).await;
}

async fn refuse_tells_the_publisher(backlog: BacklogConfig) {
    let (mut upstream, gw) = gateway_cut_off(backlog).await;
    publish_qos1_v5(gw.addr, "sensors/t", 10).await;
    one_too_many(&gw).await;
    drain(&mut upstream, &gw, 0, 10).await;
}

/// A full `refuse` backlog: one more message is refused with 0x97 and counted.
async fn one_too_many(gw: &TestNode) {
    let (mut dev, _) = Probe::connect_v5(gw.addr, "dev", true, vec![]).await;
    dev.publish_v5("sensors/t", b"m99999", 1, false, Some(1), vec![]).await;
    match dev.expect().await {
        Packet::V5_0Puback(a) => assert_eq!(a.reason_code(), Some(PubackReasonCode::QuotaExceeded)),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    wait_for("the refusal to be counted", Duration::from_secs(5), || overflow_drops(gw) == 1).await;
}

#[tokio::test]
async fn bridge_overflow_drop_oldest_keeps_the_newest() {
    drop_oldest_keeps_the_newest(by_count(Overflow::DropOldest)).await;
}

#[tokio::test]
async fn bridge_overflow_refuse_tells_the_publisher() {
    refuse_tells_the_publisher(by_count(Overflow::Refuse)).await;
}

#[tokio::test]
async fn bridge_overflow_bytes_drop_oldest_keeps_the_newest() {
    drop_oldest_keeps_the_newest(by_bytes(Overflow::DropOldest)).await;
}

#[tokio::test]
async fn bridge_overflow_bytes_refuse_tells_the_publisher() {
    refuse_tells_the_publisher(by_bytes(Overflow::Refuse)).await;
}

/// The byte count of the backlog is restored from disk: after a gateway restart the full
/// backlog is still full.
#[tokio::test]
async fn bridge_overflow_bytes_bound_holds_across_a_restart() {
    let (mut upstream, mut gw) = gateway_cut_off(by_bytes(Overflow::Refuse)).await;
    publish_qos1_v5(gw.addr, "sensors/t", 10).await;
    gw.restart().await;
    wait_for("the backlog to be restored", Duration::from_secs(5), || snapshot(&gw).backlog_messages == 10).await;
    one_too_many(&gw).await;
    drain(&mut upstream, &gw, 0, 10).await;
}
