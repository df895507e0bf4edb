//! `[bridges.<name>]`: an edge-to-cloud bridge, this broker acting as an MQTT client of an
//! upstream broker. `out` rules carry local messages upstream (store-and-forward for QoS 1/2),
//! `in` rules carry upstream messages to local subscribers. docs/bridge.md is the reference.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The upstream's MQTT version.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum BridgeProtocol {
    #[serde(rename = "3.1.1")]
    V311,
    #[default]
    #[serde(rename = "5")]
    V5,
}

impl BridgeProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            BridgeProtocol::V311 => "3.1.1",
            BridgeProtocol::V5 => "5",
        }
    }
}

/// What happens to a new QoS 1/2 message for the upstream when the backlog is full.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Overflow {
    /// The oldest backlog message is dropped (counted and logged) to make room.
    #[default]
    DropOldest,
    /// The new message is refused: the local publisher gets an error reason code (MQTT 5) or no
    /// acknowledgement (3.1.1), so it keeps the message and can retry.
    Refuse,
}

impl Overflow {
    pub fn as_str(self) -> &'static str {
        match self {
            Overflow::DropOldest => "drop_oldest",
            Overflow::Refuse => "refuse",
        }
    }
}

/// `[bridges.<name>.tls]`: TLS to the upstream. Absent = plain TCP.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct BridgeTlsConfig {
    /// PEM CA certificates the upstream's certificate must chain to; unset = the system's roots.
    pub ca: Option<PathBuf>,
    /// PEM client certificate chain (mutual TLS); needs `key`.
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    pub key: Option<PathBuf>,
    /// Name checked against the upstream's certificate; unset = the host part of the address.
    pub server_name: Option<String>,
}

/// `[bridges.<name>.backlog]`: bounds of the store-and-forward queue of QoS 1/2 messages.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BacklogConfig {
    pub max_messages: u64,
    /// Total payload + topic bytes; an integer or a size such as "512MiB", "1GiB".
    #[serde(serialize_with = "ser_size", deserialize_with = "de_size")]
    pub max_bytes: u64,
    /// Older messages are dropped (counted as `expired`) instead of sent.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    pub overflow: Overflow,
}

impl Default for BacklogConfig {
    fn default() -> Self {
        BacklogConfig {
            max_messages: 1_000_000,
            max_bytes: 1 << 30,
            max_age: Duration::from_secs(7 * 24 * 3600),
            overflow: Overflow::DropOldest,
        }
    }
}

/// One topic rule (`[[bridges.<name>.out]]` or `[[bridges.<name>.in]]`), Mosquitto's
/// `topic <pattern> <direction> <qos> <local-prefix> <remote-prefix>`: the filter on the source
/// side is the source prefix + `topic`; a matching topic has that prefix replaced by the other
/// side's prefix.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TopicRule {
    pub topic: String,
    /// The highest QoS the message is carried with (lower QoS are kept).
    pub qos: u8,
    pub local_prefix: String,
    pub remote_prefix: String,
    /// Carry the retain flag; false clears it.
    pub retain: bool,
}

impl Default for TopicRule {
    fn default() -> Self {
        TopicRule { topic: "#".into(), qos: 1, local_prefix: String::new(), remote_prefix: String::new(), retain: true }
    }
}

impl TopicRule {
    /// The filter on the local side (for `out`) or upstream side (for `in`).
    pub fn local_filter(&self) -> String {
        format!("{}{}", self.local_prefix, self.topic)
    }

    pub fn remote_filter(&self) -> String {
        format!("{}{}", self.remote_prefix, self.topic)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BridgeConfig {
    /// `host:port` of the upstream, tried in turn; a DNS name stands for all its addresses.
    pub addresses: Vec<String>,
    pub protocol: BridgeProtocol,
    /// The client id upstream; empty = `<node_name>-<bridge name>`.
    pub client_id: String,
    #[serde(with = "humantime_serde")]
    pub keep_alive: Duration,
    /// The upstream session (clean start false) lives this long after the uplink drops.
    #[serde(with = "humantime_serde")]
    pub session_expiry: Duration,
    pub username: Option<String>,
    #[serde(serialize_with = "redacted_opt")]
    pub password: Option<String>,
    /// A file holding the password (first line), e.g. a systemd credential.
    pub password_file: Option<PathBuf>,
    /// Reconnect back-off starts here and doubles (with jitter) up to `reconnect_max`.
    #[serde(with = "humantime_serde")]
    pub reconnect_min: Duration,
    #[serde(with = "humantime_serde")]
    pub reconnect_max: Duration,
    pub tls: Option<BridgeTlsConfig>,
    pub backlog: BacklogConfig,
    pub out: Vec<TopicRule>,
    #[serde(rename = "in")]
    pub inbound: Vec<TopicRule>,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            addresses: Vec::new(),
            protocol: BridgeProtocol::V5,
            client_id: String::new(),
            keep_alive: Duration::from_secs(30),
            session_expiry: Duration::from_secs(24 * 3600),
            username: None,
            password: None,
            password_file: None,
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            tls: None,
            backlog: BacklogConfig::default(),
            out: Vec::new(),
            inbound: Vec::new(),
        }
    }
}

