//! Users and bans through the REST API and `starling ctl`: users added through the API are
//! stored as hashes in the catalog and can log in; password-file users are listed read-only.

use std::time::Duration;

use serde_json::json;

use crate::admin_util::*;
use crate::auth_util::*;
use crate::cli_util::{run, starling, text};
use crate::harness::{TestNode, run_tool};

async fn node_with_users() -> (TestNode, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = password_file(dir.path(), &[("filed", "file-pw")]);
    let node = TestNode::start_with(|c| {
        no_anonymous(c);
        c.admin.api_keys = vec![KEY.into()];
        c.auth.password_file = Some(f.clone());
    })
    .await;
    (node, dir)
}

#[tokio::test]
async fn api_users_add_login_list_delete() {
    let (node, _d) = node_with_users().await;
    let r = post_json(&node, "/api/v1/users", &json!({"username": "api-user", "password": "s3cret"})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json(), json!({"username": "api-user", "source": "api", "writable": true}));
    // Only a salted argon2id hash is stored (and replicated).
    let stored = node.broker().catalog.user_hash("api-user").expect("stored");
    assert!(stored.starts_with("$argon2id$") && !stored.contains("s3cret"), "{stored}");
    assert_eq!(login5(node.addr, "u1", Some("api-user"), Some("s3cret"), None).await.1, 0);
    assert_eq!(login5(node.addr, "u2", Some("api-user"), Some("wrong"), None).await.1, 0x86);
    // And with mosquitto_pub.
    let port = node.port().to_string();
    let out = run_tool(
        "mosquitto_pub",
        &["-h", "127.0.0.1", "-p", &port, "-u", "api-user", "-P", "s3cret", "-t", "t", "-m", "m"],
        Duration::from_secs(10),
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Changing the password: 200, the old one stops working.
    let r = post_json(&node, "/api/v1/users", &json!({"username": "api-user", "password": "n3w"})).await;
    assert_eq!(r.status, 200);
    assert_eq!(login5(node.addr, "u3", Some("api-user"), Some("s3cret"), None).await.1, 0x86);
    assert_eq!(login5(node.addr, "u4", Some("api-user"), Some("n3w"), None).await.1, 0);

    let list = get_ok(&node, "/api/v1/users").await;
    assert_eq!(
        list["data"],
        json!([
            {"username": "api-user", "source": "api", "writable": true},
            {"username": "filed", "source": "file", "writable": false},
        ])
    );
    assert_eq!(delete(&node, "/api/v1/users/filed").await.status, 409, "the password file is read-only here");
    let r = post_json(&node, "/api/v1/users", &json!({"username": "filed", "password": "x"})).await;
    assert_eq!(r.status, 409);
    assert_eq!(delete(&node, "/api/v1/users/api-user").await.status, 204);
    assert_eq!(delete(&node, "/api/v1/users/api-user").await.status, 404);
    assert_eq!(login5(node.addr, "u5", Some("api-user"), Some("n3w"), None).await.1, 0x86);
    for bad in [
        json!({"username": "a:b", "password": "x"}),
        json!({"username": "", "password": "x"}),
        json!({"username": "ok", "password": ""}),
        json!({"username": "ok"}),
        json!({"username": "ok", "password": "x", "admin": true}),
    ] {
        assert_eq!(post_json(&node, "/api/v1/users", &bad).await.status, 400, "{bad}");
    }
}

#[tokio::test]
async fn api_users_survive_a_restart() {
    let (mut node, _d) = node_with_users().await;
    let r = post_json(&node, "/api/v1/users", &json!({"username": "kept", "password": "pw"})).await;
    assert_eq!(r.status, 201);
    node.restart().await;
    assert_eq!(login5(node.addr, "k", Some("kept"), Some("pw"), None).await.1, 0);
}

/// `starling ctl --url URL --api-key KEY ARGS...`, with `input` on stdin.
async fn ctl(node: &TestNode, args: &[&str], input: Option<&str>) -> std::process::Output {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = starling(dir.path());
    c.arg("ctl").arg("--url").arg(node.admin_url()).arg("--api-key").arg(KEY).args(args);
    let Some(input) = input else { return run(c).await };
    c.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).await.expect("write");
    drop(stdin);
    tokio::time::timeout(Duration::from_secs(10), child.wait_with_output()).await.expect("in time").expect("output")
}

async fn ctl_ok(node: &TestNode, args: &[&str], input: Option<&str>) -> String {
    let o = ctl(node, args, input).await;
    assert!(o.status.success(), "ctl {args:?} failed: {}", text(&o.stderr));
    text(&o.stdout)
}

#[tokio::test]
async fn ctl_users_add_list_delete() {
    let (node, _d) = node_with_users().await;
    assert_eq!(ctl_ok(&node, &["users", "add", "cli-user"], Some("cli-pw\n")).await.trim(), "added cli-user");
    assert_eq!(login5(node.addr, "c1", Some("cli-user"), Some("cli-pw"), None).await.1, 0);
    let table = ctl_ok(&node, &["users", "list"], None).await;
    assert_eq!(table, "USERNAME  SOURCE  WRITABLE\ncli-user  api     yes\nfiled     file    no\n");
    let json: serde_json::Value =
        serde_json::from_str(&ctl_ok(&node, &["--json", "users", "list"], None).await).expect("json");
    assert_eq!(json["meta"]["total"], 2);
    let o = ctl(&node, &["users", "delete", "filed"], None).await;
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("password file"), "{}", text(&o.stderr));
    assert_eq!(ctl_ok(&node, &["users", "delete", "cli-user"], None).await.trim(), "deleted cli-user");
}

#[tokio::test]
async fn ctl_bans_add_list_delete() {
    let (node, _d) = node_with_users().await;
    let out =
        ctl_ok(&node, &["bans", "add", "network", "192.0.2.0/24", "--reason", "lab", "--duration", "1h"], None).await;
    assert!(out.starts_with("banned network 192.0.2.0/24 until "), "{out}");
    ctl_ok(&node, &["bans", "add", "client_id", "bad-one"], None).await;
    let table = ctl_ok(&node, &["bans", "list"], None).await;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["KIND", "VALUE", "SOURCE", "EXPIRES", "REASON"]);
    assert_eq!(lines[1].split_whitespace().collect::<Vec<_>>(), ["client_id", "bad-one", "api", "never", "-"]);
    let net: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!((net[0], net[1], net[2], net[4]), ("network", "192.0.2.0/24", "api", "lab"));
    assert_eq!(login5(node.addr, "bad-one", Some("filed"), Some("file-pw"), None).await.1, 0x8A);
    let json: serde_json::Value =
        serde_json::from_str(&ctl_ok(&node, &["--json", "bans", "list"], None).await).expect("json");
    assert_eq!(json["meta"]["total"], 2);
    assert_eq!(
        ctl_ok(&node, &["bans", "delete", "network", "192.0.2.0/24"], None).await.trim(),
        "lifted the ban of network 192.0.2.0/24"
    );
    let o = ctl(&node, &["bans", "delete", "network", "192.0.2.0/24"], None).await;
    assert!(!o.status.success() && text(&o.stderr).contains("no ban"), "{}", text(&o.stderr));
}
