//! Security: who may connect (authentication), what they may do (authorization), and how much
//! (abuse limits). One concern per file:
//!
//! - [`password`]: PHC hashes (argon2id, PBKDF2-SHA256) and the password file.
//! - [`users`]: the [`users::UserStore`] interface, the password file and catalog sources.
//! - [`acl`]: ACL rules, first match wins.
//! - [`limits`]: token buckets (connection rate per address, message and byte rates).
//! - [`bans`]: client id, username and network bans (configuration, API, flapping).
//! - [`flapping`]: too many connects in a window → a temporary ban.
//! - [`ownership`]: a session belongs to the identity that created it.
//!
//! [`Auth`] ties them together for the connection task, which calls it at three points: when a
//! socket is accepted ([`Auth::admit_peer`], before anything is read), at CONNECT
//! ([`Auth::check_connect`] and [`Auth::authenticate`]), and per PUBLISH/SUBSCRIBE (the
//! connection's [`ConnAcl`]). See docs/security.md for the operator's view.

pub mod acl;
pub(crate) mod bans;
pub(crate) mod flapping;
pub(crate) mod limits;
pub(crate) mod ownership;
pub mod password;
pub(crate) mod users;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use thiserror::Error;
use tokio::sync::{Semaphore, watch};

use crate::catalog::Catalog;
use crate::catalog::cmd::{BanKind, BanRecord};
use crate::config::{AuthMethod, Config};
use crate::metrics::Metrics;
use crate::protocol::message::now_ms;
use acl::{Acl, Action, Who};
use bans::Bans;
use flapping::Flapping;
use limits::{ConnRate, LogOnce, TokenBucket};
use users::{CatalogUsers, FileUsers, UserStore};

