//! Authentication through real sockets: the password file (argon2id and PBKDF2 hashes), the
//! reason codes of both protocol versions, the failure metric, mosquitto_pub and rumqttc with
//! credentials, `starling passwd`, and reloading the password file.

use std::time::Duration;

use starling::auth::password::HashAlgorithm;

use crate::auth_util::*;
use crate::cli_util::{run, starling, text};
use crate::harness::{TestNode, run_tool};

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn auth_password_file_accepts_good_and_refuses_bad_credentials_v5() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = password_file(dir.path(), &[("alice", "wonderland")]);
    let node = TestNode::start_with(|c| {
        no_anonymous(c);
        c.auth.password_file = Some(f.clone());
    })
    .await;
    assert_eq!(login5(node.addr, "a1", Some("alice"), Some("wonderland"), None).await.1, 0x00);
    assert_eq!(login5(node.addr, "a2", Some("alice"), Some("wrong"), None).await.1, 0x86, "bad password");
    assert_eq!(login5(node.addr, "a3", Some("mallory"), Some("x"), None).await.1, 0x86, "unknown user");
    assert_eq!(login5(node.addr, "a4", Some("alice"), None, None).await.1, 0x86, "no password");
    assert_eq!(login5(node.addr, "a5", None, None, None).await.1, 0x87, "no credentials");
    assert_eq!(metric(&node, "starling_auth_failures_total{reason=\"bad_credentials\"}"), 3);
    assert_eq!(metric(&node, "starling_auth_failures_total{reason=\"not_authorized\"}"), 1);
    assert_eq!(refused(&node, "connect_bad_credentials"), 3);
}

#[tokio::test]
async fn auth_password_file_return_codes_v311() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = password_file(dir.path(), &[("bob", "builder")]);
    let node = TestNode::start_with(|c| {
        no_anonymous(c);
        c.auth.password_file = Some(f.clone());
    })
    .await;
    assert_eq!(login3(node.addr, "b1", Some("bob"), Some("builder"), None).await.1, 0);
    assert_eq!(login3(node.addr, "b2", Some("bob"), Some("nope"), None).await.1, 4, "bad username or password");
    assert_eq!(login3(node.addr, "b3", None, None, None).await.1, 5, "not authorized");
}

#[tokio::test]
async fn auth_pbkdf2_hashes_from_the_file_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = password_file_with(dir.path(), &[("carol", "pbkdf2-pw")], HashAlgorithm::Pbkdf2Sha256);
    // And a hash made by another implementation (Python's hashlib), appended by hand.
    let mut text = std::fs::read_to_string(&f).expect("read");
    text.push_str(
        "dave:$pbkdf2-sha256$i=10000,l=32$c2FsdHNhbHRzYWx0c2FsdA$M5fgfTQFdt/UZ9ItXSpJUbfh+t3SP1e/381emb1bpCs\n",
    );
    std::fs::write(&f, text).expect("write");
    let node = TestNode::start_with(|c| {
        no_anonymous(c);
        c.auth.password_file = Some(f.clone());
    })
    .await;
    assert_eq!(login5(node.addr, "c1", Some("carol"), Some("pbkdf2-pw"), None).await.1, 0);
    assert_eq!(login5(node.addr, "d1", Some("dave"), Some("correct horse"), None).await.1, 0);
    assert_eq!(login5(node.addr, "d2", Some("dave"), Some("correct horse!"), None).await.1, 0x86);
}

#[tokio::test]
async fn auth_anonymous_chain_lets_clients_without_credentials_in_but_checks_usernames() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = password_file(dir.path(), &[("erin", "pw")]);
    // Loopback listener: anonymous allowed by default.
    let node = TestNode::start_with(|c| c.auth.password_file = Some(f.clone())).await;
    assert_eq!(login5(node.addr, "anon", None, None, None).await.1, 0, "no username: anonymous");
    assert_eq!(login5(node.addr, "e1", Some("erin"), Some("bad"), None).await.1, 0x86, "a wrong password is refused");
    // Without `anonymous` in the chain nobody gets in without credentials.
    let node = TestNode::start_with(|c| {
        c.auth.password_file = Some(f.clone());
        c.auth.chain = vec![starling::config::AuthMethod::Password];
    })
    .await;
    assert_eq!(login5(node.addr, "anon", None, None, None).await.1, 0x87);
    assert_eq!(login5(node.addr, "e2", Some("erin"), Some("pw"), None).await.1, 0);
}

#[tokio::test]
async fn auth_startup_fails_on_a_broken_password_file_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("passwd");
    std::fs::write(&f, "alice:$argon2id$broken\n").expect("write");
    let mut cfg = starling::config::Config::default();
    cfg.data_dir = dir.path().join("data");
    cfg.listeners.get_mut("tcp").expect("tcp").bind = Some("127.0.0.1:0".parse().expect("addr"));
    cfg.admin.enabled = false;
    cfg.auth.password_file = Some(f.clone());
    let err = starling::node::Node::start(cfg).await.err().expect("must fail").to_string();
    assert!(err.contains(f.to_str().expect("utf-8")) && err.contains("line 1"), "{err}");
}

