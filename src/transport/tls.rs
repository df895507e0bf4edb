//! TLS listeners (`tls`, `wss`): the rustls server configuration built from a listener's
//! `cert`/`key`/`ca`/`crl` files, its hot reload, and the identity taken from a verified client
//! certificate.
//!
//! Hot reload: a listener's whole server configuration (certificate, key, client CA bundle,
//! CRLs) is one immutable `Arc<ServerConfig>`; each handshake takes the current one. A reload
//! (the files changed on disk, or SIGHUP) builds a complete new configuration from the files
//! and swaps it in only if every file loaded and the key matches the certificate, so a broken
//! or half-written rotation keeps the old material in use. Connections already established
//! keep the session they negotiated; only new handshakes see the swap.
//!
//! Changes are found by polling the files' metadata (`stat`, following symlinks: Kubernetes
//! mounts a Secret as symlinks through a `..data` link that it swaps when the Secret changes,
//! so the inode behind the path changes even though the path does not). Polling is a few
//! `stat` calls every `reload_interval`; no inotify, which would miss the symlink swap.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use thiserror::Error;
use tokio::io::{AsyncBufRead, AsyncWrite};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::config::{AdminConfig, CertIdentity, ListenerConfig, TlsVerify};
use crate::metrics::Metrics;
use crate::transport::connection::MqttIo;

/// The ALPN protocol id offered for MQTT over TLS.
pub const ALPN_MQTT: &[u8] = b"mqtt";
/// The name the admin listener's TLS material goes by in errors, logs and metric labels.
pub const ADMIN: &str = "admin";
/// The ALPN protocol id offered on `wss` listeners: the WebSocket upgrade is HTTP/1.1.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

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
    #[error("listener {listener}: CRL file {path}: {reason}")]
    Crl { listener: String, path: PathBuf, reason: String },
    #[error("listener {listener}: {reason}")]
    Config { listener: String, reason: String },
}

/// The files a TLS listener is built from, and how clients are verified.
#[derive(Debug, Clone)]
struct Files {
    cert: PathBuf,
    key: PathBuf,
    ca: Option<PathBuf>,
    crl: Option<PathBuf>,
    verify: TlsVerify,
    /// ALPN ids offered: `mqtt` for MQTT over TLS, `http/1.1` for WebSocket over TLS
    /// (browsers offer only HTTP ids, and rustls refuses a client whose offers all differ).
    alpn: Vec<Vec<u8>>,
}

impl Files {
    fn paths(&self) -> impl Iterator<Item = &Path> {
        [Some(&self.cert), Some(&self.key), self.ca.as_ref(), self.crl.as_ref()]
            .into_iter()
            .flatten()
            .map(|p| p.as_path())
    }
}

/// What `stat` says about one file: enough to see a rewrite or a symlink swap.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
}

/// The stamps of all the files, in [`Files::paths`] order (None: cannot be stat'ed).
type Stamps = Vec<Option<FileStamp>>;

fn stamps(files: &Files) -> Stamps {
    use std::os::unix::fs::MetadataExt;
    files
        .paths()
        .map(|p| {
            // `metadata` follows symlinks, which is the point (see the module docs).
            std::fs::metadata(p).ok().map(|m| FileStamp {
                dev: m.dev(),
                ino: m.ino(),
                len: m.len(),
                mtime: m.mtime(),
                mtime_nsec: m.mtime_nsec(),
            })
        })
        .collect()
}

/// One loaded set of material: the server configuration and facts about it.
struct Material {
    config: Arc<ServerConfig>,
    /// The served certificate's notAfter (Unix seconds).
    not_after: i64,
    subject: String,
}

/// A TLS listener's current material, replaceable while the listener runs.
pub struct TlsListener {
    name: String,
    files: Files,
    pub cert_identity: CertIdentity,
    current: RwLock<Arc<Material>>,
    /// The stamps the last reload attempt (good or bad) saw: the watch retries only when the
    /// files change again, so a broken file is reported once, not every poll.
    seen: Mutex<Stamps>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_file(listener: &str, what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::File {
        listener: listener.into(),
        what,
        path: path.into(),
        reason: e.to_string(),
    })
}

fn parse_certs(
    listener: &str,
    what: &'static str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>().map_err(|e| TlsError::File {
        listener: listener.into(),
        what,
        path: path.into(),
        reason: e.to_string(),
    })?;
    if certs.is_empty() {
        return Err(TlsError::Empty { listener: listener.into(), what, path: path.into(), item: "certificate" });
    }
    Ok(certs)
}