#[derive(Debug, Error)]
pub enum AuthError {
    #[error(transparent)]
    Password(#[from] password::PasswordError),
    #[error(transparent)]
    Acl(#[from] acl::AclError),
}

/// A SIGHUP reload that failed: the state in use stays.
#[derive(Debug, Error)]
pub enum ReloadError {
    #[error("{0}; the previous users stay in use")]
    Passwords(#[source] password::PasswordError),
    #[error("{0}; the previous rules stay in use")]
    Acl(#[source] acl::AclError),
}

/// How often the same refusal (reason + key) is logged.
const LOG_PERIOD: Duration = Duration::from_secs(60);

/// Per-client limits, resolved from `[limits]`.
#[derive(Debug, Clone, Copy)]
pub struct ClientLimits {
    /// (rate per second, burst) or `None` = no limit.
    pub messages: Option<(f64, f64)>,
    pub bytes: Option<(f64, f64)>,
    /// 0 = no limit.
    pub max_subscriptions: usize,
}

/// What the chain decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Let in; `username` is the authenticated one (`None` for anonymous clients).
    Accepted { username: Option<String>, method: &'static str },
    /// A username was given and its password did not match (or the user is unknown).
    BadCredentials,
    /// No method accepted the client (no credentials where anonymous access is off).
    NotAuthorized,
    /// The password-check queue is full (overall or for this source address), or no check
    /// slot came free within the connect timeout.
    Busy,
    /// The client closed its connection before its password was checked: nothing was hashed.
    Gone,
}

/// Why a CONNECT is refused before authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectBan {
    ClientId,
    Username,
    Flapping,
}

/// The security layer of a node.
pub struct Auth {
    catalog: Arc<Catalog>,
    metrics: Arc<Metrics>,
    chain: Vec<AuthMethod>,
    file_users: FileUsers,
    api_users: CatalogUsers,
    pub hash_algorithm: password::HashAlgorithm,
    acl_path: Option<PathBuf>,
    acl: RwLock<Arc<Acl>>,
    acl_generation: AtomicU64,
    pub bans: Bans,
    flapping: Option<(Flapping, Duration)>,
    /// Listener name → connection rate limiter (listeners without a limit are absent).
    conn_rate: HashMap<String, ConnRate>,
    pub limits: ClientLimits,
    log: LogOnce,
    /// Password hashes verified at once: bounded so that a flood of CONNECTs queues (fairly,
    /// first come first served) instead of taking every blocking thread and core.
    verify_slots: Semaphore,
    /// Unknown users are checked against this hash, so that the answer takes as long as for a
    /// known user with a wrong password: timing does not tell which users exist. Made by the
    /// first check that needs it, on the blocking pool: an argon2 hash takes 19 MiB of working
    /// memory, which the allocator (mimalloc) kept cached for good when it was made at start-up
    /// (an idle broker held 41 MB instead of 22 MB).
    dummy_hash: Arc<std::sync::OnceLock<String>>,
    /// Password checks waiting or running, per source address: bounded overall
    /// (`verify_queue`) and per address (`verify_share`), so one address cannot take the
    /// queue and another address's login waits behind a few of its checks at most.
    verify_waiting: parking_lot::Mutex<HashMap<IpAddr, usize>>,
    verify_queue: usize,
    verify_share: usize,
    /// How long a check may wait for a slot (the connect timeout).
    verify_wait: Duration,
}

impl Auth {
    /// Load the password and ACL files named in `cfg`; errors name the file.
    pub fn new(cfg: &Config, catalog: Arc<Catalog>, metrics: Arc<Metrics>) -> Result<Auth, AuthError> {
        let file_users = FileUsers::open(cfg.auth.password_file.clone())?;
        let acl = match &cfg.auth.acl_file {
            Some(p) => Acl::load(p)?,
            None => Acl::default(),
        };
        let conn_rate = cfg
            .listeners
            .iter()
            .filter(|(_, l)| l.max_connection_rate > 0.0)
            .map(|(name, l)| {
                let burst = if l.connection_rate_burst > 0 {
                    f64::from(l.connection_rate_burst)
                } else {
                    l.max_connection_rate.ceil()
                };
                (name.clone(), ConnRate::new(l.max_connection_rate, burst))
            })
            .collect();
        let l = &cfg.limits;
        let messages = (l.max_messages_per_second > 0.0).then(|| {
            let burst =
                if l.messages_burst > 0 { f64::from(l.messages_burst) } else { l.max_messages_per_second.ceil() };
            (l.max_messages_per_second, burst)
        });
        let bytes = (l.max_bytes_per_second > 0).then(|| {
            let rate = l.max_bytes_per_second as f64;
            (rate, if l.bytes_burst > 0 { l.bytes_burst as f64 } else { rate })
        });
        let f = &cfg.flapping;
        let slots = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Ok(Auth {
            api_users: CatalogUsers::new(catalog.clone()),
            catalog,
            metrics,
            chain: cfg.auth.chain.clone(),
            file_users,
            hash_algorithm: cfg.auth.hash,
            acl_path: cfg.auth.acl_file.clone(),
            acl: RwLock::new(Arc::new(acl)),
            acl_generation: AtomicU64::new(0),
            bans: Bans::new(&cfg.bans),
            flapping: f.enabled.then(|| (Flapping::new(f.max_connects, f.window), f.ban_time)),
            conn_rate,
            limits: ClientLimits { messages, bytes, max_subscriptions: l.max_subscriptions },
            log: LogOnce::new(LOG_PERIOD),
            verify_slots: Semaphore::new(slots),
            dummy_hash: Arc::default(),
            verify_waiting: parking_lot::Mutex::new(HashMap::new()),
            verify_queue: slots * 64,
            verify_share: (slots * 4).max(8),
            verify_wait: cfg.mqtt.connect_timeout,
        })
    }

    /// Count a refusal under `reason` and log it once per `key` per period.
    pub fn refused(&self, reason: &'static str, key: &str, detail: impl FnOnce() -> String) {
        self.metrics.refused(reason);
        if self.log.should_log(&format!("{reason}\u{0}{key}"), Instant::now()) {
            tracing::warn!(
                reason,
                "{} (further refusals of this kind for this key are counted, not logged, for {}s)",
                detail(),
                LOG_PERIOD.as_secs()
            );
        }
    }

    /// How many refusal log keys are remembered (bounded by [`LogOnce::CAP`]).
    pub fn log_keys(&self) -> usize {
        self.log.len()
    }

    // ------------------------------------------------------------------ accept

    /// A new socket from `peer` on `listener`: banned networks and the connection rate.
    /// `Err(reason)` = close it without reading.
    pub fn admit_peer(&self, listener: &str, peer: IpAddr) -> Result<(), &'static str> {
        if self.bans.network_banned(peer, &self.catalog) {
            self.refused("banned_network", &peer.to_string(), || {
                format!("connection from banned address {peer} closed")
            });
            return Err("banned_network");
        }
        if let Some(r) = self.conn_rate.get(listener)
            && !r.admit(peer.to_canonical(), Instant::now())
        {
            self.refused("connection_rate", &format!("{listener}/{peer}"), || {
                format!("listener {listener}: {peer} opens connections faster than max_connection_rate; closing")
            });
            return Err("connection_rate");
        }
        Ok(())
    }

    // ------------------------------------------------------------------ CONNECT

    /// Bans for a CONNECT (before the password is checked: a banned client costs no hash,
    /// and a flapping one is banned). `username` is the presented or certificate username.
    /// The caller counts and logs the refusal.
    pub fn check_connect(&self, client_id: &str, username: Option<&str>) -> Result<(), ConnectBan> {
        let c = &self.catalog;
        if self.bans.banned(BanKind::ClientId, client_id, c) {
            return Err(ConnectBan::ClientId);
        }
        if let Some(u) = username
            && self.bans.banned(BanKind::Username, u, c)
        {
            return Err(ConnectBan::Username);
        }
        Ok(())
    }

    /// Flapping: count an authenticated CONNECT. Only what a stranger cannot forge for someone
    /// else is counted — the authenticated username, the source address, and the client id
    /// when the client may use that session (`own_client_id`) — so failed logins from another
    /// address never lock a user out.
    pub fn count_connect(
        &self,
        own_client_id: Option<&str>,
        username: Option<&str>,
        peer: IpAddr,
    ) -> Result<(), ConnectBan> {
        if let Some((f, ban_time)) = &self.flapping {
            let addr = ipnet::IpNet::from(peer.to_canonical()).to_string();
            let mut keys = vec![(BanKind::Network, addr.as_str())];
            if let Some(c) = own_client_id {
                keys.insert(0, (BanKind::ClientId, c));
            }
            if let Some(u) = username {
                keys.push((BanKind::Username, u));
            }
            let tripped = f.record(&keys, Instant::now());
            if !tripped.is_empty() {
                let now = now_ms();
                let until = now + u64::try_from(ban_time.as_millis()).unwrap_or(u64::MAX / 2);
                for (kind, value) in tripped {
                    tracing::warn!(kind = kind.as_str(), %value, ban_seconds = ban_time.as_secs(), "flapping: banned for a while");
                    let rec = BanRecord { reason: Some("flapping".into()), created_ms: now, until_ms: Some(until) };
                    self.bans.add_temporary(kind, value, rec);
                }
                return Err(ConnectBan::Flapping);
            }
        }
        Ok(())
    }

    /// Run the authentication chain. Password checks run on the blocking pool, a few at a time.
    /// `gone` turns true when the client's socket closes: a check that has not started by
    /// then is not started at all (the client could not use its answer).
    pub async fn authenticate(
        &self,
        username: Option<&str>,
        password: Option<&[u8]>,
        cert_user: Option<&str>,
        allow_anonymous: bool,
        peer: IpAddr,
        gone: Option<watch::Receiver<bool>>,
    ) -> AuthOutcome {
        for m in &self.chain {
            match m {
                AuthMethod::Cert => {
                    if let Some(u) = cert_user {
                        return AuthOutcome::Accepted { username: Some(u.to_string()), method: "cert" };
                    }
                }
                AuthMethod::Password => {
                    let Some(u) = username else { continue };
                    let known = self.hash_of(u);
                    if known.is_none() && !self.stores().iter().any(|s| s.active()) {
                        continue;
                    }
                    // Every answer costs one hash (a dummy one for an unknown user or a missing
                    // password): the time taken does not tell which users exist.
                    let hash = known.clone();
                    let verified = match self.verify(password.unwrap_or_default().to_vec(), hash, peer, gone).await {
                        Check::Done(v) => v,
                        Check::Busy => return AuthOutcome::Busy,
                        Check::Gone => return AuthOutcome::Gone,
                    };
                    return if verified && known.is_some() && password.is_some() {
                        AuthOutcome::Accepted { username: Some(u.to_string()), method: "password" }
                    } else {
                        AuthOutcome::BadCredentials
                    };
                }
                AuthMethod::Anonymous => {
                    if allow_anonymous {
                        return AuthOutcome::Accepted { username: None, method: "anonymous" };
                    }
                }
            }
        }
        if username.is_some() { AuthOutcome::BadCredentials } else { AuthOutcome::NotAuthorized }
    }

    /// Check a password in the bounded queue; `Busy` when there is no room for `peer` or no
    /// slot came free in time, `Gone` when `gone` turned true before the check could start.
    async fn verify(
        &self,
        password: Vec<u8>,
        hash: Option<String>,
        peer: IpAddr,
        gone: Option<watch::Receiver<bool>>,
    ) -> Check {
        let peer = peer.to_canonical();
        {
            let mut w = self.verify_waiting.lock();
            let total: usize = w.values().sum();
            let mine = w.get(&peer).copied().unwrap_or(0);
            if total >= self.verify_queue || mine >= self.verify_share {
                return Check::Busy;
            }
            *w.entry(peer).or_insert(0) += 1;
        }
        let _queued = Queued { auth: self, peer };
        let closed = async {
            match gone.clone() {
                Some(mut g) => {
                    // An error means the socket's watcher is gone: the connection is ending.
                    let _ = g.wait_for(|&g| g).await;
                }
                None => std::future::pending().await,
            }
        };
        let slot = tokio::select! {
            biased;
            () = closed => return Check::Gone,
            s = tokio::time::timeout(self.verify_wait, self.verify_slots.acquire()) => s,
        };
        let Ok(Ok(_slot)) = slot else { return Check::Busy };
        if gone.is_some_and(|g| *g.borrow()) {
            return Check::Gone;
        }
        self.metrics.password_checks.inc();
        let (dummy, alg) = (self.dummy_hash.clone(), self.hash_algorithm);
        let check = move || match hash {
            Some(hash) => password::verify(&password, &hash),
            None => {
                // The first such check also makes the dummy hash (once): it alone takes longer.
                let dummy = dummy.get_or_init(|| password::hash(&rand::random::<[u8; 16]>(), alg).unwrap_or_default());
                // Never a match: the user does not exist. The check is made only for its time.
                std::hint::black_box(password::verify(&password, dummy));
                false
            }
        };
        Check::Done(match tokio::task::spawn_blocking(check).await {
            Ok(ok) => ok,
            Err(e) => {
                tracing::error!("password check failed to run: {e}");
                false
            }
        })
    }

    fn stores(&self) -> [&dyn UserStore; 2] {
        [&self.file_users, &self.api_users]
    }

    fn hash_of(&self, username: &str) -> Option<String> {
        self.stores().iter().find_map(|s| s.hash_of(username))
    }

    // ------------------------------------------------------------------ users

    /// Every user with its source and whether the API may change it.
    pub fn users(&self) -> Vec<(String, &'static str, bool)> {
        let mut out: Vec<(String, &'static str, bool)> = Vec::new();
        for s in self.stores() {
            out.extend(s.usernames().into_iter().map(|u| (u, s.source(), s.writable())));
        }
        out.sort();
        out
    }

    /// A user of the password file (read-only to the API).
    pub fn file_user(&self, username: &str) -> bool {
        self.file_users.contains(username)
    }

    pub fn api_user(&self, username: &str) -> bool {
        self.api_users.hash_of(username).is_some()
    }

    /// Hash a password for the API user store (on the blocking pool).
    pub async fn hash_password(&self, password: String) -> Result<String, password::PasswordError> {
        let alg = self.hash_algorithm;
        let _slot = self.verify_slots.acquire().await;
        tokio::task::spawn_blocking(move || password::hash(password.as_bytes(), alg))
            .await
            .map_err(|e| password::PasswordError::Hash(e.to_string()))?
    }

    // ------------------------------------------------------------------ ACL

    /// The ACL view for a connection that was just accepted.
    pub fn conn_acl(&self, username: Option<&str>, client_id: &str) -> ConnAcl {
        let acl = self.acl.read().clone();
        let generation = self.acl_generation.load(Ordering::Acquire);
        let rules = acl.applicable(Who { username, client_id });
        ConnAcl { generation, acl, rules }
    }

    /// A will, before the session is attached (no [`ConnAcl`] yet).
    pub fn will_allowed(&self, username: Option<&str>, client_id: &str, topic: &str) -> bool {
        self.acl.read().check(Who { username, client_id }, Action::Publish, topic)
    }

    // ------------------------------------------------------------------ reload

    /// SIGHUP: the password file. `None` when none is configured.
    pub fn reload_passwords(&self) -> Option<Result<String, ReloadError>> {
        let path = self.file_users_path()?;
        Some(match self.file_users.reload()? {
            Ok(n) => Ok(format!("{n} users from {path}")),
            Err(e) => Err(ReloadError::Passwords(e)),
        })
    }

    fn file_users_path(&self) -> Option<String> {
        self.file_users.path().map(|p| p.display().to_string())
    }

    /// SIGHUP: the ACL file. Connections pick the new rules up at their next check.
    pub fn reload_acl(&self) -> Option<Result<String, ReloadError>> {
        let path = self.acl_path.as_ref()?;
        Some(match Acl::load(path) {
            Ok(acl) => {
                let n = acl.rule_count();
                *self.acl.write() = Arc::new(acl);
                self.acl_generation.fetch_add(1, Ordering::AcqRel);
                Ok(format!("{n} rules from {}", path.display()))
            }
            Err(e) => Err(ReloadError::Acl(e)),
        })
    }

    /// A per-client token bucket for the configured message rate.
    pub fn message_bucket(&self) -> Option<TokenBucket> {
        self.limits.messages.map(|(r, b)| TokenBucket::new(r, b, Instant::now()))
    }

    pub fn byte_bucket(&self) -> Option<TokenBucket> {
        self.limits.bytes.map(|(r, b)| TokenBucket::new(r, b, Instant::now()))
    }
}

/// A place in the password-check queue, given back when the check ends or is abandoned.
/// How a queued password check ended.
enum Check {
    Done(bool),
    Busy,
    Gone,
}

struct Queued<'a> {
    auth: &'a Auth,
    peer: IpAddr,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        let mut w = self.auth.verify_waiting.lock();
        if let Some(n) = w.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                w.remove(&self.peer);
            }
        }
    }
}

/// A connection's view of the ACL: the rules that can apply to it, refreshed when the file
/// is reloaded. The client's names are the caller's (the connection holds them already).
pub struct ConnAcl {
    generation: u64,
    acl: Arc<Acl>,
    rules: Vec<u32>,
}

impl ConnAcl {
    /// Whether the client (the `username` and `client_id` this view was made for) may publish
    /// to `topic` or subscribe to the plain filter `topic`.
    pub fn allows(
        &mut self,
        auth: &Auth,
        username: Option<&str>,
        client_id: &str,
        action: Action,
        topic: &str,
    ) -> bool {
        let current = auth.acl_generation.load(Ordering::Acquire);
        if current != self.generation {
            *self = auth.conn_acl(username, client_id);
        }
        if self.acl.allows_everything() && !acl::server_topic(action, topic) {
            return true;
        }
        self.acl.allows(&self.rules, Who { username, client_id }, action, topic)
    }
}
