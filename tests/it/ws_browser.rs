//! MQTT over WebSocket from a real browser: Debian's headless `chromium` loads
//! tests/browser/mqtt_page.html (served by the test over HTTP), whose MQTT.js (the npm `mqtt`
//! package's browser bundle, installed into tests/browser by scripts/test) connects to a `ws`
//! or `wss` listener, subscribes, and publishes. A Rust client checks both directions: the
//! browser's announcement arrives, and a message published from Rust reaches the browser (it
//! answers with an echo).
//!
//! Every wait is bounded, chromium is killed at the end (and on drop), and a failure prints the
//! page's console log. Nothing is skipped: without chromium or MQTT.js the test fails and says
//! what to install.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet as RPacket, QoS};
use starling::config::{ListenerConfig, ListenerKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::harness::TestNode;
use crate::tls_util::{Ca, write};

/// Browser start-up on a loaded two-core machine can take a while; still bounded.
const BROWSER_WAIT: Duration = Duration::from_secs(60);

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn chromium() -> PathBuf {
    for c in ["chromium", "chromium-browser"] {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let p = Path::new(dir).join(c);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!("chromium is not installed: `apt-get install chromium` (scripts/test installs it)");
}

/// Serve the test page and MQTT.js over HTTP on 127.0.0.1 until the returned task is aborted.
async fn serve_page() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let page = std::fs::read(browser_dir().join("mqtt_page.html")).expect("tests/browser/mqtt_page.html");
    let js_path = browser_dir().join("node_modules/mqtt/dist/mqtt.min.js");
    let js = std::fs::read(&js_path)
        .unwrap_or_else(|e| panic!("{}: {e}; run `npm ci` in tests/browser (scripts/test does)", js_path.display()));
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind the page server");
    let addr = l.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let (page, js) = (page.clone(), js.clone());
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16 * 1024 {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&req).lines().next().unwrap_or_default().to_string();
                let path = line.split(' ').nth(1).unwrap_or("/");
                let path = path.split('?').next().unwrap_or("/");
                let (status, ctype, body) = match path {
                    "/" | "/mqtt_page.html" => ("200 OK", "text/html; charset=utf-8", page),
                    "/mqtt.min.js" => ("200 OK", "application/javascript", js),
                    _ => ("404 Not Found", "text/plain", b"not found".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (addr, task)
}

/// A running chromium in its own process group; the whole group (browser, renderer, GPU and
/// zygote processes) is killed when this is dropped, also when the test panics.
struct Browser {
    child: tokio::process::Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.start_kill();
    }
}

/// Headless chromium on `url`. Its stderr (with the page's console messages) goes to `log`.
fn launch_chromium(url: &str, profile: &Path, log: &Path) -> Browser {
    let stderr = std::fs::File::create(log).expect("chromium log file");
    tokio::process::Command::new(chromium())
        .args([
            "--headless=new",
            "--no-sandbox", // tests run as root in CI
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--metrics-recording-only",
            "--password-store=basic",
            "--use-mock-keychain",
            // The wss test's certificate comes from a CA made by the test.
            "--ignore-certificate-errors",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(stderr))
        .kill_on_drop(true)
        .process_group(0)
        .spawn()
        .map(|child| Browser { child })
        .unwrap_or_else(|e| panic!("cannot start chromium: {e}"))
}

/// The page's console lines (and chromium's errors) for a failure message.
fn browser_log(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    // D-Bus complaints are noise in a container.
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("[page]") || ((l.contains("ERROR") || l.contains("FATAL")) && !l.contains("dbus")))
        .collect();
    let tail = lines.len().saturating_sub(40);
    lines[tail..].join("\n")
}

/// Run the page against `broker_url` and check both directions through a Rust client on the
/// node's plain listener.
async fn browser_round_trip(node: &TestNode, broker_url: &str, prefix: &str) {
    let plain = node.handle.as_ref().expect("running").listeners.iter().find(|l| l.name == "tcp").expect("tcp").addr;
    let mut o = MqttOptions::new(format!("rust-{prefix}"), "127.0.0.1", plain.port());
    o.set_keep_alive(Duration::from_secs(30));
    let (client, mut el) = AsyncClient::new(o, 10);
    client.subscribe(format!("{prefix}/#"), QoS::AtLeastOnce).await.expect("subscribe");
    // The Rust side is subscribed before the browser starts, so nothing is missed.
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Event::Incoming(RPacket::SubAck(_)) = el.poll().await.expect("poll") {
                return;
            }
        }
    })
    .await
    .expect("SUBACK for the Rust client");

    let (http, server) = serve_page().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("chromium.log");
    let url = format!("http://{http}/mqtt_page.html?broker={broker_url}&prefix={prefix}");
    let mut browser = launch_chromium(&url, &tmp.path().join("profile"), &log);

    let outcome = tokio::time::timeout(BROWSER_WAIT, async {
        let mut hello = false;
        // The page logs "closed" or "error" when its connection fails: fail then, not at the
        // end of the wait.
        let mut check = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = check.tick() => {
                    let text = std::fs::read_to_string(&log).unwrap_or_default();
                    if text.contains("[page] closed") || text.contains("[page] error") {
                        return Err("the page's MQTT connection failed".to_string());
                    }
                }
                ev = el.poll() => match ev {
                    Ok(Event::Incoming(RPacket::Publish(m))) if m.topic == format!("{prefix}/hello") => {
                        assert_eq!(&m.payload[..], b"browser ready");
                        hello = true;
                        client.publish(format!("{prefix}/in"), QoS::AtLeastOnce, false, "from-rust").await.expect("publish");
                    }
                    Ok(Event::Incoming(RPacket::Publish(m))) if m.topic == format!("{prefix}/echo") => {
                        return Ok((hello, String::from_utf8_lossy(&m.payload).into_owned()));
                    }
                    Ok(_) => {}
                    Err(e) => return Err(format!("Rust client failed: {e}")),
                },
                status = browser.child.wait() => return Err(format!("chromium exited early: {status:?}")),
            }
        }
    })
    .await;
    drop(browser);
    server.abort();
    match outcome {
        Ok(Ok((hello, echo))) => {
            assert!(hello, "the browser's announcement arrived");
            assert_eq!(echo, "echo:from-rust", "the browser received the Rust message and echoed it");
        }
        Ok(Err(e)) => panic!("{e}\nbrowser log:\n{}", browser_log(&log)),
        Err(_) => {
            panic!("no echo from the browser within {BROWSER_WAIT:?} (page {url})\nbrowser log:\n{}", browser_log(&log))
        }
    }
}

