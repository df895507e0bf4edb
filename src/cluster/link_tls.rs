//! Mutual TLS for the cluster link (`[cluster.tls]`): every node presents its certificate and
//! verifies its peer's against the cluster CA, in both directions. With it, the shared secret is
//! optional; with both, a peer must pass both checks.
//!
//! The files are reloaded like a listener's: on SIGHUP and when they change on disk (checked
//! every few seconds, so a cert-manager rotation is picked up), all or nothing — a broken new
//! file keeps the material in use. New link connections use the new material; established ones
//! keep theirs. The expiry is exported as `starling_tls_certificate_expiry_timestamp_seconds`
//! with `listener="cluster"`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::{Mutex, RwLock};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::sync::watch;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::config::cluster::LinkTlsConfig;
use crate::metrics::Metrics;

/// Why the link's TLS material could not be built; names the key and the file.
#[derive(Debug, thiserror::Error)]
pub enum LinkTlsError {
    #[error("cluster.tls.{what} {}: cannot read: {source}", path.display())]
    Read { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("cluster.tls.{what} {}: {source}", path.display())]
    Pem { what: &'static str, path: PathBuf, source: rustls::pki_types::pem::Error },
    #[error("cluster.tls.{what} {}: no PEM certificate in it", path.display())]
    NoCertificate { what: &'static str, path: PathBuf },
    #[error("cluster.tls.ca {}: {source}", path.display())]
    Ca { path: PathBuf, source: rustls::Error },
    #[error("cluster.tls.ca {}: {source}", path.display())]
    Verifier { path: PathBuf, source: rustls::server::VerifierBuilderError },
    #[error("cluster.tls: certificate {} and key {} do not form a usable pair: {source}", cert.display(), key.display())]
    Pair { cert: PathBuf, key: PathBuf, source: rustls::Error },
    #[error("{0}")]
    Protocols(rustls::Error),
    #[error("{addr}: not a usable TLS name: {source}")]
    ServerName { addr: String, source: rustls::pki_types::InvalidDnsNameError },
}

/// The label of the link's TLS metrics (the listeners use their names).
pub const METRIC_LABEL: &str = "cluster";

/// Both ends of the link's TLS. Cheap to clone; clones share the material, which
/// [`LinkTls::reload`] swaps.
#[derive(Clone)]
pub struct LinkTls {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: LinkTlsConfig,
    current: RwLock<Arc<Material>>,
    /// Modification time and size of cert, key and ca at the last (attempted) load.
    seen: Mutex<Stamps>,
}

type Stamps = [Option<(SystemTime, u64)>; 3];

struct Material {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
    /// The certificate's notAfter (Unix seconds).
    not_after: i64,
}

fn stamps(c: &LinkTlsConfig) -> Stamps {
    let one = |p: &Path| std::fs::metadata(p).ok().and_then(|m| Some((m.modified().ok()?, m.len())));
    [one(&c.cert), one(&c.key), one(&c.ca)]
}

impl LinkTls {
    /// Read the files; an error names the key and the file.
    pub fn load(c: &LinkTlsConfig) -> Result<LinkTls, LinkTlsError> {
        let seen = stamps(c);
        let m = build(c)?;
        Ok(LinkTls {
            inner: Arc::new(Inner { cfg: c.clone(), current: RwLock::new(Arc::new(m)), seen: Mutex::new(seen) }),
        })
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        self.inner.current.read().acceptor.clone()
    }

    pub fn connector(&self) -> TlsConnector {
        self.inner.current.read().connector.clone()
    }

    pub fn record_expiry(&self, metrics: &Metrics) {
        use crate::metrics::ListenerLabel;
        let not_after = self.inner.current.read().not_after;
        metrics.tls_cert_expiry.get_or_create(&ListenerLabel { listener: METRIC_LABEL.into() }).set(not_after);
    }

    /// Read the files again and use them for new connections; on error the material in use
    /// stays. Counted and logged either way.
    pub fn reload(&self, metrics: &Metrics) -> Result<String, LinkTlsError> {
        *self.inner.seen.lock() = stamps(&self.inner.cfg);
        match build(&self.inner.cfg) {
            Ok(m) => {
                let expires = humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(m.not_after).unwrap_or(0)),
                );
                *self.inner.current.write() = Arc::new(m);
                metrics.tls_reload(METRIC_LABEL, true);
                self.record_expiry(metrics);
                let summary = format!("cluster link: {} (expires {expires})", self.inner.cfg.cert.display());
                tracing::info!("cluster link TLS material reloaded: {summary}");
                Ok(summary)
            }
            Err(e) => {
                metrics.tls_reload(METRIC_LABEL, false);
                tracing::error!("cluster link TLS reload failed, the previous certificate stays in use: {e}");
                Err(e)
            }
        }
    }

    /// Reload if a file changed since the last attempt; None when nothing changed.
    pub fn reload_if_changed(&self, metrics: &Metrics) -> Option<Result<String, LinkTlsError>> {
        if stamps(&self.inner.cfg) == *self.inner.seen.lock() {
            return None;
        }
        Some(self.reload(metrics))
    }

    /// Check the files every `every` until `shutdown` flips, reloading when they change: a
    /// background task for the node's supervisor.
    pub fn watch(
        &self,
        metrics: Arc<Metrics>,
        every: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let me = self.clone();
        crate::poll::poll("cluster link TLS file watch".into(), every, shutdown, move || {
            me.reload_if_changed(&metrics);
        })
    }
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, LinkTlsError> {
    std::fs::read(path).map_err(|source| LinkTlsError::Read { what, path: path.to_path_buf(), source })
}

fn certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, LinkTlsError> {
    let pem = read(what, path)?;
    let v = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| LinkTlsError::Pem { what, path: path.to_path_buf(), source })?;
    if v.is_empty() {
        return Err(LinkTlsError::NoCertificate { what, path: path.to_path_buf() });
    }
    Ok(v)
}

/// The acceptor and connector from the files.
fn build(c: &LinkTlsConfig) -> Result<Material, LinkTlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certs("cert", &c.cert)?;
    let not_after = chain
        .first()
        .and_then(|c| x509_parser::parse_x509_certificate(c.as_ref()).ok())
        .map(|(_, c)| c.validity().not_after.timestamp())
        .unwrap_or(0);
    let key_pem = read("key", &c.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|source| LinkTlsError::Pem {
        what: "key",
        path: c.key.clone(),
        source,
    })?;
    let mut roots = RootCertStore::empty();
    for ca in certs("ca", &c.ca)? {
        roots.add(ca).map_err(|source| LinkTlsError::Ca { path: c.ca.clone(), source })?;
    }
    let roots = Arc::new(roots);
    let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .map_err(|source| LinkTlsError::Verifier { path: c.ca.clone(), source })?;
    let pair = |source: rustls::Error| LinkTlsError::Pair { cert: c.cert.clone(), key: c.key.clone(), source };
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(LinkTlsError::Protocols)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain.clone(), key.clone_key())
        .map_err(pair)?;
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(LinkTlsError::Protocols)?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(pair)?;
    Ok(Material {
        acceptor: TlsAcceptor::from(Arc::new(server)),
        connector: TlsConnector::from(Arc::new(client)),
        not_after,
    })
}

/// The name a peer's certificate must carry: the host part of its `host:port` address.
pub fn server_name(addr: &str) -> Result<ServerName<'static>, LinkTlsError> {
    let host = match addr.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
        None => addr,
    };
    ServerName::try_from(host.to_string()).map_err(|source| LinkTlsError::ServerName { addr: addr.to_string(), source })
}
