//! `tls` listeners: certificates are generated per test with rcgen (a CA, a server certificate
//! for localhost/127.0.0.1, a client certificate with CN `device-7`). Covers a pub/sub round trip
//! (rumqttc over rustls, and mosquitto_pub/sub with `--cafile`), ALPN, `verify = required`,
//! `cert_identity = "cn"` and start-up errors for bad certificate/key files.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use starling::config::{CertIdentity, Config, ListenerConfig, ListenerKind, TlsVerify};
use starling::node::Node;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::harness::{TestNode, run_tool, wait_for};

const T: Duration = Duration::from_secs(10);

struct Pki {
    dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_key = KeyPair::generate().expect("ca key");
    let mut cp = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    cp.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    cp.distinguished_name.push(DnType::CommonName, "Starling test CA");
    cp.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca = cp.self_signed(&ca_key).expect("ca cert");

    let srv_key = KeyPair::generate().expect("server key");
    let mut sp = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("params");
    sp.distinguished_name.push(DnType::CommonName, "localhost");
    sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let srv = sp.signed_by(&srv_key, &ca, &ca_key).expect("server cert");

    let cl_key = KeyPair::generate().expect("client key");
    let mut clp = CertificateParams::new(Vec::<String>::new()).expect("params");
    clp.distinguished_name.push(DnType::CommonName, "device-7");
    clp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cl = clp.signed_by(&cl_key, &ca, &ca_key).expect("client cert");

    let write = |name: &str, pem: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, pem).expect("write pem");
        p
    };
    Pki {
        ca: write("ca.pem", ca.pem()),
        cert: write("server.pem", srv.pem()),
        key: write("server.key", srv_key.serialize_pem()),
        client_cert: write("client.pem", cl.pem()),
        client_key: write("client.key", cl_key.serialize_pem()),
        dir,
    }
}

fn tls_listener(p: &Pki) -> ListenerConfig {
    ListenerConfig {
        bind: Some("127.0.0.1:0".parse().expect("addr")),
        cert: Some(p.cert.clone()),
        key: Some(p.key.clone()),
        ..ListenerConfig::default()
    }
}

/// A node with its usual plain listener plus `[listeners.tls]` (kind inferred from the name).
async fn start_tls(p: &Pki, tweak: impl FnOnce(&mut ListenerConfig)) -> (TestNode, SocketAddr) {
    let mut l = tls_listener(p);
    tweak(&mut l);
    let node = TestNode::start_with(move |c| {
        c.listeners.insert("tls".into(), l);
    })
    .await;
    let h = node.handle.as_ref().expect("running");
    let tls = h.listeners.iter().find(|l| l.name == "tls").expect("tls listener bound");
    assert_eq!(tls.kind, "mqtts");
    let addr = tls.addr;
    (node, addr)
}

fn client_config(p: &Pki, with_cert: bool, alpn: bool) -> Arc<rustls::ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(&p.ca).expect("ca pem")).expect("add ca");
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let mut cfg = if with_cert {
        let chain = CertificateDer::pem_file_iter(&p.client_cert)
            .expect("client pem")
            .collect::<Result<Vec<_>, _>>()
            .expect("client certs");
        let key = PrivateKeyDer::from_pem_file(&p.client_key).expect("client key");
        b.with_client_auth_cert(chain, key).expect("client auth")
    } else {
        b.with_no_client_auth()
    };
    if alpn {
        cfg.alpn_protocols = vec![b"mqtt".to_vec()];
    }
    Arc::new(cfg)
}

async fn tls_connect(addr: SocketAddr, cfg: Arc<rustls::ClientConfig>) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("server name");
    TlsConnector::from(cfg).connect(name, tcp).await
}

#[tokio::test]
async fn tls_rumqttc_round_trip() {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet as RPacket, QoS, TlsConfiguration, Transport};
    let p = pki();
    let (_node, addr) = start_tls(&p, |_| {}).await;
    let mut o = MqttOptions::new("tls-rt", "localhost", addr.port());
    o.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
        ca: std::fs::read(&p.ca).expect("ca"),
        alpn: Some(vec![b"mqtt".to_vec()]),
        client_auth: None,
    }));
    let (client, mut el) = AsyncClient::new(o, 10);
    client.subscribe("tls/rt", QoS::AtLeastOnce).await.expect("subscribe");
    let got = tokio::time::timeout(T, async {
        loop {
            match el.poll().await.expect("poll") {
                Event::Incoming(RPacket::SubAck(_)) => {
                    client.publish("tls/rt", QoS::AtLeastOnce, false, "over tls").await.expect("publish");
                }
                Event::Incoming(RPacket::Publish(m)) => return m,
                _ => {}
            }
        }
    })
    .await
    .expect("message over TLS");
    assert_eq!(&got.payload[..], b"over tls");
    assert_eq!(got.topic, "tls/rt");
}