/// A `[bridges.<name>]` table that parses but cannot work: the key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct InvalidBridge {
    pub key: String,
    pub reason: String,
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Result<(), InvalidBridge> {
    Err(InvalidBridge { key: key.into(), reason: reason.into() })
}

impl BridgeConfig {
    /// Checks serde cannot express.
    pub fn validate(&self, name: &str) -> Result<(), InvalidBridge> {
        let k = format!("bridges.{name}");
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return invalid(k, "a bridge name is letters, digits, '-' and '_'");
        }
        if self.addresses.is_empty() {
            return invalid(format!("{k}.addresses"), "at least one upstream \"host:port\" is required");
        }
        for a in &self.addresses {
            if split_host_port(a).is_none() {
                return invalid(
                    format!("{k}.addresses"),
                    format!("{a:?} is not \"host:port\" (IPv6 as \"[::1]:1883\")"),
                );
            }
        }
        if self.client_id.len() > 65535 || self.client_id.contains('\0') {
            return invalid(format!("{k}.client_id"), "must be a valid MQTT string");
        }
        if self.keep_alive > Duration::from_secs(65535) {
            return invalid(format!("{k}.keep_alive"), "cannot exceed 65535s (the protocol's limit)");
        }
        if self.keep_alive.as_secs() == 0 && !self.keep_alive.is_zero() {
            return invalid(format!("{k}.keep_alive"), "is whole seconds: 0 (none) or at least 1s");
        }
        if self.session_expiry.as_secs() > u64::from(u32::MAX) {
            return invalid(format!("{k}.session_expiry"), format!("cannot exceed {}s", u32::MAX));
        }
        if self.password.is_some() && self.password_file.is_some() {
            return invalid(format!("{k}.password"), format!("set only one of it and {k}.password_file"));
        }
        if self.reconnect_min.is_zero() {
            return invalid(format!("{k}.reconnect_min"), "must be positive (a zero back-off is a reconnect storm)");
        }
        if self.reconnect_max < self.reconnect_min {
            return invalid(format!("{k}.reconnect_max"), format!("must be at least {k}.reconnect_min"));
        }
        if let Some(t) = &self.tls {
            if t.cert.is_some() != t.key.is_some() {
                return invalid(
                    format!("{k}.tls.cert"),
                    format!("goes together with {k}.tls.key (a client certificate and its key)"),
                );
            }
            if t.server_name.as_deref() == Some("") {
                return invalid(format!("{k}.tls.server_name"), "must not be empty");
            }
        }
        let b = &self.backlog;
        if b.max_messages == 0 || b.max_bytes == 0 || b.max_age.is_zero() {
            return invalid(format!("{k}.backlog"), "max_messages, max_bytes and max_age must be greater than 0");
        }
        if self.out.is_empty() && self.inbound.is_empty() {
            return invalid(k.clone(), format!("no [[{k}.out]] or [[{k}.in]] rule, the bridge would carry nothing"));
        }
        for (dir, rules) in [("out", &self.out), ("in", &self.inbound)] {
            for (i, r) in rules.iter().enumerate() {
                r.validate(&format!("{k}.{dir}[{i}]"))?;
            }
        }
        Ok(())
    }
}

impl TopicRule {
    fn validate(&self, k: &str) -> Result<(), InvalidBridge> {
        if self.qos > 2 {
            return invalid(format!("{k}.qos"), format!("must be 0, 1 or 2, not {}", self.qos));
        }
        for (key, p) in [("local_prefix", &self.local_prefix), ("remote_prefix", &self.remote_prefix)] {
            if !p.is_empty() && !p.ends_with('/') {
                return invalid(format!("{k}.{key}"), format!("{p:?} must end with '/' (or be empty)"));
            }
            if p.contains(['+', '#', '\0']) {
                return invalid(format!("{k}.{key}"), format!("{p:?} must not contain wildcards"));
            }
            if p.starts_with("$share/") {
                return invalid(format!("{k}.{key}"), format!("{p:?}: shared subscriptions cannot be bridged"));
            }
        }
        match check_filter(&self.topic) {
            Ok(()) => Ok(()),
            Err(e) => invalid(format!("{k}.topic"), format!("{:?}: {e}", self.topic)),
        }
    }
}

