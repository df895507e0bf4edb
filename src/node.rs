//! The one place where everything is wired: storage, catalog, cluster, broker, listeners,
//! background tasks. The binary and the tests both start nodes through [`Node::start`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use thiserror::Error;
use tokio::sync::{mpsc, watch};

use crate::admin::{AdminError, AdminServer, ControlSocket};
use crate::broker::drain::{Evacuation, ShutdownPlan};
use crate::broker::port::Cluster;
use crate::broker::session::Kick;
use crate::broker::{Broker, BrokerError, Settings};
use crate::catalog::Catalog;
use crate::cluster::admin::ClusterAdmin;
use crate::cluster::replicated::RaftCluster;
use crate::cluster::standalone::Standalone;
use crate::config::{Config, ListenerKind, SyncPolicy};
use crate::metrics::Metrics;
use crate::storage::{StorageError, Store};
use crate::transport::connection::ListenerInfo;
use crate::transport::listener::{self, ListenerError};
use crate::transport::tls::{self, TlsError, TlsListener};
use crate::transport::ws::WsOptions;

mod supervisor;
pub use supervisor::Supervisor;

#[derive(Debug, Error)]
pub enum NodeError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Listener(#[from] ListenerError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::replicated::StartError),
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    #[error("node id file in {path}")]
    NodeId { path: String, source: std::io::Error },
}

/// A bound listener, as reported at start-up.
#[derive(Debug, Clone)]
pub struct BoundListener {
    pub name: String,
    pub kind: &'static str,
    pub addr: SocketAddr,
}

/// One item of a SIGHUP reload: what, and a summary or the error.
#[derive(Debug)]
pub struct Reloaded {
    pub what: &'static str,
    pub outcome: Result<String, ReloadError>,
}

