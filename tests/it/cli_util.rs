//! Running the real `starling` binary: a command with a clean `STARLING_*` environment, a
//! running `serve` whose listener lines are read from stdout, signals, free ports.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_starling");

/// `starling` with no inherited `STARLING_*` variables (they would change what is tested).
pub fn starling(cwd: &Path) -> Command {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("STARLING_") {
            c.env_remove(k);
        }
    }
    c.env_remove("RUST_LOG");
    // Not under the test runner's service manager: no sd_notify, logs on stderr.
    for k in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"] {
        c.env_remove(k);
    }
    c.current_dir(cwd).kill_on_drop(true);
    c
}

/// Run to completion (within 10 s).
pub async fn run(mut c: Command) -> std::process::Output {
    c.stdin(Stdio::null());
    match tokio::time::timeout(Duration::from_secs(10), c.output()).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => panic!("cannot run starling: {e}"),
        Err(_) => panic!("starling did not finish within 10 s"),
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A running `starling serve`.
pub struct Server {
    pub child: Child,
    out: BufReader<ChildStdout>,
    /// Listener lines printed at start-up.
    pub listeners: Vec<String>,
}

impl Server {
    /// Spawn and wait for `n` listener lines (`starling: listener ...`) on stdout.
    /// Without the admin listener (the environment beats any file): parallel `serve`s would all
    /// want 18083, and its listener line would change what the tests count.
    pub async fn spawn(mut c: Command, n: usize) -> Server {
        c.env("STARLING_ADMIN__ENABLED", "false");
        Server::spawn_as_is(c, n).await
    }

    /// [`Server::spawn`] with the command's environment as given (the admin listener included
    /// when the command configures it).
    pub async fn spawn_as_is(mut c: Command, n: usize) -> Server {
        c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn starling serve");
        let out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut s = Server { child, out, listeners: Vec::new() };
        while s.listeners.len() < n {
            let mut line = String::new();
            let read = tokio::time::timeout(Duration::from_secs(10), s.out.read_line(&mut line)).await;
            match read {
                Ok(Ok(0)) => {
                    let err = s.stderr().await;
                    panic!("starling serve exited before listening; stderr:\n{err}");
                }
                Ok(Ok(_)) => {
                    if line.starts_with("starling: listener") {
                        s.listeners.push(line.trim_end().to_string());
                    }
                }
                Ok(Err(e)) => panic!("reading stdout: {e}"),
                Err(_) => panic!("starling serve printed no listener line within 10 s"),
            }
        }
        s
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Send a signal by name (`TERM`, `INT`) to this process.
    pub fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(ok.success(), "kill -{sig} failed");
    }

    /// Wait for the process to exit within `within`; returns its status and what is left on
    /// stdout.
    pub async fn wait_exit(&mut self, within: Duration) -> (std::process::ExitStatus, String) {
        let status = match tokio::time::timeout(within, self.child.wait()).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => panic!("wait: {e}"),
            Err(_) => panic!("starling did not exit within {within:?}"),
        };
        let mut rest = String::new();
        let _ = self.out.read_to_string(&mut rest).await;
        (status, rest)
    }

    pub async fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), e.read_to_string(&mut s)).await;
        }
        s
    }

    /// SIGTERM and expect a prompt, successful exit.
    pub async fn terminate(mut self) {
        self.signal("TERM");
        let (status, _) = self.wait_exit(Duration::from_secs(5)).await;
        assert!(status.success(), "exit status after SIGTERM: {status:?}");
    }
}

/// The address printed in a listener line (`starling: listener NAME (KIND) on ADDR`).
pub fn listener_addr(line: &str) -> SocketAddr {
    line.rsplit(' ').next().and_then(|a| a.parse().ok()).unwrap_or_else(|| panic!("no address in {line:?}"))
}
