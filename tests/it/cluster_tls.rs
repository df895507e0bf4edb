//! Mutual TLS on the cluster link: nodes with certificates from the cluster CA form a cluster
//! without any shared secret; a node whose certificate comes from another CA is refused.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};

use crate::harness::cluster::{node_config, node_ip, random_base};
use crate::harness::{Probe, TestNode, wait_for};
use starling::config::Role;
use starling::config::cluster::LinkTlsConfig;

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
    pem: PathBuf,
}

fn ca(dir: &Path, name: &str) -> Ca {
    let key = KeyPair::generate().expect("ca key");
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let cert = p.self_signed(&key).expect("ca");
    let pem = dir.join(format!("{name}.pem"));
    std::fs::write(&pem, cert.pem()).expect("write");
    Ca { cert, key, pem }
}

/// A node certificate for both ends of the link (server and client auth), named by its IP.
fn node_cert(dir: &Path, ca: &Ca, name: &str, ip: std::net::IpAddr) -> LinkTlsConfig {
    let key = KeyPair::generate().expect("key");
    let mut p = CertificateParams::new(vec![ip.to_string()]).expect("params");
    p.distinguished_name.push(DnType::CommonName, name);
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    let cert = p.signed_by(&key, &ca.cert, &ca.key).expect("cert");
    let c = dir.join(format!("{name}.pem"));
    let k = dir.join(format!("{name}.key"));
    std::fs::write(&c, cert.pem()).expect("write");
    std::fs::write(&k, key.serialize_pem()).expect("write");
    LinkTlsConfig { cert: c, key: k, ca: ca.pem.clone() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_link_forms_a_cluster_and_refuses_a_foreign_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = ca(dir.path(), "cluster-ca");
    let other = ca(dir.path(), "other-ca");
    let base = random_base();
    let mut nodes = Vec::new();
    for n in 1..=2u8 {
        let tls = node_cert(dir.path(), &good, &format!("core-{n}"), node_ip(base, n));
        nodes.push(
            TestNode::start_with(|cfg| {
                node_config(cfg, base, n, Role::Core, 2);
                let c = cfg.cluster.as_mut().expect("cluster");
                c.secret = None;
                c.tls = Some(tls);
            })
            .await,
        );
    }
    wait_for("cluster over mTLS", Duration::from_secs(30), || nodes.iter().all(|n| n.cluster().ready())).await;
    let (mut s, _) = Probe::connect_v5(nodes[1].addr, "tls-sub", true, vec![]).await;
    s.subscribe_v5(1, &[("tls/#", 0)], vec![]).await;
    wait_for("route", Duration::from_secs(10), || nodes[0].broker().cluster.routes_for("tls/x").nodes.len() == 1).await;
    let (mut p, _) = Probe::connect_v5(nodes[0].addr, "tls-pub", true, vec![]).await;
    p.publish_v5("tls/x", b"over mtls", 0, false, None, vec![]).await;
    assert_eq!(s.expect_publish_v5().await.payload().as_slice(), b"over mtls");

    // A replicant whose certificate the cluster CA did not sign never gets in.
    let foreign = node_cert(dir.path(), &other, "replicant-3", node_ip(base, 3));
    let intruder = TestNode::start_with(|cfg| {
        node_config(cfg, base, 3, Role::Replicant, 2);
        let c = cfg.cluster.as_mut().expect("cluster");
        c.secret = None;
        c.tls = Some(LinkTlsConfig { ca: good.pem.clone(), ..foreign });
    })
    .await;
    wait_for("refusal counted", Duration::from_secs(10), || {
        nodes.iter().any(|n| n.cluster().metrics().refused_peers > 0)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!intruder.cluster().ready());
    let members = nodes[0].handle.as_ref().and_then(|h| h.cluster.raft()).map(|r| r.members);
    assert_eq!(members, Some(2));
}

#[test]
fn unreadable_link_certificate_is_a_startup_error_naming_the_file() {
    let c = LinkTlsConfig {
        cert: "/nonexistent/node.pem".into(),
        key: "/nonexistent/node.key".into(),
        ca: "/nonexistent/ca.pem".into(),
    };
    let err = starling::cluster::link_tls::LinkTls::load(&c).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("cluster.tls.cert /nonexistent/node.pem"), "{err}");
}
