//! The admin listener over TLS (`admin.cert`/`admin.key`, optionally client certificates with
//! `admin.ca`/`admin.verify`): `/healthz`, `/metrics` and `/api/v1` over HTTPS, `starling ctl`
//! (the real binary) with `--ca`, refusing an untrusted certificate with a message that says so,
//! client certificates, reload, and start-up errors naming the bad file.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::http::Request;
use hyper_util::rt::TokioIo;
use starling::config::{Config, TlsVerify};
use starling::node::Node;

use crate::admin_util::{KEY, admin_addr};
use crate::cli_util::{run, starling, text};
use crate::harness::{TestNode, wait_for};
use crate::tls_util::{Ca, client_config, served_cn, tls_connect, write};

/// A CA, the admin server certificate it signed (for localhost and 127.0.0.1), in `dir`.
struct Pki {
    ca: Ca,
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let ca = Ca::new("admin test CA");
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = ca.server("admin-1");
        write(dir.path(), "admin.pem", &cert);
        write(dir.path(), "admin-key.pem", &key);
        write(dir.path(), "ca.pem", &ca.pem());
        Pki { ca, dir }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// `[admin]` with TLS and [`KEY`].
    fn admin(&self, c: &mut Config) {
        c.admin.api_keys = vec![KEY.into()];
        c.admin.cert = Some(self.path("admin.pem"));
        c.admin.key = Some(self.path("admin-key.pem"));
    }
}

/// One HTTPS request with [`KEY`] (or none); status and body.
async fn https(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    path: &str,
    key: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let fut = async {
        let stream = tls_connect(addr, tls).await?;
        let (mut tx, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(conn);
        let mut req = Request::get(path).header("host", format!("localhost:{}", addr.port()));
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let resp = tx
            .send_request(req.body(Full::new(Bytes::new())).expect("request"))
            .await
            .map_err(std::io::Error::other)?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.map_err(std::io::Error::other)?.to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    };
    tokio::time::timeout(Duration::from_secs(10), fut).await.expect("answer within 10 s")
}

/// `starling ctl ARGS...` with a clean environment plus `env`.
async fn ctl(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = starling(dir.path());
    c.arg("ctl").args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    run(c).await
}

fn url(node: &TestNode) -> String {
    format!("https://127.0.0.1:{}", admin_addr(node).port())
}

#[tokio::test]
async fn admin_tls_serves_probes_metrics_and_api() {
    let pki = Pki::new();
    let node = TestNode::start_with(|c| pki.admin(c)).await;
    let addr = admin_addr(&node);
    let tls = client_config(&pki.ca.pem(), None);

    let (status, body) = https(addr, tls.clone(), "/healthz", None).await.expect("healthz over TLS");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    let (status, body) = https(addr, tls.clone(), "/readyz", None).await.expect("readyz over TLS");
    assert_eq!(status, 200, "{body}");

    let (status, metrics) = https(addr, tls.clone(), "/metrics", None).await.expect("metrics over TLS");
    assert_eq!(status, 200);
    let expiry = metrics
        .lines()
        .find(|l| l.starts_with("starling_tls_certificate_expiry_timestamp_seconds{listener=\"admin\"}"))
        .unwrap_or_else(|| panic!("admin certificate expiry exported:\n{metrics}"));
    // Ca::server certificates are valid until 4000-01-01.
    assert_eq!(expiry.rsplit(' ').next(), Some("64060588800"), "{expiry}");

    let (status, body) = https(addr, tls.clone(), "/api/v1/status", Some(KEY)).await.expect("API over TLS");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert!(v["node"].is_string(), "{v}");
    let (status, _) = https(addr, tls.clone(), "/api/v1/status", None).await.expect("API over TLS");
    assert_eq!(status, 401, "the key is still required over TLS");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = tokio::time::timeout(Duration::from_secs(5), async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await.expect("write");
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf).await;
        buf
    })
    .await
    .expect("the server closes a plain HTTP connection");
    assert!(!plain.starts_with(b"HTTP/"), "plain HTTP answered: {}", String::from_utf8_lossy(&plain));

    // A client that does not trust the CA does not get through.
    let other = client_config(&Ca::new("someone else").pem(), None);
    assert!(https(addr, other, "/healthz", None).await.is_err(), "untrusted server certificate accepted");

    // A graceful stop closes the TLS listener's socket: the restarted node binds the same port.
    let mut node = node;
    node.restart().await;
    assert_eq!(admin_addr(&node), addr);
    let (status, _) = https(addr, tls, "/healthz", None).await.expect("healthz after restart");
    assert_eq!(status, 200);
}

