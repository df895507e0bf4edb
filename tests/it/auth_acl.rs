//! Authorization through real sockets: publish and subscribe decisions with their reason codes
//! for both protocol versions, placeholders with mosquitto clients, retained and will
//! messages, and reloading the ACL file.

use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::{Packet, v3_1_1, v5_0};

use crate::auth_util::*;
use crate::harness::probe::qos;
use crate::harness::{Probe, TestNode, run_tool};
use crate::proto_util::{QUIET, WillSpec, sync3, sync5};

const T: Duration = Duration::from_secs(10);

const ACL: &str = r#"
default = "deny"

[[rules]]
permission = "allow"
action = "all"
topics = ["users/%u/#"]

[[rules]]
permission = "allow"
action = "publish"
topics = ["devices/%c/state"]

[[rules]]
permission = "deny"
action = "subscribe"
topics = ["public/secret/#"]

[[rules]]
permission = "allow"
action = "all"
topics = ["public/#"]
"#;

async fn acl_node(acl: &str) -> (TestNode, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = password_file(dir.path(), &[("alice", "pa"), ("bob", "pb")]);
    let acl_file = dir.path().join("acl.toml");
    std::fs::write(&acl_file, acl).expect("write acl");
    let node = TestNode::start_with(|c| {
        c.auth.password_file = Some(users.clone());
        c.auth.acl_file = Some(acl_file.clone());
    })
    .await;
    (node, dir)
}

async fn publish5(p: &mut Probe, topic: &str, q: u8, pid: u16, retain: bool) {
    let mut b =
        v5_0::Publish::builder().topic_name(topic).expect("topic").qos(qos(q)).retain(retain).payload(b"x".to_vec());
    if q > 0 {
        b = b.packet_id(pid);
    }
    p.send(b.build().expect("publish")).await;
}

async fn subscribe5(p: &mut Probe, filter: &str) -> u8 {
    p.subscribe_v5(7, &[(filter, 1)], vec![]).await[0]
}

