//! TLS listeners: the rustls server configuration built from a listener's `cert`/`key`/`ca`
//! files, and the identity taken from a verified client certificate.
//!
//! Certificate hot reload will hook in here: build a new [`TlsListener`] from the same
//! listener configuration on SIGHUP (`NodeHandle::reload`) and swap it behind an `ArcSwap`,
//! keeping the old one when the new files do not load.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use thiserror::Error;
use tokio_rustls::TlsAcceptor;

use crate::config::{CertIdentity, ListenerConfig, TlsVerify};

/// The ALPN protocol id offered for MQTT over TLS.
pub const ALPN_MQTT: &[u8] = b"mqtt";

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("listener {listener}: cannot read {what} {path}: {reason}")]
    File { listener: String, what: &'static str, path: PathBuf, reason: String },
    #[error("listener {listener}: {what} {path} holds no PEM {item}")]
    Empty { listener: String, what: &'static str, path: PathBuf, item: &'static str },
    #[error("listener {listener}: certificate {cert} and key {key} do not form a usable pair: {reason}")]
    Pair { listener: String, cert: PathBuf, key: PathBuf, reason: String },
    #[error("listener {listener}: client CA bundle {path}: {reason}")]
    Ca { listener: String, path: PathBuf, reason: String },
    #[error("listener {listener}: {reason}")]
    Config { listener: String, reason: String },
}

/// What a TLS listener's connections need: the acceptor and how to name a client.
pub struct TlsListener {
    pub acceptor: TlsAcceptor,
    pub cert_identity: CertIdentity,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(listener: &str, what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file_err = |reason: String| TlsError::File { listener: listener.into(), what, path: path.into(), reason };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::Empty { listener: listener.into(), what, path: path.into(), item: "certificate" });
    }
    Ok(certs)
}

/// Build the server side of a `tls` listener from its configuration. Every error names the
/// listener and the file it is about.
pub fn build(listener: &str, l: &ListenerConfig) -> Result<TlsListener, TlsError> {
    let missing = |k: &str| TlsError::Config { listener: listener.into(), reason: format!("{k} is not set") };
    let cert_path = l.cert.as_deref().ok_or_else(|| missing("cert"))?;
    let key_path = l.key.as_deref().ok_or_else(|| missing("key"))?;
    let certs = read_certs(listener, "certificate", cert_path)?;
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| TlsError::File {
        listener: listener.into(),
        what: "private key",
        path: key_path.into(),
        reason: e.to_string(),
    })?;
    let provider = provider();
    let pair_err = |reason: String| TlsError::Pair {
        listener: listener.into(),
        cert: cert_path.into(),
        key: key_path.into(),
        reason,
    };
    // Load and check the pair up front: a key that does not match the certificate is a
    // start-up error, not a handshake failure for every client.
    let certified = rustls::sign::CertifiedKey::from_der(certs, key, &provider).map_err(|e| pair_err(e.to_string()))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config { listener: listener.into(), reason: e.to_string() })?;
    let builder = match l.verify {
        TlsVerify::None => builder.with_no_client_auth(),
        TlsVerify::Optional | TlsVerify::Required => {
            let ca_path = l.ca.as_deref().ok_or_else(|| missing("ca"))?;
            let mut roots = RootCertStore::empty();
            for c in read_certs(listener, "client CA bundle", ca_path)? {
                roots.add(c).map_err(|e| TlsError::Ca {
                    listener: listener.into(),
                    path: ca_path.into(),
                    reason: e.to_string(),
                })?;
            }
            let mut vb = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if l.verify == TlsVerify::Optional {
                vb = vb.allow_unauthenticated();
            }
            let verifier = vb.build().map_err(|e| TlsError::Ca {
                listener: listener.into(),
                path: ca_path.into(),
                reason: e.to_string(),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut cfg = builder.with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    // Offered, not required: a client that sends no ALPN extension is still accepted.
    cfg.alpn_protocols = vec![ALPN_MQTT.to_vec()];
    Ok(TlsListener { acceptor: TlsAcceptor::from(Arc::new(cfg)), cert_identity: l.cert_identity })
}

/// The identity `which` names in a (verified) client certificate, if it has one.
pub fn identity(cert: &CertificateDer<'_>, which: CertIdentity) -> Option<String> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    if which == CertIdentity::None {
        return None;
    }
    let (_, c) = X509Certificate::from_der(cert.as_ref()).ok()?;
    let id = match which {
        CertIdentity::None => None,
        CertIdentity::Cn => c.subject().iter_common_name().next().and_then(|a| a.as_str().ok()).map(str::to_string),
        CertIdentity::SanDns | CertIdentity::SanEmail => {
            let san = c.subject_alternative_name().ok()??;
            san.value.general_names.iter().find_map(|g| match (which, g) {
                (CertIdentity::SanDns, GeneralName::DNSName(s)) => Some(s.to_string()),
                (CertIdentity::SanEmail, GeneralName::RFC822Name(s)) => Some(s.to_string()),
                _ => None,
            })
        }
    };
    id.filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_cert() -> CertificateDer<'static> {
        let mut p = rcgen::CertificateParams::new(vec!["dev1.example".to_string()]).expect("params");
        p.distinguished_name.push(rcgen::DnType::CommonName, "device-1");
        p.subject_alt_names.push(rcgen::SanType::Rfc822Name("ops@example.com".try_into().expect("email")));
        let key = rcgen::KeyPair::generate().expect("key");
        p.self_signed(&key).expect("cert").der().clone()
    }

    #[test]
    fn identity_from_cn_and_sans() {
        let c = client_cert();
        assert_eq!(identity(&c, CertIdentity::Cn).as_deref(), Some("device-1"));
        assert_eq!(identity(&c, CertIdentity::SanDns).as_deref(), Some("dev1.example"));
        assert_eq!(identity(&c, CertIdentity::SanEmail).as_deref(), Some("ops@example.com"));
        assert_eq!(identity(&c, CertIdentity::None), None);
    }
}
