//! Revoked permissions stop delivering (issue 13, item 2): when the ACL changes, subscriptions
//! that already exist — of connected clients and of persisted sessions — are checked again and
//! what the new rules deny is removed; a node restarted with changed rules does the same before
//! its sessions resume. In a cluster every node checks its own sessions the same way.

use std::time::Duration;

use crate::auth_session_owner::owner_login5;
use crate::auth_util::*;
use crate::harness::{Probe, TestNode, wait_for};

const T: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(400);
const OPEN: &str = "default = \"allow\"\n";
const NO_DATA: &str =
    "default = \"allow\"\n[[rules]]\npermission = \"deny\"\naction = \"subscribe\"\ntopics = [\"data/secret/#\"]\n";
const ALICE: Option<(&str, &str)> = Some(("alice", "alice-pw"));

async fn node_with_acl(acl: &str) -> (TestNode, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = password_file(dir.path(), &[("alice", "alice-pw")]);
    let f = dir.path().join("acl.toml");
    std::fs::write(&f, acl).expect("acl");
    let node = TestNode::start_with(|c| {
        c.auth.password_file = Some(users.clone());
        c.auth.acl_file = Some(f.clone());
    })
    .await;
    (node, dir)
}

async fn publish(node: &TestNode, topic: &str) {
    let (mut p, _) = Probe::connect_v5(node.addr, &format!("p-{}", rand::random::<u32>()), true, vec![]).await;
    p.publish_v5(topic, topic.as_bytes(), 1, false, Some(1), vec![]).await;
    p.expect().await;
}

#[tokio::test]
async fn auth_acl_revoke_on_reload_removes_live_and_persisted_subscriptions() {
    let (node, dir) = node_with_acl(OPEN).await;
    let (mut live, rc, _) = owner_login5(node.addr, "live", ALICE, true, 0).await;
    assert_eq!(rc, 0);
    assert_eq!(live.subscribe_v5(1, &[("data/#", 1), ("other/#", 1)], vec![]).await, vec![1, 1]);
    let (mut stored, rc, _) = owner_login5(node.addr, "stored", ALICE, false, 3600).await;
    assert_eq!(rc, 0);
    assert_eq!(stored.subscribe_v5(1, &[("data/secret/+", 1)], vec![]).await, vec![1]);
    drop(stored);
    wait_for("stored session offline", T, || node.broker().connections.load(std::sync::atomic::Ordering::Relaxed) == 1)
        .await;

    std::fs::write(dir.path().join("acl.toml"), NO_DATA).expect("acl");
    let h = node.handle.as_ref().expect("running");
    assert!(h.reload(&node.cfg).iter().any(|r| r.what == "ACL file" && r.outcome.is_ok()));
    wait_for("revoked", T, || refused(&node, "subscription_revoked") == 2).await;
    assert!(node.broker().catalog.durable_subscriptions("stored").is_empty(), "the durable copy follows");

    publish(&node, "data/secret/x").await;
    publish(&node, "other/x").await;
    assert_eq!(live.expect_publish_v5().await.topic_name(), "other/x", "data/# no longer delivers");
    live.expect_silence(QUIET).await;
    let (mut stored, _, present) = owner_login5(node.addr, "stored", ALICE, false, 3600).await;
    assert!(present);
    stored.expect_silence(QUIET).await;
}

#[tokio::test]
async fn auth_acl_revoke_rules_changed_while_down_apply_before_resume() {
    let (mut node, dir) = node_with_acl(OPEN).await;
    let (mut stored, rc, _) = owner_login5(node.addr, "stored", ALICE, false, 3600).await;
    assert_eq!(rc, 0);
    assert_eq!(stored.subscribe_v5(1, &[("data/#", 1), ("other/#", 1)], vec![]).await, vec![1, 1]);
    drop(stored);
    wait_for("offline", T, || node.broker().connections.load(std::sync::atomic::Ordering::Relaxed) == 0).await;
    node.stop().await;
    std::fs::write(dir.path().join("acl.toml"), NO_DATA).expect("acl");
    node.restart().await;
    publish(&node, "data/secret/x").await;
    publish(&node, "other/x").await;
    let (mut stored, _, present) = owner_login5(node.addr, "stored", ALICE, false, 3600).await;
    assert!(present);
    assert_eq!(stored.expect_publish_v5().await.topic_name(), "other/x");
    stored.expect_silence(QUIET).await;
    assert_eq!(refused(&node, "subscription_revoked"), 1);
}
