//! The admin HTTP listener endpoint by endpoint, over real HTTP to a node started like the binary
//! starts it: probes, bearer keys, clients (paging, filters, kick → DISCONNECT 0x98),
//! subscriptions, routes, retained messages (URL-encoded topics, delete through the catalog),
//! and JSON errors everywhere (bans and users: tests/it/auth_api.rs).

use std::time::Duration;

use hyper::http::Method;
use mqtt_protocol_core::mqtt::result_code::DisconnectReasonCode;

use crate::admin_util::*;
use crate::harness::probe::connack_ok;
use crate::harness::{Probe, TestNode, wait_for};
use crate::persist_util::{bye_v5, expiry, wait_idle};

#[tokio::test]
async fn admin_listener_is_reported_and_keeps_its_port_across_restart() {
    let mut node = node_with_key().await;
    let h = node.handle.as_ref().expect("running");
    let admin = h.listeners.iter().find(|l| l.kind == "http").expect("an http listener");
    assert_eq!(admin.name, "admin");
    assert!(admin.addr.ip().is_loopback());
    let before = admin.addr;
    node.restart().await;
    assert_eq!(admin_addr(&node), before, "restart binds the same port");
    assert_eq!(get(&node, "/healthz").await.status, 200);
}

#[tokio::test]
async fn admin_disabled_means_no_http_listener() {
    let node = TestNode::start_with(|c| c.admin.enabled = false).await;
    let h = node.handle.as_ref().expect("running");
    assert!(h.admin_addr().is_none());
    assert!(h.listeners.iter().all(|l| l.kind == "mqtt"));
}

#[tokio::test]
async fn admin_probes_need_no_key() {
    let node = node_with_key().await;
    let a = admin_addr(&node);
    let h = request(a, Method::GET, "/healthz", None).await;
    assert_eq!((h.status, h.json()["status"].as_str()), (200, Some("ok")));
    assert_eq!(h.header("content-type"), "application/json");
    let r = request(a, Method::GET, "/readyz", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "ready");
    assert_eq!(r.json()["checks"]["listeners"], "ok");
    assert_eq!(r.json()["checks"]["storage"], "ok");
    let m = request(a, Method::GET, "/metrics", None).await;
    assert_eq!(m.status, 200);
    assert!(m.header("content-type").starts_with("application/openmetrics-text"));
    let doc = request(a, Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.json()["openapi"], "3.0.3");
    assert_eq!(doc.json()["info"]["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn admin_api_refuses_missing_and_wrong_keys() {
    let node = node_with_key().await;
    let a = admin_addr(&node);
    let none = request(a, Method::GET, "/api/v1/status", None).await;
    assert_eq!(none.status, 401);
    assert!(none.error().contains("missing API key"), "{}", none.text());
    assert!(none.header("www-authenticate").starts_with("Bearer"));
    let wrong = request(a, Method::GET, "/api/v1/status", Some("not-the-key")).await;
    assert_eq!((wrong.status, wrong.error().as_str()), (401, "the API key was refused"));
    let prefix = request(a, Method::GET, "/api/v1/status", Some(&KEY[..KEY.len() - 1])).await;
    assert_eq!(prefix.status, 401, "a prefix of the key is not the key");
    let basic = request_with(a, Method::GET, "/api/v1/clients", Some(format!("Basic {KEY}"))).await;
    assert_eq!(basic.status, 401, "only the Bearer scheme");
    let lower = request_with(a, Method::GET, "/api/v1/status", Some(format!("bearer {KEY}"))).await;
    assert_eq!(lower.status, 200, "the scheme is case-insensitive (RFC 7235)");
    // Every data endpoint is behind the key.
    for path in [
        "/api/v1/clients",
        "/api/v1/clients/x",
        "/api/v1/subscriptions",
        "/api/v1/routes",
        "/api/v1/retained",
        "/api/v1/retained/t",
        "/api/v1/bans",
        "/api/v1/users",
    ] {
        assert_eq!(request(a, Method::GET, path, None).await.status, 401, "{path}");
    }
    assert_eq!(request(a, Method::DELETE, "/api/v1/clients/x", None).await.status, 401);
    assert_eq!(request(a, Method::DELETE, "/api/v1/retained/t", None).await.status, 401);
}

#[tokio::test]
async fn admin_api_without_configured_keys_refuses_everything() {
    let node = TestNode::start().await;
    let r = request(admin_addr(&node), Method::GET, "/api/v1/status", Some("anything")).await;
    assert_eq!(r.status, 401);
    assert!(r.error().contains("no API keys are configured"), "{}", r.text());
    assert_eq!(request(admin_addr(&node), Method::GET, "/healthz", None).await.status, 200);
}

#[tokio::test]
async fn admin_api_keys_come_from_a_key_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("keys");
    std::fs::write(&file, "# operators\nfile-key-1\n\nfile-key-2\n").expect("write");
    let node = TestNode::start_with(|c| c.admin.api_keys_file = Some(file.clone())).await;
    let a = admin_addr(&node);
    for k in ["file-key-1", "file-key-2"] {
        assert_eq!(request(a, Method::GET, "/api/v1/status", Some(k)).await.status, 200, "{k}");
    }
    assert_eq!(request(a, Method::GET, "/api/v1/status", Some("# operators")).await.status, 401);
}

#[tokio::test]
async fn admin_missing_key_file_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = starling::config::Config { data_dir: dir.path().join("data"), ..Default::default() };
    cfg.listeners.get_mut("tcp").expect("tcp").bind = Some("127.0.0.1:0".parse().expect("addr"));
    cfg.admin.bind = "127.0.0.1:0".parse().expect("addr");
    cfg.admin.api_keys_file = Some(dir.path().join("no-such-keys"));
    let err = starling::node::Node::start(cfg).await.err().expect("start must fail").to_string();
    assert!(err.contains("no-such-keys"), "{err}");
}

