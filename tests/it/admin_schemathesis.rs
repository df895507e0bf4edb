//! The OpenAPI document against the implementation: schemathesis (PyPI) generates requests from
//! `/api/v1/openapi.json` — valid and invalid parameters, undeclared methods, missing keys — and
//! checks every response against the document (status codes, content types, schemas). A
//! document that promises something the server does not do, or the reverse, fails here.
//!
//! scripts/test installs schemathesis; this test installs nothing.

use std::process::Stdio;
use std::time::Duration;

use crate::admin_util::*;
use crate::harness::Probe;
use crate::persist_util::{bye_v5, expiry};

/// Nothing to configure beyond the defaults: every endpoint is implemented and checked.
const CONFIG: &str = "";

#[tokio::test]
async fn admin_openapi_document_matches_the_implementation() {
    let version = std::process::Command::new("schemathesis").arg("--version").output();
    if !version.as_ref().is_ok_and(|o| o.status.success()) {
        panic!(
            "schemathesis is not installed (or not on PATH): run scripts/test, which installs it, or \
             `pip install schemathesis`"
        );
    }
    let node = node_with_key().await;
    // Some data, so listings and lookups have something to return.
    let (mut s, _) = Probe::connect_v5(node.addr, "st-client", true, expiry(600)).await;
    s.subscribe_v5(1, &[("st/+/x", 1), ("$share/g/st/#", 0)], vec![]).await;
    s.publish_v5("st/retained", b"payload", 0, true, None, vec![]).await;
    bye_v5(s).await;
    let (_live, _) = Probe::connect_v5(node.addr, "st-live", true, vec![]).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("schemathesis.toml");
    std::fs::write(&cfg, CONFIG).expect("write config");
    let url = format!("http://{}/api/v1/openapi.json", admin_addr(&node));
    let run = tokio::process::Command::new("schemathesis")
        .arg("--config-file")
        .arg(&cfg)
        .args(["run", &url, "--checks", "all", "--max-time", "20", "--request-timeout", "5"])
        // Draining takes the node out of service for the rest of the run (readiness 503 is then
        // the correct answer); tests/it/cluster_failover.rs covers it.
        .args(["--exclude-operation-id", "nodeDrain"])
        .arg("--header")
        .arg(format!("Authorization: Bearer {KEY}"))
        .env("NO_COLOR", "1")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("schemathesis finished within 120 s")
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found differences between /api/v1/openapi.json and the server:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
