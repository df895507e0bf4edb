//! Who a listener lets in without credentials, decided by the client's real address (checked at
//! CONNECT by `mqtt::anonymous_for`), and which web pages may open a WebSocket to it
//! (docs/security.md):
//!
//! - A listener whose `allow_anonymous` is unset admits anonymous clients only when it is bound
//!   to loopback **and** the client's address — the PROXY header's source when the listener
//!   reads one — is loopback too: a local proxy must not make remote clients look local.
//! - A browser sends `Origin` with every WebSocket upgrade, and any page may open one to
//!   `ws://127.0.0.1`. When `allowed_origins` is empty and the listener admits anonymous
//!   clients, a browser Origin is accepted only when its host is the listener's own (its bind
//!   address; `localhost` and loopback addresses for a loopback bind; the request's `Host`
//!   for a wildcard bind). `allowed_origins` lists what is accepted instead (`"*"`: any).
//!   Clients that send no Origin (every non-browser client) are not affected.

use std::net::{IpAddr, SocketAddr};

/// The Origin check of one WebSocket listener.
#[derive(Debug, Clone, Default)]
pub struct OriginPolicy {
    /// `allowed_origins`, normalised (lower case, no trailing `/`); empty = the default.
    allowed: Vec<String>,
    /// The default applies (no `allowed_origins`) and the listener admits anonymous clients.
    same_host_only: bool,
    /// The listener's own host names; empty for a wildcard bind (then: the `Host` header).
    own_hosts: Vec<String>,
}

impl OriginPolicy {
    pub fn new(allowed_origins: &[String], bind: SocketAddr, anonymous: bool) -> OriginPolicy {
        let ip = bind.ip().to_canonical();
        let mut own_hosts = Vec::new();
        if !ip.is_unspecified() {
            own_hosts.push(host_of_ip(ip));
        }
        if ip.is_loopback() {
            own_hosts.extend(["localhost".into(), "127.0.0.1".into(), "[::1]".into()]);
        }
        OriginPolicy {
            allowed: allowed_origins.iter().map(|o| normalise(o)).collect(),
            same_host_only: allowed_origins.is_empty() && anonymous,
            own_hosts,
        }
    }

    /// Whether an upgrade with these `Origin` and `Host` header values is accepted.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else { return true };
        let origin = normalise(origin);
        if !self.allowed.is_empty() {
            return self.allowed.iter().any(|a| a == "*" || *a == origin);
        }
        if !self.same_host_only {
            return true;
        }
        // `scheme://host[:port]`; "null" (sandboxed pages, files) has no host and is refused.
        let Some(origin_host) = origin.split_once("://").map(|(_, rest)| strip_port(rest)) else {
            return false;
        };
        if self.own_hosts.is_empty() {
            return host.is_some_and(|h| strip_port(&h.to_ascii_lowercase()) == origin_host);
        }
        self.own_hosts.iter().any(|h| h == origin_host)
    }
}

fn normalise(o: &str) -> String {
    o.trim().trim_end_matches('/').to_ascii_lowercase()
}

fn host_of_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// `host[:port]` → `host` (an IPv6 host keeps its brackets).
fn strip_port(hostport: &str) -> &str {
    if hostport.starts_with('[') {
        return hostport.find(']').map_or(hostport, |i| &hostport[..=i]);
    }
    hostport.rsplit_once(':').map_or(hostport, |(h, _)| h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::anonymous_for;

    fn sa(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    #[test]
    fn implicit_anonymous_needs_a_loopback_client() {
        let remote: IpAddr = "203.0.113.9".parse().expect("ip");
        let local: IpAddr = "127.0.0.1".parse().expect("ip");
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().expect("ip");
        assert!(!anonymous_for(true, true, remote));
        assert!(anonymous_for(true, true, local) && anonymous_for(true, true, mapped));
        assert!(anonymous_for(true, false, remote), "configured explicitly: the operator decided");
        assert!(!anonymous_for(false, false, local));
    }

    #[test]
    fn default_origin_policy_on_an_anonymous_loopback_listener() {
        let p = OriginPolicy::new(&[], sa("127.0.0.1:8083"), true);
        assert!(p.allows(None, Some("127.0.0.1:8083")), "no Origin: not a browser");
        assert!(p.allows(Some("http://localhost:3000"), Some("localhost:8083")));
        assert!(p.allows(Some("http://127.0.0.1:8083"), None));
        assert!(p.allows(Some("http://[::1]:8083"), None));
        assert!(!p.allows(Some("http://evil.example"), Some("127.0.0.1:8083")));
        // DNS rebinding: the page's host resolves to 127.0.0.1, but it is not the listener's.
        assert!(!p.allows(Some("http://evil.example:8083"), Some("evil.example:8083")));
        assert!(!p.allows(Some("null"), None));
        // Credentials required: the default does not check.
        assert!(OriginPolicy::new(&[], sa("127.0.0.1:8083"), false).allows(Some("http://evil.example"), None));
    }

    #[test]
    fn wildcard_bind_compares_with_the_host_header_and_lists_win() {
        let p = OriginPolicy::new(&[], sa("0.0.0.0:8083"), true);
        assert!(p.allows(Some("https://mqtt.example.com"), Some("MQTT.example.com:8083")));
        assert!(!p.allows(Some("https://evil.example"), Some("mqtt.example.com")));
        let list = vec!["https://app.example.com/".to_string()];
        let p = OriginPolicy::new(&list, sa("127.0.0.1:8083"), true);
        assert!(p.allows(Some("https://APP.example.com"), None));
        assert!(!p.allows(Some("http://localhost"), None), "the list replaces the default");
        assert!(OriginPolicy::new(&["*".into()], sa("127.0.0.1:1"), true).allows(Some("http://x"), None));
    }
}
