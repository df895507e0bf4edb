//! `starling ctl` (the real binary) against a running node: tables for people, `--json` for
//! scripts, and errors that say what to do when the node is unreachable or the key is wrong.

use std::time::Duration;

use mqtt_protocol_core::mqtt::result_code::DisconnectReasonCode;

use crate::admin_util::*;
use crate::cli_util::{free_port, run, starling, text};
use crate::harness::{Probe, TestNode, wait_for};
use crate::persist_util::{bye_v5, expiry};

/// `starling ctl --url URL --api-key KEY ARGS...`
async fn ctl(node: &TestNode, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = starling(dir.path());
    c.arg("ctl").arg("--url").arg(node.admin_url()).arg("--api-key").arg(KEY).args(args);
    run(c).await
}

/// Run, expect success, return stdout.
async fn ctl_ok(node: &TestNode, args: &[&str]) -> String {
    let o = ctl(node, args).await;
    assert!(o.status.success(), "ctl {args:?} failed: {}", text(&o.stderr));
    text(&o.stdout)
}

#[tokio::test]
async fn ctl_status_as_table_and_json() {
    let node = TestNode::start_with(|c| {
        c.admin.api_keys = vec![KEY.into()];
        c.node_name = "ctl-node".into();
    })
    .await;
    let (_p, _) = Probe::connect_v5(node.addr, "ctl-c", true, vec![]).await;
    let t = ctl_ok(&node, &["status"]).await;
    assert!(t.lines().any(|l| l.split_whitespace().eq(["node", "ctl-node"])), "{t}");
    assert!(t.lines().any(|l| l.split_whitespace().eq(["connections", "1"])), "{t}");
    assert!(t.contains("received") && t.contains("dropped"), "{t}");
    let j: serde_json::Value = serde_json::from_str(&ctl_ok(&node, &["status", "--json"]).await).expect("JSON");
    assert_eq!(j["node"], "ctl-node");
    assert_eq!(j["connections"], 1);
}

#[tokio::test]
async fn ctl_clients_list_show_and_kick() {
    let node = node_with_key().await;
    let (mut off, _) = Probe::connect_v5(node.addr, "ctl/offline", true, expiry(3600)).await;
    off.subscribe_v5(1, &[("ctl/#", 1)], vec![]).await;
    bye_v5(off).await;
    let (mut on, _) = Probe::connect_v5(node.addr, "ctl-online", true, vec![]).await;

    let list = ctl_ok(&node, &["clients", "list"]).await;
    let rows: Vec<Vec<&str>> = list.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["CLIENT", "ID", "CONNECTED", "EXPIRY", "SUBS", "QUEUED", "INFLIGHT"]);
    assert_eq!(rows[1], ["ctl-online", "yes", "0s", "0", "0", "0"]);
    assert_eq!(rows[2], ["ctl/offline", "no", "1h", "1", "0", "0"]);
    let connected = ctl_ok(&node, &["clients", "list", "--connected"]).await;
    assert!(connected.contains("ctl-online") && !connected.contains("ctl/offline"), "{connected}");
    let page = ctl_ok(&node, &["clients", "list", "--limit", "1"]).await;
    assert!(page.contains("(1-1 of 2 clients"), "{page}");
    let json: serde_json::Value =
        serde_json::from_str(&ctl_ok(&node, &["clients", "list", "--json", "--prefix", "ctl/"]).await).expect("JSON");
    assert_eq!(json["meta"]["total"], 1);
    assert_eq!(json["data"][0]["client_id"], "ctl/offline");

    let show = ctl_ok(&node, &["clients", "show", "ctl/offline"]).await;
    assert!(show.lines().any(|l| l.split_whitespace().eq(["persistent", "yes"])), "{show}");
    assert!(show.lines().any(|l| l.split_whitespace().eq(["ctl/#", "1", "-"])), "{show}");

    let kicked = ctl_ok(&node, &["clients", "kick", "ctl-online"]).await;
    assert_eq!(kicked.trim(), "kicked ctl-online");
    let d = on.expect_close().await.expect("DISCONNECT before close");
    assert_eq!(d.reason_code(), Some(DisconnectReasonCode::AdministrativeAction));
    let missing = ctl(&node, &["clients", "show", "nobody"]).await;
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("no session for client id \"nobody\""), "{}", text(&missing.stderr));
}

#[tokio::test]
async fn ctl_subscriptions_routes_and_retained() {
    let node = node_with_key().await;
    let (mut p, _) = Probe::connect_v5(node.addr, "ctl-sub", true, vec![]).await;
    p.subscribe_v5(1, &[("a/+", 2)], vec![]).await;
    p.publish_v5("a/kept one", b"hello retained", 0, true, None, vec![]).await;
    p.expect_publish_v5().await;
    let subs = ctl_ok(&node, &["subscriptions"]).await;
    assert!(subs.lines().any(|l| l.split_whitespace().eq(["ctl-sub", "a/+", "2", "-"])), "{subs}");
    let routes = ctl_ok(&node, &["routes"]).await;
    assert!(routes.lines().nth(1).is_some_and(|l| l.starts_with("a/+")), "{routes}");

    let list = ctl_ok(&node, &["retained", "list"]).await;
    assert!(list.contains("a/kept one"), "{list}");
    let show = ctl_ok(&node, &["retained", "show", "a/kept one"]).await;
    assert!(show.lines().any(|l| l.split_whitespace().eq(["payload", "hello", "retained"])), "{show}");
    let del = ctl_ok(&node, &["retained", "delete", "a/kept one"]).await;
    assert_eq!(del.trim(), "deleted the retained message of a/kept one");
    let b = node.broker().clone();
    wait_for("retained gone", Duration::from_secs(2), || b.catalog.retained_count() == 0).await;
    assert_eq!(ctl_ok(&node, &["retained", "list"]).await.trim(), "no retained messages");
    let again = ctl(&node, &["retained", "delete", "a/kept one", "--json"]).await;
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("no retained message"), "{}", text(&again.stderr));
    let json: serde_json::Value =
        serde_json::from_str(&ctl_ok(&node, &["retained", "list", "--json"]).await).expect("JSON");
    assert_eq!(json["meta"]["total"], 0);
}

