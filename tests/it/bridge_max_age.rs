//! `[bridges.*.backlog] max_age`: messages that waited in the backlog longer than that are
//! dropped, counted as `expired`, instead of sent when the upstream returns; younger ones are
//! sent in order.

use std::time::Duration;

use crate::bridge_util::*;
use crate::persist_util::*;
use starling::config::bridge::{BacklogConfig, Overflow};

#[tokio::test]
async fn bridge_max_age_drops_what_waited_too_long() {
    let backlog = BacklogConfig { max_age: Duration::from_secs(1), ..BacklogConfig::default() };
    let (mut upstream, gw) = gateway_cut_off(backlog).await;
    publish_qos1_v5(gw.addr, "sensors/old", 3).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    publish_qos1_v5(gw.addr, "sensors/t", 4).await;
    upstream_returns(&mut upstream, &gw).await;
    assert_eq!(snapshot(&gw).dropped.get("expired").copied(), Some(3));
    expect_upstream(&upstream, 0, 4).await;
}

/// A full `refuse` backlog whose oldest messages are past `max_age` drops those (as
/// `expired`) to take a new message instead of refusing it.
#[tokio::test]
async fn bridge_max_age_makes_room_in_a_full_backlog() {
    let backlog = BacklogConfig {
        max_messages: 3,
        max_age: Duration::from_secs(1),
        overflow: Overflow::Refuse,
        ..BacklogConfig::default()
    };
    let (mut upstream, gw) = gateway_cut_off(backlog).await;
    publish_qos1_v5(gw.addr, "sensors/old", 3).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    publish_qos1_v5(gw.addr, "sensors/t", 3).await;
    let s = snapshot(&gw);
    assert_eq!((s.dropped.get("expired").copied(), s.dropped.get("overflow").copied()), (Some(3), Some(0)));
    upstream_returns(&mut upstream, &gw).await;
    expect_upstream(&upstream, 0, 3).await;
}
