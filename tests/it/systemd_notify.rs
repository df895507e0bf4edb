//! systemd integration of `starling serve`, through the real binary: `sd_notify` messages on a
//! test-owned `NOTIFY_SOCKET` (READY, STATUS, WATCHDOG, STOPPING, RELOADING), SIGHUP reloading
//! the admin API key file, and the journald fallback when `JOURNAL_STREAM` is set without a
//! journald socket.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use hyper::http::Method;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::UnixDatagram;
use tokio::process::{Child, ChildStdout, Command};

use crate::admin_util::request;
use crate::cli_util::*;

/// The service manager's end of `NOTIFY_SOCKET`: every datagram split into its lines.
struct Notify {
    sock: UnixDatagram,
    /// Every line received so far, in order.
    seen: Vec<String>,
}

impl Notify {
    fn bind(dir: &Path) -> Notify {
        let sock = UnixDatagram::bind(dir.join("notify.sock")).expect("bind NOTIFY_SOCKET");
        Notify { sock, seen: Vec::new() }
    }

    fn path(&self) -> std::path::PathBuf {
        self.sock.local_addr().expect("addr").as_pathname().expect("path").to_path_buf()
    }

    /// The next datagram's lines, or `None` after `within`.
    async fn recv(&mut self, within: Duration) -> Option<Vec<String>> {
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(within, self.sock.recv(&mut buf)).await.ok()?.expect("recv");
        let lines: Vec<String> =
            String::from_utf8_lossy(&buf[..n]).lines().filter(|l| !l.is_empty()).map(str::to_string).collect();
        self.seen.extend(lines.iter().cloned());
        Some(lines)
    }

    /// Receive until a datagram contains `line`; panics after `within`.
    async fn wait_for(&mut self, line: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left).await {
                Some(lines) if lines.iter().any(|l| l == line) => return,
                Some(_) => {}
                None => panic!("no {line:?} within {within:?}; received {:?}", self.seen),
            }
        }
    }

    /// Everything that arrives during `d`.
    async fn collect_for(&mut self, d: Duration) -> Vec<String> {
        let deadline = Instant::now() + d;
        let mut out = Vec::new();
        while let Some(lines) = self.recv(deadline.saturating_duration_since(Instant::now())).await {
            out.extend(lines);
        }
        out
    }
}

/// `starling serve` under a fake systemd: stdout and stderr piped.
fn spawn(mut c: Command, notify: &Notify) -> (Child, BufReader<ChildStdout>) {
    c.env("NOTIFY_SOCKET", notify.path())
        .env("WATCHDOG_USEC", "400000")
        .env_remove("WATCHDOG_PID")
        .env_remove("JOURNAL_STREAM")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn starling serve");
    let out = BufReader::new(child.stdout.take().expect("stdout"));
    (child, out)
}

async fn next_line(out: &mut BufReader<ChildStdout>, within: Duration) -> String {
    let mut line = String::new();
    match tokio::time::timeout(within, out.read_line(&mut line)).await {
        Ok(Ok(n)) if n > 0 => line.trim_end().to_string(),
        other => panic!("no line on stdout within {within:?}: {other:?}"),
    }
}

fn signal(child: &Child, sig: &str) {
    let pid = child.id().expect("running");
    let ok = std::process::Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().expect("kill");
    assert!(ok.success(), "kill -{sig} failed");
}

async fn stderr_of(child: &mut Child) -> String {
    let mut s = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = tokio::time::timeout(Duration::from_secs(5), e.read_to_string(&mut s)).await;
    }
    s
}

/// READY=1 only once the listener is bound (its line is already printed), STATUS= updates, a
/// WATCHDOG=1 every half of WATCHDOG_USEC, and STOPPING=1 then a clean exit on SIGTERM.
#[tokio::test]
async fn systemd_notify_ready_watchdog_status_stopping() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut notify = Notify::bind(dir.path());
    let mut c = starling(dir.path());
    c.arg("serve").arg("--bind").arg(local(free_port()).to_string()).env("STARLING_ADMIN__ENABLED", "false");
    let (mut child, mut out) = spawn(c, &notify);

    notify.wait_for("READY=1", Duration::from_secs(10)).await;
    // READY=1 is sent after the listener line is written: it must already be on stdout.
    let line = next_line(&mut out, Duration::from_secs(1)).await;
    assert!(line.starts_with("starling: listener tcp (mqtt) on 127.0.0.1:"), "first stdout line: {line}");
    assert!(notify.seen.iter().any(|l| l == "STATUS=starting"), "{:?}", notify.seen);
    assert!(notify.seen.iter().any(|l| l == "STATUS=serving: 1 listeners"), "{:?}", notify.seen);

    // WATCHDOG_USEC=400000: a ping every 200 ms.
    let during = notify.collect_for(Duration::from_millis(1500)).await;
    let pings = during.iter().filter(|l| *l == "WATCHDOG=1").count();
    assert!(pings >= 2, "expected at least two WATCHDOG=1 in 1.5 s, got {pings}: {during:?}");

    signal(&child, "TERM");
    notify.wait_for("STOPPING=1", Duration::from_secs(5)).await;
    let status =
        tokio::time::timeout(Duration::from_secs(10), child.wait()).await.expect("exit in time").expect("wait");
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    let tail = notify.collect_for(Duration::from_millis(200)).await;
    assert!(notify.seen.iter().any(|l| l == "STATUS=draining"), "{:?}", notify.seen);
    assert!(tail.iter().chain(&notify.seen).any(|l| l == "STATUS=stopped"), "{:?}", notify.seen);
}

