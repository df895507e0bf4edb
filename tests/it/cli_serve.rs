//! `starling serve` as an operator runs it: defaults, flags, configuration layers, start-up
//! errors and signals.

use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::Property;
use mqtt_protocol_core::mqtt::result_code::DisconnectReasonCode;

use crate::cli_util::*;
use crate::harness::Probe;
use crate::harness::probe::connack_ok;
use crate::persist_util::{bye_v5, expect_in_order_v5, expiry, publish_qos1_v5};

/// With no arguments: one listener on 127.0.0.1:1883, data in ./starling-data of the working
/// directory. If 1883 is taken on this machine, `--bind` to a free port is added (then only the
/// data-dir default and the listener line are checked against the defaults).
#[tokio::test]
async fn cli_serve_without_arguments_uses_defaults() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let port_free = std::net::TcpListener::bind("127.0.0.1:1883").is_ok();
    let mut c = starling(cwd.path());
    c.arg("serve");
    let expected = if port_free {
        local(1883)
    } else {
        // 1883 is in use here: fall back to --bind so the rest of the defaults are still tested.
        let p = free_port();
        c.arg("--bind").arg(local(p).to_string());
        local(p)
    };
    let server = Server::spawn(c, 1).await;
    assert_eq!(server.listeners.len(), 1);
    assert_eq!(server.listeners[0], format!("starling: listener tcp (mqtt) on {expected}"));
    let (p, ack) = Probe::connect_v5(expected, "cli-default", true, vec![]).await;
    assert!(connack_ok(&ack), "anonymous clients allowed on loopback by default");
    bye_v5(p).await;
    assert!(cwd.path().join("starling-data").join("db").is_dir(), "data goes to ./starling-data");
    server.terminate().await;
}

/// One line per listener, each naming the listener and its address.
#[tokio::test]
async fn cli_serve_prints_one_line_per_listener() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (free_port(), free_port());
    let cfg = dir.path().join("two.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = \"{}\"\n[listeners.tcp]\nbind = \"127.0.0.1:{a}\"\n[listeners.internal]\nkind = \"tcp\"\nbind = \"127.0.0.1:{b}\"\n",
            dir.path().join("data").display()
        ),
    )
    .expect("write config");
    let mut c = starling(dir.path());
    c.arg("serve").arg("--config").arg(&cfg);
    let mut server = Server::spawn(c, 2).await;
    let mut lines = server.listeners.clone();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            format!("starling: listener internal (mqtt) on 127.0.0.1:{b}"),
            format!("starling: listener tcp (mqtt) on 127.0.0.1:{a}"),
        ]
    );
    for port in [a, b] {
        let (p, ack) = Probe::connect_v5(local(port), "two", true, vec![]).await;
        assert!(connack_ok(&ack));
        bye_v5(p).await;
    }
    server.signal("TERM");
    let (status, rest) = server.wait_exit(Duration::from_secs(5)).await;
    assert!(status.success());
    assert!(!rest.contains("starling: listener"), "no further listener lines: {rest}");
}

/// `--config`, `--data-dir` and `--bind` are honoured.
#[tokio::test]
async fn cli_serve_config_data_dir_and_bind_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let cfg = dir.path().join("s.toml");
    std::fs::write(&cfg, "[mqtt]\nmax_qos = 1\n").expect("write");
    let data = dir.path().join("elsewhere");
    let mut c = starling(dir.path());
    c.arg("serve").arg("--config").arg(&cfg).arg("--data-dir").arg(&data).arg("--bind").arg(local(port).to_string());
    let server = Server::spawn(c, 1).await;
    assert_eq!(listener_addr(&server.listeners[0]), local(port));
    let (p, ack) = Probe::connect_v5(local(port), "flags", true, vec![]).await;
    assert_eq!(max_qos(&ack), Some(1), "the file's mqtt.max_qos applies");
    bye_v5(p).await;
    assert!(data.join("db").is_dir(), "--data-dir is used");
    assert!(!dir.path().join("starling-data").exists());
    server.terminate().await;
}

fn max_qos(ack: &mqtt_protocol_core::mqtt::packet::v5_0::Connack) -> Option<u8> {
    ack.props.iter().find_map(|p| match p {
        Property::MaximumQos(q) => Some(q.val()),
        _ => None,
    })
}

/// Environment beats the file: the listener moves to the env's address and the env's
/// `max_qos` is announced.
#[tokio::test]
async fn cli_serve_env_beats_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (file_port, env_port) = (free_port(), free_port());
    let cfg = dir.path().join("s.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = \"{}\"\n[listeners.tcp]\nbind = \"127.0.0.1:{file_port}\"\n[mqtt]\nmax_qos = 2\n",
            dir.path().join("file-data").display()
        ),
    )
    .expect("write");
    let env_data = dir.path().join("env-data");
    let mut c = starling(dir.path());
    c.arg("serve")
        .arg("--config")
        .arg(&cfg)
        .env("STARLING_LISTENERS__TCP__BIND", local(env_port).to_string())
        .env("STARLING_MQTT__MAX_QOS", "1")
        .env("STARLING_DATA_DIR", &env_data);
    let server = Server::spawn(c, 1).await;
    assert_eq!(listener_addr(&server.listeners[0]), local(env_port));
    let (p, ack) = Probe::connect_v5(local(env_port), "env", true, vec![]).await;
    assert_eq!(max_qos(&ack), Some(1));
    bye_v5(p).await;
    assert!(env_data.join("db").is_dir());
    assert!(!dir.path().join("file-data").exists());
    server.terminate().await;
}

