//! TLS material that changes while the broker runs: CRLs refusing revoked client certificates,
//! certificate rotation on disk (a Kubernetes-style `..data` symlink swap) picked up by the file
//! watch while an established connection keeps working, broken files keeping the old material
//! (and counted), the SIGHUP path through `NodeHandle::reload`, and start-up errors that name
//! the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use starling::config::{Config, ListenerConfig, ListenerKind, TlsVerify};
use starling::node::Node;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{TestNode, wait_for};
use crate::tls_util::{Ca, client_config, connack_over, served_cn, tls_connect, write};

const T: Duration = Duration::from_secs(10);

fn tls_listener(cert: &Path, key: &Path) -> ListenerConfig {
    ListenerConfig {
        kind: Some(ListenerKind::Tls),
        bind: Some("127.0.0.1:0".parse().expect("addr")),
        cert: Some(cert.into()),
        key: Some(key.into()),
        ..ListenerConfig::default()
    }
}

async fn start(l: ListenerConfig) -> (TestNode, SocketAddr) {
    let node = TestNode::start_with(move |c| {
        c.listeners.insert("secure".into(), l);
    })
    .await;
    let addr =
        node.handle.as_ref().expect("running").listeners.iter().find(|l| l.name == "secure").expect("bound").addr;
    (node, addr)
}

/// The CN of the certificate a new handshake gets.
async fn cn_now(addr: SocketAddr, ca: &Ca) -> String {
    let s = tls_connect(addr, client_config(&ca.pem(), None)).await.expect("handshake");
    served_cn(&s)
}

#[tokio::test]
async fn tls_crl_refuses_a_revoked_client_certificate() {
    let ca = Ca::new("Starling CRL test CA");
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = ca.server("localhost");
    let mut l = tls_listener(&write(dir.path(), "s.pem", &cert), &write(dir.path(), "s.key", &key));
    l.verify = TlsVerify::Required;
    l.ca = Some(write(dir.path(), "ca.pem", &ca.pem()));
    // Two CRLs in one file: ours revoking serial 200, and another CA's (ignored for ours).
    let other = Ca::new("Some other CA");
    let crls = format!("{}{}", other.crl(&[100]), ca.crl(&[200, 300]));
    l.crl = Some(write(dir.path(), "crl.pem", &crls));
    let (node, addr) = start(l).await;

    let good = ca.client("device-good", 100);
    let mut s = tls_connect(addr, client_config(&ca.pem(), Some(&good))).await.expect("handshake with a good cert");
    assert_eq!(connack_over(&mut s, "good").await, Some(0));

    let revoked = ca.client("device-revoked", 200);
    // TLS 1.3: the client finishes its side first; the refusal arrives as an alert on read.
    let refused = match tls_connect(addr, client_config(&ca.pem(), Some(&revoked))).await {
        Err(_) => true,
        Ok(mut s) => connack_over(&mut s, "revoked").await.is_none(),
    };
    assert!(refused, "a revoked client certificate must be refused");
    let b = node.broker().clone();
    wait_for("the handshake failure to be counted", T, || b.metrics.tls_handshake_failures.get() >= 1).await;
}

