//! Configuration: figment layers (embedded defaults < TOML file < `STARLING_*` environment <
//! command-line flags) deserialized into [`Config`], then [`Config::validate`]d.
//!
//! Every struct denies unknown fields, so a typo is an error that names the key and the layer it
//! came from (figment attaches both to the error). Defaults live only here, in the `Default`
//! impls, never scattered through the code.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use thiserror::Error;

mod admin;
mod auth;
pub mod bridge;
pub mod cluster;
pub mod drain;
pub mod env;
pub mod keys;
mod listeners;
mod mqtt;
mod storage;
pub use admin::*;
pub use auth::*;
pub use bridge::BridgeConfig;
pub use cluster::{ClusterConfig, DiscoveryConfig, DiscoveryKind, Role, SecretError};
pub use drain::DrainConfig;
pub use listeners::*;
pub use mqtt::*;
pub use storage::*;
pub mod values;
pub use values::{BadNetwork, HashAlgorithm, parse_network};

/// Where the TOML file is looked for when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/starling/starling.toml";

#[derive(Debug, Error)]
pub enum ConfigError {
    /// Names the key and the source (file, environment variable).
    #[error("{0}")]
    Figment(String),
    #[error("config file {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl ConfigError {
    /// A value the checks refuse; `msg` starts with the key.
    pub(crate) fn invalid(msg: impl Into<String>) -> ConfigError {
        ConfigError::Invalid(msg.into())
    }
}

impl From<figment::Error> for ConfigError {
    fn from(e: figment::Error) -> Self {
        ConfigError::Figment(e.into_iter().map(|e| describe(&e)).collect::<Vec<_>>().join("; "))
    }
}

/// Append where the offending value came from; validation messages start with the key.
fn with_origin(fig: &Figment, msg: String) -> String {
    let key = msg.split_whitespace().next().unwrap_or("").trim_end_matches(':');
    let Some(meta) = fig.find_metadata(key) else { return msg };
    let origin = if meta.name.contains("environment") {
        format!("environment variable STARLING_{}", key.replace('.', "__").to_uppercase())
    } else {
        match &meta.source {
            Some(figment::Source::File(p)) => format!("file {}", p.display()),
            _ => meta.name.to_string(),
        }
    };
    format!("{msg} (in {origin})")
}

/// One figment error as an operator wants to read it: what is wrong, the key, and where the
/// value came from (the file path, or the exact environment variable).
fn describe(e: &figment::Error) -> String {
    let key = e.path.join(".").to_lowercase();
    let source = match &e.metadata {
        Some(m) if m.name.contains("environment") => {
            format!("environment variable STARLING_{}", e.path.join("__").to_uppercase())
        }
        Some(m) => match &m.source {
            Some(figment::Source::File(p)) => format!("file {}", p.display()),
            _ => m.name.to_string(),
        },
        None => "configuration".to_string(),
    };
    if key.is_empty() { format!("{} (in {source})", e.kind) } else { format!("key `{key}`: {} (in {source})", e.kind) }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Stable node name; empty = the host's name.
    pub node_name: String,
    /// Where sessions, queues and the catalog are kept.
    pub data_dir: PathBuf,
    /// Named listener tables: `[listeners.<name>]`.
    pub listeners: BTreeMap<String, ListenerConfig>,
    pub mqtt: MqttConfig,
    pub session: SessionConfig,
    pub storage: StorageConfig,
    pub sys: SysConfig,
    pub log: LogConfig,
    pub admin: AdminConfig,
    /// `[cluster]`; absent = a cluster of one.
    pub cluster: Option<ClusterConfig>,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub bans: BansConfig,
    pub flapping: FlappingConfig,
    pub drain: DrainConfig,
    /// `[bridges.<name>]`: upstream brokers this one relays to and from (docs/bridge.md).
    pub bridges: BTreeMap<String, BridgeConfig>,
}

