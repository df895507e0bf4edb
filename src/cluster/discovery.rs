//! Finding peers: a static list, or DNS (SRV records, or A/AAAA records plus a port) as a
//! Kubernetes headless Service publishes them. Looked up again on every membership tick.
//!
//! Discovery never fails silently: an empty answer (pods not registered yet) or a DNS error is
//! logged with the name that was asked and what came back, and the caller simply retries.

use std::net::SocketAddr;

use hickory_resolver::TokioAsyncResolver;
use hickory_resolver::config::{NameServerConfig, Protocol, ResolverConfig, ResolverOpts};
use hickory_resolver::error::ResolveError;
use parking_lot::Mutex;

use crate::config::{DiscoveryConfig, DiscoveryKind};

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("cluster.discovery: cannot read /etc/resolv.conf: {0}")]
    ResolvConf(ResolveError),
    #[error("{0}")]
    Lookup(ResolveError),
}

/// An answer as far as the log cares: changes are logged once rather than on every tick.
#[derive(PartialEq)]
enum Seen {
    Peers(Vec<String>),
    Failed(String),
}

pub struct Discovery {
    cfg: DiscoveryConfig,
    resolver: Option<TokioAsyncResolver>,
    /// The previous answer.
    last: Mutex<Option<Seen>>,
}

impl Discovery {
    pub fn new(cfg: &DiscoveryConfig) -> Result<Discovery, DiscoveryError> {
        let resolver = match cfg.kind {
            DiscoveryKind::Static => None,
            DiscoveryKind::DnsSrv | DiscoveryKind::DnsA => {
                let mut opts = ResolverOpts::default();
                // Pods come and go: do not cache answers longer than one discovery interval.
                opts.positive_max_ttl = Some(cfg.interval);
                opts.negative_max_ttl = Some(cfg.interval);
                opts.attempts = 2;
                opts.timeout = std::time::Duration::from_secs(2);
                match cfg.nameserver {
                    Some(ns) => {
                        let mut rc = ResolverConfig::new();
                        rc.add_name_server(NameServerConfig::new(ns, Protocol::Udp));
                        rc.add_name_server(NameServerConfig::new(ns, Protocol::Tcp));
                        Some(TokioAsyncResolver::tokio(rc, opts))
                    }
                    None => {
                        let (rc, mut sys) =
                            hickory_resolver::system_conf::read_system_conf().map_err(DiscoveryError::ResolvConf)?;
                        sys.positive_max_ttl = opts.positive_max_ttl;
                        sys.negative_max_ttl = opts.negative_max_ttl;
                        Some(TokioAsyncResolver::tokio(rc, sys))
                    }
                }
            }
        };
        Ok(Discovery { cfg: cfg.clone(), resolver, last: Mutex::new(None) })
    }

    /// What is queried, for log lines and status.
    pub fn describe(&self) -> String {
        match self.cfg.kind {
            DiscoveryKind::Static => format!("static seeds {:?}", self.cfg.seeds),
            DiscoveryKind::DnsSrv => format!("SRV {}", self.cfg.name),
            DiscoveryKind::DnsA => format!("A/AAAA {} port {}", self.cfg.name, self.cfg.port),
        }
    }

    /// The cluster-link addresses currently known (may include this node's own).
    pub async fn peers(&self) -> Vec<String> {
        let r = self.lookup().await;
        let seen = match &r {
            Ok(v) => Seen::Peers(v.clone()),
            Err(e) => Seen::Failed(e.to_string()),
        };
        let mut last = self.last.lock();
        if last.as_ref() != Some(&seen) {
            match &r {
                Ok(v) if v.is_empty() => {
                    tracing::warn!("discovery: {} returned no records yet; retrying", self.describe())
                }
                Ok(v) => tracing::info!("discovery: {} → {}", self.describe(), v.join(", ")),
                Err(e) => tracing::warn!("discovery: {} failed: {e}; retrying", self.describe()),
            }
            *last = Some(seen);
        }
        r.unwrap_or_default()
    }

    async fn lookup(&self) -> Result<Vec<String>, DiscoveryError> {
        let Some(res) = &self.resolver else { return Ok(self.cfg.seeds.clone()) };
        let mut out = Vec::new();
        match self.cfg.kind {
            DiscoveryKind::Static => {}
            DiscoveryKind::DnsSrv => {
                let srv = match res.srv_lookup(self.cfg.name.as_str()).await {
                    Ok(s) => s,
                    Err(e) if no_records(&e) => return Ok(Vec::new()),
                    Err(e) => return Err(DiscoveryError::Lookup(e)),
                };
                for r in srv.iter() {
                    let target = r.target().to_utf8();
                    // Resolve the target with the same resolver: a configured nameserver must be
                    // enough, without the system's.
                    match res.lookup_ip(target.as_str()).await {
                        // The system's resolver (the link's too) knows the name: dial the name, so
                        // that cluster TLS checks the peer's certificate against it (a pod's
                        // certificate names it, not its address).
                        Ok(_) if self.cfg.nameserver.is_none() => {
                            out.push(format!("{}:{}", target.trim_end_matches('.'), r.port()))
                        }
                        Ok(ips) => out.extend(ips.iter().map(|ip| SocketAddr::new(ip, r.port()).to_string())),
                        Err(e) => tracing::debug!("discovery: SRV target {target} does not resolve: {e}"),
                    }
                }
            }
            DiscoveryKind::DnsA => {
                let ips = match res.lookup_ip(self.cfg.name.as_str()).await {
                    Ok(i) => i,
                    Err(e) if no_records(&e) => return Ok(Vec::new()),
                    Err(e) => return Err(DiscoveryError::Lookup(e)),
                };
                out.extend(ips.iter().map(|ip| SocketAddr::new(ip, self.cfg.port).to_string()));
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// "The name has no such records (yet)", as opposed to the DNS server failing.
fn no_records(e: &ResolveError) -> bool {
    matches!(e.kind(), hickory_resolver::error::ResolveErrorKind::NoRecordsFound { .. })
}
