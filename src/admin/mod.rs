//! The HTTP admin listener: `/metrics` (Prometheus), `/healthz` and `/readyz` (probes), and the
//! REST API under `/api/v1` that `starling ctl` talks to.
//!
//! `/metrics` and the probes need no key: Kubernetes probes and Prometheus scrapes carry none, and
//! they expose nothing a client could act on. Everything under `/api/v1` (except its OpenAPI
//! document, which describes the API and holds no data) needs `Authorization: Bearer <key>`
//! with one of the configured keys; with no key configured the API refuses every request
//! rather than being open. Every error body is `{"error": "..."}`.
//!
//! The server runs on its own tokio task with axum; it shares nothing with the MQTT data path but
//! the broker's read accessors (`broker::inspect`), which take short snapshots.
//!
//! TLS (`admin.cert`/`admin.key`, optionally client certificates with `admin.ca`/`admin.verify`)
//! reuses the MQTT listeners' [`TlsListener`]: the same file loading, errors naming the file,
//! hot reload when the files change or on SIGHUP, expiry metric (labelled `listener="admin"`).
//! axum is handed a [`axum::serve::Listener`] that yields finished TLS streams, so graceful
//! shutdown works exactly as for plain HTTP.

mod api;
mod bridges_api;
mod cluster_api;
pub(crate) mod control;
mod guard;
pub(crate) mod keys;
pub mod log;
mod scrape;
pub mod systemd;

use guard::Guarded;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::RwLock;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use thiserror::Error;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::broker::Broker;
use crate::broker::drain::Evacuation;
use crate::cluster::admin::ClusterAdmin;
use crate::config::AdminConfig;
use crate::transport::tls::{TlsError, TlsListener};
pub use control::ControlSocket;
pub use keys::{ApiKeys, KeysError};

/// A client that has not finished the TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum AdminError {
    #[error("cannot bind the admin listener to {addr}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Keys(#[from] keys::KeysError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot set up the control socket {path}")]
    Control { path: std::path::PathBuf, source: std::io::Error },
}

/// What the handlers share.
#[derive(Clone)]
struct AdminState {
    broker: Arc<Broker>,
    /// Status, metrics and membership of the cluster (a standalone node reports itself alone).
    cluster: Arc<dyn ClusterAdmin>,
    /// Swapped whole on SIGHUP ([`AdminServer::reload_keys`]); readers clone the inner `Arc`.
    keys: SharedKeys,
    /// Set by the node once every listener is bound and storage is open; cleared when it
    /// starts to drain, so load balancers stop sending clients before connections are closed.
    ready: Arc<AtomicBool>,
    /// `POST /node/drain` starts it.
    evacuation: Arc<Evacuation>,
    /// Requests come through the control socket, which file permissions protect: no key needed.
    trusted: bool,
}

type SharedKeys = Arc<RwLock<Arc<ApiKeys>>>;

