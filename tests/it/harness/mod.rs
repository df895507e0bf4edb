//! Test harness: start real nodes (through `Node::start`, as the binary does) on loopback ports
//! with temporary data dirs, restart them on the same dir and port, and poll for conditions
//! instead of sleeping.

#![allow(dead_code)]

pub mod cluster;
pub mod dns;
pub mod probe;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use starling::config::Config;
use starling::node::{Node, NodeHandle};

pub use probe::Probe;

/// A broker node started in-process on 127.0.0.1 with its own temporary data dir.
pub struct TestNode {
    pub handle: Option<NodeHandle>,
    pub addr: SocketAddr,
    pub cfg: Config,
    /// Kept so the directory lives as long as the node (and across restarts).
    pub dir: tempfile::TempDir,
}

impl TestNode {
    pub async fn start() -> TestNode {
        Self::start_with(|_| {}).await
    }

    /// Start with a configuration tweak applied to the test defaults.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestNode {
        init_test_logging();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = Config::default();
        cfg.data_dir = dir.path().to_path_buf();
        if let Some(l) = cfg.listeners.get_mut("tcp") {
            l.bind = Some("127.0.0.1:0".parse().expect("addr"));
        }
        cfg.sys.enabled = false;
        // The admin listener too: tests run in parallel, 18083 can be bound only once.
        cfg.admin.bind = "127.0.0.1:0".parse().expect("addr");
        tweak(&mut cfg);
        let handle = Node::start(cfg.clone()).await.expect("node starts");
        let addr = handle.mqtt_addr();
        // Restarts reuse the port the OS picked.
        if let Some(l) = cfg.listeners.get_mut("tcp") {
            l.bind = Some(addr);
        }
        if let Some(a) = handle.admin_addr() {
            cfg.admin.bind = a;
        }
        TestNode { handle: Some(handle), addr, cfg, dir }
    }

    /// `http://127.0.0.1:PORT` of the admin listener.
    pub fn admin_url(&self) -> String {
        let addr = self.handle.as_ref().and_then(|h| h.admin_addr()).unwrap_or(self.cfg.admin.bind);
        format!("http://{addr}")
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn broker(&self) -> &std::sync::Arc<starling::broker::Broker> {
        &self.handle.as_ref().expect("running").broker
    }

    /// Readiness, status, metrics and Raft state of the node's cluster.
    pub fn cluster(&self) -> &std::sync::Arc<dyn starling::cluster::admin::ClusterAdmin> {
        &self.handle.as_ref().expect("running").cluster
    }

    /// Graceful stop (as on SIGTERM).
    pub async fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown(Duration::from_secs(5)).await;
        }
    }

    /// Stop and start again on the same data dir and port.
    pub async fn restart(&mut self) {
        self.stop().await;
        // The listener socket closes asynchronously; retry the bind briefly.
        let mut last = None;
        for _ in 0..50 {
            match Node::start(self.cfg.clone()).await {
                Ok(h) => {
                    self.handle = Some(h);
                    return;
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("restart failed: {last:?}");
    }
}

/// `STARLING_TEST_LOG=starling=debug` shows the nodes' logs in a test's output.
pub fn init_test_logging() {
    if let Ok(filter) = std::env::var("STARLING_TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
}

/// Poll `cond` every 20 ms until it holds or `timeout` passes.
pub async fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !cond() {
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Run a command-line tool (mosquitto_pub/sub) and return its output; panics with stderr.
pub async fn run_tool(cmd: &str, args: &[&str], timeout: Duration) -> std::process::Output {
    let fut = tokio::process::Command::new(cmd).args(args).kill_on_drop(true).output();
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => panic!("cannot run {cmd} (install mosquitto-clients): {e}"),
        Err(_) => panic!("{cmd} {args:?} did not finish within {timeout:?}"),
    }
}