#[tokio::test]
async fn ctl_unreachable_node_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("http://127.0.0.1:{}", free_port());
    let mut c = starling(dir.path());
    c.args(["ctl", "--url", &url, "status"]);
    let o = run(c).await;
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains(&format!("cannot reach the admin API at {url}: connection refused")), "{err}");
}

#[tokio::test]
async fn ctl_wrong_or_missing_key_says_so() {
    let node = node_with_key().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = starling(dir.path());
    c.args(["ctl", "--url", &node.admin_url(), "--api-key", "wrong", "status"]);
    let o = run(c).await;
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("the API key was refused"), "{}", text(&o.stderr));
    let mut c = starling(dir.path());
    c.args(["ctl", "--url", &node.admin_url(), "status"]);
    let o = run(c).await;
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("needs an API key"), "{}", text(&o.stderr));
}

#[tokio::test]
async fn ctl_takes_the_key_from_the_environment() {
    let node = node_with_key().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = starling(dir.path());
    c.env("STARLING_API_KEY", KEY).args(["ctl", "--url", &node.admin_url(), "status", "--json"]);
    let o = run(c).await;
    assert!(o.status.success(), "{}", text(&o.stderr));
}

/// On the broker's host: URL and key come from its configuration file.
#[tokio::test]
async fn ctl_uses_the_local_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path().join("api-keys");
    std::fs::write(&keys, "# ctl test\nfrom-the-key-file\n").expect("write keys");
    let node = TestNode::start_with(|c| c.admin.api_keys_file = Some(keys.clone())).await;
    let cfg = dir.path().join("starling.toml");
    // The broker's own view: a wildcard bind, which ctl turns into loopback.
    let port = node.admin_url().rsplit(':').next().expect("port").to_string();
    std::fs::write(&cfg, format!("[admin]\nbind = \"0.0.0.0:{port}\"\napi_keys_file = \"{}\"\n", keys.display()))
        .expect("write config");
    let mut c = starling(dir.path());
    c.arg("ctl").arg("--config").arg(&cfg).args(["status", "--json"]);
    let o = run(c).await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    let mut c = starling(dir.path());
    c.arg("ctl").arg("--config").arg(dir.path().join("missing.toml")).arg("status");
    let o = run(c).await;
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("missing.toml"), "{}", text(&o.stderr));
}

/// `config check` prints API keys redacted, and the placeholder is not a usable key.
#[tokio::test]
async fn ctl_config_check_redacts_api_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("s.toml");
    std::fs::write(&cfg, "[admin]\napi_keys = [\"super-secret-key\"]\n").expect("write");
    let mut c = starling(dir.path());
    c.arg("config").arg("check").arg(&cfg);
    let o = run(c).await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(!out.contains("super-secret-key"), "{out}");
    assert!(out.contains("<redacted key>"), "{out}");
    let echoed = dir.path().join("echoed.toml");
    std::fs::write(&echoed, out.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n")).expect("write");
    let mut c = starling(dir.path());
    c.arg("config").arg("check").arg(&echoed);
    let o = run(c).await;
    assert!(!o.status.success(), "a redacted key must not load as a key");
    assert!(text(&o.stderr).contains("admin.api_keys"), "{}", text(&o.stderr));
}

/// The binary end to end: `serve` reports the admin listener, and `ctl` on the same host finds
/// it and its key through the configuration file alone.
#[tokio::test]
async fn ctl_against_starling_serve_with_only_the_config_file() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let (mqtt, admin) = (free_port(), free_port());
    let cfg = dir.path().join("starling.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = \"{}\"\nnode_name = \"bin-node\"\n[listeners.tcp]\nbind = \"127.0.0.1:{mqtt}\"\n\
             [admin]\nbind = \"127.0.0.1:{admin}\"\napi_keys = [\"{KEY}\"]\n",
            dir.path().join("data").display()
        ),
    )
    .expect("write config");
    let mut c = starling(dir.path());
    c.arg("serve").arg("--config").arg(&cfg).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null());
    let mut child = c.spawn().expect("spawn serve");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let want = format!("starling: listener admin (http) on 127.0.0.1:{admin}");
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(l)) = lines.next_line().await {
            if l == want {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "serve printed {want:?}");
    let mut c = starling(dir.path());
    c.arg("ctl").arg("--config").arg(&cfg).arg("status");
    let o = run(c).await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).lines().any(|l| l.split_whitespace().eq(["node", "bin-node"])), "{}", text(&o.stdout));
    let _ = child.start_kill();
    let _ = child.wait().await;
}
