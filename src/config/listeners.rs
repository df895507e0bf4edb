//! `[listeners.<name>]`: the MQTT listeners (TCP, TLS, WebSocket), their TLS and PROXY settings.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ListenerKind {
    /// MQTT over plain TCP (default port 1883).
    Tcp,
    /// MQTT over TLS (8883).
    Tls,
    /// MQTT over WebSocket (8083), MQTT spec section 6.
    Ws,
    /// MQTT over WebSocket over TLS (8084).
    Wss,
}

impl ListenerKind {
    /// The port a listener of this kind binds when `bind` is not given.
    pub fn default_port(self) -> u16 {
        match self {
            ListenerKind::Tcp => 1883,
            ListenerKind::Tls => 8883,
            ListenerKind::Ws => 8083,
            ListenerKind::Wss => 8084,
        }
    }

    /// Whether the connection runs over TLS (`tls`, `wss`).
    pub fn is_tls(self) -> bool {
        matches!(self, ListenerKind::Tls | ListenerKind::Wss)
    }

    /// Whether MQTT is carried in WebSocket frames (`ws`, `wss`).
    pub fn is_websocket(self) -> bool {
        matches!(self, ListenerKind::Ws | ListenerKind::Wss)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ListenerKind::Tcp => "tcp",
            ListenerKind::Tls => "tls",
            ListenerKind::Ws => "ws",
            ListenerKind::Wss => "wss",
        }
    }

    pub(super) fn from_table_name(name: &str) -> Option<ListenerKind> {
        match name {
            "tcp" => Some(ListenerKind::Tcp),
            "tls" => Some(ListenerKind::Tls),
            "ws" => Some(ListenerKind::Ws),
            "wss" => Some(ListenerKind::Wss),
            _ => None,
        }
    }
}

/// Client certificates on a TLS listener.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TlsVerify {
    /// Not asked for.
    #[default]
    None,
    /// Asked for; a client without one is still accepted, one with a bad one is refused.
    Optional,
    /// A client without a certificate verified against `ca` is refused at the handshake.
    Required,
}

/// Which part of a verified client certificate becomes the MQTT username.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CertIdentity {
    #[default]
    None,
    /// The subject's common name.
    Cn,
    /// The first DNS subject alternative name.
    SanDns,
    /// The first e-mail (RFC 822) subject alternative name.
    SanEmail,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ListenerConfig {
    /// Listener type; may be left out when the table's name is the type (`[listeners.tcp]`).
    pub kind: Option<ListenerKind>,
    /// Address to listen on. Unset = 127.0.0.1 on the kind's port (1883 tcp, 8883 tls,
    /// 8083 ws, 8084 wss).
    pub bind: Option<SocketAddr>,
    /// Connections accepted at once; more are closed right after accept (and counted).
    pub max_connections: usize,
    /// Clients without credentials. Unset = allowed only when bound to a loopback address.
    /// A client certificate identity (`cert_identity`) counts as credentials.
    pub allow_anonymous: Option<bool>,
    /// TLS only: the server certificate chain (PEM).
    pub cert: Option<PathBuf>,
    /// TLS only: the server's private key (PEM: PKCS#8, RSA or SEC1).
    pub key: Option<PathBuf>,
    /// TLS only: CA bundle (PEM) client certificates are verified against.
    pub ca: Option<PathBuf>,
    /// TLS only: whether client certificates are asked for.
    pub verify: TlsVerify,
    /// TLS only: use the verified client certificate's identity as the MQTT username.
    pub cert_identity: CertIdentity,
    /// New connections per second from one source address (token bucket); 0 = no limit.
    /// Connections over the rate are closed before CONNECT is read.
    pub max_connection_rate: f64,
    /// Connections one address may open at once before the rate applies; 0 = the rate
    /// rounded up (at least 1).
    pub connection_rate_burst: u32,
    /// TLS only: certificate revocation lists (PEM, one or more) checked against client
    /// certificates; needs `verify`.
    pub crl: Option<PathBuf>,
    /// TLS only: how often the cert/key/ca/crl files are checked for changes (and reloaded
    /// when they change); 0 turns the watch off (SIGHUP still reloads).
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
    /// WebSocket only: the HTTP path the upgrade is accepted on; other paths get 404.
    pub path: String,
    /// Expect a PROXY protocol v1 or v2 header before anything else (before the TLS
    /// handshake); its source address becomes the client's address.
    pub proxy_protocol: bool,
    /// WebSocket only: browser Origins accepted (`"*"`: any). Empty = when the listener admits
    /// anonymous clients, only pages of its own host (`transport::access`).
    pub allowed_origins: Vec<String>,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        Self {
            kind: None,
            bind: None,
            max_connections: 1_000_000,
            allow_anonymous: None,
            cert: None,
            key: None,
            ca: None,
            verify: TlsVerify::None,
            cert_identity: CertIdentity::None,
            max_connection_rate: 0.0,
            connection_rate_burst: 0,
            crl: None,
            reload_interval: Duration::from_secs(5),
            path: "/mqtt".into(),
            proxy_protocol: false,
            allowed_origins: Vec::new(),
        }
    }
}

impl ListenerConfig {
    /// The kind: explicit, else inferred from the table name (`[listeners.wss]`), else tcp.
    pub fn kind_for(&self, name: &str) -> ListenerKind {
        self.kind.or_else(|| ListenerKind::from_table_name(name)).unwrap_or(ListenerKind::Tcp)
    }

    /// The address to bind: explicit, else loopback on the kind's default port.
    pub fn bind_addr(&self, name: &str) -> SocketAddr {
        self.bind.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], self.kind_for(name).default_port())))
    }

    /// The first TLS-only key set on this listener, if any.
    pub(super) fn tls_key_set(&self) -> Option<&'static str> {
        if self.cert.is_some() {
            Some("cert")
        } else if self.key.is_some() {
            Some("key")
        } else if self.ca.is_some() {
            Some("ca")
        } else if self.verify != TlsVerify::None {
            Some("verify")
        } else if self.cert_identity != CertIdentity::None {
            Some("cert_identity")
        } else if self.crl.is_some() {
            Some("crl")
        } else if self.reload_interval != ListenerConfig::default().reload_interval {
            Some("reload_interval")
        } else {
            None
        }
    }
}
