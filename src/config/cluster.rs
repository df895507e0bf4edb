//! `[cluster]`: roles, the cluster link, discovery and Raft timings. No `[cluster]` table means a
//! cluster of one (the standalone implementation of the same catalog).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Core nodes vote in Raft and hold the catalog; replicants are learners that read it locally
/// and forward writes to the leader.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    Core,
    Replicant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Core => "core",
            Role::Replicant => "replicant",
        }
    }
}

/// How peers are found.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DiscoveryKind {
    /// `discovery.seeds`: a fixed list of `host:port` cluster-link addresses.
    #[default]
    Static,
    /// SRV records of `discovery.name` (e.g. `_cluster._tcp.starling-headless.ns.svc.cluster.local`).
    DnsSrv,
    /// A/AAAA records of `discovery.name` (a headless Service) plus `discovery.port`.
    DnsA,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DiscoveryConfig {
    pub kind: DiscoveryKind,
    /// `static`: peers' cluster-link addresses (`host:port`); may include this node.
    pub seeds: Vec<String>,
    /// `dns-srv` / `dns-a`: the name to resolve.
    pub name: String,
    /// `dns-a`: the cluster-link port of the resolved addresses.
    pub port: u16,
    /// The DNS server to ask (`ip:port`); unset = the system's resolver configuration.
    pub nameserver: Option<SocketAddr>,
    /// How often peers are looked up again.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            kind: DiscoveryKind::Static,
            seeds: Vec::new(),
            name: String::new(),
            port: 4370,
            nameserver: None,
            interval: Duration::from_secs(5),
        }
    }
}

/// `[cluster.tls]`: this node's certificate and key, and the CA every peer's certificate must
/// chain to (both directions are verified). A peer is checked against the host name of the
/// address it is dialled at, so certificates carry the nodes' DNS names (or IPs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LinkTlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    pub role: Role,
    /// Nodes of different clusters refuse each other at the handshake.
    pub name: String,
    /// Where the cluster link listens.
    pub bind: SocketAddr,
    /// `host:port` other nodes use to reach this one (pods bind 0.0.0.0 and advertise their
    /// stable DNS name). Unset = the node name and the bind port.
    pub advertise: Option<String>,
    /// Shared secret peers prove they know (HMAC challenge/response; never sent).
    #[serde(serialize_with = "redacted_opt")]
    pub secret: Option<String>,
    /// A file holding the secret (first line), e.g. a mounted Kubernetes Secret.
    pub secret_file: Option<PathBuf>,
    /// Mutual TLS on the cluster link (certificates from the cluster's own CA).
    pub tls: Option<LinkTlsConfig>,
    pub discovery: DiscoveryConfig,
    /// Cores wait until this many cores (themselves included) are visible before the lowest
    /// named one initialises a new cluster.
    pub bootstrap_expect: usize,
    /// A replicant unreachable for this long is removed from the membership. Cores are only
    /// ever removed explicitly (`starling ctl cluster forget`).
    #[serde(with = "humantime_serde")]
    pub replicant_timeout: Duration,
    /// Raft leader heartbeat.
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// Raft election timeout (randomised between this and twice this).
    #[serde(with = "humantime_serde")]
    pub election_timeout: Duration,
    /// Applied log entries between catalog snapshots (the log before a snapshot is purged).
    pub snapshot_every: u64,
    /// How long a QoS 1/2 publish waits for remote nodes to confirm they queued it.
    #[serde(with = "humantime_serde")]
    pub forward_timeout: Duration,
    /// How long a node waits for a reconnecting client's previous node to hand its session
    /// over; past it, the subscriptions are restored from the catalog and the messages the old
    /// node holds follow when it is back.
    #[serde(with = "humantime_serde")]
    pub takeover_timeout: Duration,
    /// How long a bridge's lease lasts without a renewal: the node running a bridge renews it
    /// every third of this; when that node dies, another takes the bridge over after this long.
    #[serde(with = "humantime_serde")]
    pub bridge_lease: Duration,
    /// Server Reference sent with DISCONNECT 0x9C ("use another server") when this node drains:
    /// e.g. the client Service's name. Unset: 0x9C without a reference.
    pub server_reference: Option<String>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            role: Role::Core,
            name: "starling".into(),
            bind: SocketAddr::from(([0, 0, 0, 0], 4370)),
            advertise: None,
            secret: None,
            secret_file: None,
            tls: None,
            discovery: DiscoveryConfig::default(),
            bootstrap_expect: 1,
            replicant_timeout: Duration::from_secs(3600),
            heartbeat_interval: Duration::from_millis(200),
            election_timeout: Duration::from_millis(1000),
            snapshot_every: 10_000,
            forward_timeout: Duration::from_secs(5),
            takeover_timeout: Duration::from_secs(3),
            bridge_lease: Duration::from_secs(10),
            server_reference: None,
        }
    }
}

fn redacted_opt<S: serde::Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_some("<redacted secret>"),
        None => s.serialize_none(),
    }
}

/// Why `cluster.secret_file` gave no secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cluster.secret_file {}: cannot read: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cluster.secret_file {}: the secret must be at least 16 characters", path.display())]
    TooShort { path: PathBuf },
}

