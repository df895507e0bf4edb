//! Mutual TLS for the cluster link (`[cluster.tls]`): every node presents its certificate and
//! verifies its peer's against the cluster CA, in both directions. With it, the shared secret is
//! optional; with both, a peer must pass both checks.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::config::cluster::LinkTlsConfig;

/// Both ends of the link's TLS, built once at start-up.
#[derive(Clone)]
pub struct LinkTls {
    pub acceptor: TlsAcceptor,
    pub connector: TlsConnector,
}

fn read(what: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cluster.tls.{what} {}: cannot read: {e}", path.display()))
}

fn certs(what: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(what, path)?;
    let v = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cluster.tls.{what} {}: {e}", path.display()))?;
    if v.is_empty() {
        return Err(format!("cluster.tls.{what} {}: no PEM certificate in it", path.display()));
    }
    Ok(v)
}

impl LinkTls {
    pub fn load(c: &LinkTlsConfig) -> Result<LinkTls, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = certs("cert", &c.cert)?;
        let key_pem = read("key", &c.key)?;
        let key =
            PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| format!("cluster.tls.key {}: {e}", c.key.display()))?;
        let mut roots = RootCertStore::empty();
        for ca in certs("ca", &c.ca)? {
            roots.add(ca).map_err(|e| format!("cluster.tls.ca {}: {e}", c.ca.display()))?;
        }
        let roots = Arc::new(roots);
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| format!("cluster.tls.ca {}: {e}", c.ca.display()))?;
        let pair = |e: rustls::Error| {
            format!(
                "cluster.tls: certificate {} and key {} do not form a usable pair: {e}",
                c.cert.display(),
                c.key.display()
            )
        };
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(pair)?;
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(pair)?;
        Ok(LinkTls { acceptor: TlsAcceptor::from(Arc::new(server)), connector: TlsConnector::from(Arc::new(client)) })
    }
}

/// The name a peer's certificate must carry: the host part of its `host:port` address.
pub fn server_name(addr: &str) -> Result<ServerName<'static>, String> {
    let host = match addr.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
        None => addr,
    };
    ServerName::try_from(host.to_string()).map_err(|e| format!("{addr}: not a usable TLS name: {e}"))
}