async fn start(l: ListenerConfig) -> (TestNode, SocketAddr) {
    let node = TestNode::start_with(move |c| {
        c.listeners.insert("web".into(), l);
    })
    .await;
    let addr = node.handle.as_ref().expect("running").listeners.iter().find(|l| l.name == "web").expect("web").addr;
    (node, addr)
}

#[tokio::test]
async fn ws_browser_mqttjs_over_ws() {
    let (node, addr) = start(ListenerConfig {
        kind: Some(ListenerKind::Ws),
        bind: Some("127.0.0.1:0".parse().expect("addr")),
        ..ListenerConfig::default()
    })
    .await;
    browser_round_trip(&node, &format!("ws://127.0.0.1:{}/mqtt", addr.port()), "browser-ws").await;
}

#[tokio::test]
async fn ws_browser_mqttjs_over_wss() {
    let ca = Ca::new("Starling browser test CA");
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = ca.server("localhost");
    let (node, addr) = start(ListenerConfig {
        kind: Some(ListenerKind::Wss),
        bind: Some("127.0.0.1:0".parse().expect("addr")),
        cert: Some(write(dir.path(), "s.pem", &cert)),
        key: Some(write(dir.path(), "s.key", &key)),
        ..ListenerConfig::default()
    })
    .await;
    browser_round_trip(&node, &format!("wss://localhost:{}/mqtt", addr.port()), "browser-wss").await;
}
