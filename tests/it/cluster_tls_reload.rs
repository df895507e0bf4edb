//! The cluster link's certificates are reloaded like a listener's: when the files change on
//! disk (a cert-manager rotation), new link connections use the new certificate and CA, and
//! the expiry metric follows. SIGHUP reloads them too.

use std::path::Path;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};

use crate::harness::cluster::{node_config, node_ip, random_base};
use crate::harness::{TestNode, wait_for};
use starling::config::Role;
use starling::config::cluster::LinkTlsConfig;
use starling::metrics::ListenerLabel;

fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().expect("ca key");
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    (p.self_signed(&key).expect("ca"), key)
}

/// Write a node certificate (valid until `year`) signed by `ca`, and `ca` as the trust, to
/// `<dir>/<name>.{pem,key}` and `<dir>/<name>-ca.pem`.
fn write_node(
    dir: &Path,
    ca: &(rcgen::Certificate, KeyPair),
    name: &str,
    ip: std::net::IpAddr,
    year: i32,
) -> LinkTlsConfig {
    let key = KeyPair::generate().expect("key");
    let mut p = CertificateParams::new(vec![ip.to_string()]).expect("params");
    p.distinguished_name.push(DnType::CommonName, name);
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    p.not_after = rcgen::date_time_ymd(year, 1, 1);
    let cert = p.signed_by(&key, &ca.0, &ca.1).expect("cert");
    let c = LinkTlsConfig {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}.key")),
        ca: dir.join(format!("{name}-ca.pem")),
    };
    // Key first: a watcher that looks in between sees a pair that does not match and keeps
    // the old material until the certificate follows.
    std::fs::write(&c.key, key.serialize_pem()).expect("write");
    std::fs::write(&c.cert, cert.pem()).expect("write");
    std::fs::write(&c.ca, ca.0.pem()).expect("write");
    c
}

fn expiry(node: &TestNode) -> i64 {
    node.broker().metrics.tls_cert_expiry.get_or_create(&ListenerLabel { listener: "cluster".into() }).get()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_certificates_rotated_on_disk_are_used_for_new_peers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (old_ca, new_ca) = (ca("old-ca"), ca("new-ca"));
    let base = random_base();
    let tls = write_node(dir.path(), &old_ca, "core-1", node_ip(base, 1), 2030);
    let core = TestNode::start_with(|cfg| {
        node_config(cfg, base, 1, Role::Core, 1);
        let c = cfg.cluster.as_mut().expect("cluster");
        c.secret = None;
        c.tls = Some(tls);
    })
    .await;
    wait_for("single core ready", Duration::from_secs(30), || core.cluster().ready()).await;
    let before = expiry(&core);
    assert!(before > 0, "expiry exported with listener=\"cluster\"");

    // The rotation: a new certificate from a new CA, and that CA as the trust.
    write_node(dir.path(), &new_ca, "core-1", node_ip(base, 1), 2040);
    wait_for("rotation picked up", Duration::from_secs(15), || expiry(&core) > before).await;

    // A replicant that only knows the new CA gets in.
    let rtls = write_node(dir.path(), &new_ca, "replicant-2", node_ip(base, 2), 2040);
    let replicant = TestNode::start_with(|cfg| {
        node_config(cfg, base, 2, Role::Replicant, 1);
        let c = cfg.cluster.as_mut().expect("cluster");
        c.secret = None;
        c.tls = Some(rtls);
    })
    .await;
    wait_for("replicant joined over the new certificates", Duration::from_secs(30), || replicant.cluster().ready())
        .await;

    // SIGHUP reloads them as well, and says so.
    let reloaded = core.handle.as_ref().expect("running").reload(&core.cfg);
    let item = reloaded.iter().find(|r| r.what == "cluster link TLS certificates").expect("reported");
    assert!(item.outcome.is_ok(), "{:?}", item.outcome);
}
