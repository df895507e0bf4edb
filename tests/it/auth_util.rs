//! Helpers for the `auth_*` tests: password files, CONNECT with credentials through the raw
//! probe (exact reason codes), metric values.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use mqtt_protocol_core::mqtt::packet::{Packet, v3_1_1, v5_0};
use starling::auth::password::{self, HashAlgorithm};
use starling::config::Config;

use crate::harness::probe::Read;
use crate::harness::probe::qos;
use crate::harness::{Probe, TestNode};
use crate::proto_util::WillSpec;

/// Write `users` (name, password) to a password file in `dir` with argon2id hashes.
pub fn password_file(dir: &Path, users: &[(&str, &str)]) -> PathBuf {
    password_file_with(dir, users, HashAlgorithm::Argon2id)
}

pub fn password_file_with(dir: &Path, users: &[(&str, &str)], alg: HashAlgorithm) -> PathBuf {
    let f = dir.join("passwd");
    for (u, p) in users {
        password::set_user(&f, u, Some(p.as_bytes()), alg).expect("write password file");
    }
    f
}

/// Anonymous access off on the test listener.
pub fn no_anonymous(c: &mut Config) {
    if let Some(l) = c.listeners.get_mut("tcp") {
        l.allow_anonymous = Some(false);
    }
}

/// A v5 CONNECT (clean start) with a username and password.
pub fn connect5_with(id: &str, user: &str, pass: &str) -> v5_0::Connect {
    v5_0::Connect::builder()
        .client_id(id)
        .expect("id")
        .user_name(user)
        .expect("user")
        .password(pass.as_bytes().to_vec())
        .expect("pw")
        .build()
        .expect("connect")
}

/// A v5 CONNECT with credentials (and an optional will); returns the probe and the CONNACK
/// reason code.
pub async fn login5(
    addr: SocketAddr,
    id: &str,
    user: Option<&str>,
    pass: Option<&str>,
    will: Option<WillSpec>,
) -> (Probe, u8) {
    let mut b = v5_0::Connect::builder().client_id(id).expect("id").clean_start(true).keep_alive(60);
    if let Some(u) = user {
        b = b.user_name(u).expect("user");
    }
    if let Some(p) = pass {
        b = b.password(p.as_bytes().to_vec()).expect("password");
    }
    if let Some(w) = will {
        b = b.will_message(w.topic.as_str(), w.payload.clone(), qos(w.qos), w.retain).expect("will");
    }
    let mut p = Probe::tcp(addr, true).await;
    p.send(b.build().expect("connect")).await;
    match p.recv().await {
        Read::Packet(Packet::V5_0Connack(c)) => (p, c.reason_code() as u8),
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

/// The 3.1.1 counterpart: the CONNACK return code.
pub async fn login3(
    addr: SocketAddr,
    id: &str,
    user: Option<&str>,
    pass: Option<&str>,
    will: Option<WillSpec>,
) -> (Probe, u8) {
    let mut b = v3_1_1::Connect::builder().client_id(id).expect("id").clean_session(true).keep_alive(60);
    if let Some(u) = user {
        b = b.user_name(u).expect("user");
    }
    if let Some(p) = pass {
        b = b.password(p.as_bytes().to_vec()).expect("password");
    }
    if let Some(w) = will {
        b = b.will_message(w.topic.as_str(), w.payload.clone(), qos(w.qos), w.retain).expect("will");
    }
    let mut p = Probe::tcp(addr, false).await;
    p.send(b.build().expect("connect")).await;
    match p.recv().await {
        Read::Packet(Packet::V3_1_1Connack(c)) => (p, c.return_code() as u8),
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

/// The value of one exported sample, e.g. `starling_refused_total{reason="acl_publish"}`
/// (0 when absent).
pub fn metric(node: &TestNode, sample: &str) -> u64 {
    let text = node.broker().metrics.encode();
    text.lines()
        .find_map(|l| l.strip_prefix(sample).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or(0)
}

pub fn refused(node: &TestNode, reason: &str) -> u64 {
    metric(node, &format!("starling_refused_total{{reason=\"{reason}\"}}"))
}