/// MQTT 5.0 §4.7 filter syntax (config imports nothing of the crate; `protocol::topic` checks
/// the same again when the bridge subscribes).
fn check_filter(f: &str) -> Result<(), &'static str> {
    if f.is_empty() {
        return Err("a topic filter must not be empty");
    }
    if f.contains('\0') {
        return Err("a topic filter must not contain NUL");
    }
    if f.starts_with("$share/") {
        return Err("shared subscriptions cannot be bridged");
    }
    let levels: Vec<&str> = f.split('/').collect();
    for (i, l) in levels.iter().enumerate() {
        if l.contains('#') && (*l != "#" || i + 1 != levels.len()) {
            return Err("'#' must be the last level and stand alone");
        }
        if l.contains('+') && *l != "+" {
            return Err("'+' must occupy a whole level");
        }
    }
    Ok(())
}

/// `host:port` → (host, port); `[v6]:port` too.
pub fn split_host_port(a: &str) -> Option<(&str, u16)> {
    let (host, port) = a.rsplit_once(':')?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if host.is_empty() || host.contains(char::is_whitespace) {
        return None;
    }
    Some((host, port.parse().ok()?))
}

fn redacted_opt<S: Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_some("<redacted secret>"),
        None => s.serialize_none(),
    }
}

fn ser_size<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(*v)
}

/// An integer number of bytes or a string with a unit: B, KB, MB, GB (powers of 1000) or KiB,
/// MiB, GiB, TiB (powers of 1024).
fn de_size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        N(u64),
        S(String),
    }
    match Size::deserialize(d)? {
        Size::N(n) => Ok(n),
        Size::S(s) => parse_size(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("{s:?} is not a size (e.g. 1048576, \"512MiB\", \"1GiB\")"))
        }),
    }
}

pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(topic: &str, lp: &str, rp: &str) -> TopicRule {
        TopicRule { topic: topic.into(), local_prefix: lp.into(), remote_prefix: rp.into(), ..TopicRule::default() }
    }

    fn bridge() -> BridgeConfig {
        BridgeConfig {
            addresses: vec!["127.0.0.1:1883".into()],
            out: vec![rule("sensors/#", "", "site/gw-1/")],
            ..BridgeConfig::default()
        }
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size("512 MiB"), Some(512 << 20));
        assert_eq!(parse_size("10MB"), Some(10_000_000));
        assert_eq!(parse_size("42"), Some(42));
        assert_eq!(parse_size("1 parsec"), None);
        assert_eq!(parse_size("99999999999TiB"), None);
    }

    #[test]
    fn a_good_bridge_validates() {
        assert_eq!(bridge().validate("cloud"), Ok(()));
    }

    #[test]
    fn bad_bridges_are_refused_with_the_key() {
        let cases: Vec<(BridgeConfig, &str)> = vec![
            (BridgeConfig { addresses: vec![], ..bridge() }, "bridges.cloud.addresses"),
            (BridgeConfig { addresses: vec!["nohost".into()], ..bridge() }, "bridges.cloud.addresses"),
            (BridgeConfig { out: vec![rule("a/#/b", "", "")], ..bridge() }, "bridges.cloud.out[0].topic"),
            (BridgeConfig { out: vec![rule("a+", "", "")], ..bridge() }, "bridges.cloud.out[0].topic"),
            (BridgeConfig { inbound: vec![rule("#", "x", "")], ..bridge() }, "bridges.cloud.in[0].local_prefix"),
            (BridgeConfig { out: vec![rule("#", "", "a/+/")], ..bridge() }, "bridges.cloud.out[0].remote_prefix"),
            (BridgeConfig { out: vec![TopicRule { qos: 3, ..rule("#", "", "") }], ..bridge() }, "out[0].qos"),
            (BridgeConfig { out: vec![], inbound: vec![], ..bridge() }, "no [[bridges.cloud.out]]"),
            (
                BridgeConfig { reconnect_min: Duration::ZERO, ..bridge() },
                "bridges.cloud.reconnect_min: must be positive",
            ),
            (BridgeConfig { password: Some("x".into()), password_file: Some("/p".into()), ..bridge() }, "set only one"),
            (
                BridgeConfig {
                    tls: Some(BridgeTlsConfig { cert: Some("/c".into()), ..BridgeTlsConfig::default() }),
                    ..bridge()
                },
                "tls.cert: goes together with bridges.cloud.tls.key",
            ),
        ];
        for (b, want) in cases {
            let err = b.validate("cloud").expect_err(want);
            assert!(err.to_string().contains(want), "{err} should mention {want:?}");
        }
        assert!(bridge().validate("a b").is_err());
    }

    #[test]
    fn host_port_splits() {
        assert_eq!(split_host_port("core-0.example:8883"), Some(("core-0.example", 8883)));
        assert_eq!(split_host_port("[::1]:1883"), Some(("::1", 1883)));
        assert_eq!(split_host_port("x:99999"), None);
    }
}
