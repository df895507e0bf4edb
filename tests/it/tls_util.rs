//! Certificates for the TLS, WebSocket-over-TLS, CRL and reload tests, made with rcgen in the
//! test: a CA that can sign server certificates (for `localhost`/127.0.0.1), client
//! certificates with chosen serial numbers, and CRLs revoking some of them; plus a rustls
//! client for raw handshakes.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, CertificateRevocationListParams, DnType, ExtendedKeyUsagePurpose,
    IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams, SerialNumber,
};
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

pub struct Ca {
    pub cert: Certificate,
    pub key: KeyPair,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("ca key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let cert = p.self_signed(&key).expect("ca cert");
        Ca { cert, key }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A server certificate for localhost and 127.0.0.1 with the given CN: (cert PEM, key PEM).
    pub fn server(&self, cn: &str) -> (String, String) {
        self.server_until(cn, 4000)
    }

    /// [`Ca::server`] valid until January 1st of `year`.
    pub fn server_until(&self, cn: &str, year: i32) -> (String, String) {
        let key = KeyPair::generate().expect("server key");
        let mut p = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("params");
        p.not_after = rcgen::date_time_ymd(year, 1, 1);
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let c = p.signed_by(&key, &self.cert, &self.key).expect("server cert");
        (c.pem(), key.serialize_pem())
    }

    /// A client certificate with the given CN and serial number: (cert PEM, key PEM).
    pub fn client(&self, cn: &str, serial: u64) -> (String, String) {
        let key = KeyPair::generate().expect("client key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.serial_number = Some(SerialNumber::from(serial));
        let c = p.signed_by(&key, &self.cert, &self.key).expect("client cert");
        (c.pem(), key.serialize_pem())
    }

    /// A CRL (PEM) revoking the given serial numbers.
    pub fn crl(&self, revoked: &[u64]) -> String {
        let now = rcgen::date_time_ymd(2025, 1, 1);
        let p = CertificateRevocationListParams {
            this_update: now,
            next_update: rcgen::date_time_ymd(2099, 1, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from(*s),
                    revocation_time: now,
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        p.signed_by(&self.cert, &self.key).expect("crl").pem().expect("crl pem")
    }
}

pub fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("write pem");
    p
}

/// A rustls client trusting `ca_pem`, presenting `client` (cert PEM, key PEM) if given.
pub fn client_config(ca_pem: &str, client: Option<&(String, String)>) -> Arc<rustls::ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("ca pem")).expect("add ca");
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let cfg = match client {
        Some((cert, key)) => {
            let chain =
                CertificateDer::pem_slice_iter(cert.as_bytes()).collect::<Result<Vec<_>, _>>().expect("client certs");
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("client key");
            b.with_client_auth_cert(chain, key).expect("client auth")
        }
        None => b.with_no_client_auth(),
    };
    Arc::new(cfg)
}

/// TLS over an already open TCP stream (after a PROXY header, say).
pub async fn tls_over(tcp: TcpStream, cfg: Arc<rustls::ClientConfig>) -> std::io::Result<TlsStream<TcpStream>> {
    let name = ServerName::try_from("localhost").expect("server name");
    TlsConnector::from(cfg).connect(name, tcp).await
}

pub async fn tls_connect(addr: SocketAddr, cfg: Arc<rustls::ClientConfig>) -> std::io::Result<TlsStream<TcpStream>> {
    tls_over(TcpStream::connect(addr).await?, cfg).await
}

/// The CN of the certificate the server presented.
pub fn served_cn(s: &TlsStream<TcpStream>) -> String {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let der = s.get_ref().1.peer_certificates().and_then(|c| c.first()).expect("server certificate");
    let (_, c) = X509Certificate::from_der(der.as_ref()).expect("parse");
    c.subject().iter_common_name().next().and_then(|a| a.as_str().ok()).expect("cn").to_string()
}

/// Send a 3.1.1 CONNECT (no username) over any stream; the CONNACK return code, or None when
/// the broker closed the connection instead.
pub async fn connack_over<S>(s: &mut S, id: &str) -> Option<u8>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use mqtt_protocol_core::mqtt::packet::{GenericPacketTrait, Packet, v3_1_1};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let c = v3_1_1::Connect::builder()
        .client_id(id)
        .expect("id")
        .clean_session(true)
        .keep_alive(30)
        .build()
        .expect("connect");
    s.write_all(&Packet::from(c).to_continuous_buffer()).await.ok()?;
    s.flush().await.ok()?;
    let mut b = [0u8; 4];
    tokio::time::timeout(std::time::Duration::from_secs(10), s.read_exact(&mut b)).await.ok()?.ok()?;
    assert_eq!(&b[..2], &[0x20, 0x02], "CONNACK expected");
    Some(b[3])
}
