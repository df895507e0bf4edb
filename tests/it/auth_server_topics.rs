//! Topics starting with `$` are the server's (issue 13, item 6): a client PUBLISH to one is
//! refused (5.0 PUBACK 0x87; 3.1.1 acknowledged and dropped) and reaches no subscriber, unless
//! an ACL rule grants that topic explicitly.

use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::Packet;

use crate::auth_util::*;
use crate::harness::{Probe, TestNode};

const QUIET: Duration = Duration::from_millis(300);

async fn puback_code(p: &mut Probe) -> u8 {
    match p.expect().await {
        Packet::V5_0Puback(a) => a.reason_code().map_or(0, |c| c as u8),
        Packet::V3_1_1Puback(_) => 0,
        other => panic!("expected PUBACK, got {other:?}"),
    }
}

#[tokio::test]
async fn auth_server_topics_client_publish_to_sys_is_refused() {
    let node = TestNode::start().await;
    let (mut watcher, _) = Probe::connect_v5(node.addr, "watcher", true, vec![]).await;
    assert_eq!(watcher.subscribe_v5(1, &[("$SYS/#", 1), ("$other/#", 1)], vec![]).await, vec![1, 1]);

    let (mut p5, _) = Probe::connect_v5(node.addr, "forger5", true, vec![]).await;
    p5.publish_v5("$SYS/broker/version", b"forged", 1, false, Some(1), vec![]).await;
    assert_eq!(puback_code(&mut p5).await, 0x87);
    p5.publish_v5("$other/x", b"forged", 0, true, None, vec![]).await;

    let (mut p3, _) = Probe::connect_v3(node.addr, "forger3", true).await;
    p3.publish_v3("$SYS/broker/uptime", b"forged", 1, false, Some(1)).await;
    assert_eq!(puback_code(&mut p3).await, 0, "3.1.1 has no refusal code: acknowledged, dropped");

    watcher.expect_silence(QUIET).await;
    assert_eq!(refused(&node, "acl_publish"), 3);
    // The retained forgery was not kept either.
    let (mut late, _) = Probe::connect_v5(node.addr, "late", true, vec![]).await;
    late.subscribe_v5(1, &[("$other/#", 0)], vec![]).await;
    late.expect_silence(QUIET).await;
}

#[tokio::test]
async fn auth_server_topics_explicit_acl_rule_grants_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let acl = dir.path().join("acl.toml");
    std::fs::write(
        &acl,
        r#"
[[rules]]
permission = "allow"
action = "publish"
topics = ["$app/events"]
"#,
    )
    .expect("acl");
    let node = TestNode::start_with(|c| c.auth.acl_file = Some(acl.clone())).await;
    let (mut watcher, _) = Probe::connect_v5(node.addr, "watcher", true, vec![]).await;
    watcher.subscribe_v5(1, &[("$app/#", 1), ("$SYS/#", 1)], vec![]).await;
    let (mut p, _) = Probe::connect_v5(node.addr, "app", true, vec![]).await;
    p.publish_v5("$app/events", b"granted", 1, false, Some(1), vec![]).await;
    assert_eq!(puback_code(&mut p).await, 0);
    assert_eq!(watcher.expect_publish_v5().await.payload().as_slice(), b"granted");
    p.publish_v5("$app/other", b"no", 1, false, Some(2), vec![]).await;
    assert_eq!(puback_code(&mut p).await, 0x87, "only the granted topic");
    watcher.expect_silence(QUIET).await;
}