#[tokio::test]
async fn admin_status_reports_node_and_totals() {
    let node = TestNode::start_with(|c| {
        c.admin.api_keys = vec![KEY.into()];
        c.node_name = "status-node".into();
    })
    .await;
    let (mut sub, ack) = Probe::connect_v5(node.addr, "st-sub", true, expiry(60)).await;
    assert!(connack_ok(&ack));
    sub.subscribe_v5(1, &[("st/#", 1)], vec![]).await;
    let (mut publ, _) = Probe::connect_v5(node.addr, "st-pub", true, vec![]).await;
    publ.publish_v5("st/kept", b"x", 0, true, None, vec![]).await;
    sub.expect_publish_v5().await;
    let s = get_ok(&node, "/api/v1/status").await;
    assert_eq!(s["node"], "status-node");
    assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(s["connections"], 2);
    assert_eq!(s["sessions"], 2);
    assert_eq!(s["persistent_sessions"], 1);
    assert_eq!(s["subscriptions"], 1);
    assert_eq!(s["routes"], 1);
    assert_eq!(s["retained"], 1);
    assert_eq!(s["messages"]["received"], 1);
    assert_eq!(s["messages"]["sent"], 1);
    assert!(s["bytes"]["received"].as_u64().is_some_and(|b| b > 0));
    assert!(s["uptime_seconds"].is_u64());
}

/// Five sessions: three connected, two persistent and disconnected.
async fn five_clients(node: &TestNode) -> Vec<Probe> {
    for id in ["b-off-1", "b-off-2"] {
        let (mut p, _) = Probe::connect_v5(node.addr, id, true, expiry(300)).await;
        p.subscribe_v5(1, &[("off/#", 1)], vec![]).await;
        bye_v5(p).await;
    }
    let mut live = Vec::new();
    for id in ["a-on-1", "a-on-2", "c-on-3"] {
        let (p, ack) = Probe::connect_v5(node.addr, id, true, vec![]).await;
        assert!(connack_ok(&ack));
        live.push(p);
    }
    live
}

fn ids(v: &serde_json::Value) -> Vec<String> {
    v["data"].as_array().expect("data").iter().map(|c| c["client_id"].as_str().expect("id").to_string()).collect()
}

#[tokio::test]
async fn admin_clients_are_paged_sorted_and_filtered() {
    let node = node_with_key().await;
    let _live = five_clients(&node).await;
    let all = get_ok(&node, "/api/v1/clients").await;
    assert_eq!(ids(&all), ["a-on-1", "a-on-2", "b-off-1", "b-off-2", "c-on-3"]);
    assert_eq!(all["meta"]["total"], 5);
    assert_eq!(all["meta"]["limit"], 100);
    let page = get_ok(&node, "/api/v1/clients?limit=2&offset=1").await;
    assert_eq!(ids(&page), ["a-on-2", "b-off-1"]);
    assert_eq!((page["meta"]["total"].as_u64(), page["meta"]["offset"].as_u64()), (Some(5), Some(1)));
    let past = get_ok(&node, "/api/v1/clients?offset=10").await;
    assert_eq!((ids(&past).len(), past["meta"]["total"].as_u64()), (0, Some(5)));
    assert_eq!(ids(&get_ok(&node, "/api/v1/clients?connected=true").await), ["a-on-1", "a-on-2", "c-on-3"]);
    let off = get_ok(&node, "/api/v1/clients?connected=false").await;
    assert_eq!(ids(&off), ["b-off-1", "b-off-2"]);
    let c = &off["data"][0];
    assert_eq!((c["connected"].as_bool(), c["persistent"].as_bool()), (Some(false), Some(true)));
    assert_eq!((c["session_expiry_interval"].as_u64(), c["subscription_count"].as_u64()), (Some(300), Some(1)));
    assert_eq!(ids(&get_ok(&node, "/api/v1/clients?client_id_prefix=a-").await), ["a-on-1", "a-on-2"]);
    assert_eq!(ids(&get_ok(&node, "/api/v1/clients?client_id_prefix=b-&connected=true").await).len(), 0);
    for bad in ["limit=0", "limit=1001", "limit=x", "offset=-1", "offset=1000000001", "connected=maybe"] {
        let r = get(&node, &format!("/api/v1/clients?{bad}")).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert!(!r.error().is_empty());
    }
}