/// SIGHUP re-reads `admin.api_keys_file`: the new key works and the old one is refused; a bad
/// file keeps the keys in use; the process keeps running throughout.
#[tokio::test]
async fn systemd_sighup_reloads_api_key_file() {
    const OLD: &str = "old-key-0123456789";
    const NEW: &str = "new-key-9876543210";
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path().join("keys");
    std::fs::write(&keys, format!("# admin keys\n{OLD}\n")).expect("write keys");
    let admin = local(free_port());
    let cfg = dir.path().join("s.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = \"{}\"\n[listeners.tcp]\nbind = \"127.0.0.1:{}\"\n[admin]\nenabled = true\nbind = \"{admin}\"\napi_keys_file = \"{}\"\n",
            dir.path().join("data").display(),
            free_port(),
            keys.display()
        ),
    )
    .expect("write config");
    let mut notify = Notify::bind(dir.path());
    let mut c = starling(dir.path());
    c.arg("serve").arg("--config").arg(&cfg);
    let (mut child, _out) = spawn(c, &notify);
    notify.wait_for("READY=1", Duration::from_secs(10)).await;
    assert!(notify.seen.iter().any(|l| l == "STATUS=serving: 2 listeners"), "{:?}", notify.seen);

    let status =
        |key: &'static str| async move { request(admin, Method::GET, "/api/v1/status", Some(key)).await.status };
    assert_eq!(status(OLD).await, 200);
    assert_eq!(status(NEW).await, 401);

    std::fs::write(&keys, format!("{NEW}\n")).expect("rewrite keys");
    signal(&child, "HUP");
    notify.wait_for("RELOADING=1", Duration::from_secs(5)).await;
    notify.wait_for("READY=1", Duration::from_secs(5)).await;
    assert_eq!(status(NEW).await, 200, "the new key is accepted after SIGHUP");
    assert_eq!(status(OLD).await, 401, "the old key is refused after SIGHUP");

    // A bad file: the keys in use stay.
    std::fs::write(&keys, "has a space\n").expect("rewrite keys");
    signal(&child, "HUP");
    notify.wait_for("READY=1", Duration::from_secs(5)).await;
    assert_eq!(status(NEW).await, 200, "a bad file keeps the previous keys");
    assert!(child.try_wait().expect("try_wait").is_none(), "SIGHUP must not stop the process");

    signal(&child, "TERM");
    let st = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.expect("exit in time").expect("wait");
    assert!(st.success(), "exit status after SIGTERM: {st:?}");
    let err = stderr_of(&mut child).await;
    assert!(err.contains("reloaded: 1 API keys"), "reload logged:\n{err}");
    assert!(err.contains("reload failed") && err.contains("line 1"), "bad file logged:\n{err}");
}

/// JOURNAL_STREAM set (as under systemd) but no journald socket to talk to: the broker still
/// starts, logs to stderr and says why.
#[tokio::test]
async fn systemd_journal_stream_without_journald_falls_back_to_stderr() {
    if Path::new("/run/systemd/journal/socket").exists() {
        eprintln!("journald runs here; the fallback cannot be observed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = starling(dir.path());
    c.arg("serve").arg("--bind").arg(local(free_port()).to_string()).env("JOURNAL_STREAM", "8:12345");
    let server = Server::spawn(c, 1).await;
    let mut server = server;
    server.signal("TERM");
    let (status, _) = server.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}");
    let err = server.stderr().await;
    assert!(err.contains("journald socket cannot be opened"), "fallback warning on stderr:\n{err}");
    assert!(err.contains("started"), "events still logged to stderr:\n{err}");
}