#[tokio::test]
async fn auth_mosquitto_clients_with_username_and_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = password_file(dir.path(), &[("mq", "mq-secret")]);
    let node = TestNode::start_with(|c| {
        no_anonymous(c);
        c.auth.password_file = Some(f.clone());
    })
    .await;
    let port = node.port().to_string();
    for v in ["mqttv311", "mqttv5"] {
        let ok = run_tool(
            "mosquitto_pub",
            &["-h", "127.0.0.1", "-p", &port, "-V", v, "-u", "mq", "-P", "mq-secret", "-t", "t", "-m", "x"],
            T,
        )
        .await;
        assert!(ok.status.success(), "{v}: {}", String::from_utf8_lossy(&ok.stderr));
        let bad = run_tool(
            "mosquitto_pub",
            &["-h", "127.0.0.1", "-p", &port, "-V", v, "-u", "mq", "-P", "guess", "-t", "t", "-m", "x"],
            T,
        )
        .await;
        assert!(!bad.status.success(), "{v}: a wrong password must fail");
        let err = String::from_utf8_lossy(&bad.stderr).to_lowercase();
        assert!(err.contains("password") || err.contains("not authori"), "{v}: {err}");
    }
}

#[tokio::test]
async fn auth_rumqttc_with_credentials() {
    use rumqttc::{AsyncClient, ConnectReturnCode, Event, MqttOptions, Packet};
    let dir = tempfile::tempdir().expect("tempdir");
    let f = password_file(dir.path(), &[("rc", "rc-pw")]);
    let node = TestNode::start_with(|c| {
        no_anonymous(c);
        c.auth.password_file = Some(f.clone());
    })
    .await;
    for (pw, want) in [("rc-pw", ConnectReturnCode::Success), ("nope", ConnectReturnCode::BadUserNamePassword)] {
        let mut o = MqttOptions::new(format!("rumq-{pw}"), "127.0.0.1", node.port());
        o.set_credentials("rc", pw);
        let (_c, mut ev) = AsyncClient::new(o, 10);
        let got = tokio::time::timeout(T, async {
            loop {
                match ev.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(a))) => return a.code,
                    Ok(_) => {}
                    Err(rumqttc::ConnectionError::ConnectionRefused(code)) => return code,
                    Err(e) => panic!("unexpected error: {e:?}"),
                }
            }
        })
        .await
        .expect("CONNACK in time");
        assert_eq!(got, want, "password {pw}");
    }
}

#[tokio::test]
async fn auth_starling_passwd_then_sighup_reload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = password_file(dir.path(), &[("old", "old-pw")]);
    let node = TestNode::start_with(|c| {
        no_anonymous(c);
        c.auth.password_file = Some(f.clone());
    })
    .await;
    assert_eq!(login5(node.addr, "n1", Some("new"), Some("new-pw"), None).await.1, 0x86);
    // `echo new-pw | starling passwd FILE new`, as an operator (or a NixOS test) does.
    let mut c = starling(dir.path());
    c.arg("passwd").arg(&f).arg("new");
    let out = pipe(c, "new-pw\n").await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let reloaded = node.handle.as_ref().expect("running").reload(&node.cfg);
    let item = reloaded.iter().find(|r| r.what == "password file").expect("password file reloaded");
    assert_eq!(
        item.outcome.as_ref().ok(),
        Some(&("2 users from ".to_string() + f.to_str().expect("utf-8"))),
        "{:?}",
        item.outcome
    );
    assert_eq!(login5(node.addr, "n2", Some("new"), Some("new-pw"), None).await.1, 0);
    // A broken file is reported and the users in use stay.
    std::fs::write(&f, "garbage without a colon\n").expect("write");
    let reloaded = node.handle.as_ref().expect("running").reload(&node.cfg);
    let item = reloaded.iter().find(|r| r.what == "password file").expect("reported");
    let err = item.outcome.as_ref().expect_err("broken file").to_string();
    assert!(err.contains("line 1") && err.contains("previous users stay"), "{err}");
    assert_eq!(login5(node.addr, "n3", Some("old"), Some("old-pw"), None).await.1, 0);
}

#[tokio::test]
async fn auth_passwd_command_creates_deletes_with_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("new-passwd");
    let mut c = starling(dir.path());
    c.arg("passwd").arg(&f).arg("u1");
    let out = pipe(c, "pw1\n").await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::metadata(&f).expect("created").permissions().mode() & 0o777, 0o600);
    let content = std::fs::read_to_string(&f).expect("read");
    assert!(content.starts_with("u1:$argon2id$"), "{content}");
    assert!(!content.contains("pw1"), "no plaintext");
    let mut c = starling(dir.path());
    c.arg("passwd").arg("--delete").arg(&f).arg("u1");
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&f).expect("read"), "");
    // An empty password on stdin is refused.
    let mut c = starling(dir.path());
    c.arg("passwd").arg(&f).arg("u2");
    let out = pipe(c, "\n").await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("empty password"), "{}", text(&out.stderr));
}