#[tokio::test]
async fn ctl_over_https_with_ca_flag_env_and_local_config() {
    let pki = Pki::new();
    let node = TestNode::start_with(|c| pki.admin(c)).await;
    let url = url(&node);
    let ca = pki.path("ca.pem");
    let ca = ca.to_str().expect("utf-8 path");

    let o = ctl(&["--url", &url, "--api-key", KEY, "--ca", ca, "status", "--json"], &[]).await;
    assert!(o.status.success(), "ctl --ca: {}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["node"], node.broker().node_name.as_str());

    let o =
        ctl(&["status"], &[("STARLING_ADMIN_URL", &url), ("STARLING_API_KEY", KEY), ("STARLING_ADMIN_CA", ca)]).await;
    assert!(o.status.success(), "ctl with STARLING_ADMIN_CA: {}", text(&o.stderr));
    assert!(text(&o.stdout).lines().any(|l| l.starts_with("node ")), "{}", text(&o.stdout));

    // No --url: derived from the configuration file, https because admin.cert is set.
    let cfg = pki.path("starling.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = {:?}\n[admin]\nbind = \"127.0.0.1:{}\"\napi_keys = [\"{KEY}\"]\ncert = {:?}\nkey = {:?}\n",
            pki.path("unused-data"),
            admin_addr(&node).port(),
            pki.path("admin.pem"),
            pki.path("admin-key.pem"),
        ),
    )
    .expect("write config");
    let o = ctl(&["--config", cfg.to_str().expect("utf-8"), "--ca", ca, "clients", "list"], &[]).await;
    assert!(o.status.success(), "ctl --config: {}", text(&o.stderr));
    assert_eq!(text(&o.stdout).trim(), "no clients");
}

#[tokio::test]
async fn ctl_refuses_an_untrusted_admin_certificate() {
    let pki = Pki::new();
    let node = TestNode::start_with(|c| pki.admin(c)).await;
    let url = url(&node);
    let other = write(pki.dir.path(), "other-ca.pem", &Ca::new("another CA").pem());

    let o = ctl(&["--url", &url, "--api-key", KEY, "--ca", other.to_str().expect("utf-8"), "status"], &[]).await;
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains(&format!("cannot reach the admin API at {url}")), "{err}");
    assert!(err.contains("the server's certificate is not trusted"), "{err}");
    assert!(err.contains(&format!("the CA bundle {}", other.display())), "{err}");
    assert!(o.stdout.is_empty(), "nothing printed on stdout: {}", text(&o.stdout));

    // Without --ca the system's CAs are used, and they do not know the test CA.
    let o = ctl(&["--url", &url, "--api-key", KEY, "status"], &[]).await;
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains("not trusted") && err.contains("the system's CA certificates"), "{err}");
    assert!(err.contains("--ca FILE or set STARLING_ADMIN_CA"), "{err}");

    // http:// to an https listener: the hint says so.
    let plain = url.replacen("https", "http", 1);
    let o = ctl(&["--url", &plain, "--api-key", KEY, "status"], &[]).await;
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("use an https:// URL"), "{}", text(&o.stderr));

    // An unreadable --ca names the file.
    let o = ctl(&["--url", &url, "--api-key", KEY, "--ca", "/nonexistent/ca.pem", "status"], &[]).await;
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("/nonexistent/ca.pem"), "{}", text(&o.stderr));
}

#[tokio::test]
async fn admin_client_certificates_required() {
    let pki = Pki::new();
    let clients = Ca::new("admin clients CA");
    write(pki.dir.path(), "clients-ca.pem", &clients.pem());
    let (cert, key) = clients.client("operator", 7);
    let cert_path = write(pki.dir.path(), "operator.pem", &cert);
    let key_path = write(pki.dir.path(), "operator-key.pem", &key);
    let node = TestNode::start_with(|c| {
        pki.admin(c);
        c.admin.verify = TlsVerify::Required;
        c.admin.ca = Some(pki.path("clients-ca.pem"));
    })
    .await;
    let addr = admin_addr(&node);

    // Without a certificate: refused (TLS 1.3 reports it on the first read).
    let anonymous = client_config(&pki.ca.pem(), None);
    assert!(https(addr, anonymous, "/healthz", None).await.is_err(), "no client certificate, yet served");
    let with_cert = client_config(&pki.ca.pem(), Some(&(cert.clone(), key.clone())));
    let (status, _) = https(addr, with_cert, "/healthz", None).await.expect("client certificate accepted");
    assert_eq!(status, 200);

    let url = url(&node);
    let ca = pki.path("ca.pem");
    let ca = ca.to_str().expect("utf-8");
    let o = ctl(&["--url", &url, "--api-key", KEY, "--ca", ca, "status"], &[]).await;
    assert!(!o.status.success(), "ctl without a client certificate got through");
    assert!(text(&o.stderr).contains("--client-cert"), "{}", text(&o.stderr));
    let o = ctl(
        &[
            "--url",
            &url,
            "--api-key",
            KEY,
            "--ca",
            ca,
            "--client-cert",
            cert_path.to_str().expect("utf-8"),
            "--client-key",
            key_path.to_str().expect("utf-8"),
            "status",
        ],
        &[],
    )
    .await;
    assert!(o.status.success(), "ctl with a client certificate: {}", text(&o.stderr));
}

