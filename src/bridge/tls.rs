//! TLS to the upstream (`[bridges.<name>.tls]`): its own CA (or the system's roots) and an
//! optional client certificate. The files are read at every connection attempt, so a rotated
//! certificate is used from the next (re)connection on, and a broken file fails that attempt
//! with a message naming it (the bridge backs off and tries again) instead of the broker.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use crate::config::bridge::BridgeTlsConfig;

/// Why a TLS connector to the upstream could not be built; names the key and the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{key} {}: cannot read: {source}", path.display())]
    Read { key: String, path: PathBuf, source: std::io::Error },
    #[error("{key} {}: {source}", path.display())]
    Pem { key: String, path: PathBuf, source: rustls::pki_types::pem::Error },
    #[error("{key} {}: no PEM certificate in it", path.display())]
    NoCertificate { key: String, path: PathBuf },
    #[error("{key} {}: {source}", path.display())]
    BadCa { key: String, path: PathBuf, source: rustls::Error },
    #[error("{key}: {source}")]
    Config { key: String, source: rustls::Error },
    /// `key` is `bridges.NAME.tls`: its `cert` and `key` files are the pair.
    #[error("{key}.cert and {key}.key do not form a usable pair: {source}")]
    Pair { key: String, source: rustls::Error },
    #[error("{name:?} is not a TLS server name: {source}")]
    ServerName { name: String, source: rustls::pki_types::InvalidDnsNameError },
}

fn read(key: &str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { key: key.into(), path: path.into(), source })
}

fn certs(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(key, path)?;
    let v = CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>().map_err(|source| TlsError::Pem {
        key: key.into(),
        path: path.into(),
        source,
    })?;
    if v.is_empty() {
        return Err(TlsError::NoCertificate { key: key.into(), path: path.into() });
    }
    Ok(v)
}

/// A connector from the files as they are now; `k` is the config key (`bridges.NAME.tls`).
pub fn connector(k: &str, t: &BridgeTlsConfig) -> Result<TlsConnector, TlsError> {
    let mut roots = RootCertStore::empty();
    match &t.ca {
        Some(ca) => {
            let key = format!("{k}.ca");
            for c in certs(&key, ca)? {
                roots.add(c).map_err(|source| TlsError::BadCa { key: key.clone(), path: ca.clone(), source })?;
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
        .map_err(|source| TlsError::Config { key: k.into(), source })?
        .with_root_certificates(roots);
    let config = match (&t.cert, &t.key) {
        (Some(cert), Some(key)) => {
            let chain = certs(&format!("{k}.cert"), cert)?;
            let key_key = format!("{k}.key");
            let pem = read(&key_key, key)?;
            let pk = PrivateKeyDer::from_pem_slice(&pem).map_err(|source| TlsError::Pem {
                key: key_key,
                path: key.clone(),
                source,
            })?;
            builder.with_client_auth_cert(chain, pk).map_err(|source| TlsError::Pair { key: k.into(), source })?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The name the upstream's certificate is checked against.
pub fn server_name(t: &BridgeTlsConfig, host: &str) -> Result<ServerName<'static>, TlsError> {
    let name = t.server_name.as_deref().unwrap_or(host);
    ServerName::try_from(name.to_string()).map_err(|source| TlsError::ServerName { name: name.into(), source })
}
