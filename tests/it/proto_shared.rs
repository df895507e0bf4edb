//! Shared subscriptions (`$share/<group>/<filter>` and `$queue/<filter>`): one member per
//! message, the three strategies, members leaving, and the rules specific to shared filters.

use mqtt_protocol_core::mqtt::packet::Packet;

use crate::harness::probe::Read;
use crate::harness::{Probe, TestNode};
use crate::proto_util::*;
use starling::config::{Config, SharedStrategy};

fn strategy(c: &mut Config, s: SharedStrategy) {
    c.mqtt.shared_subscription_strategy = s;
}

/// Publish `n` QoS 1 messages "0".."n-1" on `topic` from `p` (each PUBACKed).
async fn publish_n(p: &mut Probe, topic: &str, n: u16) {
    for i in 0..n {
        p.publish_v5(topic, i.to_string().as_bytes(), 1, false, Some(i + 1), vec![]).await;
        expect_puback5(p, i + 1).await;
    }
}

fn payloads(ms: &[mqtt_protocol_core::mqtt::packet::v5_0::Publish]) -> Vec<u16> {
    ms.iter().map(|m| std::str::from_utf8(m.payload().as_slice()).expect("utf8").parse().expect("n")).collect()
}

/// Every message exactly once across the members.
fn assert_partition(parts: &[&[u16]], n: u16) {
    let mut all: Vec<u16> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    all.sort();
    assert_eq!(all, (0..n).collect::<Vec<_>>(), "each message to exactly one member: {parts:?}");
}

#[tokio::test]
async fn mqtt_4_8_2_share_group_round_robin_each_message_to_one_member() {
    let node = TestNode::start().await;
    let mut a = client5(node.addr, "sa", true, vec![]).await;
    let mut b = client5(node.addr, "sb", true, vec![]).await;
    assert_eq!(a.subscribe_v5(1, &[("$share/g/sh/t", 1)], vec![]).await, vec![1]);
    assert_eq!(b.subscribe_v5(1, &[("$share/g/sh/t", 1)], vec![]).await, vec![1]);
    let mut normal = client5(node.addr, "sn", true, vec![]).await;
    normal.subscribe_v5(1, &[("sh/t", 1)], vec![]).await;
    let mut p = client5(node.addr, "sp", true, vec![]).await;
    publish_n(&mut p, "sh/t", 10).await;
    let ga = payloads(&drain_publishes5(&mut a, QUIET, true).await);
    let gb = payloads(&drain_publishes5(&mut b, QUIET, true).await);
    assert_partition(&[&ga, &gb], 10);
    assert_eq!((ga.len(), gb.len()), (5, 5), "round robin spreads evenly: {ga:?} {gb:?}");
    // A plain subscription to the same topic still gets everything.
    assert_eq!(drain_publishes5(&mut normal, QUIET, true).await.len(), 10);
}

#[tokio::test]
async fn queue_prefix_is_a_shared_group() {
    let node = TestNode::start().await;
    let mut a = client5(node.addr, "qa", true, vec![]).await;
    let mut b = client5(node.addr, "qb", true, vec![]).await;
    a.subscribe_v5(1, &[("$queue/jobs", 1)], vec![]).await;
    b.subscribe_v5(1, &[("$queue/jobs", 1)], vec![]).await;
    let mut p = client5(node.addr, "qp", true, vec![]).await;
    publish_n(&mut p, "jobs", 6).await;
    let ga = payloads(&drain_publishes5(&mut a, QUIET, true).await);
    let gb = payloads(&drain_publishes5(&mut b, QUIET, true).await);
    assert_partition(&[&ga, &gb], 6);
    assert!(!ga.is_empty() && !gb.is_empty(), "{ga:?} {gb:?}");
}