#[tokio::test]
async fn admin_client_detail_and_unknown_client() {
    let node = node_with_key().await;
    let (mut p, _) = Probe::connect_v5(node.addr, "dev/42 ü", true, expiry(120)).await;
    p.subscribe_v5(1, &[("cmd/42", 2), ("$share/g/jobs/#", 1)], vec![]).await;
    bye_v5(p).await;
    wait_idle(&node).await;
    // `/` and non-ASCII URL-encoded; the id is one path segment.
    let d = get_ok(&node, "/api/v1/clients/dev%2F42%20%C3%BC").await;
    assert_eq!(d["client_id"], "dev/42 ü");
    assert_eq!((d["connected"].as_bool(), d["persistent"].as_bool()), (Some(false), Some(true)));
    let at = d["disconnected_at"].as_u64().expect("disconnect time of a persistent session");
    assert_eq!(d["expires_at"].as_u64(), Some(at + 120_000));
    let filters: Vec<(&str, u64)> = d["subscriptions"]
        .as_array()
        .expect("subscriptions")
        .iter()
        .map(|s| (s["filter"].as_str().expect("filter"), s["qos"].as_u64().expect("qos")))
        .collect();
    assert_eq!(filters, [("$share/g/jobs/#", 1), ("cmd/42", 2)]);
    let r = get(&node, "/api/v1/clients/nobody").await;
    assert_eq!(r.status, 404);
    assert!(r.error().contains("nobody"), "{}", r.text());
}

#[tokio::test]
async fn admin_kick_sends_disconnect_0x98_and_keeps_the_session() {
    let node = node_with_key().await;
    let (mut p, ack) = Probe::connect_v5(node.addr, "kick-me", true, expiry(300)).await;
    assert!(connack_ok(&ack));
    p.subscribe_v5(1, &[("k/#", 1)], vec![]).await;
    let r = delete(&node, "/api/v1/clients/kick-me").await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(r.body.is_empty());
    let d = p.expect_close().await.expect("a DISCONNECT before the close");
    assert_eq!(d.reason_code(), Some(DisconnectReasonCode::AdministrativeAction));
    wait_idle(&node).await;
    let c = get_ok(&node, "/api/v1/clients/kick-me").await;
    assert_eq!((c["connected"].as_bool(), c["subscription_count"].as_u64()), (Some(false), Some(1)));
    let again = delete(&node, "/api/v1/clients/kick-me").await;
    assert_eq!(again.status, 409, "{}", again.text());
    assert!(again.error().contains("not connected"));
    assert_eq!(delete(&node, "/api/v1/clients/nobody").await.status, 404);
    // The client may come back and resume.
    let (_p, ack) = Probe::connect_v5(node.addr, "kick-me", false, expiry(300)).await;
    assert!(ack.session_present());
}

#[tokio::test]
async fn admin_subscriptions_and_routes() {
    let node = TestNode::start_with(|c| {
        c.admin.api_keys = vec![KEY.into()];
        c.node_name = "routes-node".into();
    })
    .await;
    let (mut a, _) = Probe::connect_v5(node.addr, "sa", true, vec![]).await;
    a.subscribe_v5(1, &[("t/1", 0), ("t/+", 1)], vec![]).await;
    let (mut b, _) = Probe::connect_v5(node.addr, "sb", true, vec![]).await;
    b.subscribe_v5(1, &[("t/+", 2), ("$share/g/t/1", 1)], vec![]).await;
    let subs = get_ok(&node, "/api/v1/subscriptions").await;
    let got: Vec<(String, String, u64)> = subs["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|s| {
            (
                s["client_id"].as_str().expect("id").into(),
                s["filter"].as_str().expect("f").into(),
                s["qos"].as_u64().expect("q"),
            )
        })
        .collect();
    let want = [("sa", "t/+", 1), ("sa", "t/1", 0), ("sb", "$share/g/t/1", 1), ("sb", "t/+", 2)];
    assert_eq!(got, want.map(|(c, f, q)| (c.to_string(), f.to_string(), q)));
    assert_eq!(subs["meta"]["total"], 4);
    let page = get_ok(&node, "/api/v1/subscriptions?limit=2&offset=1").await;
    assert_eq!(page["data"][0]["filter"], "t/1");
    assert_eq!(page["data"][1]["filter"], "$share/g/t/1");
    let only_b = get_ok(&node, "/api/v1/subscriptions?client_id=sb").await;
    assert_eq!(only_b["meta"]["total"], 2);
    assert_eq!(get_ok(&node, "/api/v1/subscriptions?client_id=nobody").await["meta"]["total"], 0);
    let routes = get_ok(&node, "/api/v1/routes").await;
    let r: Vec<(String, u64)> = routes["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| {
            assert_eq!(r["node"], "routes-node");
            (r["filter"].as_str().expect("filter").to_string(), r["local_subscriptions"].as_u64().expect("n"))
        })
        .collect();
    // A shared group is routed as the group (one member per message cluster-wide).
    assert_eq!(r, [("$share/g/t/1".to_string(), 1), ("t/+".to_string(), 2), ("t/1".to_string(), 1)]);
}

