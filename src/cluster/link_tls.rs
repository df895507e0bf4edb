//! Mutual TLS for the cluster link (`[cluster.tls]`): every node presents its certificate and
//! verifies its peer's against the cluster CA, in both directions. With it, the shared secret is
//! optional; with both, a peer must pass both checks.
//!
//! The files are reloaded like a listener's: on SIGHUP and when they change on disk (checked
//! every few seconds, so a cert-manager rotation is picked up), all or nothing — a broken new
//! file keeps the material in use. New link connections use the new material; established ones
//! keep theirs. The expiry is exported as `starling_tls_certificate_expiry_timestamp_seconds`
//! with `listener="cluster"`.

use std::path::Path;
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
    pub fn load(c: &LinkTlsConfig) -> Result<LinkTls, String> {
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
    pub fn reload(&self, metrics: &Metrics) -> Result<String, String> {
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
    pub fn reload_if_changed(&self, metrics: &Metrics) -> Option<Result<String, String>> {
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

/// The acceptor and connector from the files.
fn build(c: &LinkTlsConfig) -> Result<Material, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certs("cert", &c.cert)?;
    let not_after = chain
        .first()
        .and_then(|c| x509_parser::parse_x509_certificate(c.as_ref()).ok())
        .map(|(_, c)| c.validity().not_after.timestamp())
        .unwrap_or(0);
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
    Ok(Material {
        acceptor: TlsAcceptor::from(Arc::new(server)),
        connector: TlsConnector::from(Arc::new(client)),
        not_after,
    })
}

/// The name a peer's certificate must carry: the host part of its `host:port` address.
pub fn server_name(addr: &str) -> Result<ServerName<'static>, String> {
    let host = match addr.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
        None => addr,
    };
    ServerName::try_from(host.to_string()).map_err(|e| format!("{addr}: not a usable TLS name: {e}"))
}