#[tokio::test]
async fn tls_mosquitto_clients_with_cafile() {
    let p = pki();
    let (node, addr) = start_tls(&p, |_| {}).await;
    let port = addr.port().to_string();
    let ca = p.ca.to_str().expect("utf-8 path");
    let common = ["-h", "localhost", "-p", &port, "--cafile", ca, "-V", "mqttv311", "-t", "tls/mosq"];
    let mut sub_args = common.to_vec();
    sub_args.extend(["-C", "1", "-W", "10"]);
    let sub = tokio::process::Command::new("mosquitto_sub")
        .args(&sub_args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("mosquitto_sub (install mosquitto-clients)");
    let b = node.broker().clone();
    wait_for("mosquitto_sub's subscription", T, || b.subscription_count() >= 1).await;
    let mut pub_args = common.to_vec();
    pub_args.extend(["-m", "hello tls", "-q", "1"]);
    let out = run_tool("mosquitto_pub", &pub_args, T).await;
    assert!(out.status.success(), "mosquitto_pub failed: {}", String::from_utf8_lossy(&out.stderr));
    let out = tokio::time::timeout(T, sub.wait_with_output()).await.expect("sub finishes").expect("sub output");
    assert!(out.status.success(), "mosquitto_sub failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello tls");
}

#[tokio::test]
async fn tls_alpn_mqtt_negotiated_when_offered() {
    let p = pki();
    let (_node, addr) = start_tls(&p, |_| {}).await;
    let mut s = tls_connect(addr, client_config(&p, false, true)).await.expect("handshake with ALPN");
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"mqtt"[..]));
    assert_eq!(crate::tls_util::connack_over(&mut s, "alpn").await, Some(0));
    let mut s = tls_connect(addr, client_config(&p, false, false)).await.expect("handshake without ALPN");
    assert_eq!(s.get_ref().1.alpn_protocol(), None);
    assert_eq!(crate::tls_util::connack_over(&mut s, "no-alpn").await, Some(0));
}

#[tokio::test]
async fn tls_verify_required_refuses_client_without_certificate() {
    let p = pki();
    let ca = p.ca.clone();
    let (node, addr) = start_tls(&p, |l| {
        l.ca = Some(ca);
        l.verify = TlsVerify::Required;
    })
    .await;
    // TLS 1.3: the client finishes its side first; the refusal arrives as an alert on read.
    let refused = match tls_connect(addr, client_config(&p, false, true)).await {
        Err(_) => true,
        Ok(mut s) => crate::tls_util::connack_over(&mut s, "nocert").await.is_none(),
    };
    assert!(refused, "a client without a certificate must be refused");
    let b = node.broker().clone();
    wait_for("the handshake failure to be counted", T, || b.metrics.tls_handshake_failures.get() >= 1).await;
    let mut s = tls_connect(addr, client_config(&p, true, true)).await.expect("handshake with a client cert");
    assert_eq!(crate::tls_util::connack_over(&mut s, "withcert").await, Some(0));
    let metrics = reqwest_metrics(&node).await;
    assert!(metrics.contains("starling_tls_handshake_failures_total"), "{metrics}");
}

/// `/metrics` over plain HTTP/1.0 (no client library needed).
async fn reqwest_metrics(node: &TestNode) -> String {
    let addr = node.handle.as_ref().and_then(|h| h.admin_addr()).expect("admin listener");
    let mut s = TcpStream::connect(addr).await.expect("admin connect");
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").await.expect("write");
    let mut out = String::new();
    tokio::time::timeout(T, s.read_to_string(&mut out)).await.expect("metrics in time").expect("read");
    out
}

#[tokio::test]
async fn tls_cert_identity_cn_counts_as_credentials() {
    let p = pki();
    let ca = p.ca.clone();
    let (_node, addr) = start_tls(&p, |l| {
        l.ca = Some(ca);
        l.verify = TlsVerify::Optional;
        l.cert_identity = CertIdentity::Cn;
        l.allow_anonymous = Some(false);
    })
    .await;
    // With a certificate: its CN is the username, so no CONNECT username is needed.
    let mut s = tls_connect(addr, client_config(&p, true, true)).await.expect("handshake with cert");
    assert_eq!(crate::tls_util::connack_over(&mut s, "cn-user").await, Some(0));
    // `optional` lets a client without a certificate through the handshake; it is anonymous.
    let mut s = tls_connect(addr, client_config(&p, false, true)).await.expect("handshake without cert");
    assert_eq!(crate::tls_util::connack_over(&mut s, "anon").await, Some(5), "anonymous refused: not authorized");
}

