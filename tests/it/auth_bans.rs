//! Bans and flapping detection through real sockets: configured client id, username and
//! network bans, bans added and lifted through the REST API (replicated catalog entries, with
//! expiry), and temporary bans from flapping detection.

use std::time::Duration;

use serde_json::json;

use crate::admin_util::*;
use crate::auth_util::*;
use crate::harness::probe::Read;
use crate::harness::{Probe, TestNode, wait_for};
use crate::proto_util::connect5;

/// The connection is closed before any CONNACK.
async fn closed_at_accept(node: &TestNode, id: &str) -> bool {
    let mut p = Probe::tcp(node.addr, true).await;
    p.send(connect5(id, true, 30, vec![], None)).await;
    matches!(p.recv().await, Read::Closed)
}

#[tokio::test]
async fn bans_from_the_configuration_v5_0x8a_and_v311_5() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = password_file(dir.path(), &[("mallory", "pw"), ("ok", "pw")]);
    let node = TestNode::start_with(|c| {
        c.auth.password_file = Some(f.clone());
        c.bans.client_ids = vec!["evil-device".into()];
        c.bans.usernames = vec!["mallory".into()];
    })
    .await;
    assert_eq!(login5(node.addr, "evil-device", None, None, None).await.1, 0x8A);
    assert_eq!(login3(node.addr, "evil-device", None, None, None).await.1, 5);
    assert_eq!(login5(node.addr, "m1", Some("mallory"), Some("pw"), None).await.1, 0x8A);
    assert_eq!(login3(node.addr, "m2", Some("mallory"), Some("pw"), None).await.1, 5);
    assert_eq!(login5(node.addr, "fine", Some("ok"), Some("pw"), None).await.1, 0);
    assert_eq!(refused(&node, "connect_banned_client_id"), 2);
    assert_eq!(refused(&node, "connect_banned_username"), 2);
}

#[tokio::test]
async fn bans_network_from_the_configuration_closes_before_connect() {
    let node = TestNode::start_with(|c| c.bans.networks = vec!["127.0.0.0/8".into()]).await;
    assert!(closed_at_accept(&node, "n1").await);
    assert_eq!(refused(&node, "banned_network"), 1);
    let other = TestNode::start_with(|c| c.bans.networks = vec!["10.0.0.0/8".into(), "::1".into()]).await;
    assert_eq!(login5(other.addr, "n2", None, None, None).await.1, 0, "127.0.0.1 is not in 10/8");
}

#[tokio::test]
async fn bans_through_the_api_add_list_expire_delete() {
    let node = TestNode::start_with(|c| {
        c.admin.api_keys = vec![KEY.into()];
        c.bans.usernames = vec!["from-config".into()];
    })
    .await;
    // A connected client whose id gets banned is disconnected at once.
    let (mut live, rc) = login5(node.addr, "target", None, None, None).await;
    assert_eq!(rc, 0);
    let r = post_json(&node, "/api/v1/bans", &json!({"kind": "client_id", "value": "target", "reason": "test"})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["source"], "api");
    let d = live.expect_close().await.expect("DISCONNECT");
    assert_eq!(d.reason_code().map(|c| c as u8), Some(0x98), "administrative action");
    assert_eq!(login5(node.addr, "target", None, None, None).await.1, 0x8A);

    let r =
        post_json(&node, "/api/v1/bans", &json!({"kind": "network", "value": "127.0.0.9/24", "duration_seconds": 2}))
            .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["value"], "127.0.0.0/24", "stored normalized");
    assert!(r.json()["expires_at"].as_u64().is_some());
    assert!(closed_at_accept(&node, "anyone").await);

    let list = get_ok(&node, "/api/v1/bans").await;
    let rows: Vec<(String, String, String)> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|b| {
            (
                b["kind"].as_str().unwrap_or("").into(),
                b["value"].as_str().unwrap_or("").into(),
                b["source"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("client_id".into(), "target".into(), "api".into()),
            ("username".into(), "from-config".into(), "config".into()),
            ("network".into(), "127.0.0.0/24".into(), "api".into()),
        ]
    );
    assert_eq!(list["meta"]["total"], 3);

    // The network ban expires by itself.
    let addr = node.addr;
    let mut ok = false;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut p = Probe::tcp(addr, true).await;
        p.send(connect5("after-expiry", true, 30, vec![], None)).await;
        if matches!(p.recv().await, Read::Packet(_)) {
            ok = true;
            break;
        }
    }
    assert!(ok, "the network ban expired");

    assert_eq!(delete(&node, "/api/v1/bans/client_id/target").await.status, 204);
    assert_eq!(login5(node.addr, "target", None, None, None).await.1, 0);
    assert_eq!(delete(&node, "/api/v1/bans/client_id/target").await.status, 404);
    assert_eq!(delete(&node, "/api/v1/bans/username/from-config").await.status, 409);
    assert_eq!(delete(&node, "/api/v1/bans/color/red").await.status, 400);
    for bad in [
        json!({"kind": "network", "value": "not-an-address"}),
        json!({"kind": "color", "value": "red"}),
        json!({"kind": "client_id", "value": ""}),
        json!({"kind": "client_id", "value": "x", "duration_seconds": 0}),
        json!({"kind": "client_id"}),
    ] {
        let r = post_json(&node, "/api/v1/bans", &bad).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
}

#[tokio::test]
async fn bans_survive_a_restart_through_the_catalog() {
    let mut node = TestNode::start_with(|c| c.admin.api_keys = vec![KEY.into()]).await;
    let r = post_json(&node, "/api/v1/bans", &json!({"kind": "username", "value": "persisted"})).await;
    assert_eq!(r.status, 201);
    node.restart().await;
    let list = get_ok(&node, "/api/v1/bans").await;
    assert_eq!(list["data"][0]["value"], "persisted");
}

#[tokio::test]
async fn flapping_client_gets_a_temporary_ban_keyed_by_client_and_address() {
    let node = TestNode::start_with(|c| {
        c.admin.api_keys = vec![KEY.into()];
        c.flapping.enabled = true;
        c.flapping.max_connects = 3;
        c.flapping.window = Duration::from_secs(60);
        c.flapping.ban_time = Duration::from_secs(60);
    })
    .await;
    for _ in 0..2 {
        let (p, rc) = login5(node.addr, "flappy", None, None, None).await;
        assert_eq!(rc, 0);
        drop(p);
    }
    assert_eq!(login5(node.addr, "flappy", None, None, None).await.1, 0x8A, "third connect in the window");
    assert_eq!(refused(&node, "connect_flapping"), 1);
    let list = get_ok(&node, "/api/v1/bans").await;
    let flapping: Vec<String> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter(|b| b["source"] == "flapping")
        .map(|b| format!("{}={}", b["kind"].as_str().unwrap_or(""), b["value"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(flapping, vec!["client_id=flappy".to_string(), "network=127.0.0.1/32".to_string()]);
    // The address is banned too: any client from it is closed at accept.
    assert!(closed_at_accept(&node, "innocent").await);
    // Lifting the address ban lets other clients in; the client id stays banned.
    assert_eq!(delete(&node, "/api/v1/bans/network/127.0.0.1%2F32").await.status, 204);
    assert_eq!(login5(node.addr, "innocent", None, None, None).await.1, 0);
    assert_eq!(login5(node.addr, "flappy", None, None, None).await.1, 0x8A);
    assert_eq!(delete(&node, "/api/v1/bans/client_id/flappy").await.status, 204);
    let b = node.broker().clone();
    wait_for("no flapping bans", Duration::from_secs(5), || b.auth.bans.list(&b.catalog).is_empty()).await;
}