/// A running admin listener.
pub struct AdminServer {
    pub addr: SocketAddr,
    keys: SharedKeys,
    /// The TLS material when the listener serves HTTPS (reloaded on SIGHUP and when the files change).
    tls: Option<Arc<TlsListener>>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl AdminServer {
    /// Load the API keys and the TLS material, bind `cfg.bind` and serve until
    /// [`AdminServer::stop`]. A bad key, certificate or key file is an error naming the file.
    pub async fn start(
        cfg: &AdminConfig,
        broker: Arc<Broker>,
        cluster: Arc<dyn ClusterAdmin>,
        ready: Arc<AtomicBool>,
        evacuation: Arc<Evacuation>,
    ) -> Result<Self, AdminError> {
        if keys::create_key_file_if_missing(cfg)?
            && let Some(p) = &cfg.api_keys_file
        {
            tracing::info!(path = %p.display(), "created an admin API key file with a random key");
        }
        let keys = ApiKeys::load(cfg)?;
        if keys.is_empty() {
            tracing::warn!(
                "admin API has no API keys (admin.api_keys, admin.api_keys_file): /api/v1 refuses every request; \
                 /metrics, /healthz and /readyz are served"
            );
        }
        // Read before binding, so a bad file fails start-up with nothing half open.
        let tls = TlsListener::load_admin(cfg)?.map(Arc::new);
        let listener = tokio::net::TcpListener::bind(cfg.bind)
            .await
            .map_err(|source| AdminError::Bind { addr: cfg.bind, source })?;
        let addr = listener.local_addr().map_err(|source| AdminError::Bind { addr: cfg.bind, source })?;
        let keys: SharedKeys = Arc::new(RwLock::new(Arc::new(keys)));
        let app = router(AdminState {
            broker: broker.clone(),
            cluster,
            keys: keys.clone(),
            ready,
            evacuation,
            trusted: false,
        });
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let stopped = async move {
            let _ = stop_rx.await;
        };
        // Owned by the returned AdminServer: `stop` ends the server and shutdown awaits `task`.
        let task = match &tls {
            None => tokio::spawn(serve(Guarded::new(listener, cfg.max_connections, cfg.idle_timeout), app, stopped)),
            Some(t) => {
                t.record_expiry(&broker.metrics);
                let incoming = TlsIncoming::start(listener, addr, t.clone());
                tokio::spawn(serve(Guarded::new(incoming, cfg.max_connections, cfg.idle_timeout), app, stopped))
            }
        };
        Ok(AdminServer { addr, keys, tls, stop: Some(stop_tx), task })
    }

    /// Whether the listener serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The HTTPS material, for the node to watch its files (`admin.reload_interval`).
    pub fn tls(&self) -> Option<&Arc<TlsListener>> {
        self.tls.as_ref()
    }

    /// Re-read the TLS files (SIGHUP); None when the listener has no TLS. On error the
    /// material in use stays.
    pub fn reload_tls(&self, metrics: &crate::metrics::Metrics) -> Option<Result<String, TlsError>> {
        self.tls.as_ref().map(|t| t.reload(metrics))
    }

    /// Read the keys again (`admin.api_keys` and `admin.api_keys_file`) and use them from the
    /// next request on. On error the keys in use stay. Returns how many keys are now accepted.
    pub fn reload_keys(&self, cfg: &AdminConfig) -> Result<usize, keys::KeysError> {
        let fresh = ApiKeys::load(cfg)?;
        let n = fresh.len();
        *self.keys.write() = Arc::new(fresh);
        Ok(n)
    }

    /// Stop accepting, let requests in progress finish for up to `grace`, then close the
    /// socket (so a restarted node can bind the same port at once).
    pub async fn stop(mut self, grace: Duration) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if tokio::time::timeout(grace, &mut self.task).await.is_err() {
            self.task.abort();
            let _ = self.task.await;
        }
    }
}

/// Serve `app` on `listener` until `stop` resolves, then let requests in progress finish.
async fn serve<L>(listener: L, app: Router, stop: impl std::future::Future<Output = ()> + Send + 'static)
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
        tracing::error!("admin listener failed: {e}");
    }
}

/// Finished TLS connections, for axum. A task accepts TCP connections and runs each handshake
/// on a task of its own, so a slow or silent client does not hold up the others; axum takes
/// the streams that completed. When axum drops this (graceful shutdown), the accept task
/// notices the closed channel and closes the socket.
struct TlsIncoming {
    rx: tokio::sync::mpsc::Receiver<(tokio_rustls::server::TlsStream<tokio::net::TcpStream>, SocketAddr)>,
    addr: SocketAddr,
}

impl TlsIncoming {
    fn start(listener: tokio::net::TcpListener, addr: SocketAddr, tls: Arc<TlsListener>) -> TlsIncoming {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        // Lives as long as the server holding `rx`: it ends when the receiver is dropped.
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = tokio::select! {
                    r = listener.accept() => match r {
                        Ok(c) => c,
                        Err(e) => {
                            // Out of file descriptors, say: back off instead of spinning.
                            tracing::warn!("admin listener: accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                    _ = tx.closed() => return,
                };
                let (acceptor, tx) = (tls.acceptor(), tx.clone());
                // One handshake, bounded by HANDSHAKE_TIMEOUT.
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send((stream, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, "admin listener: TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%peer, "admin listener: TLS handshake timed out"),
                    }
                });
            }
        });
        TlsIncoming { rx, addr }
    }
}