/// notAfter and subject of a certificate, for the expiry metric and the reload log line.
fn cert_facts(cert: &CertificateDer<'_>) -> (i64, String) {
    use x509_parser::prelude::{FromDer, X509Certificate};
    match X509Certificate::from_der(cert.as_ref()) {
        Ok((_, c)) => (c.validity().not_after.timestamp(), c.subject().to_string()),
        Err(_) => (0, String::new()),
    }
}

/// Read every file and build a complete server configuration. Every error names the
/// listener and the file it is about.
fn load(listener: &str, f: &Files) -> Result<Material, TlsError> {
    let cert_pem = read_file(listener, "certificate", &f.cert)?;
    let key_pem = read_file(listener, "private key", &f.key)?;
    let certs = parse_certs(listener, "certificate", &f.cert, &cert_pem)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::File {
        listener: listener.into(),
        what: "private key",
        path: f.key.clone(),
        reason: e.to_string(),
    })?;
    let (not_after, subject) = certs.first().map(cert_facts).unwrap_or_default();
    let provider = provider();
    let pair_err =
        |reason: String| TlsError::Pair { listener: listener.into(), cert: f.cert.clone(), key: f.key.clone(), reason };
    // Load and check the pair up front: a key that does not match the certificate is a
    // start-up (or reload) error, not a handshake failure for every client.
    let certified = rustls::sign::CertifiedKey::from_der(certs, key, &provider).map_err(|e| pair_err(e.to_string()))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config { listener: listener.into(), reason: e.to_string() })?;
    let builder = match f.verify {
        TlsVerify::None => builder.with_no_client_auth(),
        TlsVerify::Optional | TlsVerify::Required => {
            let missing = || TlsError::Config { listener: listener.into(), reason: "ca is not set".into() };
            let ca_path = f.ca.as_deref().ok_or_else(missing)?;
            let ca_err = |reason: String| TlsError::Ca { listener: listener.into(), path: ca_path.into(), reason };
            let mut roots = RootCertStore::empty();
            let ca_pem = read_file(listener, "client CA bundle", ca_path)?;
            for c in parse_certs(listener, "client CA bundle", ca_path, &ca_pem)? {
                roots.add(c).map_err(|e| ca_err(e.to_string()))?;
            }
            let mut vb = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if f.verify == TlsVerify::Optional {
                vb = vb.allow_unauthenticated();
            }
            if let Some(crl_path) = f.crl.as_deref() {
                let crl_err =
                    |reason: String| TlsError::Crl { listener: listener.into(), path: crl_path.into(), reason };
                let crl_pem = read_file(listener, "CRL file", crl_path)?;
                let crls = CertificateRevocationListDer::pem_slice_iter(&crl_pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| crl_err(e.to_string()))?;
                if crls.is_empty() {
                    return Err(TlsError::Empty {
                        listener: listener.into(),
                        what: "CRL file",
                        path: crl_path.into(),
                        item: "X509 CRL",
                    });
                }
                // As mosquitto's `crlfile`: the client certificate itself is checked against
                // its issuer's CRL, and a client whose issuer has no CRL in the file is
                // refused (unknown revocation status is not "good").
                vb = vb.with_crls(crls).only_check_end_entity_revocation();
            }
            let verifier = vb.build().map_err(|e| match (&e, f.crl.as_deref()) {
                (rustls::server::VerifierBuilderError::InvalidCrl(_), Some(p)) => {
                    TlsError::Crl { listener: listener.into(), path: p.into(), reason: e.to_string() }
                }
                _ => ca_err(e.to_string()),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut cfg = builder.with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    // Offered, not required: a client that sends no ALPN extension is still accepted.
    cfg.alpn_protocols = f.alpn.clone();
    Ok(Material { config: Arc::new(cfg), not_after, subject })
}

impl TlsListener {
    /// Load a `tls`/`wss` listener's material; an unreadable or bad file is an error that
    /// names it.
    pub fn load(listener: &str, l: &ListenerConfig) -> Result<TlsListener, TlsError> {
        let missing = |k: &str| TlsError::Config { listener: listener.into(), reason: format!("{k} is not set") };
        let files = Files {
            cert: l.cert.clone().ok_or_else(|| missing("cert"))?,
            key: l.key.clone().ok_or_else(|| missing("key"))?,
            ca: l.ca.clone(),
            crl: l.crl.clone(),
            verify: l.verify,
            alpn: if l.kind_for(listener).is_websocket() {
                vec![ALPN_HTTP11.to_vec()]
            } else {
                vec![ALPN_MQTT.to_vec()]
            },
        };
        Self::from_files(listener, files, l.cert_identity)
    }

    /// Load the admin listener's material (`admin.cert`, `admin.key`, `admin.ca`,
    /// `admin.verify`, `admin.crl`); it is named `admin` in errors, logs and metric labels.
    /// None when the admin listener has no TLS.
    pub fn load_admin(cfg: &AdminConfig) -> Result<Option<TlsListener>, TlsError> {
        let (Some(cert), Some(key)) = (&cfg.cert, &cfg.key) else { return Ok(None) };
        let files = Files {
            cert: cert.clone(),
            key: key.clone(),
            ca: cfg.ca.clone(),
            crl: cfg.crl.clone(),
            verify: cfg.verify,
            // axum serves HTTP/1.1 only; offering h2 would break clients that pick it.
            alpn: vec![ALPN_HTTP11.to_vec()],
        };
        Self::from_files(ADMIN, files, CertIdentity::None).map(Some)
    }

    fn from_files(name: &str, files: Files, cert_identity: CertIdentity) -> Result<TlsListener, TlsError> {
        let seen = stamps(&files);
        let material = load(name, &files)?;
        Ok(TlsListener {
            name: name.into(),
            files,
            cert_identity,
            current: RwLock::new(Arc::new(material)),
            seen: Mutex::new(seen),
        })
    }

    /// An acceptor with the current material (one per handshake: cheap, an `Arc` clone).
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.read().config.clone())
    }

    /// When the served certificate expires (Unix seconds).
    pub fn not_after(&self) -> i64 {
        self.current.read().not_after
    }

    /// Export the served certificate's expiry.
    pub fn record_expiry(&self, metrics: &Metrics) {
        use crate::metrics::ListenerLabel;
        metrics.tls_cert_expiry.get_or_create(&ListenerLabel { listener: self.name.clone() }).set(self.not_after());
    }

    /// Rebuild from the files and swap the new material in, or keep the old one and return
    /// the error. Counted and logged either way.
    pub fn reload(&self, metrics: &Metrics) -> Result<String, TlsError> {
        let now = stamps(&self.files);
        *self.seen.lock() = now;
        match load(&self.name, &self.files) {
            Ok(m) => {
                let summary = format!(
                    "listener {}: serving {} (expires {})",
                    self.name,
                    m.subject,
                    humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(m.not_after).unwrap_or(0))
                    )
                );
                *self.current.write() = Arc::new(m);
                metrics.tls_reload(&self.name, true);
                self.record_expiry(metrics);
                tracing::info!(listener = %self.name, "TLS material reloaded: {summary}");
                Ok(summary)
            }
            Err(e) => {
                metrics.tls_reload(&self.name, false);
                tracing::error!(listener = %self.name, "TLS reload failed, the previous certificate stays in use: {e}");
                Err(e)
            }
        }
    }

    /// Reload if any file changed since the last attempt. None when nothing changed.
    pub fn reload_if_changed(&self, metrics: &Metrics) -> Option<Result<String, TlsError>> {
        if stamps(&self.files) == *self.seen.lock() {
            return None;
        }
        Some(self.reload(metrics))
    }

    /// Poll the files every `every` until `shutdown` flips, reloading when they change: a
    /// background task for the node's supervisor.
    pub fn watch(
        self: Arc<Self>,
        metrics: Arc<Metrics>,
        every: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let what = format!("TLS file watch of listener {}", self.name);
        crate::poll::poll(what, every, shutdown, move || {
            self.reload_if_changed(&metrics);
        })
    }
}

/// A TLS connection carrying MQTT. Reads take the decrypted bytes straight from rustls'
/// plaintext buffer ([`AsyncBufRead`]), so no read buffer of the connection's own is reserved
/// while the client is idle (a plain `read_buf` would hold 16 KiB through every wait).
pub struct TlsIo(pub tokio_rustls::server::TlsStream<tokio::net::TcpStream>);

impl MqttIo for TlsIo {
    /// Cancel-safe: the bytes are appended in the poll that takes them from rustls.
    async fn read_some(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        std::future::poll_fn(|cx| {
            let mut tls = Pin::new(&mut self.0);
            let data = ready!(tls.as_mut().poll_fill_buf(cx))?;
            let n = data.len();
            buf.extend_from_slice(data);
            tls.consume(n);
            Poll::Ready(Ok(n))
        })
        .await
    }
}

impl AsyncWrite for TlsIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, data)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
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