impl Default for Config {
    fn default() -> Self {
        let mut listeners = BTreeMap::new();
        // Spelled out so `config check` shows where the default broker listens.
        let tcp = ListenerConfig { bind: Some(SocketAddr::from(([127, 0, 0, 1], 1883))), ..ListenerConfig::default() };
        listeners.insert("tcp".to_string(), tcp);
        Self {
            node_name: String::new(),
            data_dir: PathBuf::from("./starling-data"),
            listeners,
            mqtt: MqttConfig::default(),
            session: SessionConfig::default(),
            storage: StorageConfig::default(),
            sys: SysConfig::default(),
            log: LogConfig::default(),
            admin: AdminConfig::default(),
            cluster: None,
            auth: AuthConfig::default(),
            limits: LimitsConfig::default(),
            bans: BansConfig::default(),
            flapping: FlappingConfig::default(),
            drain: DrainConfig::default(),
            bridges: BTreeMap::new(),
        }
    }
}

/// Command-line flags that override everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    /// Bind address of the plain TCP listener `[listeners.tcp]`.
    pub bind: Option<SocketAddr>,
}

/// Which file to read: the explicit one must exist; the default path is optional.
pub fn config_file(explicit: Option<&Path>) -> Option<PathBuf> {
    match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => {
            let p = PathBuf::from(DEFAULT_CONFIG_PATH);
            p.exists().then_some(p)
        }
    }
}

