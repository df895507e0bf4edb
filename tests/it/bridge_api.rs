//! `/api/v1/bridges` and `starling ctl bridges` report the backlog's bytes (topic + payload of
//! the QoS 1/2 messages waiting for the upstream), as the OpenAPI document describes them.

use std::time::Duration;

use axum::http::Method;

use crate::admin_util::*;
use crate::bridge_util::*;
use crate::cli_util::{run, starling, text};
use crate::harness::{Probe, TestNode, wait_for};
use crate::persist_util::*;
use starling::config::bridge::BridgeProtocol;

/// "sensors/t" (9 bytes) + "m00000" (6 bytes).
const MESSAGE_BYTES: u64 = 15;

async fn bridges(gw: &TestNode) -> serde_json::Value {
    let v = get_ok(gw, "/api/v1/bridges").await;
    v["bridges"][0].clone()
}

#[tokio::test]
async fn bridge_api_reports_backlog_bytes() {
    let mut upstream = TestNode::start().await;
    let (mut sub, _) = Probe::connect_v5(upstream.addr, "cloud-sub", true, expiry(3600)).await;
    assert_eq!(sub.subscribe_v5(1, &[("site/gw-1/sensors/#", 1)], vec![]).await, vec![1]);
    bye_v5(sub).await;
    let b = bridge_to(upstream.addr, BridgeProtocol::V5);
    let gw = TestNode::start_with(|c| {
        c.admin.api_keys = vec![KEY.into()];
        c.bridges.insert("cloud".into(), b);
    })
    .await;
    wait_connected(&gw, true).await;
    upstream.stop().await;
    wait_connected(&gw, false).await;

    publish_qos1_v5(gw.addr, "sensors/t", 7).await;
    let v = bridges(&gw).await;
    assert_eq!(v["backlog_messages"], 7);
    assert_eq!(v["backlog_bytes"], 7 * MESSAGE_BYTES, "{v}");

    // Every field the API returns is in the schema (additionalProperties false) and required.
    let doc = request(admin_addr(&gw), Method::GET, "/api/v1/openapi.json", None).await.json();
    let schema = &doc["components"]["schemas"]["Bridge"];
    let mut declared: Vec<&str> =
        schema["properties"].as_object().expect("properties").keys().map(|k| k.as_str()).collect();
    let mut required: Vec<&str> =
        schema["required"].as_array().expect("required").iter().filter_map(|k| k.as_str()).collect();
    let mut returned: Vec<&str> = v.as_object().expect("object").keys().map(|k| k.as_str()).collect();
    declared.sort();
    required.sort();
    returned.sort();
    assert_eq!(returned, declared, "the API and its schema");
    assert_eq!(returned, required);
    assert_eq!(schema["properties"]["backlog_bytes"]["type"], "integer");

    // `ctl bridges`: a BYTES column with the same figure.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = starling(dir.path());
    c.arg("ctl").arg("--url").arg(gw.admin_url()).arg("--api-key").arg(KEY).arg("bridges");
    let o = run(c).await;
    assert!(o.status.success(), "ctl bridges failed: {}", text(&o.stderr));
    let out = text(&o.stdout);
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    let col = rows[0].iter().position(|h| *h == "BYTES").unwrap_or_else(|| panic!("no BYTES column: {out}"));
    let backlog = rows[0].iter().position(|h| *h == "BACKLOG").expect("BACKLOG column");
    // The UPLINK cell ("down: <error>") has spaces in it: count columns from the end.
    let (row, head) = (&rows[1], &rows[0]);
    let from_end = |i: usize| row[row.len() - (head.len() - i)];
    assert_eq!(from_end(col), (7 * MESSAGE_BYTES).to_string(), "{out}");
    assert_eq!(from_end(backlog), "7", "{out}");

    // Drained: nothing left, in bytes too.
    upstream.restart().await;
    wait_connected(&gw, true).await;
    wait_for("the backlog bytes to drain", Duration::from_secs(20), || snapshot(&gw).backlog_bytes == 0).await;
    let v = bridges(&gw).await;
    assert_eq!((v["backlog_messages"].as_u64(), v["backlog_bytes"].as_u64()), (Some(0), Some(0)), "{v}");
}