/// `dir/..data -> dir/<gen>`, `dir/tls.crt -> ..data/tls.crt`, as Kubernetes mounts a Secret.
fn k8s_secret(dir: &Path, generation: &str, cert: &str, key: &str) -> (PathBuf, PathBuf) {
    let g = dir.join(generation);
    std::fs::create_dir(&g).expect("generation dir");
    write(&g, "tls.crt", cert);
    write(&g, "tls.key", key);
    // An atomic swap of the `..data` link: a new link renamed over the old one.
    let tmp = dir.join("..data_tmp");
    std::os::unix::fs::symlink(generation, &tmp).expect("symlink");
    std::fs::rename(&tmp, dir.join("..data")).expect("swap ..data");
    let (crt, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    if !crt.exists() {
        std::os::unix::fs::symlink("..data/tls.crt", &crt).expect("symlink");
        std::os::unix::fs::symlink("..data/tls.key", &key).expect("symlink");
    }
    (crt, key)
}

/// Replace a file's content atomically (write aside, rename over), so that the watch never
/// sees a half-written file and the counts below are exact.
fn replace(path: &Path, content: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

fn expiry_metric(node: &TestNode) -> Option<i64> {
    let text = node.broker().metrics.encode();
    let line = text
        .lines()
        .find(|l| l.starts_with("starling_tls_certificate_expiry_timestamp_seconds{listener=\"secure\"}"))?;
    line.rsplit(' ').next()?.parse().ok()
}

#[tokio::test]
async fn tls_rotation_on_disk_serves_the_new_cert_and_keeps_old_connections() {
    let ca = Ca::new("Starling rotation CA");
    let dir = tempfile::tempdir().expect("tempdir");
    let (c1, k1) = ca.server_until("generation-1", 2090);
    let (crt, key) = k8s_secret(dir.path(), "gen1", &c1, &k1);
    let mut l = tls_listener(&crt, &key);
    l.reload_interval = Duration::from_millis(100);
    let (node, addr) = start(l).await;
    assert_eq!(cn_now(addr, &ca).await, "generation-1");
    assert_eq!(expiry_metric(&node), Some(3_786_912_000), "2090-01-01");

    let mut old = tls_connect(addr, client_config(&ca.pem(), None)).await.expect("handshake");
    assert_eq!(connack_over(&mut old, "old-conn").await, Some(0));

    let (c2, k2) = ca.server_until("generation-2", 2091);
    k8s_secret(dir.path(), "gen2", &c2, &k2);
    let deadline = tokio::time::Instant::now() + T;
    while cn_now(addr, &ca).await != "generation-2" {
        assert!(tokio::time::Instant::now() < deadline, "the rotated certificate was not picked up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(expiry_metric(&node), Some(3_818_448_000), "2091-01-01");
    let m = &node.broker().metrics;
    assert!(m.tls_reload_count("secure", true) >= 1);
    assert_eq!(m.tls_reload_count("secure", false), 0, "an atomic swap is never seen half-done");
    // The connection from before the rotation still works: PINGREQ → PINGRESP.
    old.write_all(&[0xC0, 0x00]).await.expect("pingreq");
    let mut b = [0u8; 2];
    tokio::time::timeout(T, old.read_exact(&mut b)).await.expect("pingresp in time").expect("read");
    assert_eq!(b, [0xD0, 0x00]);
}

#[tokio::test]
async fn tls_broken_files_keep_the_old_cert_and_are_counted() {
    let ca = Ca::new("Starling broken-file CA");
    let dir = tempfile::tempdir().expect("tempdir");
    let (c1, k1) = ca.server("generation-1");
    let (crt, key) = (write(dir.path(), "s.pem", &c1), write(dir.path(), "s.key", &k1));
    let mut l = tls_listener(&crt, &key);
    l.reload_interval = Duration::from_millis(100);
    let (node, addr) = start(l).await;
    let b = node.broker().clone();

    // Garbage in the certificate file.
    replace(&crt, "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n");
    wait_for("a failed reload", T, || b.metrics.tls_reload_count("secure", false) >= 1).await;
    assert_eq!(cn_now(addr, &ca).await, "generation-1", "the old certificate is still served");
    // A good new certificate, but the key file still holds the old key: not a pair.
    let (c2, k2) = ca.server("generation-2");
    replace(&crt, &c2);
    wait_for("a second failed reload", T, || b.metrics.tls_reload_count("secure", false) >= 2).await;
    assert_eq!(cn_now(addr, &ca).await, "generation-1");
    // A broken file is reported once, not at every poll.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(b.metrics.tls_reload_count("secure", false), 2);
    // The matching key arrives: the pair is swapped in together.
    replace(&key, &k2);
    wait_for("a good reload", T, || b.metrics.tls_reload_count("secure", true) >= 1).await;
    assert_eq!(cn_now(addr, &ca).await, "generation-2");
    let text = b.metrics.encode();
    assert!(text.contains("starling_tls_reloads_total{listener=\"secure\",result=\"error\"} 2"), "{text}");
}

#[tokio::test]
async fn tls_sighup_reload_through_node_handle() {
    let ca = Ca::new("Starling SIGHUP CA");
    let dir = tempfile::tempdir().expect("tempdir");
    let (c1, k1) = ca.server("generation-1");
    let (crt, key) = (write(dir.path(), "s.pem", &c1), write(dir.path(), "s.key", &k1));
    let mut l = tls_listener(&crt, &key);
    l.reload_interval = Duration::ZERO; // only SIGHUP
    let (node, addr) = start(l).await;
    let (c2, k2) = ca.server("generation-2");
    std::fs::write(&crt, &c2).expect("write");
    std::fs::write(&key, &k2).expect("write");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cn_now(addr, &ca).await, "generation-1", "no watch: nothing changes before SIGHUP");
    let h = node.handle.as_ref().expect("running");
    let items = h.reload(&node.cfg);
    let tls: Vec<_> = items.iter().filter(|r| r.what == "TLS certificates").collect();
    assert_eq!(tls.len(), 1, "{items:?}");
    let summary = tls[0].outcome.as_ref().expect("reloaded");
    assert!(summary.contains("secure") && summary.contains("generation-2"), "{summary}");
    assert_eq!(cn_now(addr, &ca).await, "generation-2");
    // A missing key file: reported, the previous material stays.
    std::fs::remove_file(&key).expect("remove");
    let items = h.reload(&node.cfg);
    let err = items
        .iter()
        .find(|r| r.what == "TLS certificates")
        .expect("item")
        .outcome
        .as_ref()
        .expect_err("fails")
        .to_string();
    assert!(err.contains(key.to_str().expect("utf-8")), "{err}");
    assert_eq!(cn_now(addr, &ca).await, "generation-2");
}

fn startup_cfg(data: &Path, l: ListenerConfig) -> Config {
    let mut cfg = Config { data_dir: data.to_path_buf(), ..Config::default() };
    cfg.listeners.clear();
    cfg.listeners.insert("secure".into(), l);
    cfg.admin.enabled = false;
    cfg.sys.enabled = false;
    cfg
}

#[tokio::test]
async fn tls_bad_crl_or_wss_files_fail_startup_naming_the_file() {
    let ca = Ca::new("Starling start-up CA");
    let dir = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("tempdir");
    let (cert, key) = ca.server("localhost");
    let (crt, key) = (write(dir.path(), "s.pem", &cert), write(dir.path(), "s.key", &key));
    let garbage = write(dir.path(), "crl.pem", "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n");
    let mut l = tls_listener(&crt, &key);
    l.verify = TlsVerify::Required;
    l.ca = Some(write(dir.path(), "ca.pem", &ca.pem()));
    l.crl = Some(garbage.clone());
    let cfg = startup_cfg(data.path(), l.clone());
    cfg.validate().expect("valid configuration");
    let err = Node::start(cfg).await.err().expect("a bad CRL must fail").to_string();
    assert!(err.contains(garbage.to_str().expect("utf-8")), "{err}");
    let empty = write(dir.path(), "empty.pem", "");
    l.crl = Some(empty.clone());
    let err = Node::start(startup_cfg(data.path(), l)).await.err().expect("an empty CRL file must fail").to_string();
    assert!(err.contains(empty.to_str().expect("utf-8")), "{err}");

    let missing = dir.path().join("missing.pem");
    let mut l = tls_listener(&missing, &key);
    l.kind = Some(ListenerKind::Wss);
    let err = Node::start(startup_cfg(data.path(), l)).await.err().expect("a missing cert must fail").to_string();
    assert!(err.contains(missing.to_str().expect("utf-8")), "{err}");
}

/// The real binary: `kill -HUP` makes `starling serve` load rotated files (the watch is off
/// here, so only the signal can have done it), and the reload is logged.
#[tokio::test]
async fn tls_sighup_to_the_binary_reloads_certificates() {
    use crate::cli_util::{Server, free_port, listener_addr, starling};
    let ca = Ca::new("Starling binary SIGHUP CA");
    let dir = tempfile::tempdir().expect("tempdir");
    let (c1, k1) = ca.server("generation-1");
    let (crt, key) = (write(dir.path(), "s.pem", &c1), write(dir.path(), "s.key", &k1));
    let cfg = write(
        dir.path(),
        "s.toml",
        &format!(
            "data_dir = {:?}\n[listeners.tcp]\nbind = \"127.0.0.1:{}\"\n[listeners.secure]\nkind = \"tls\"\n\
             bind = \"127.0.0.1:{}\"\ncert = {:?}\nkey = {:?}\nreload_interval = \"0s\"\n",
            dir.path().join("data").display().to_string(),
            free_port(),
            free_port(),
            crt.display().to_string(),
            key.display().to_string(),
        ),
    );
    let mut c = starling(dir.path());
    c.arg("serve").arg("--config").arg(&cfg);
    let server = Server::spawn(c, 2).await;
    let line = server.listeners.iter().find(|l| l.contains("secure")).expect("tls listener line");
    let addr = listener_addr(line);
    assert_eq!(cn_now(addr, &ca).await, "generation-1");
    let (c2, k2) = ca.server("generation-2");
    std::fs::write(&crt, &c2).expect("write");
    std::fs::write(&key, &k2).expect("write");
    server.signal("HUP");
    let deadline = tokio::time::Instant::now() + T;
    while cn_now(addr, &ca).await != "generation-2" {
        assert!(tokio::time::Instant::now() < deadline, "SIGHUP did not reload the certificate");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut server = server;
    server.signal("TERM");
    let (status, _) = server.wait_exit(T).await;
    assert!(status.success(), "{status:?}");
    let err = server.stderr().await;
    assert!(err.contains("TLS certificates") && err.contains("generation-2"), "reload logged:\n{err}");
}
