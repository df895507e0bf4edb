//! `starling ctl` on the broker's own host with no flags, no key and no configuration file, as
//! the Kubernetes preStop hook and an operator's shell run it: it finds the node through the
//! control socket in the data directory, which file permissions protect instead of a key. And
//! the variables ctl documents never stop `serve` or `config check`.

use axum::http::Method;
use std::os::unix::fs::PermissionsExt;

use crate::admin_util::request;
use crate::cli_util::*;

/// The variables `starling ctl` reads, with values that would point it elsewhere.
const CTL_VARIABLES: [(&str, &str); 5] = [
    ("STARLING_API_KEY", "not-a-key-of-this-node"),
    ("STARLING_ADMIN_URL", "http://127.0.0.1:9"),
    ("STARLING_ADMIN_CA", "/nonexistent/ca.pem"),
    ("STARLING_ADMIN_CLIENT_CERT", "/nonexistent/cert.pem"),
    ("STARLING_ADMIN_CLIENT_KEY", "/nonexistent/key.pem"),
];

/// A default `starling serve` (no configuration file, no API key; the admin listener on a free
/// port only because 18083 may be taken here) and `starling ctl` from the same directory.
#[tokio::test]
async fn ctl_status_and_drain_work_locally_without_a_key() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let admin = local(free_port());
    let mut c = starling(cwd.path());
    c.arg("serve").arg("--bind").arg(local(free_port()).to_string());
    c.env("STARLING_ADMIN__BIND", admin.to_string()).env("STARLING_NODE_NAME", "local-node");
    let server = Server::spawn_as_is(c, 2).await;

    let mut status = starling(cwd.path());
    status.args(["ctl", "status"]);
    let o = run(status).await;
    assert!(o.status.success(), "ctl status failed: {}", text(&o.stderr));
    let t = text(&o.stdout);
    assert!(t.lines().any(|l| l.split_whitespace().eq(["node", "local-node"])), "{t}");

    // The socket is the node's own: a directory only its user may enter, a socket only it may open.
    let dir = cwd.path().join("starling-data").join("control");
    let mode = |p: &std::path::Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "control directory mode");
    assert_eq!(mode(&dir.join("ctl.sock")), 0o600, "control socket mode");

    assert_eq!(request(admin, Method::GET, "/readyz", None).await.status, 200);
    let mut drain = starling(cwd.path());
    drain.args(["ctl", "node", "drain"]);
    let o = run(drain).await;
    assert!(o.status.success(), "ctl node drain failed: {}", text(&o.stderr));
    assert_eq!(request(admin, Method::GET, "/readyz", None).await.status, 503, "not ready once drained");
    // Over HTTP the API still wants a key: the socket is the only way in without one.
    assert_eq!(request(admin, Method::GET, "/api/v1/status", None).await.status, 401);
    server.terminate().await;
}

/// `--data-dir` names the node when ctl runs elsewhere (as `sudo -u starling starling ctl` from
/// any directory does).
#[tokio::test]
async fn ctl_finds_the_node_by_data_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("state");
    let mut c = starling(dir.path());
    c.arg("serve").arg("--bind").arg(local(free_port()).to_string()).arg("--data-dir").arg(&data);
    c.env("STARLING_NODE_NAME", "by-dir");
    let server = Server::spawn(c, 1).await;
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let mut status = starling(elsewhere.path());
    status.args(["ctl", "status", "--json", "--data-dir"]).arg(&data);
    let o = run(status).await;
    assert!(o.status.success(), "ctl status failed: {}", text(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(j["node"], "by-dir");
    server.terminate().await;
}

/// Every variable ctl documents is ignored by `serve` and `config check`.
#[tokio::test]
async fn ctl_variables_do_not_break_serve_or_config_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut check = starling(dir.path());
    check.args(["config", "check"]).envs(CTL_VARIABLES);
    let o = run(check).await;
    assert!(o.status.success(), "config check failed: {}", text(&o.stderr));

    let mut c = starling(dir.path());
    c.arg("serve").arg("--bind").arg(local(free_port()).to_string()).envs(CTL_VARIABLES);
    let server = Server::spawn(c, 1).await;
    let addr = listener_addr(&server.listeners[0]);
    tokio::net::TcpStream::connect(addr).await.expect("the broker serves");
    server.terminate().await;
}