impl Config {
    /// Build the layered configuration. `file` must exist if given.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        Self::load_with_env(file, overrides, env::layer())
    }

    /// Parse the layers without the cross-key checks: for `starling ctl`, which only needs the
    /// admin address and key file, and runs without the broker's secrets (e.g. a cluster secret
    /// that only the service's environment file holds).
    pub fn load_unchecked(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::figment(file, &Overrides::default(), env::layer())?.extract().map_err(Into::into)
    }

    fn figment(file: Option<&Path>, overrides: &Overrides, env: Env) -> Result<Figment, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            std::fs::metadata(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
            fig = fig.merge(Toml::file_exact(path));
        }
        fig = fig.merge(env.lowercase(true));
        if let Some(d) = &overrides.data_dir {
            fig = fig.merge(("data_dir", d));
        }
        if let Some(b) = overrides.bind {
            fig = fig.merge(("listeners.tcp.bind", b.to_string()));
        }
        Ok(fig)
    }

    fn load_with_env(file: Option<&Path>, overrides: &Overrides, env: Env) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            // Toml::file silently skips a missing file; an explicit path must exist.
            std::fs::metadata(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
            fig = fig.merge(Toml::file_exact(path));
        }
        fig = fig.merge(env.lowercase(true));
        if let Some(d) = &overrides.data_dir {
            fig = fig.merge(("data_dir", d));
        }
        if let Some(b) = overrides.bind {
            fig = fig.merge(("listeners.tcp.bind", b.to_string()));
        }
        let cfg: Config = fig.extract()?;
        cfg.validate().map_err(|e| match e {
            ConfigError::Invalid(msg) => ConfigError::Invalid(with_origin(&fig, msg)),
            other => other,
        })?;
        Ok(cfg)
    }

    /// Checks serde cannot express; errors name the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.listeners.is_empty() {
            return bad("no listeners configured: add at least one [listeners.<name>] table".into());
        }
        let mut seen = std::collections::HashSet::new();
        for (name, l) in &self.listeners {
            if l.kind.is_none() && ListenerKind::from_table_name(name).is_none() {
                return bad(format!(
                    "listeners.{name}.kind is required (tcp, tls, ws or wss) when the table name is not the kind"
                ));
            }
            let kind = l.kind_for(name);
            if kind.is_tls() {
                if l.cert.is_none() {
                    return bad(format!(
                        "listeners.{name}.cert is required on a {} listener (a PEM chain)",
                        kind.as_str()
                    ));
                }
                if l.key.is_none() {
                    return bad(format!(
                        "listeners.{name}.key is required on a {} listener (a PEM private key)",
                        kind.as_str()
                    ));
                }
                if l.verify != TlsVerify::None && l.ca.is_none() {
                    return bad(format!(
                        "listeners.{name}.verify = \"optional\" or \"required\" needs listeners.{name}.ca"
                    ));
                }
                if l.cert_identity != CertIdentity::None && l.verify == TlsVerify::None {
                    return bad(format!(
                        "listeners.{name}.cert_identity needs listeners.{name}.verify = \"optional\" or \"required\""
                    ));
                }
                if l.crl.is_some() && l.verify == TlsVerify::None {
                    return bad(format!(
                        "listeners.{name}.crl needs listeners.{name}.verify = \"optional\" or \"required\""
                    ));
                }
            } else if let Some(key) = l.tls_key_set() {
                return bad(format!("listeners.{name}.{key} only applies to tls and wss listeners"));
            }
            if kind.is_websocket() {
                if !l.path.starts_with('/') || l.path.contains(char::is_whitespace) {
                    return bad(format!(
                        "listeners.{name}.path must be an absolute HTTP path such as \"/mqtt\", not {:?}",
                        l.path
                    ));
                }
            } else if l.path != ListenerConfig::default().path {
                return bad(format!("listeners.{name}.path only applies to ws and wss listeners"));
            }
            let bind = l.bind_addr(name);
            // Port 0 asks the OS for a free port each time: never a clash.
            if bind.port() != 0 && !seen.insert(bind) {
                return bad(format!("listeners.{name}.bind: {bind} is used by another listener"));
            }
            if l.max_connections == 0 {
                return bad(format!("listeners.{name}.max_connections must be at least 1"));
            }
            if !l.max_connection_rate.is_finite() || l.max_connection_rate < 0.0 {
                return bad(format!("listeners.{name}.max_connection_rate must be a number >= 0 (0 = no limit)"));
            }
        }
        let m = &self.mqtt;
        if m.max_qos > 2 {
            return bad(format!("mqtt.max_qos must be 0, 1 or 2, not {}", m.max_qos));
        }
        if m.receive_maximum == 0 {
            return bad("mqtt.receive_maximum must be at least 1".into());
        }
        if m.max_packet_size < 64 {
            return bad("mqtt.max_packet_size must be at least 64 bytes".into());
        }
        if m.max_packet_size > 268_435_455 {
            return bad("mqtt.max_packet_size cannot exceed 268435455 (the protocol's limit)".into());
        }
        if m.max_topic_length == 0 || m.max_topic_levels == 0 {
            return bad("mqtt.max_topic_length and mqtt.max_topic_levels must be at least 1".into());
        }
        if m.write_timeout.is_zero() {
            return bad("mqtt.write_timeout must be positive".into());
        }
        if m.connect_timeout.is_zero() {
            return bad("mqtt.connect_timeout must be positive".into());
        }
        let s = &self.session;
        if s.max_inflight == 0 || s.max_queued == 0 || s.memory_window == 0 {
            return bad("session.max_inflight, session.max_queued and session.memory_window must be at least 1".into());
        }
        if self.storage.sync == SyncPolicy::Interval && self.storage.sync_interval.is_zero() {
            return bad("storage.sync_interval must be positive when storage.sync = \"interval\"".into());
        }
        if self.sys.enabled && self.sys.interval < Duration::from_secs(1) {
            return bad("sys.interval must be at least 1s".into());
        }
        // Port 0 asks the OS for a free port each time: never a clash.
        if self.admin.enabled
            && self.admin.bind.port() != 0
            && let Some((name, _)) = self.listeners.iter().find(|(n, l)| l.bind_addr(n) == self.admin.bind)
        {
            return bad(format!("admin.bind: {} is used by listeners.{name}", self.admin.bind));
        }
        if self.admin.api_keys.iter().any(|k| !valid_api_key(k)) {
            return bad("admin.api_keys: a key must be non-empty visible ASCII without spaces".into());
        }
        self.admin.validate_tls()?;
        if self.admin.max_connections == 0 || self.admin.idle_timeout.is_zero() {
            return bad("admin.max_connections and admin.idle_timeout must be greater than 0".into());
        }
        self.drain.validate()?;
        for (name, b) in &self.bridges {
            b.validate(name).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        }
        self.validate_security()?;
        if self.data_dir.as_os_str().is_empty() {
            return bad("data_dir must not be empty".into());
        }
        if let Some(c) = &self.cluster {
            c.validate()?;
            if let Some((name, _)) = self.listeners.iter().find(|(n, l)| l.bind_addr(n) == c.bind) {
                return bad(format!("cluster.bind: {} is used by listeners.{name}", c.bind));
            }
        }
        Ok(())
    }

    /// `[auth]`, `[limits]`, `[bans]`, `[flapping]`.
    fn validate_security(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let a = &self.auth;
        if a.chain.is_empty() {
            return bad("auth.chain must name at least one method (cert, password, anonymous)".into());
        }
        if let Some(m) = a.chain.iter().enumerate().find_map(|(i, m)| a.chain[..i].contains(m).then_some(m)) {
            return bad(format!("auth.chain lists {m:?} twice"));
        }
        let l = &self.limits;
        if !l.max_messages_per_second.is_finite() || l.max_messages_per_second < 0.0 {
            return bad("limits.max_messages_per_second must be a number >= 0 (0 = no limit)".into());
        }
        for n in &self.bans.networks {
            if let Err(e) = parse_network(n) {
                return bad(format!("bans.networks: {e}"));
            }
        }
        if self.bans.client_ids.iter().chain(&self.bans.usernames).any(|v| v.is_empty()) {
            return bad("bans.client_ids and bans.usernames: an entry must not be empty".into());
        }
        let f = &self.flapping;
        if f.enabled {
            if f.max_connects < 2 {
                return bad("flapping.max_connects must be at least 2".into());
            }
            if f.window.is_zero() || f.ban_time.is_zero() {
                return bad("flapping.window and flapping.ban_time must be positive".into());
            }
        }
        Ok(())
    }

    /// Whether listener `l` admits clients without credentials: its own setting, else
    /// `auth.allow_anonymous`, else only on a loopback bind.
    pub fn anonymous_allowed(&self, l: &ListenerConfig) -> bool {
        // An unset `bind` is loopback.
        l.allow_anonymous.or(self.auth.allow_anonymous).unwrap_or_else(|| l.bind.is_none_or(|b| b.ip().is_loopback()))
    }

    /// The node name to use: configured, else the host's fully qualified name (stable for a
    /// StatefulSet pod).
    pub fn effective_node_name(&self) -> String {
        if !self.node_name.is_empty() {
            return self.node_name.clone();
        }
        cluster::host_fqdn()
    }

    /// The configuration as TOML, for `starling config check`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render configuration: {e}\n"))
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;

    fn no_env() -> Env {
        Env::prefixed("STARLING_TEST_UNUSED_PREFIX_").split("__")
    }

    #[test]
    fn defaults_are_a_working_loopback_broker() {
        let c = Config::load_with_env(None, &Overrides::default(), no_env()).expect("defaults");
        assert_eq!(c.listeners["tcp"].bind, Some("127.0.0.1:1883".parse().expect("addr")));
        assert!(c.anonymous_allowed(&c.listeners["tcp"]));
        let mut off = c.clone();
        off.auth.allow_anonymous = Some(false);
        assert!(!off.anonymous_allowed(&off.listeners["tcp"]), "auth.allow_anonymous is the default");
        off.listeners.get_mut("tcp").expect("tcp").allow_anonymous = Some(true);
        assert!(off.anonymous_allowed(&off.listeners["tcp"]), "the listener's own setting wins");
        assert_eq!(c.data_dir, PathBuf::from("./starling-data"));
    }

    #[test]
    fn layers_file_env_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "s.toml",
                "data_dir = \"/from/file\"\n[mqtt]\nmax_qos = 1\n[listeners.tcp]\nbind = \"127.0.0.1:1900\"\n",
            )?;
            jail.set_env("STARLING_LISTENERS__TCP__BIND", "0.0.0.0:1901");
            jail.set_env("STARLING_MQTT__RECEIVE_MAXIMUM", "7");
            let env = Env::prefixed("STARLING_").split("__");
            let c = Config::load_with_env(Some(Path::new("s.toml")), &Overrides::default(), env.clone())
                .map_err(|e| e.to_string())?;
            assert_eq!(c.data_dir, PathBuf::from("/from/file"));
            assert_eq!(c.mqtt.max_qos, 1);
            assert_eq!(c.mqtt.receive_maximum, 7);
            assert_eq!(c.listeners["tcp"].bind_addr("tcp").to_string(), "0.0.0.0:1901");
            assert!(!c.anonymous_allowed(&c.listeners["tcp"]));
            let o = Overrides { data_dir: Some("/flag".into()), bind: Some("127.0.0.1:1902".parse().expect("addr")) };
            let c = Config::load_with_env(Some(Path::new("s.toml")), &o, env).map_err(|e| e.to_string())?;
            assert_eq!(c.data_dir, PathBuf::from("/flag"));
            assert_eq!(c.listeners["tcp"].bind_addr("tcp").to_string(), "127.0.0.1:1902");
            Ok(())
        });
    }

    #[test]
    fn unknown_key_names_key_and_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "[mqtt]\nmax_qoss = 1\n")?;
            let err = Config::load_with_env(Some(Path::new("bad.toml")), &Overrides::default(), no_env())
                .expect_err("unknown key must fail")
                .to_string();
            assert!(err.contains("max_qoss"), "{err}");
            assert!(err.contains("bad.toml"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn bad_env_value_names_variable() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("STARLING_MQTT__MAX_QOS", "lots");
            let err = Config::load_with_env(None, &Overrides::default(), Env::prefixed("STARLING_").split("__"))
                .expect_err("bad value must fail")
                .to_string();
            assert!(err.contains("max_qos"), "{err}");
            assert!(err.contains("STARLING_MQTT__MAX_QOS"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn validation_names_key() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("v.toml", "[mqtt]\nmax_qos = 3\n")?;
            let err = Config::load_with_env(Some(Path::new("v.toml")), &Overrides::default(), no_env())
                .expect_err("must fail")
                .to_string();
            assert!(err.contains("mqtt.max_qos"), "{err}");
            assert!(err.contains("v.toml"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let err = Config::load_with_env(Some(Path::new("/nonexistent/s.toml")), &Overrides::default(), no_env())
            .expect_err("must fail")
            .to_string();
        assert!(err.contains("/nonexistent/s.toml"), "{err}");
    }

    #[test]
    fn listener_kinds_default_ports_and_keys() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "l.toml",
                "[listeners.ws]\n[listeners.wss]\ncert = \"c.pem\"\nkey = \"k.pem\"\n\
                 [listeners.edge]\nkind = \"tls\"\ncert = \"c.pem\"\nkey = \"k.pem\"\nproxy_protocol = true\n",
            )?;
            let c = Config::load_with_env(Some(Path::new("l.toml")), &Overrides::default(), no_env())
                .map_err(|e| e.to_string())?;
            let port = |n: &str| c.listeners[n].bind_addr(n).port();
            assert_eq!((port("tcp"), port("edge"), port("ws"), port("wss")), (1883, 8883, 8083, 8084));
            assert_eq!(c.listeners["wss"].kind_for("wss"), ListenerKind::Wss);
            assert_eq!(c.listeners["ws"].path, "/mqtt");
            assert!(c.listeners["edge"].proxy_protocol);
            assert!(c.anonymous_allowed(&c.listeners["ws"]), "an unset bind is loopback");
            Ok(())
        });
    }

    #[test]
    fn listener_validation_names_the_key() {
        let with = |name: &str, l: ListenerConfig| {
            let mut c = Config::default();
            c.listeners.insert(name.into(), l);
            c.validate().err().map(|e| e.to_string()).unwrap_or_default()
        };
        let tls = || ListenerConfig { cert: Some("c".into()), key: Some("k".into()), ..ListenerConfig::default() };
        let e = with("web", ListenerConfig { kind: Some(ListenerKind::Ws), path: "mqtt".into(), ..Default::default() });
        assert!(e.contains("listeners.web.path"), "{e}");
        let e =
            with("plain", ListenerConfig { kind: Some(ListenerKind::Tcp), path: "/ws".into(), ..Default::default() });
        assert!(e.contains("listeners.plain.path only applies"), "{e}");
        let e = with("wss", ListenerConfig { crl: Some("crl.pem".into()), ..tls() });
        assert!(e.contains("listeners.wss.crl needs"), "{e}");
        let e = with("ws", ListenerConfig { cert: Some("c".into()), ..Default::default() });
        assert!(e.contains("listeners.ws.cert only applies to tls and wss"), "{e}");
        let e = with("wss", ListenerConfig::default());
        assert!(e.contains("listeners.wss.cert is required on a wss listener"), "{e}");
        let e = with(
            "other",
            ListenerConfig { bind: Some(SocketAddr::from(([127, 0, 0, 1], 1883))), ..Default::default() },
        );
        assert!(e.contains("listeners.other.kind is required"), "{e}");
        let e =
            with("ws", ListenerConfig { bind: Some(SocketAddr::from(([127, 0, 0, 1], 1883))), ..Default::default() });
        assert!(e.contains("1883 is used by another listener"), "{e}");
        assert_eq!(with("ws", ListenerConfig::default()), "", "ws on its default port 8083");
    }

    #[test]
    fn admin_tls_keys_go_together() {
        let with = |f: &dyn Fn(&mut AdminConfig)| {
            let mut c = Config::default();
            f(&mut c.admin);
            c.validate().err().map(|e| e.to_string()).unwrap_or_default()
        };
        let tls = |a: &mut AdminConfig| {
            a.cert = Some("c.pem".into());
            a.key = Some("k.pem".into());
        };
        assert_eq!(with(&tls), "");
        assert!(with(&|a| a.cert = Some("c".into())).contains("admin.cert is set without admin.key"));
        assert!(with(&|a| a.key = Some("k".into())).contains("admin.key is set without admin.cert"));
        assert!(with(&|a| a.ca = Some("ca".into())).contains("admin.ca only applies with TLS"));
        let e = with(&|a| {
            tls(a);
            a.verify = TlsVerify::Required;
        });
        assert!(e.contains("needs admin.ca"), "{e}");
        let e = with(&|a| {
            tls(a);
            a.ca = Some("ca".into());
            a.crl = Some("crl".into());
        });
        assert!(e.contains("admin.crl needs admin.verify"), "{e}");
        let mut c = Config::default();
        c.admin.bind = "127.0.0.1:0".parse().expect("addr");
        c.listeners.get_mut("tcp").expect("tcp").bind = Some("127.0.0.1:0".parse().expect("addr"));
        assert!(c.validate().is_ok(), "port 0 is never a clash");
    }

    #[test]
    fn example_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/starling.example.toml");
        let c = Config::load_with_env(Some(&path), &Overrides::default(), no_env());
        assert!(c.is_ok(), "{:?}", c.err().map(|e| e.to_string()));
    }
}