#[tokio::test]
async fn acl_publish_denied_v5_gets_0x87_for_qos1_and_qos2() {
    let (node, _d) = acl_node(ACL).await;
    let (mut alice, rc) = login5(node.addr, "dev-a", Some("alice"), Some("pa"), None).await;
    assert_eq!(rc, 0);
    let (mut watcher, _) = login5(node.addr, "w", Some("bob"), Some("pb"), None).await;
    // (`public/#` would overlap the deny of public/secret/#.)
    assert_eq!(subscribe5(&mut watcher, "public/news/#").await, 1);

    publish5(&mut alice, "users/bob/x", 1, 1, false).await;
    match alice.expect().await {
        Packet::V5_0Puback(a) => assert_eq!(a.reason_code().map(|c| c as u8), Some(0x87)),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    publish5(&mut alice, "users/bob/x", 2, 2, false).await;
    match alice.expect().await {
        Packet::V5_0Pubrec(a) => assert_eq!(a.reason_code().map(|c| c as u8), Some(0x87)),
        other => panic!("expected PUBREC, got {other:?}"),
    }
    // Allowed: her own tree and her device's state topic.
    publish5(&mut alice, "users/alice/x", 1, 3, false).await;
    match alice.expect().await {
        Packet::V5_0Puback(a) => assert!(a.reason_code().is_none_or(|c| (c as u8) < 0x80), "{a:?}"),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    publish5(&mut alice, "devices/dev-a/state", 0, 0, false).await;
    publish5(&mut alice, "devices/dev-b/state", 0, 0, false).await;
    assert!(sync5(&mut alice).await.is_empty(), "QoS 0 denials are silent");
    assert_eq!(refused(&node, "acl_publish"), 3);
    // The connection stays up after denials.
    publish5(&mut alice, "public/news/ok", 0, 0, false).await;
    assert_eq!(watcher.expect_publish_v5().await.topic_name(), "public/news/ok");
}

#[tokio::test]
async fn acl_publish_denied_v311_is_acknowledged_and_dropped() {
    let (node, _d) = acl_node(ACL).await;
    let (mut watcher, _) = login5(node.addr, "w", Some("bob"), Some("pb"), None).await;
    assert_eq!(subscribe5(&mut watcher, "users/bob/#").await, 1);
    let (mut alice, rc) = login3(node.addr, "dev-a", Some("alice"), Some("pa"), None).await;
    assert_eq!(rc, 0);
    alice.publish_v3("users/bob/x", b"nope", 1, false, Some(1)).await;
    match alice.expect().await {
        Packet::V3_1_1Puback(a) => assert_eq!(a.packet_id(), 1),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    alice.publish_v3("users/bob/y", b"nope", 2, false, Some(2)).await;
    match alice.expect().await {
        Packet::V3_1_1Pubrec(a) => assert_eq!(a.packet_id(), 2),
        other => panic!("expected PUBREC, got {other:?}"),
    }
    alice.send(v3_1_1::Pubrel::builder().packet_id(2).build().expect("pubrel")).await;
    match alice.expect().await {
        Packet::V3_1_1Pubcomp(a) => assert_eq!(a.packet_id(), 2),
        other => panic!("expected PUBCOMP, got {other:?}"),
    }
    assert!(sync3(&mut alice).await.is_empty());
    watcher.expect_silence(QUIET).await;
    assert_eq!(refused(&node, "acl_publish"), 2);
}

#[tokio::test]
async fn acl_subscribe_denied_gets_0x87_v5_and_0x80_v311() {
    let (node, _d) = acl_node(ACL).await;
    let (mut a5, _) = login5(node.addr, "s5", Some("alice"), Some("pa"), None).await;
    let codes =
        a5.subscribe_v5(1, &[("users/alice/#", 1), ("users/bob/#", 1), ("#", 0), ("public/+/x", 0)], vec![]).await;
    assert_eq!(codes, vec![1, 0x87, 0x87, 0x87], "public/+/x overlaps the deny of public/secret/#");
    assert_eq!(a5.subscribe_v5(2, &[("public/news/#", 0)], vec![]).await, vec![0]);
    let (mut a3, _) = login3(node.addr, "s3", Some("alice"), Some("pa"), None).await;
    assert_eq!(a3.subscribe_v3(1, &[("users/alice/+", 1), ("users/+/x", 1)]).await, vec![1, 0x80]);
    assert_eq!(refused(&node, "acl_subscribe"), 4);
    // Anonymous clients have no username: the %u rule does not apply to them.
    let (mut anon, _) = login5(node.addr, "anon", None, None, None).await;
    assert_eq!(subscribe5(&mut anon, "users//#").await, 0x87);
}

#[tokio::test]
async fn acl_shared_subscriptions_are_checked_on_their_filter() {
    let (node, _d) = acl_node(ACL).await;
    let (mut a, _) = login5(node.addr, "sh", Some("alice"), Some("pa"), None).await;
    assert_eq!(
        a.subscribe_v5(1, &[("$share/g/users/alice/#", 1), ("$share/g/users/bob/#", 1)], vec![]).await,
        vec![1, 0x87]
    );
}

#[tokio::test]
async fn acl_retained_publish_is_checked_and_not_stored_when_denied() {
    let (node, _d) = acl_node(ACL).await;
    let (mut a, _) = login5(node.addr, "r", Some("alice"), Some("pa"), None).await;
    publish5(&mut a, "users/bob/retained", 1, 1, true).await;
    match a.expect().await {
        Packet::V5_0Puback(x) => assert_eq!(x.reason_code().map(|c| c as u8), Some(0x87)),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    publish5(&mut a, "users/alice/retained", 1, 2, true).await;
    let _ = a.expect().await;
    assert!(node.broker().retained_message("users/bob/retained").is_none());
    assert!(node.broker().retained_message("users/alice/retained").is_some());
}

#[tokio::test]
async fn acl_will_topic_denied_refuses_the_connect() {
    let (node, _d) = acl_node(ACL).await;
    let bad = WillSpec { topic: "users/bob/will".into(), payload: b"w".to_vec(), ..Default::default() };
    let good = WillSpec { topic: "users/alice/will".into(), payload: b"w".to_vec(), ..Default::default() };
    assert_eq!(login5(node.addr, "w1", Some("alice"), Some("pa"), Some(bad.clone())).await.1, 0x87);
    assert_eq!(login3(node.addr, "w2", Some("alice"), Some("pa"), Some(bad)).await.1, 5);
    assert_eq!(refused(&node, "connect_will_not_authorized"), 2);
    assert_eq!(login5(node.addr, "w3", Some("alice"), Some("pa"), Some(good)).await.1, 0);
}

#[tokio::test]
async fn acl_placeholders_with_mosquitto_clients() {
    let (node, _d) = acl_node(ACL).await;
    let port = node.port().to_string();
    let base = ["-h", "127.0.0.1", "-p", port.as_str(), "-V", "mqttv5"];
    // bob subscribes to his own tree; alice's publish there is denied, bob's own one arrives.
    let sub = tokio::process::Command::new("mosquitto_sub")
        .args(base)
        .args(["-u", "bob", "-P", "pb", "-t", "users/bob/#", "-C", "1", "-F", "%t %p"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("mosquitto_sub");
    let b = node.broker().clone();
    crate::harness::wait_for("bob's subscription", T, || b.subscription_count() >= 1).await;
    // mosquitto_pub may report the 0x87 PUBACK as an error (5.0); what matters is that the
    // message does not reach bob.
    run_tool(
        "mosquitto_pub",
        &[&base[..], &["-u", "alice", "-P", "pa", "-t", "users/bob/inbox", "-m", "from-alice", "-q", "1"]].concat(),
        T,
    )
    .await;
    let ok = run_tool(
        "mosquitto_pub",
        &[&base[..], &["-u", "bob", "-P", "pb", "-t", "users/bob/inbox", "-m", "from-bob", "-q", "1"]].concat(),
        T,
    )
    .await;
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let out = tokio::time::timeout(T, sub.wait_with_output()).await.expect("sub finished").expect("output");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "users/bob/inbox from-bob");
    assert!(refused(&node, "acl_publish") >= 1);
}

#[tokio::test]
async fn acl_reload_applies_to_connected_clients_and_bad_files_keep_the_old_rules() {
    let (node, d) = acl_node(ACL).await;
    let (mut a, _) = login5(node.addr, "rl", Some("alice"), Some("pa"), None).await;
    assert_eq!(subscribe5(&mut a, "open/#").await, 0x87);
    let f = d.path().join("acl.toml");
    std::fs::write(
        &f,
        format!("{ACL}\n[[rules]]\npermission = \"allow\"\naction = \"subscribe\"\ntopics = [\"open/#\"]\n"),
    )
    .expect("write");
    let h = node.handle.as_ref().expect("running");
    let r = h.reload(&node.cfg);
    let item = r.iter().find(|r| r.what == "ACL file").expect("ACL reloaded");
    assert!(item.outcome.as_ref().is_ok_and(|s| s.starts_with("5 rules")), "{:?}", item.outcome);
    assert_eq!(subscribe5(&mut a, "open/#").await, 1, "the connected client sees the new rules");
    std::fs::write(&f, "[[rules]]\npermission = \"allow\"\n").expect("write");
    let r = h.reload(&node.cfg);
    let item = r.iter().find(|r| r.what == "ACL file").expect("reported");
    let err = item.outcome.as_ref().expect_err("broken file").to_string();
    assert!(err.contains("acl.toml") && err.contains("previous rules stay"), "{err}");
    assert_eq!(a.subscribe_v5(9, &[("open/x", 0), ("users/bob/x", 0)], vec![]).await, vec![0, 0x87]);
}