/// Why one item of a SIGHUP reload failed; its previous state stays in use.
#[derive(Debug, Error)]
pub enum ReloadError {
    #[error("{0}; the previous keys stay in use")]
    ApiKeys(#[source] crate::admin::KeysError),
    #[error("{0}; the previous certificate stays in use")]
    Tls(#[source] TlsError),
    #[error("{0}; the previous certificate stays in use")]
    LinkTls(#[source] crate::cluster::link_tls::LinkTlsError),
    #[error(transparent)]
    Auth(#[from] crate::auth::ReloadError),
}

pub struct NodeHandle {
    pub broker: Arc<Broker>,
    pub listeners: Vec<BoundListener>,
    shutdown_tx: watch::Sender<bool>,
    /// The node's long-lived background tasks, stopped last started first at shutdown.
    tasks: Supervisor,
    drain_tx: Option<mpsc::Sender<()>>,
    drain_rx: mpsc::Receiver<()>,
    store: Store,
    /// Readiness as `/readyz` reports it: set once everything is bound, cleared on shutdown.
    ready: Arc<AtomicBool>,
    admin: Option<AdminServer>,
    /// Sends the clients away on `ctl node drain` and on shutdown in a cluster.
    evacuation: Arc<Evacuation>,
    /// The admin API for local `starling ctl`, without a key (see `admin::control`).
    control: Option<ControlSocket>,
    /// Readiness, status, metrics and membership of the cluster (standalone or replicated).
    pub cluster: Arc<dyn ClusterAdmin>,
    /// The replicated cluster, when `[cluster]` is configured.
    raft: Option<Arc<RaftCluster>>,
    /// The TLS material of each `tls`/`wss` listener, by listener name (reloaded on SIGHUP).
    tls: std::collections::BTreeMap<String, Arc<TlsListener>>,
}

pub struct Node;

/// How often the cluster link's certificate files are checked for changes (as the listeners'
/// default `reload_interval`).
const LINK_TLS_WATCH: Duration = Duration::from_secs(5);

impl Node {
    /// Open storage, restore sessions, bind every listener and start serving.
    pub async fn start(cfg: Config) -> Result<NodeHandle, NodeError> {
        let store = Store::open(&cfg.data_dir, &cfg.storage)?;
        let node_id = crate::cluster::load_or_create_node_id(&cfg.data_dir)
            .map_err(|source| NodeError::NodeId { path: cfg.data_dir.display().to_string(), source })?;
        let catalog = Arc::new(Catalog::open(store.clone())?);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let metrics = Arc::new(Metrics::new());
        let tasks = Supervisor::new(metrics.clone());
        let node_name = cfg.effective_node_name();
        // The one place that decides between a cluster of one and a replicated cluster.
        let (cluster, admin_view, raft): (Arc<dyn Cluster>, Arc<dyn ClusterAdmin>, _) = match &cfg.cluster {
            None => {
                let s = Arc::new(Standalone::new(node_id, node_name.clone(), catalog.clone()));
                (s.clone(), s, None)
            }
            Some(c) => {
                let (r, link) = RaftCluster::start(
                    node_id,
                    node_name.clone(),
                    c,
                    store.clone(),
                    catalog.clone(),
                    shutdown_rx.clone(),
                )
                .await?;
                tasks.spawn("raft_writer", r.clone().run_writer(shutdown_rx.clone()));
                tasks.spawn("prevote", crate::cluster::prevote::run(r.clone(), shutdown_rx.clone()));
                (r.clone(), r.clone(), Some((r, link)))
            }
        };
        let settings = Settings::from_config(&cfg);
        // The password and ACL files are read before anything binds: a bad file fails start-up.
        let auth = Arc::new(crate::auth::Auth::new(&cfg, catalog.clone(), metrics.clone())?);
        let broker = Broker::new(settings.clone(), node_name, cluster, catalog, store.clone(), metrics, auth);
        // The broker holds the cluster; the cluster gets the broker only as what its link and
        // outbox deliver into, held by their tasks (which end on the stop signal).
        let raft = raft.map(|(r, link)| {
            r.serve(link, broker.clone());
            tasks.spawn("outbox", r.clone().run_outbox(broker.clone(), shutdown_rx.clone()));
            r
        });
        if let Some(t) = raft.as_ref().and_then(|r| r.link_tls()) {
            t.record_expiry(&broker.metrics);
            tasks.spawn("link_tls_watch", t.watch(broker.metrics.clone(), LINK_TLS_WATCH, shutdown_rx.clone()));
        }
        if let Some(r) = &raft {
            tasks.spawn("membership", r.clone().run_membership(shutdown_rx.clone()));
            tasks.spawn_until("hand_back", shutdown_rx.clone(), broker.hand_back_task(Duration::from_secs(2)));
        }
        let restored = broker.restore().await?;
        if restored > 0 {
            tracing::info!(sessions = restored, "restored persistent sessions");
        }

        let (drain_tx, drain_rx) = mpsc::channel(1);
        let mut bound = Vec::new();
        // TLS files are read before anything binds, so a bad file fails start-up cleanly.
        let mut tls_setups = std::collections::BTreeMap::new();
        for (name, l) in &cfg.listeners {
            if l.kind_for(name).is_tls() {
                let t = Arc::new(tls::TlsListener::load(name, l)?);
                t.record_expiry(&broker.metrics);
                tls_setups.insert(name.clone(), t);
            }
        }
        for (name, l) in &cfg.listeners {
            let kind = l.kind_for(name);
            let bind = l.bind_addr(name);
            let tcp = listener::bind(name, bind).await?;
            let addr =
                tcp.local_addr().map_err(|source| ListenerError::Bind { name: name.clone(), addr: bind, source })?;
            let allow_anonymous = cfg.anonymous_allowed(l);
            let anonymous_implicit = l.allow_anonymous.or(cfg.auth.allow_anonymous).is_none();
            let info = Arc::new(ListenerInfo { name: name.clone(), allow_anonymous, anonymous_implicit });
            let origins = crate::transport::access::OriginPolicy::new(&l.allowed_origins, addr, allow_anonymous);
            let tls = tls_setups.get(name).cloned();
            if let Some(t) = &tls
                && !l.reload_interval.is_zero()
            {
                tasks.spawn(
                    "tls_watch",
                    t.clone().watch(broker.metrics.clone(), l.reload_interval, shutdown_rx.clone()),
                );
            }
            let setup = listener::Setup {
                info,
                tls,
                ws: kind.is_websocket().then(|| WsOptions::new(&l.path, settings.max_packet_size).origins(origins)),
                proxy_protocol: l.proxy_protocol,
                max_connections: l.max_connections,
            };
            tasks.spawn(
                "listener",
                listener::run(tcp, Arc::new(setup), broker.clone(), shutdown_rx.clone(), drain_tx.clone()),
            );
            let scheme = match kind {
                ListenerKind::Tcp => "mqtt",
                ListenerKind::Tls => "mqtts",
                ListenerKind::Ws => "ws",
                ListenerKind::Wss => "wss",
            };
            bound.push(BoundListener { name: name.clone(), kind: scheme, addr });
        }
        // The admin listener comes last, so that it reports "ready" only once the MQTT
        // listeners are up (and `readyz` answers 503 until then).
        let ready = Arc::new(AtomicBool::new(false));
        let evacuation = Evacuation::new(broker.clone(), cfg.drain.clone());
        let admin = if cfg.admin.enabled {
            let a =
                AdminServer::start(&cfg.admin, broker.clone(), admin_view.clone(), ready.clone(), evacuation.clone())
                    .await?;
            if let Some(t) = a.tls()
                && !cfg.admin.reload_interval.is_zero()
            {
                let watch = t.clone().watch(broker.metrics.clone(), cfg.admin.reload_interval, shutdown_rx.clone());
                tasks.spawn("admin_tls_watch", watch);
            }
            let kind = if a.is_tls() { "https" } else { "http" };
            bound.push(BoundListener { name: "admin".into(), kind, addr: a.addr });
            Some(a)
        } else {
            None
        };
        let control =
            ControlSocket::start(&cfg.data_dir, broker.clone(), admin_view.clone(), ready.clone(), evacuation.clone())
                .await?;
        if let Some(interval) = settings.sys_interval {
            tasks.spawn_until("sys", shutdown_rx.clone(), broker.sys_task(interval));
        }
        if !cfg.bridges.is_empty() {
            let opts = crate::bridge::Options {
                client_id_prefix: cfg.cluster.as_ref().map_or_else(|| broker.node_name.clone(), |c| c.name.clone()),
                lease: cfg.cluster.as_ref().map_or(Duration::from_secs(10), |c| c.bridge_lease),
            };
            let (bridges, runs) = crate::bridge::Bridges::start(&cfg.bridges, &opts, &broker, &shutdown_rx, &drain_tx);
            for run in runs {
                tasks.spawn("bridge", run);
            }
            let _ = broker.bridges.set(bridges);
        }
        if cfg.storage.sync == SyncPolicy::Interval {
            tasks.spawn("fsync", sync_task(store.clone(), cfg.storage.sync_interval, shutdown_rx.clone()));
        }
        ready.store(true, Ordering::Release);
        Ok(NodeHandle {
            broker,
            listeners: bound,
            shutdown_tx,
            tasks,
            drain_tx: Some(drain_tx),
            drain_rx,
            store,
            ready,
            admin,
            evacuation,
            control,
            cluster: admin_view,
            raft,
            tls: tls_setups,
        })
    }
}

async fn sync_task(store: Store, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.sync_now()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!("periodic fsync failed: {e}"),
            Err(e) => tracing::error!("periodic fsync task failed: {e}"),
        }
    }
}

impl NodeHandle {
    /// The address of the first listener (tests use it).
    pub fn mqtt_addr(&self) -> SocketAddr {
        self.listeners.first().map(|l| l.addr).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The admin HTTP listener's address, when it is enabled.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.listeners.iter().find(|l| l.kind == "http" || l.kind == "https").map(|l| l.addr)
    }

    /// Reload what can change without a restart (SIGHUP), from `cfg` (the configuration the
    /// node was started with). Each item is reported; one that fails keeps its old state.
    pub fn reload(&self, cfg: &Config) -> Vec<Reloaded> {
        let mut out = Vec::new();
        if let Some(a) = &self.admin {
            let outcome = a.reload_keys(&cfg.admin).map(|n| format!("{n} API keys")).map_err(ReloadError::ApiKeys);
            out.push(Reloaded { what: "admin API keys", outcome });
            if let Some(r) = a.reload_tls(&self.broker.metrics) {
                let outcome = r.map_err(ReloadError::Tls);
                out.push(Reloaded { what: "admin TLS certificates", outcome });
            }
        }
        if let Some(outcome) = self.broker.auth.reload_passwords() {
            out.push(Reloaded { what: "password file", outcome: outcome.map_err(ReloadError::from) });
        }
        if let Some(outcome) = self.broker.auth.reload_acl() {
            let outcome = outcome.map_err(ReloadError::from);
            if outcome.is_ok() {
                // Subscriptions granted under the old rules are checked against the new ones.
                let broker = self.broker.clone();
                // One pass over the sessions, started by this reload; it ends by itself.
                self.tasks.spawn("revoke_subscriptions", async move {
                    broker.revoke_denied_subscriptions().await;
                });
            }
            out.push(Reloaded { what: "ACL file", outcome });
        }
        if let Some(t) = self.raft.as_ref().and_then(|r| r.link_tls()) {
            let outcome = t.reload(&self.broker.metrics).map_err(ReloadError::LinkTls);
            out.push(Reloaded { what: "cluster link TLS certificates", outcome });
        }
        // Each TLS listener's certificate, key, CA bundle and CRL, all or nothing.
        for t in self.tls.values() {
            let outcome = t.reload(&self.broker.metrics).map_err(ReloadError::Tls);
            out.push(Reloaded { what: "TLS certificates", outcome });
        }
        out
    }

    /// Graceful stop within `grace` (see [`ShutdownPlan`]): no new connections and "not ready"
    /// at once; in a cluster, clients are first sent to the other nodes (0x9C, spread as
    /// `[drain]` says, within the first half) and the cluster link stays up while they take
    /// their sessions from here; then the remaining clients get DISCONNECT 0x8B (5.0), sessions
    /// and queues are flushed to disk, and the admin listener, which reported "not ready"
    /// meanwhile, closes last.
    pub async fn shutdown(mut self, grace: Duration) {
        let started = tokio::time::Instant::now();
        let plan = ShutdownPlan::new(started, grace);
        self.ready.store(false, Ordering::Release);
        if self.raft.is_some() || self.evacuation.started() {
            self.evacuation.start(Some(plan.evacuate_by.duration_since(started)));
            self.evacuation.wait_empty(plan.evacuate_by).await;
        }
        if self.raft.is_some() {
            self.evacuation.wait_taken(plan.takeover_by).await;
            tracing::info!(
                sessions_left = self.broker.session_count(),
                elapsed = ?started.elapsed(),
                "drained; sessions not taken by other nodes stay on disk here"
            );
        }
        let _ = self.shutdown_tx.send(true);
        self.broker.kick_all(Kick::Shutdown);
        self.drain_tx.take();
        if tokio::time::timeout_at(plan.close_by, self.drain_rx.recv()).await.is_err() {
            tracing::warn!("grace period over with connections still open");
        }
        // The listeners, hand-back, `$SYS` and outbox end before Raft and the cluster link.
        self.tasks.stop(plan.close_by).await;
        if let Some(r) = self.raft.take() {
            // Leaves the membership unchanged: a restart is not a leave.
            if tokio::time::timeout(plan.remaining(), r.shutdown()).await.is_err() {
                tracing::warn!("grace period over before the cluster link and Raft stopped");
            }
        }
        // Always: what was acknowledged must be on disk, even past the budget.
        if let Err(e) = self.store.sync_now() {
            tracing::error!("final fsync failed: {e}");
        }
        let rest = plan.remaining().min(Duration::from_secs(2));
        if let Some(a) = self.admin.take() {
            a.stop(rest).await;
        }
        if let Some(c) = self.control.take() {
            c.stop(rest.min(Duration::from_secs(1))).await;
        }
    }
}