#[tokio::test]
async fn separate_groups_each_get_every_message_once() {
    let node = TestNode::start().await;
    let mut a1 = client5(node.addr, "a1", true, vec![]).await;
    let mut a2 = client5(node.addr, "a2", true, vec![]).await;
    let mut b1 = client5(node.addr, "b1", true, vec![]).await;
    a1.subscribe_v5(1, &[("$share/ga/gt", 1)], vec![]).await;
    a2.subscribe_v5(1, &[("$share/ga/gt", 1)], vec![]).await;
    b1.subscribe_v5(1, &[("$share/gb/gt", 1)], vec![]).await;
    let mut p = client5(node.addr, "gp", true, vec![]).await;
    publish_n(&mut p, "gt", 4).await;
    let x1 = payloads(&drain_publishes5(&mut a1, QUIET, true).await);
    let x2 = payloads(&drain_publishes5(&mut a2, QUIET, true).await);
    assert_partition(&[&x1, &x2], 4);
    assert_eq!(payloads(&drain_publishes5(&mut b1, QUIET, true).await), vec![0, 1, 2, 3]);
}

#[tokio::test]
async fn mixed_v311_and_v5_members_share() {
    let node = TestNode::start().await;
    let mut a = client5(node.addr, "m5", true, vec![]).await;
    let mut b = client3(node.addr, "m3", true).await;
    a.subscribe_v5(1, &[("$share/m/mx", 0)], vec![]).await;
    assert_eq!(b.subscribe_v3(1, &[("$share/m/mx", 0)]).await, vec![0]);
    let mut p = client5(node.addr, "mp", true, vec![]).await;
    for i in 0..4u8 {
        p.publish_v5("mx", &[i], 0, false, None, vec![]).await;
    }
    sync5(&mut p).await;
    let na = drain_publishes5(&mut a, QUIET, false).await.len();
    let mut nb = 0;
    while let Read::Packet(Packet::V3_1_1Publish(_)) = b.recv_within(QUIET).await {
        nb += 1;
    }
    assert_eq!(na + nb, 4);
    assert_eq!((na, nb), (2, 2));
}

#[tokio::test]
async fn random_strategy_delivers_each_message_once_to_some_member() {
    let node = TestNode::start_with(|c| strategy(c, SharedStrategy::Random)).await;
    let mut a = client5(node.addr, "ra", true, vec![]).await;
    let mut b = client5(node.addr, "rb", true, vec![]).await;
    a.subscribe_v5(1, &[("$share/r/rt", 1)], vec![]).await;
    b.subscribe_v5(1, &[("$share/r/rt", 1)], vec![]).await;
    let mut p = client5(node.addr, "rp", true, vec![]).await;
    publish_n(&mut p, "rt", 40).await;
    let ga = payloads(&drain_publishes5(&mut a, QUIET, true).await);
    let gb = payloads(&drain_publishes5(&mut b, QUIET, true).await);
    assert_partition(&[&ga, &gb], 40);
    assert!(!ga.is_empty() && !gb.is_empty(), "random picks both members over 40 messages");
}

#[tokio::test]
async fn hash_clientid_strategy_sticks_to_one_member_per_publisher() {
    let node = TestNode::start_with(|c| strategy(c, SharedStrategy::HashClientid)).await;
    let mut a = client5(node.addr, "ha", true, vec![]).await;
    let mut b = client5(node.addr, "hb", true, vec![]).await;
    a.subscribe_v5(1, &[("$share/h/ht", 1)], vec![]).await;
    b.subscribe_v5(1, &[("$share/h/ht", 1)], vec![]).await;
    let mut p = client5(node.addr, "hp", true, vec![]).await;
    publish_n(&mut p, "ht", 10).await;
    let ga = payloads(&drain_publishes5(&mut a, QUIET, true).await);
    let gb = payloads(&drain_publishes5(&mut b, QUIET, true).await);
    assert_partition(&[&ga, &gb], 10);
    assert!(ga.is_empty() || gb.is_empty(), "one publisher → one member: {ga:?} {gb:?}");
}

#[tokio::test]
async fn member_that_disconnects_stops_receiving() {
    let node = TestNode::start().await;
    let mut a = client5(node.addr, "da", true, vec![]).await;
    let mut b = client5(node.addr, "db", true, vec![]).await;
    a.subscribe_v5(1, &[("$share/d/dt", 1)], vec![]).await;
    b.subscribe_v5(1, &[("$share/d/dt", 1)], vec![]).await;
    disconnect_normal(&mut a).await;
    assert!(matches!(a.recv().await, Read::Closed));
    let mut p = client5(node.addr, "dp", true, vec![]).await;
    publish_n(&mut p, "dt", 4).await;
    assert_eq!(payloads(&drain_publishes5(&mut b, QUIET, true).await), vec![0, 1, 2, 3]);
}