impl ClusterConfig {
    /// Checks serde cannot express; messages start with the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.name.is_empty() {
            return Err(ConfigError::invalid("cluster.name must not be empty"));
        }
        match (&self.secret, &self.secret_file) {
            (None, None) if self.tls.is_none() => {
                return Err(ConfigError::invalid(
                    "cluster.secret (or cluster.secret_file, or [cluster.tls]) is required: the \
                            cluster link must authenticate its peers",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid("cluster.secret and cluster.secret_file: set only one"));
            }
            (Some(s), None) if s.len() < 16 => {
                return Err(ConfigError::invalid("cluster.secret must be at least 16 characters"));
            }
            _ => {}
        }
        if self.bootstrap_expect == 0 {
            return Err(ConfigError::invalid("cluster.bootstrap_expect must be at least 1"));
        }
        let d = &self.discovery;
        match d.kind {
            DiscoveryKind::Static if d.seeds.is_empty() && self.bootstrap_expect > 1 => {
                return Err(ConfigError::invalid("cluster.discovery.seeds is empty but cluster.bootstrap_expect > 1"));
            }
            DiscoveryKind::DnsSrv | DiscoveryKind::DnsA if d.name.is_empty() => {
                return Err(ConfigError::invalid("cluster.discovery.name is required for DNS discovery"));
            }
            _ => {}
        }
        if d.interval < Duration::from_millis(100) {
            return Err(ConfigError::invalid("cluster.discovery.interval must be at least 100ms"));
        }
        if self.heartbeat_interval.is_zero() || self.election_timeout <= self.heartbeat_interval * 2 {
            return Err(ConfigError::invalid(
                "cluster.election_timeout must be more than twice cluster.heartbeat_interval",
            ));
        }
        if self.bridge_lease < Duration::from_millis(500) {
            return Err(ConfigError::invalid("cluster.bridge_lease must be at least 500ms"));
        }
        if self.snapshot_every < 100 {
            return Err(ConfigError::invalid("cluster.snapshot_every must be at least 100"));
        }
        if let Some(a) = &self.advertise
            && !a.contains(':')
        {
            return Err(ConfigError::invalid(format!("cluster.advertise must be host:port, not {a:?}")));
        }
        Ok(())
    }

    /// The secret: inline, or the first line of `secret_file`. Errors name the file.
    pub fn load_secret(&self) -> Result<Option<String>, SecretError> {
        if let Some(s) = &self.secret {
            return Ok(Some(s.clone()));
        }
        let Some(path) = &self.secret_file else {
            // Validation guarantees [cluster.tls] then.
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|source| SecretError::Read { path: path.clone(), source })?;
        let line = text.lines().next().unwrap_or("").trim().to_string();
        if line.len() < 16 {
            return Err(SecretError::TooShort { path: path.clone() });
        }
        Ok(Some(line))
    }

    /// The address advertised to peers.
    pub fn advertise_addr(&self, node_name: &str) -> String {
        match &self.advertise {
            Some(a) => a.clone(),
            None => format!("{node_name}:{}", self.bind.port()),
        }
    }
}

/// The host's fully qualified name: the canonical name of the `/etc/hosts` line carrying the
/// host name (how a Kubernetes pod of a StatefulSet with a headless Service learns
/// `pod.svc.ns.svc.cluster.local`), else the plain host name.
pub fn host_fqdn() -> String {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    fqdn_from_hosts(&host, &hosts).unwrap_or(host)
}

fn fqdn_from_hosts(host: &str, hosts: &str) -> Option<String> {
    hosts.lines().map(|l| l.split('#').next().unwrap_or("")).find_map(|line| {
        let names: Vec<&str> = line.split_whitespace().skip(1).collect();
        let short = host.split('.').next().unwrap_or(host);
        if names.iter().any(|n| *n == host || n.split('.').next() == Some(short)) {
            names.iter().find(|n| n.contains('.') && n.split('.').next() == Some(short)).map(|n| n.to_string())
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqdn_from_kubernetes_hosts_file() {
        let hosts = "127.0.0.1 localhost\n# comment\n10.1.2.3\tstarling-core-0.starling-headless.mqtt.svc.cluster.local\tstarling-core-0\n";
        assert_eq!(
            fqdn_from_hosts("starling-core-0", hosts).as_deref(),
            Some("starling-core-0.starling-headless.mqtt.svc.cluster.local")
        );
        assert_eq!(fqdn_from_hosts("other", hosts), None);
    }

    #[test]
    fn validation() {
        let mut c = ClusterConfig::default();
        assert!(c.validate().unwrap_err().to_string().contains("cluster.secret"));
        c.secret = Some("short".into());
        assert!(c.validate().unwrap_err().to_string().contains("16"));
        c.secret = Some("0123456789abcdef".into());
        assert!(c.validate().is_ok());
        c.bootstrap_expect = 3;
        assert!(c.validate().unwrap_err().to_string().contains("seeds"));
        c.discovery.kind = DiscoveryKind::DnsSrv;
        assert!(c.validate().unwrap_err().to_string().contains("discovery.name"));
        c.discovery.name = "_cluster._tcp.x".into();
        assert!(c.validate().is_ok());
    }
}