#[tokio::test]
async fn admin_tls_reloads_changed_files_and_on_sighup() {
    let pki = Pki::new();
    let node = TestNode::start_with(|c| {
        pki.admin(c);
        c.admin.reload_interval = Duration::from_millis(100);
    })
    .await;
    let addr = admin_addr(&node);
    let tls = client_config(&pki.ca.pem(), None);
    assert_eq!(served_cn(&tls_connect(addr, tls.clone()).await.expect("handshake")), "admin-1");

    // Rotated on disk: the watch picks it up.
    let (cert, key) = pki.ca.server("admin-2");
    write(pki.dir.path(), "admin-key.pem", &key);
    write(pki.dir.path(), "admin.pem", &cert);
    let mut seen = String::new();
    for _ in 0..100 {
        seen = served_cn(&tls_connect(addr, tls.clone()).await.expect("handshake"));
        if seen == "admin-2" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, "admin-2", "rotated admin certificate served");

    // SIGHUP's reload reports the admin material; a broken file keeps the old one.
    write(pki.dir.path(), "admin.pem", "not a certificate\n");
    let handle = node.handle.as_ref().expect("running");
    let items = handle.reload(&node.cfg);
    let admin = items.iter().find(|r| r.what == "admin TLS certificates").expect("admin TLS reloaded");
    let err = admin.outcome.as_ref().expect_err("broken certificate refused").to_string();
    assert!(err.contains(&pki.path("admin.pem").display().to_string()), "{err}");
    assert_eq!(served_cn(&tls_connect(addr, tls.clone()).await.expect("handshake")), "admin-2");
    wait_for("the failed reload counted", Duration::from_secs(5), || {
        node.broker().metrics.tls_reload_count("admin", false) >= 1
    })
    .await;
}

#[tokio::test]
async fn admin_tls_bad_files_fail_startup_naming_the_file() {
    let pki = Pki::new();
    let attempt = std::sync::atomic::AtomicUsize::new(0);
    let start = |tweak: &dyn Fn(&mut Config)| {
        // A fresh data dir each time: the failed start's store may still be closing.
        let n = attempt.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut c = Config { data_dir: pki.path(&format!("data-{n}")), ..Config::default() };
        c.sys.enabled = false;
        if let Some(l) = c.listeners.get_mut("tcp") {
            l.bind = Some("127.0.0.1:0".parse().expect("addr"));
        }
        c.admin.bind = "127.0.0.1:0".parse().expect("addr");
        pki.admin(&mut c);
        tweak(&mut c);
        async move { Node::start(c).await.err().map(|e| e.to_string()).expect("start-up must fail") }
    };
    let missing = pki.path("missing.pem");
    let e = start(&|c| c.admin.cert = Some(pki.path("missing.pem"))).await;
    assert!(e.contains("cannot read certificate") && e.contains(&missing.display().to_string()), "{e}");
    assert!(e.contains("listener admin"), "{e}");

    let junk = write(pki.dir.path(), "junk-key.pem", "-----BEGIN PRIVATE KEY-----\nnot base64\n");
    let e = start(&|c| c.admin.key = Some(junk.clone())).await;
    assert!(e.contains(&junk.display().to_string()), "{e}");

    // A key that is not the certificate's.
    let (_, other_key) = pki.ca.server("other");
    let wrong = write(pki.dir.path(), "wrong-key.pem", &other_key);
    let e = start(&|c| c.admin.key = Some(wrong.clone())).await;
    assert!(e.contains("do not form a usable pair") && e.contains(&wrong.display().to_string()), "{e}");

    // Through the binary: the message reaches the operator.
    let cfg = pki.path("bad.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = {:?}\n[listeners.tcp]\nbind = \"127.0.0.1:0\"\n[admin]\nbind = \"127.0.0.1:0\"\ncert = {:?}\nkey = {:?}\n",
            pki.path("data2"),
            missing,
            pki.path("admin-key.pem"),
        ),
    )
    .expect("write config");
    let mut c = starling(pki.dir.path());
    c.arg("serve").arg("--config").arg(&cfg);
    let o = run(c).await;
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains(&missing.display().to_string()), "{}", text(&o.stderr));

    // `config check` catches a cert without a key.
    std::fs::write(&cfg, "[admin]\ncert = \"/etc/starling/admin.pem\"\n").expect("write config");
    let mut c = starling(pki.dir.path());
    c.arg("config").arg("check").arg(&cfg);
    let o = run(c).await;
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains("admin.cert is set without admin.key") && err.contains(&cfg.display().to_string()), "{err}");
}