/// Flags beat the environment and the file.
#[tokio::test]
async fn cli_serve_flags_beat_env_and_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (file_port, env_port, flag_port) = (free_port(), free_port(), free_port());
    let cfg = dir.path().join("s.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = \"{}\"\n[listeners.tcp]\nbind = \"127.0.0.1:{file_port}\"\n",
            dir.path().join("file-data").display()
        ),
    )
    .expect("write");
    let flag_data = dir.path().join("flag-data");
    let mut c = starling(dir.path());
    c.arg("serve")
        .arg("--config")
        .arg(&cfg)
        .arg("--bind")
        .arg(local(flag_port).to_string())
        .arg("--data-dir")
        .arg(&flag_data)
        .env("STARLING_LISTENERS__TCP__BIND", local(env_port).to_string())
        .env("STARLING_DATA_DIR", dir.path().join("env-data"));
    let server = Server::spawn(c, 1).await;
    assert_eq!(listener_addr(&server.listeners[0]), local(flag_port));
    assert!(flag_data.join("db").is_dir());
    assert!(!dir.path().join("env-data").exists());
    assert!(!dir.path().join("file-data").exists());
    server.terminate().await;
}

/// A missing `--config` file is an error naming the path.
#[tokio::test]
async fn cli_serve_missing_config_file_names_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope").join("starling.toml");
    let mut c = starling(dir.path());
    c.arg("serve").arg("--config").arg(&missing).arg("--bind").arg(local(free_port()).to_string());
    let out = run(c).await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains(&missing.display().to_string()), "stderr must name {}: {err}", missing.display());
}

/// An unknown key in the file stops `serve` with a message naming the key and the file.
#[tokio::test]
async fn cli_serve_unknown_key_names_key_and_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("typo.toml");
    std::fs::write(&cfg, "[session]\nmax_inflite = 5\n").expect("write");
    let mut c = starling(dir.path());
    c.arg("serve").arg("--config").arg(&cfg).arg("--bind").arg(local(free_port()).to_string());
    let out = run(c).await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("max_inflite"), "{err}");
    assert!(err.contains(&cfg.display().to_string()), "{err}");
}

/// A data dir that cannot be created is a start-up error naming it (a path below a regular
/// file: not creatable even as root).
#[tokio::test]
async fn cli_serve_unwritable_data_dir_names_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").expect("write");
    let bad = file.join("data");
    let mut c = starling(dir.path());
    c.arg("serve").arg("--data-dir").arg(&bad).arg("--bind").arg(local(free_port()).to_string());
    let out = run(c).await;
    assert!(!out.status.success(), "must not start");
    let err = text(&out.stderr);
    assert!(err.contains(&bad.display().to_string()), "{err}");
    assert!(!text(&out.stdout).contains("starling: listener"), "no listener reported");
}

/// A port already in use is a start-up error naming the listener and the address.
#[tokio::test]
async fn cli_serve_port_in_use_names_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let mut c = starling(dir.path());
    c.arg("serve").arg("--data-dir").arg(dir.path().join("d")).arg("--bind").arg(addr.to_string());
    let out = run(c).await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains(&addr.to_string()), "{err}");
    drop(taken);
}

/// SIGTERM/SIGINT: `serve` exits 0 promptly even with a client connected (which is told the
/// server is shutting down), and a persistent session's queued messages are intact when the
/// broker is started again on the same data dir.
async fn signal_keeps_session(sig: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let port = free_port();
    let serve = || {
        let mut c = starling(dir.path());
        c.arg("serve").arg("--data-dir").arg(&data).arg("--bind").arg(local(port).to_string());
        c
    };
    let mut server = Server::spawn(serve(), 1).await;
    let addr = local(port);
    let (mut sub, _) = Probe::connect_v5(addr, "sig-sub", true, expiry(3600)).await;
    assert_eq!(sub.subscribe_v5(1, &[("sig/t", 1)], vec![]).await, vec![1]);
    bye_v5(sub).await;
    publish_qos1_v5(addr, "sig/t", 10).await;
    let (mut watcher, _) = Probe::connect_v5(addr, "watcher", true, vec![]).await;

    let t0 = std::time::Instant::now();
    server.signal(sig);
    let d = watcher.expect_close().await;
    assert_eq!(d.and_then(|d| d.reason_code()), Some(DisconnectReasonCode::ServerShuttingDown));
    let (status, _) = server.wait_exit(Duration::from_secs(5)).await;
    assert!(status.success(), "exit status after SIG{sig}: {status:?}");
    assert!(t0.elapsed() < Duration::from_secs(3), "took {:?} (grace is 10 s; it must not wait for it)", t0.elapsed());

    // Started again on the same dir and port.
    let server = Server::spawn(serve(), 1).await;
    let (mut sub, ack) = Probe::connect_v5(addr, "sig-sub", false, expiry(3600)).await;
    assert!(ack.session_present());
    expect_in_order_v5(&mut sub, "sig/t", 0, 10).await;
    bye_v5(sub).await;
    server.terminate().await;
}

#[tokio::test]
async fn cli_serve_sigterm_exits_0_and_keeps_sessions() {
    signal_keeps_session("TERM").await;
}

#[tokio::test]
async fn cli_serve_sigint_exits_0_and_keeps_sessions() {
    signal_keeps_session("INT").await;
}