#[tokio::test]
async fn unacknowledged_qos1_of_a_leaving_member_goes_to_another_member() {
    let node = TestNode::start().await;
    let mut a = client5(node.addr, "ua", true, vec![]).await;
    let mut b = client5(node.addr, "ub", true, vec![]).await;
    a.subscribe_v5(1, &[("$share/u/ut", 1)], vec![]).await;
    b.subscribe_v5(1, &[("$share/u/ut", 1)], vec![]).await;
    let mut p = client5(node.addr, "up", true, vec![]).await;
    publish_n(&mut p, "ut", 4).await;
    // A receives its share and never acknowledges; B acknowledges.
    let ga = payloads(&drain_publishes5(&mut a, QUIET, false).await);
    let gb = payloads(&drain_publishes5(&mut b, QUIET, true).await);
    assert_partition(&[&ga, &gb], 4);
    assert!(!ga.is_empty(), "A got some messages: {ga:?} / {gb:?}");
    drop(a);
    let redelivered = payloads(&drain_publishes5(&mut b, std::time::Duration::from_secs(1), true).await);
    let mut want = ga.clone();
    want.sort();
    let mut got = redelivered.clone();
    got.sort();
    assert_eq!(got, want, "A's unacknowledged messages are handed to B");
}

#[tokio::test]
async fn mqtt_3_8_3_4_no_local_on_shared_subscription_is_protocol_error() {
    let node = TestNode::start().await;
    let mut a = client5(node.addr, "nls", true, vec![]).await;
    a.send(
        mqtt_protocol_core::mqtt::packet::v5_0::Subscribe::builder()
            .packet_id(1u16)
            .entries(vec![entry("$share/g/nl", 0, true, false, 0)])
            .build()
            .expect("subscribe"),
    )
    .await;
    assert_eq!(close_reason(&mut a).await, Some(0x82));
}

#[tokio::test]
async fn mqtt_4_8_2_retained_not_sent_for_shared_subscription() {
    let node = TestNode::start().await;
    let mut p = client5(node.addr, "srp", true, vec![]).await;
    p.publish_v5("sr", b"kept", 1, true, Some(1), vec![]).await;
    expect_puback5(&mut p, 1).await;
    let mut a = client5(node.addr, "sra", true, vec![]).await;
    a.subscribe_v5(1, &[("$share/g/sr", 1)], vec![]).await;
    a.expect_silence(QUIET).await;
}

#[tokio::test]
async fn mqtt_4_8_2_2_invalid_shared_filters_refused() {
    let node = TestNode::start().await;
    // The spec names no reason code: SUBACK with a failure code for the entry, or closing the
    // connection as malformed / protocol error, are both acceptable. Never a grant.
    for (i, f) in ["$share/g", "$share/g+x/t", "$share//t", "$share/g#/t"].iter().enumerate() {
        let mut a = client5(node.addr, &format!("isf{i}"), true, vec![]).await;
        // Raw SUBSCRIBE: the client library refuses to build some of these filters.
        let mut body = vec![0, 1, 0];
        body.extend(mstr(f.as_bytes()));
        body.push(0);
        a.send_raw(&raw(0x82, &body)).await;
        match a.expect().await {
            Packet::V5_0Suback(s) => {
                let rc = s.reason_codes()[0] as u8;
                assert!(rc >= 0x80, "{f} granted: {rc:#x}");
            }
            Packet::V5_0Disconnect(d) => {
                let rc = d.reason_code().map(|c| c as u8);
                assert!(matches!(rc, Some(0x81) | Some(0x82) | Some(0x8F)), "{f}: {rc:?}");
            }
            other => panic!("{f}: unexpected {other:?}"),
        }
    }
    let mut ok = client5(node.addr, "isf-ok", true, vec![]).await;
    assert_eq!(ok.subscribe_v5(1, &[("$share/ok/t", 0)], vec![]).await, vec![0]);
}
