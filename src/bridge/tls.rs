//! TLS to the upstream (`[bridges.<name>.tls]`): its own CA (or the system's roots) and an
//! optional client certificate. The files are read at every connection attempt, so a rotated
//! certificate is used from the next (re)connection on, and a broken file fails that attempt
//! with a message naming it (the bridge backs off and tries again) instead of the broker.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use crate::config::bridge::BridgeTlsConfig;

fn read(key: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{key} {}: cannot read: {e}", path.display()))
}

fn certs(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(key, path)?;
    let v = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{key} {}: {e}", path.display()))?;
    if v.is_empty() {
        return Err(format!("{key} {}: no PEM certificate in it", path.display()));
    }
    Ok(v)
}

/// A connector from the files as they are now; `k` is the config key (`bridges.NAME.tls`).
pub fn connector(k: &str, t: &BridgeTlsConfig) -> Result<TlsConnector, String> {
    let mut roots = RootCertStore::empty();
    match &t.ca {
        Some(ca) => {
            for c in certs(&format!("{k}.ca"), ca)? {
                roots.add(c).map_err(|e| format!("{k}.ca {}: {e}", ca.display()))?;
            }
        }
        None => {
            // Certificates the platform store holds but rustls cannot use are skipped.
            let native = rustls_native_certs::load_native_certs().unwrap_or_default();
            roots.add_parsable_certificates(native);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("{k}: {e}"))?
        .with_root_certificates(roots);
    let config = match (&t.cert, &t.key) {
        (Some(cert), Some(key)) => {
            let chain = certs(&format!("{k}.cert"), cert)?;
            let pem = read(&format!("{k}.key"), key)?;
            let pk = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| format!("{k}.key {}: {e}", key.display()))?;
            builder.with_client_auth_cert(chain, pk).map_err(|e| {
                format!("{k}: certificate {} and key {} do not form a usable pair: {e}", cert.display(), key.display())
            })?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The name the upstream's certificate is checked against.
pub fn server_name(t: &BridgeTlsConfig, host: &str) -> Result<ServerName<'static>, String> {
    let name = t.server_name.as_deref().unwrap_or(host);
    ServerName::try_from(name.to_string()).map_err(|e| format!("{name:?} is not a TLS server name: {e}"))
}
