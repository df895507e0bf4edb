//! `[admin]` and `[log]`: the HTTP admin listener, its keys, and logging.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter (`info`, `starling=debug,warn`); `RUST_LOG` overrides it.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: "info".into(), format: LogFormat::Text }
    }
}

/// `[admin]`: the HTTP admin listener (`/metrics`, `/healthz`, `/readyz`, `/api/v1`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Serve the admin listener at all. Off means no metrics and no probes either.
    pub enabled: bool,
    pub bind: SocketAddr,
    /// Keys accepted as `Authorization: Bearer <key>` on `/api/v1`. Printed redacted by
    /// `config check`, so the effective configuration can be shown without leaking them.
    #[serde(serialize_with = "redacted")]
    pub api_keys: Vec<String>,
    /// A file with one key per line (`#` starts a comment), read at start-up; keeps keys out of
    /// the configuration file and the environment.
    pub api_keys_file: Option<PathBuf>,
    /// Create `api_keys_file` with one random key (mode 0600) at start when it does not exist,
    /// so `starling ctl` on the broker's host works with no flags for whoever may read it.
    pub generate_api_key: bool,
    /// Serve HTTPS with this certificate chain (PEM); unset = plain HTTP. Needs `key`.
    pub cert: Option<PathBuf>,
    /// The private key of `cert` (PEM: PKCS#8, RSA or SEC1).
    pub key: Option<PathBuf>,
    /// CA bundle (PEM) client certificates are verified against (with `verify`).
    pub ca: Option<PathBuf>,
    /// Whether clients of the admin listener must present a certificate signed by `ca`.
    pub verify: TlsVerify,
    /// Certificate revocation lists (PEM) checked against client certificates; needs `verify`.
    pub crl: Option<PathBuf>,
    /// How often cert/key/ca/crl are checked for changes (and reloaded when they change);
    /// 0 turns the watch off (SIGHUP still reloads).
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
    /// A connection that sends or receives nothing for this long is closed: a half-sent
    /// request, an idle keep-alive connection. Must be longer than the slowest request
    /// (`node drain --wait`).
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// At most this many connections are served at once; more wait in the accept queue.
    pub max_connections: usize,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: SocketAddr::from(([127, 0, 0, 1], 18083)),
            api_keys: Vec::new(),
            api_keys_file: None,
            generate_api_key: false,
            cert: None,
            key: None,
            ca: None,
            verify: TlsVerify::None,
            crl: None,
            reload_interval: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            max_connections: 128,
        }
    }
}

impl AdminConfig {
    /// Whether the admin listener serves HTTPS (`admin.cert` is set).
    pub fn tls(&self) -> bool {
        self.cert.is_some()
    }

    /// The TLS keys belong together as on a `tls` listener; errors name the key.
    pub(super) fn validate_tls(&self) -> Result<(), ConfigError> {
        match (&self.cert, &self.key) {
            // Messages start with the key that is set, so the error names the file it is in.
            (Some(_), None) => {
                return Err(ConfigError::invalid(
                    "admin.cert is set without admin.key: HTTPS needs both (admin.key: a PEM private key)",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    "admin.key is set without admin.cert: HTTPS needs both (admin.cert: a PEM chain)",
                ));
            }
            _ => {}
        }
        if self.cert.is_none() {
            let stray = if self.ca.is_some() {
                Some("ca")
            } else if self.verify != TlsVerify::None {
                Some("verify")
            } else if self.crl.is_some() {
                Some("crl")
            } else if self.reload_interval != AdminConfig::default().reload_interval {
                Some("reload_interval")
            } else {
                None
            };
            if let Some(k) = stray {
                return Err(ConfigError::invalid(format!(
                    "admin.{k} only applies with TLS: set admin.cert and admin.key"
                )));
            }
        }
        if self.verify != TlsVerify::None && self.ca.is_none() {
            return Err(ConfigError::invalid("admin.verify = \"optional\" or \"required\" needs admin.ca"));
        }
        if self.crl.is_some() && self.verify == TlsVerify::None {
            return Err(ConfigError::invalid("admin.crl needs admin.verify = \"optional\" or \"required\""));
        }
        Ok(())
    }
}

/// Serialize secrets as placeholders (one per key, so their number still shows). The placeholder
/// contains a space, so a printed configuration fed back in is rejected rather than accepting it
/// as a key.
pub(super) fn redacted<S: serde::Serializer>(keys: &[String], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(keys.len()))?;
    for _ in keys {
        seq.serialize_element("<redacted key>")?;
    }
    seq.end()
}

/// An API key must fit in an HTTP header unchanged: visible ASCII, no spaces.
pub fn valid_api_key(k: &str) -> bool {
    !k.is_empty() && k.bytes().all(|b| b.is_ascii_graphic())
}