impl axum::serve::Listener for TlsIncoming {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept task ended (it only does once this is dropped): nothing more comes.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

fn router(state: AdminState) -> Router {
    let api = Router::new()
        .route("/status", get(api::status))
        .route("/clients", get(api::clients))
        .route("/clients/{*client_id}", get(api::client).delete(api::kick))
        .route("/subscriptions", get(api::subscriptions))
        .route("/routes", get(api::routes))
        .route("/cluster", get(cluster_api::status))
        .route("/cluster/join", axum::routing::post(cluster_api::join))
        .route("/cluster/members/{name}", axum::routing::delete(cluster_api::remove))
        .route("/node/drain", axum::routing::post(cluster_api::drain))
        .route("/bridges", get(bridges_api::list))
        .route("/retained", get(api::retained_list))
        .route("/retained/{*topic}", get(api::retained_get).delete(api::retained_delete))
        .route("/bans", get(api::bans_list).post(api::bans_add))
        .route("/bans/{kind}/{*value}", delete(api::bans_delete))
        .route("/users", get(api::users_list).post(api::users_add))
        .route("/users/{*username}", delete(api::users_delete))
        // Everything above needs a key; the document below does not.
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key))
        .route("/openapi.json", get(api::openapi));
    Router::new()
        .route("/metrics", get(scrape::metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .nest("/api/v1", api)
        .fallback(not_found)
        // Last, so that it applies to every route above.
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// `{"error": "..."}` with a status.
pub(crate) fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, axum::Json(serde_json::json!({ "error": msg.into() }))).into_response()
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such endpoint; the API is described at /api/v1/openapi.json")
}

async fn method_not_allowed() -> Response {
    error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this endpoint")
}

/// Liveness: the process serves HTTP. Deliberately independent of peers and storage, so a
/// partition or a full disk does not get the node restarted in a loop.
async fn healthz() -> Response {
    axum::Json(serde_json::json!({ "status": "ok" })).into_response()
}

/// Readiness: every listener is bound (and the node is not draining) and storage answers reads.
async fn readyz(State(s): State<AdminState>) -> Response {
    let listeners = s.ready.load(Ordering::Acquire);
    let storage = s.broker.storage_readable();
    let cluster = s.cluster.ready();
    let ok = listeners && !s.broker.is_draining() && storage.is_ok() && cluster;
    let body = serde_json::json!({
        "status": if ok { "ready" } else { "not ready" },
        "checks": {
            "listeners": if listeners && !s.broker.is_draining() { "ok".to_string() } else { "not bound, or draining".to_string() },
            "storage": match &storage { Ok(()) => "ok".to_string(), Err(e) => format!("error: {e}") },
            "cluster": if cluster { "ok".to_string() } else { "not joined or not caught up".to_string() },
        },
        // Informational: an unreachable upstream does not make this node unfit for its clients.
        "bridges": bridges_api::readiness(&s.broker),
    });
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}

/// Bearer-key check for `/api/v1`.
async fn require_key(State(s): State<AdminState>, req: Request, next: Next) -> Response {
    if s.trusted {
        return next.run(req).await;
    }
    let keys = s.keys.read().clone();
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim());
    let refusal = match presented {
        _ if keys.is_empty() => "no API keys are configured on this node (admin.api_keys or admin.api_keys_file)",
        None => "missing API key: send `Authorization: Bearer <key>`",
        Some(k) if keys.accepts(k) => return next.run(req).await,
        Some(_) => "the API key was refused",
    };
    let mut resp = error(StatusCode::UNAUTHORIZED, refusal);
    resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"starling\""));
    resp
}
