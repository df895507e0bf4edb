//! A real Prometheus (Debian's `prometheus` package) scrapes a node's `/metrics`: the target
//! comes up (so the exposition parses as Prometheus sees it), and after MQTT traffic the
//! message counter has moved in Prometheus' own query API. Bounded to 30 s.
//!
//! scripts/test installs Prometheus; this test installs nothing.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use hyper::http::Method;

use crate::admin_util::*;
use crate::harness::Probe;
use crate::harness::probe::connack_ok;

const PROMETHEUS: &str = "/usr/bin/prometheus";

/// `GET /api/v1/query?query=...` on Prometheus: the samples' values, summed (None before the
/// first scrape, or while Prometheus is still starting).
async fn query_sum(prom: SocketAddr, q: &str) -> Option<f64> {
    let conn = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(prom)).await;
    if !matches!(conn, Ok(Ok(_))) {
        return None;
    }
    let path = format!("/api/v1/query?query={}", starling::ctl::client::encode(q));
    let r = request(prom, Method::GET, &path, None).await;
    if r.status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
    let result = v["data"]["result"].as_array()?;
    if result.is_empty() {
        return None;
    }
    result.iter().map(|s| s["value"][1].as_str().and_then(|x| x.parse::<f64>().ok())).sum()
}

async fn wait_until(what: &str, deadline: tokio::time::Instant, mut f: impl AsyncFnMut() -> bool) {
    while !f().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn admin_prometheus_scrapes_metrics() {
    assert!(
        std::path::Path::new(PROMETHEUS).exists(),
        "{PROMETHEUS} is missing: run scripts/test, which installs Debian's prometheus package"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(28);
    let node = node_with_key().await;
    let target = admin_addr(&node);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: starling\n    \
             scrape_interval: 1s\n    scrape_timeout: 1s\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .expect("write prometheus.yml");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let prom = SocketAddr::from(([127, 0, 0, 1], port));
    let mut child = tokio::process::Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
        .arg(format!("--web.listen-address={prom}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start prometheus");

    wait_until("Prometheus to report up{job=\"starling\"} == 1", deadline, async || {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("prometheus exited early: {status}");
        }
        query_sum(prom, "up{job=\"starling\"}").await == Some(1.0)
    })
    .await;
    let before = query_sum(prom, "starling_messages_received_total").await.unwrap_or(0.0);

    let (mut p, ack) = Probe::connect_v5(node.addr, "prom-pub", true, vec![]).await;
    assert!(connack_ok(&ack));
    for i in 0..5 {
        p.publish_v5("prom/t", format!("m{i}").as_bytes(), 0, false, None, vec![]).await;
    }
    wait_until("starling_messages_received_total to move by 5 in Prometheus", deadline, async || {
        query_sum(prom, "starling_messages_received_total").await.is_some_and(|v| v >= before + 5.0)
    })
    .await;
    let _ = child.start_kill();
    let _ = child.wait().await;
}