/// Run with `input` on stdin.
async fn pipe(mut c: tokio::process::Command, input: &str) -> std::process::Output {
    use tokio::io::AsyncWriteExt;
    c.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = c.spawn().expect("spawn starling");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).await.expect("write stdin");
    drop(stdin);
    tokio::time::timeout(T, child.wait_with_output()).await.expect("finished").expect("output")
}

#[tokio::test]
async fn auth_real_sighup_reloads_the_password_file() {
    use crate::cli_util::{Server, free_port, local};
    let dir = tempfile::tempdir().expect("tempdir");
    let f = password_file(dir.path(), &[("first", "pw1")]);
    let port = free_port();
    let cfg = dir.path().join("starling.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = \"{}\"\n[listeners.tcp]\nbind = \"127.0.0.1:{port}\"\nallow_anonymous = false\n\
             [auth]\npassword_file = \"{}\"\n",
            dir.path().join("data").display(),
            f.display()
        ),
    )
    .expect("write config");
    let mut c = starling(dir.path());
    c.arg("serve").arg("--config").arg(&cfg);
    let server = Server::spawn(c, 1).await;
    let addr = local(port);
    assert_eq!(login5(addr, "s1", Some("first"), Some("pw1"), None).await.1, 0);
    assert_eq!(login5(addr, "s2", Some("second"), Some("pw2"), None).await.1, 0x86);
    let mut c = starling(dir.path());
    c.arg("passwd").arg(&f).arg("second");
    assert!(pipe(c, "pw2\n").await.status.success());
    server.signal("HUP");
    let mut ok = false;
    for _ in 0..100 {
        if login5(addr, "s3", Some("second"), Some("pw2"), None).await.1 == 0 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "the user added with starling passwd logs in after SIGHUP");
    server.terminate().await;
}

/// Password checks run on the blocking pool, a few at a time: a flood of CONNECTs with
/// passwords (each an argon2id hash) does not stop an established client from being served.
#[tokio::test]
async fn auth_connect_flood_does_not_starve_established_clients() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = password_file(dir.path(), &[("flood", "right")]);
    let node = TestNode::start_with(|c| c.auth.password_file = Some(f.clone())).await;
    let (mut live, rc) = login5(node.addr, "live", None, None, None).await;
    assert_eq!(rc, 0);
    let addr = node.addr;
    let flood: Vec<_> = (0..40)
        .map(|i| {
            tokio::spawn(async move { login5(addr, &format!("f{i}"), Some("flood"), Some("wrong"), None).await.1 })
        })
        .collect();
    // Served while the hashes are computed (sync5 fails the test if no PINGRESP comes in 5 s).
    for _ in 0..5 {
        assert!(crate::proto_util::sync5(&mut live).await.is_empty());
    }
    // Each is checked (0x86), or refused at once (0x88) when its address has its share of the
    // password-check queue already (auth_preauth_cost).
    let mut checked = 0;
    for h in flood {
        let rc = h.await.expect("join");
        assert!(rc == 0x86 || rc == 0x88, "{rc:#x}");
        checked += u64::from(rc == 0x86);
    }
    assert_eq!(metric(&node, "starling_auth_failures_total{reason=\"bad_credentials\"}"), checked);
}

/// `starling passwd` refuses user names the password file cannot hold (issue 13, item 7): a
/// `#x` line would be read back as a comment, `a:b` as user `a`, a leading blank is trimmed,
/// a line break splits the entry. Nothing is written.
#[tokio::test]
async fn auth_passwd_refuses_usernames_the_file_cannot_hold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("passwd");
    for bad in ["#x", "a:b", " lead", "\tx", "two\nlines", "cr\r", "bell\u{7}", ""] {
        let mut c = starling(dir.path());
        c.arg("passwd").arg(&f).arg(bad);
        let out = pipe(c, "pw\n").await;
        assert!(!out.status.success(), "user {bad:?} accepted");
        let err = text(&out.stderr);
        assert!(err.contains("invalid username") && err.contains("password file cannot hold"), "{bad:?}: {err}");
        assert!(!f.exists(), "user {bad:?}: the file was written");
    }
    // What the file can hold still works, and reads back.
    let mut c = starling(dir.path());
    c.arg("passwd").arg(&f).arg("x#y trailing ");
    assert!(pipe(c, "pw\n").await.status.success());
    let users = starling::auth::password::load(&f).expect("loads");
    assert!(users.contains_key("x#y trailing "), "{users:?}");
}
