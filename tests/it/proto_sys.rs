//! `$`-topics: not matched by filters starting with a wildcard (MQTT-4.7.2-1), and the
//! periodic `$SYS/broker/...` topics.

use std::time::{Duration, Instant};

use crate::harness::TestNode;
use crate::harness::probe::Read;
use crate::proto_util::*;
use mqtt_protocol_core::mqtt::packet::Packet;

fn with_sys(c: &mut starling::config::Config) {
    c.sys.enabled = true;
    c.sys.interval = Duration::from_secs(1);
}

#[tokio::test]
async fn mqtt_4_7_2_1_leading_wildcards_do_not_match_dollar_topics() {
    // Clients may publish to a `$` topic only where an ACL rule grants it (docs/security.md).
    let dir = tempfile::tempdir().expect("tempdir");
    let acl = dir.path().join("acl.toml");
    let rule = "[[rules]]\npermission = \"allow\"\naction = \"publish\"\ntopics = [\"$app/#\"]\n";
    std::fs::write(&acl, rule).expect("acl");
    let node = TestNode::start_with(|c| c.auth.acl_file = Some(acl.clone())).await;
    let mut hash = client5(node.addr, "dh", true, vec![]).await;
    hash.subscribe_v5(1, &[("#", 0), ("+/x", 0), ("+/+", 0)], vec![]).await;
    let mut dollar = client5(node.addr, "dd", true, vec![]).await;
    dollar.subscribe_v5(1, &[("$app/#", 0)], vec![]).await;
    let mut p = client5(node.addr, "dp", true, vec![]).await;
    p.publish_v5("$app/x", b"hidden", 0, false, None, vec![]).await;
    p.publish_v5("app/x", b"plain", 0, false, None, vec![]).await;
    assert_eq!(dollar.expect_publish_v5().await.payload().as_slice(), b"hidden");
    let got = drain_publishes5(&mut hash, QUIET, false).await;
    assert!(!got.is_empty());
    for m in &got {
        assert_eq!(m.topic_name(), "app/x", "a '$' topic matched a leading wildcard");
    }
}

#[tokio::test]
async fn mqtt_4_7_2_1_hash_subscriber_gets_no_sys_topics() {
    let node = TestNode::start_with(with_sys).await;
    let mut hash = client5(node.addr, "sh", true, vec![]).await;
    hash.subscribe_v5(1, &[("#", 0), ("+/broker/#", 0)], vec![]).await;
    let mut sys = client5(node.addr, "ss", true, vec![]).await;
    sys.subscribe_v5(1, &[("$SYS/#", 0)], vec![]).await;
    // Wait until $SYS has certainly been published (the sys subscriber sees it).
    let m = sys.expect_publish_v5().await;
    assert!(m.topic_name().starts_with("$SYS/broker/"));
    hash.expect_silence(Duration::from_millis(1200)).await;
}

#[tokio::test]
async fn sys_topics_are_published_periodically() {
    let node = TestNode::start_with(with_sys).await;
    let mut s = client5(node.addr, "sp", true, vec![]).await;
    s.subscribe_v5(1, &[("$SYS/broker/uptime", 0)], vec![]).await;
    let start = Instant::now();
    let mut seen = 0;
    while seen < 3 && start.elapsed() < Duration::from_secs(4) {
        match s.recv_within(Duration::from_secs(2)).await {
            Read::Packet(Packet::V5_0Publish(m)) => {
                assert_eq!(m.topic_name(), "$SYS/broker/uptime");
                let text = std::str::from_utf8(m.payload().as_slice()).expect("utf8");
                assert!(text.ends_with("seconds"), "{text}");
                seen += 1;
            }
            other => panic!("expected $SYS uptime, got {other:?}"),
        }
    }
    // The retained copy (possibly) plus at least two periodic ones.
    assert!(seen >= 3, "only {seen} uptime messages in {:?}", start.elapsed());
}

#[tokio::test]
async fn sys_topics_are_retained_and_report_connected_clients() {
    let node = TestNode::start_with(with_sys).await;
    let mut first = client5(node.addr, "sr1", true, vec![]).await;
    first.subscribe_v5(1, &[("$SYS/broker/clients/connected", 0)], vec![]).await;
    // Once one tick happened, a new subscriber gets the retained value at once.
    let _ = first.expect_publish_v5().await;
    let mut late = client5(node.addr, "sr2", true, vec![]).await;
    late.subscribe_v5(1, &[("$SYS/broker/version", 0)], vec![]).await;
    let m = match late.recv_within(Duration::from_millis(500)).await {
        Read::Packet(Packet::V5_0Publish(m)) => m,
        other => panic!("expected the retained $SYS/broker/version, got {other:?}"),
    };
    assert!(m.retain());
    assert!(!m.payload().is_empty());
    // The connected count eventually reports both clients.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let m = first.expect_publish_v5().await;
        let n: u64 = std::str::from_utf8(m.payload().as_slice()).expect("utf8").parse().expect("count");
        if n == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "clients/connected never reported 2 (last {n})");
    }
}

#[tokio::test]
async fn sys_disabled_publishes_nothing() {
    let node = TestNode::start().await;
    let mut s = client5(node.addr, "sd", true, vec![]).await;
    s.subscribe_v5(1, &[("$SYS/#", 0)], vec![]).await;
    s.expect_silence(Duration::from_millis(500)).await;
}