fn startup_cfg(p: &Pki, data: &std::path::Path, tweak: impl FnOnce(&mut ListenerConfig)) -> Config {
    let mut cfg = Config::default();
    cfg.data_dir = data.to_path_buf();
    cfg.listeners.clear();
    let mut l = tls_listener(p);
    l.kind = Some(ListenerKind::Tls);
    tweak(&mut l);
    cfg.listeners.insert("secure".into(), l);
    cfg.admin.enabled = false;
    cfg.sys.enabled = false;
    cfg
}

#[tokio::test]
async fn tls_bad_key_files_fail_startup_naming_the_file() {
    let p = pki();
    let data = tempfile::tempdir().expect("tempdir");
    let mismatched = p.client_key.clone();
    let cfg = startup_cfg(&p, data.path(), |l| l.key = Some(mismatched.clone()));
    cfg.validate().expect("valid configuration");
    let err = Node::start(cfg).await.err().expect("mismatched key must fail").to_string();
    assert!(err.contains(mismatched.to_str().expect("utf-8")), "{err}");

    let missing = p.dir.path().join("missing.key");
    let cfg = startup_cfg(&p, data.path(), |l| l.key = Some(missing.clone()));
    let err = Node::start(cfg).await.err().expect("unreadable key must fail").to_string();
    assert!(err.contains(missing.to_str().expect("utf-8")), "{err}");

    let garbage = p.dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").expect("write");
    let cfg = startup_cfg(&p, data.path(), |l| l.cert = Some(garbage.clone()));
    let err = Node::start(cfg).await.err().expect("no certificate must fail").to_string();
    assert!(err.contains(garbage.to_str().expect("utf-8")), "{err}");
}

#[test]
fn tls_config_validation_names_the_key() {
    let p = pki();
    let data = tempfile::tempdir().expect("tempdir");
    let err = startup_cfg(&p, data.path(), |l| l.verify = TlsVerify::Required).validate().expect_err("needs ca");
    assert!(err.to_string().contains("listeners.secure.verify"), "{err}");
    let err = startup_cfg(&p, data.path(), |l| l.cert = None).validate().expect_err("needs cert");
    assert!(err.to_string().contains("listeners.secure.cert"), "{err}");
    let err = startup_cfg(&p, data.path(), |l| {
        l.ca = Some(p.ca.clone());
        l.cert_identity = CertIdentity::Cn;
    })
    .validate()
    .expect_err("identity needs verify");
    assert!(err.to_string().contains("listeners.secure.cert_identity"), "{err}");
    let err =
        startup_cfg(&p, data.path(), |l| l.kind = Some(ListenerKind::Tcp)).validate().expect_err("tls key on tcp");
    assert!(err.to_string().contains("listeners.secure.cert"), "{err}");
}

#[tokio::test]
async fn tls_large_message_after_idle_and_key_updates() {
    use mqtt_protocol_core::mqtt::packet::{GenericPacketTrait, Packet, SubEntry, SubOpts, v3_1_1};
    let p = pki();
    let ca = p.ca.clone();
    let (_node, addr) = start_tls(&p, |l| {
        l.ca = Some(ca);
        l.verify = TlsVerify::Required;
        l.cert_identity = CertIdentity::Cn;
    })
    .await;
    let mut s = tls_connect(addr, client_config(&p, true, true)).await.expect("handshake with a client certificate");
    assert_eq!(crate::tls_util::connack_over(&mut s, "big-tls").await, Some(0));
    let entry = SubEntry::new("tls/big", SubOpts::new()).expect("entry");
    let sub = v3_1_1::Subscribe::builder().packet_id(1).entries(vec![entry]).build().expect("subscribe");
    s.write_all(&Packet::from(sub).to_continuous_buffer()).await.expect("write");
    s.flush().await.expect("flush");
    let mut suback = [0u8; 5];
    tokio::time::timeout(T, s.read_exact(&mut suback)).await.expect("SUBACK in time").expect("read");
    assert_eq!(suback, [0x90, 0x03, 0x00, 0x01, 0x00]);
    for round in 0..2u32 {
        // Idle (the broker holds no read buffer of its own now), then new traffic keys, then a
        // message spanning many TLS records and larger than any read buffer it used to keep.
        tokio::time::sleep(Duration::from_millis(300)).await;
        s.get_mut().1.refresh_traffic_keys().expect("key update");
        let payload: Vec<u8> = (0..150_000u32).map(|i| ((i + round) % 253) as u8).collect();
        let publish =
            v3_1_1::Publish::builder().topic_name("tls/big").expect("topic").payload(payload).build().expect("publish");
        let bytes = Packet::from(publish).to_continuous_buffer();
        s.write_all(&bytes).await.expect("write");
        s.flush().await.expect("flush");
        let mut got = vec![0u8; bytes.len()];
        tokio::time::timeout(T, s.read_exact(&mut got)).await.expect("message in time").expect("read");
        assert!(got == bytes, "round {round}: the message comes back intact");
    }
}