#[tokio::test]
async fn admin_retained_list_get_and_delete() {
    let node = node_with_key().await;
    let (mut p, _) = Probe::connect_v5(node.addr, "ret-pub", true, vec![]).await;
    p.publish_v5("r/a b", b"text payload", 1, true, Some(1), vec![]).await;
    p.expect().await;
    p.publish_v5("r/bin", &[0xff, 0x00, 0xfe], 0, true, None, vec![]).await;
    p.publish_v5("other/x", b"o", 0, true, None, vec![]).await;
    let b = node.broker().clone();
    wait_for("3 retained messages", Duration::from_secs(5), || b.catalog.retained_count() == 3).await;

    let all = get_ok(&node, "/api/v1/retained").await;
    let topics: Vec<&str> =
        all["data"].as_array().expect("data").iter().map(|m| m["topic"].as_str().expect("t")).collect();
    assert_eq!(topics, ["other/x", "r/a b", "r/bin"]);
    assert_eq!(all["data"][1]["payload_size"], 12);
    assert_eq!(all["data"][1]["publisher"], "ret-pub");
    let some = get_ok(&node, "/api/v1/retained?filter=r%2F%2B").await;
    assert_eq!(some["meta"]["total"], 2);
    assert_eq!(get(&node, "/api/v1/retained?filter=a%2F%23%2Fb").await.status, 400, "invalid filter");

    let m = get_ok(&node, "/api/v1/retained/r%2Fa%20b").await;
    assert_eq!((m["topic"].as_str(), m["qos"].as_u64()), (Some("r/a b"), Some(1)));
    assert_eq!(
        (m["payload_text"].as_str(), m["payload_base64"].as_str()),
        (Some("text payload"), Some("dGV4dCBwYXlsb2Fk"))
    );
    let bin = get_ok(&node, "/api/v1/retained/r/bin").await;
    assert!(bin["payload_text"].is_null());
    assert_eq!(bin["payload_base64"], "/wD+");
    assert_eq!(get(&node, "/api/v1/retained/r%2F%2B").await.status, 400, "wildcards are not a topic");
    assert_eq!(get(&node, "/api/v1/retained/r%2Fnone").await.status, 404);

    let d = delete(&node, "/api/v1/retained/r%2Fa%20b").await;
    assert_eq!(d.status, 204, "{}", d.text());
    assert_eq!(get(&node, "/api/v1/retained/r%2Fa%20b").await.status, 404);
    assert_eq!(delete(&node, "/api/v1/retained/r%2Fa%20b").await.status, 404);
    assert_eq!(get_ok(&node, "/api/v1/status").await["retained"], 2);
    // Gone for new subscribers too: only r/bin comes.
    let (mut s, _) = Probe::connect_v5(node.addr, "ret-sub", true, vec![]).await;
    s.subscribe_v5(1, &[("r/#", 0)], vec![]).await;
    assert_eq!(s.expect_publish_v5().await.topic_name(), "r/bin");
    s.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn admin_unknown_paths_and_methods_answer_json() {
    let node = node_with_key().await;
    let a = admin_addr(&node);
    let r = request(a, Method::GET, "/api/v2/status", Some(KEY)).await;
    assert_eq!(r.status, 404);
    assert!(r.error().contains("openapi.json"));
    let m = request(a, Method::POST, "/api/v1/status", Some(KEY)).await;
    assert_eq!(m.status, 405);
    assert_eq!(m.header("allow"), "GET,HEAD");
    assert!(!m.error().is_empty());
    let p = request(a, Method::PUT, "/healthz", None).await;
    assert_eq!(p.status, 405);
}

#[tokio::test]
async fn admin_listener_closes_on_shutdown() {
    let mut node = node_with_key().await;
    let a = admin_addr(&node);
    node.stop().await;
    assert!(tokio::net::TcpStream::connect(a).await.is_err(), "admin listener closed after shutdown");
}
