//! `starling config check` and the `--help` texts, through the real binary.

use std::path::{Path, PathBuf};

use starling::config::Config;

use crate::cli_util::*;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/starling.example.toml")
}

/// The printed effective configuration parses back into a [`Config`].
fn effective(stdout: &[u8]) -> Config {
    let s = text(stdout);
    toml::from_str(&s).unwrap_or_else(|e| panic!("config check printed invalid TOML ({e}):\n{s}"))
}

fn help(args: &[&str]) -> String {
    let out = std::process::Command::new(BIN).args(args).output().expect("run starling");
    assert!(out.status.success(), "{args:?} exit status {:?}", out.status);
    text(&out.stdout)
}

#[test]
fn cli_help_texts() {
    let top = help(&["--help"]);
    // The load generator is its own binary (bench/, `starling-bench`); its help is tested there.
    for cmd in ["serve", "config", "ctl", "passwd"] {
        assert!(top.contains(cmd), "top-level help lists {cmd}:\n{top}");
    }
    let serve = help(&["serve", "--help"]);
    for flag in ["--config", "--data-dir", "--bind", "--grace"] {
        assert!(serve.contains(flag), "serve --help lists {flag}:\n{serve}");
    }
    assert!(serve.contains("127.0.0.1:1883") && serve.contains("starling-data"));
    let config = help(&["config", "--help"]);
    assert!(config.contains("check"), "{config}");
    let check = help(&["config", "check", "--help"]);
    assert!(check.contains("[PATH]"), "{check}");
}

/// The example file is valid, check prints the effective TOML, and that equals the built-in
/// defaults (the file documents every key with its default).
#[tokio::test]
async fn cli_config_check_example_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = starling(dir.path());
    c.arg("config").arg("check").arg(example());
    let out = run(c).await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with(&format!("# {} is valid", example().display())), "{stdout}");
    assert!(stdout.contains("[mqtt]") && stdout.contains("[listeners.tcp]"));
    assert_eq!(effective(&out.stdout), Config::default());
}

/// Environment layering is visible in `config check`: nested keys through `__`, over the file.
#[tokio::test]
async fn cli_config_check_shows_env_layer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let cfg = dir.path().join("s.toml");
    std::fs::write(&cfg, "[mqtt]\nmax_qos = 2\nreceive_maximum = 7\n").expect("write");
    let mut c = starling(dir.path());
    c.arg("config")
        .arg("check")
        .arg(&cfg)
        .env("STARLING_LISTENERS__TCP__BIND", local(port).to_string())
        .env("STARLING_MQTT__MAX_QOS", "1");
    let out = run(c).await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let eff = effective(&out.stdout);
    assert_eq!(eff.listeners["tcp"].bind, Some(local(port)), "from the environment");
    assert_eq!(eff.mqtt.max_qos, 1, "environment beats the file");
    assert_eq!(eff.mqtt.receive_maximum, 7, "file beats the defaults");

    // Without a file.
    let mut c = starling(dir.path());
    c.arg("config").arg("check").env("STARLING_MQTT__MAX_QOS", "1");
    let out = run(c).await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(effective(&out.stdout).mqtt.max_qos, 1);
}

async fn check_fails(file_body: Option<&str>, env: &[(&str, &str)]) -> (String, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("bad.toml");
    let mut c = starling(dir.path());
    c.arg("config").arg("check");
    if let Some(body) = file_body {
        std::fs::write(&cfg, body).expect("write");
        c.arg(&cfg);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let out = run(c).await;
    assert!(!out.status.success(), "must fail; stdout: {}", text(&out.stdout));
    (text(&out.stderr), cfg)
}

#[tokio::test]
async fn cli_config_check_unknown_key_in_file() {
    let (err, cfg) = check_fails(Some("[mqtt]\nmax_qoss = 1\n"), &[]).await;
    assert!(err.contains("max_qoss"), "{err}");
    assert!(err.contains(&cfg.display().to_string()), "{err}");
}

#[tokio::test]
async fn cli_config_check_unknown_top_level_key_in_file() {
    let (err, cfg) = check_fails(Some("data_dri = \"/x\"\n"), &[]).await;
    assert!(err.contains("data_dri"), "{err}");
    assert!(err.contains(&cfg.display().to_string()), "{err}");
}

#[tokio::test]
async fn cli_config_check_bad_value_in_file() {
    let (err, cfg) = check_fails(Some("[mqtt]\nmax_qos = \"lots\"\n"), &[]).await;
    assert!(err.contains("max_qos"), "{err}");
    assert!(err.contains(&cfg.display().to_string()), "{err}");
}

#[tokio::test]
async fn cli_config_check_bad_duration_in_file() {
    let (err, cfg) = check_fails(Some("[mqtt]\nconnect_timeout = \"soon\"\n"), &[]).await;
    assert!(err.contains("connect_timeout"), "{err}");
    assert!(err.contains(&cfg.display().to_string()), "{err}");
}

#[tokio::test]
async fn cli_config_check_bad_value_in_env() {
    let (err, _) = check_fails(None, &[("STARLING_MQTT__MAX_QOS", "lots")]).await;
    assert!(err.contains("max_qos"), "{err}");
    assert!(err.contains("STARLING_MQTT__MAX_QOS"), "{err}");
}

#[tokio::test]
async fn cli_config_check_unknown_key_in_env() {
    let (err, _) = check_fails(None, &[("STARLING_MQTT__MAX_QOSS", "1")]).await;
    assert!(err.contains("max_qoss"), "{err}");
    assert!(err.contains("STARLING_MQTT__MAX_QOSS"), "{err}");
}

/// A value of the right type but out of range (`max_qos = 3`) is also a bad value: the message
/// names the key and where it came from.
#[tokio::test]
async fn cli_config_check_out_of_range_value_names_key_and_file() {
    let (err, cfg) = check_fails(Some("[mqtt]\nmax_qos = 3\n"), &[]).await;
    assert!(err.contains("mqtt.max_qos"), "{err}");
    assert!(err.contains(&cfg.display().to_string()), "the message should say where the bad value came from: {err}");
}

#[tokio::test]
async fn cli_config_check_out_of_range_value_names_env_var() {
    let (err, _) = check_fails(None, &[("STARLING_MQTT__RECEIVE_MAXIMUM", "0")]).await;
    assert!(err.contains("receive_maximum"), "{err}");
    assert!(
        err.contains("STARLING_MQTT__RECEIVE_MAXIMUM"),
        "the message should say where the bad value came from: {err}"
    );
}

#[tokio::test]
async fn cli_config_check_missing_file_names_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("absent.toml");
    let mut c = starling(dir.path());
    c.arg("config").arg("check").arg(&missing);
    let out = run(c).await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains(&missing.display().to_string()), "{err}");
}
