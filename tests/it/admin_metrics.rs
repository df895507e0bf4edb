//! `/metrics`: well-formed OpenMetrics, the scrape-time gauges follow the broker's state, and the
//! names agree with docs/metrics.md and with the list the dashboard and alerts are checked
//! against (scripts/packaging_checks.py).

use std::collections::BTreeSet;
use std::path::Path;

use hyper::http::Method;

use crate::admin_util::*;
use crate::harness::Probe;
use crate::persist_util::{bye_v5, expiry, publish_qos1_v5, wait_idle};

async fn scrape(node: &crate::harness::TestNode) -> String {
    let r = request(admin_addr(node), Method::GET, "/metrics", None).await;
    assert_eq!(r.status, 200);
    r.text()
}

/// The value of the sample `series` (name plus labels, exactly as exposed).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

/// Metric names as Prometheus stores them (counters with `_total`).
fn exported_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (name, kind) = (it.next()?, it.next()?);
            Some(if kind == "counter" { format!("{name}_total") } else { name.to_string() })
        })
        .collect()
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Names in the first column of the tables of a section of docs/metrics.md.
fn documented(section: &str) -> BTreeSet<String> {
    let doc = std::fs::read_to_string(root().join("docs/metrics.md")).expect("docs/metrics.md");
    let start = doc.find(section).unwrap_or_else(|| panic!("section {section:?} in docs/metrics.md"));
    let body = &doc[start + section.len()..];
    let body = &body[..body.find("\n## ").unwrap_or(body.len())];
    body.lines().filter_map(|l| l.strip_prefix("| `")).filter_map(|l| l.split('`').next()).map(str::to_string).collect()
}

/// The `METRICS` and `PROCESS_METRICS` sets of scripts/packaging_checks.py.
fn packaging_list() -> BTreeSet<String> {
    let py = std::fs::read_to_string(root().join("scripts/packaging_checks.py")).expect("packaging_checks.py");
    let mut out = BTreeSet::new();
    for set in ["METRICS = {", "PROCESS_METRICS = {"] {
        let start = py.find(set).unwrap_or_else(|| panic!("{set} in packaging_checks.py")) + set.len();
        let block = &py[start..start + py[start..].find('}').expect("closing brace")];
        out.extend(block.split('"').skip(1).step_by(2).map(str::to_string));
    }
    out
}

#[tokio::test]
async fn admin_metrics_names_match_docs_and_monitoring() {
    let node = node_with_key().await;
    let text = scrape(&node).await;
    assert!(text.ends_with("# EOF\n") && text.matches("# EOF").count() == 1, "one EOF, at the end");
    let exported = exported_names(&text);
    let doc = documented("## Exported metrics");
    // Metrics the dashboard and alerts may use before the broker exports them (none right now).
    let doc_text = std::fs::read_to_string(root().join("docs/metrics.md")).expect("docs/metrics.md");
    let planned =
        if doc_text.contains("## Not exported yet") { documented("## Not exported yet") } else { BTreeSet::new() };
    let undocumented: Vec<&String> = exported.difference(&doc).collect();
    assert!(undocumented.is_empty(), "exported but not in docs/metrics.md: {undocumented:?}");
    let stale: Vec<&String> = doc.difference(&exported).collect();
    assert!(stale.is_empty(), "documented as exported but not exported: {stale:?}");
    let known: BTreeSet<String> = exported.union(&planned).cloned().collect();
    let missing: Vec<String> = packaging_list().difference(&known).cloned().collect();
    assert!(
        missing.is_empty(),
        "in packaging_checks.py (dashboard, alerts) but neither exported nor planned: {missing:?}"
    );
}

#[tokio::test]
async fn admin_metrics_follow_the_broker() {
    let node = node_with_key().await;
    // A persistent subscriber goes offline; three QoS 1 messages queue for it.
    let (mut s, _) = Probe::connect_v5(node.addr, "m-sub", true, expiry(300)).await;
    s.subscribe_v5(1, &[("m/#", 1)], vec![]).await;
    bye_v5(s).await;
    publish_qos1_v5(node.addr, "m/t", 3).await;
    wait_idle(&node).await;
    let text = scrape(&node).await;
    assert_eq!(value(&text, "starling_messages_received_total{qos=\"1\"}"), 3.0);
    assert_eq!(value(&text, "starling_queued_messages"), 3.0);
    assert_eq!(value(&text, "starling_inflight_messages"), 0.0);
    assert_eq!(value(&text, "starling_sessions"), 1.0);
    assert_eq!(value(&text, "starling_sessions_persistent"), 1.0);
    assert_eq!(value(&text, "starling_subscriptions"), 1.0);
    assert_eq!(value(&text, "starling_routes"), 1.0);
    assert_eq!(value(&text, "starling_connections"), 0.0);
    assert_eq!(value(&text, "starling_cluster_nodes{role=\"core\",state=\"up\"}"), 1.0);
    assert!(value(&text, "starling_data_dir_bytes") > 0.0);
    assert!(value(&text, "starling_disk_free_bytes") > 0.0);
    assert!(value(&text, "process_resident_memory_bytes") > 1e6);
    assert!(value(&text, "process_open_fds") >= 3.0);
    assert!(value(&text, "process_max_fds") >= value(&text, "process_open_fds"));
    assert!(value(&text, "process_threads") >= 1.0);
    assert!(value(&text, "process_cpu_seconds_total") >= 0.0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs_f64();
    let started = value(&text, "process_start_time_seconds");
    assert!(started <= now + 1.0 && started > now - 24.0 * 3600.0, "start time {started} vs now {now}");

    // The subscriber comes back and drains its queue: the gauges follow at the next scrape.
    let (mut s, _) = Probe::connect_v5(node.addr, "m-sub", false, expiry(300)).await;
    for _ in 0..3 {
        let p = s.expect_publish_v5().await;
        let pid = p.packet_id().expect("QoS 1");
        s.send(mqtt_protocol_core::mqtt::packet::v5_0::Puback::builder().packet_id(pid).build().expect("puback")).await;
    }
    let b = node.broker().clone();
    crate::harness::wait_for("queue drained", std::time::Duration::from_secs(5), || b.queue_totals() == (0, 0)).await;
    let text = scrape(&node).await;
    assert_eq!(value(&text, "starling_queued_messages"), 0.0);
    assert_eq!(value(&text, "starling_connections"), 1.0);
    assert_eq!(value(&text, "starling_messages_sent_total{qos=\"1\"}"), 3.0);
}
