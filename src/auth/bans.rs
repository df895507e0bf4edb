//! Bans by client id, username and source network.
//!
//! Three sources, checked together: the configuration (`[bans]`, read-only at run time), the
//! replicated catalog (added and deleted through the admin API, optionally expiring; applied
//! through [`CatalogCmd::SetBan`](crate::catalog::cmd::CatalogCmd) so a cluster shares them)
//! and flapping detection (temporary, local to the node that saw the flapping).

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use parking_lot::{Mutex, RwLock};
use serde::Serialize;

use crate::catalog::Catalog;
use crate::catalog::cmd::{BanKind, BanRecord};
use crate::config::{BadNetwork, BansConfig, parse_network};
use crate::protocol::message::now_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BanSource {
    Config,
    Api,
    Flapping,
}

/// One ban, wherever it comes from (for listings).
#[derive(Debug, Clone)]
pub struct BanView {
    pub kind: BanKind,
    pub value: String,
    pub source: BanSource,
    pub record: BanRecord,
}

/// The value a ban is stored under: networks normalized, names as given.
pub fn normalize(kind: BanKind, value: &str) -> Result<String, BanValueError> {
    match kind {
        BanKind::Network => Ok(parse_network(value)?.to_string()),
        _ if value.is_empty() => Err(BanValueError::Empty),
        _ if value.len() > 65535 => Err(BanValueError::TooLong),
        _ => Ok(value.to_string()),
    }
}

/// Why a ban's value cannot be stored.
#[derive(Debug, thiserror::Error)]
pub enum BanValueError {
    #[error(transparent)]
    Network(#[from] BadNetwork),
    #[error("the value must not be empty")]
    Empty,
    #[error("the value is longer than 65535 bytes")]
    TooLong,
}

pub struct Bans {
    config_ids: Vec<(BanKind, String)>,
    config_nets: Vec<IpNet>,
    /// Flapping bans: (kind, value) → record (with `until_ms`).
    temporary: Mutex<HashMap<(BanKind, String), BanRecord>>,
    /// Catalog network bans parsed once per catalog change.
    nets: RwLock<(u64, Vec<(IpNet, BanRecord)>)>,
}

impl Bans {
    /// From the configuration (already validated).
    pub fn new(cfg: &BansConfig) -> Bans {
        let mut config_ids: Vec<(BanKind, String)> =
            cfg.client_ids.iter().map(|c| (BanKind::ClientId, c.clone())).collect();
        config_ids.extend(cfg.usernames.iter().map(|u| (BanKind::Username, u.clone())));
        Bans {
            config_ids,
            config_nets: cfg.networks.iter().filter_map(|n| parse_network(n).ok()).collect(),
            temporary: Mutex::new(HashMap::new()),
            nets: RwLock::new((u64::MAX, Vec::new())),
        }
    }

    /// Whether a connection from `ip` is banned (before anything is read from it).
    pub fn network_banned(&self, ip: IpAddr, catalog: &Catalog) -> bool {
        let ip = ip.to_canonical();
        if self.config_nets.iter().any(|n| n.contains(&ip)) {
            return true;
        }
        let now = now_ms();
        if self.temp_active(BanKind::Network, &IpNet::from(ip).to_string(), now) {
            return true;
        }
        let version = catalog.bans_version();
        {
            let g = self.nets.read();
            if g.0 == version {
                return g.1.iter().any(|(n, r)| r.active(now) && n.contains(&ip));
            }
        }
        let fresh: Vec<(IpNet, BanRecord)> = catalog
            .bans()
            .into_iter()
            .filter(|(k, _, _)| *k == BanKind::Network)
            .filter_map(|(_, v, r)| parse_network(&v).ok().map(|n| (n, r)))
            .collect();
        let hit = fresh.iter().any(|(n, r)| r.active(now) && n.contains(&ip));
        *self.nets.write() = (version, fresh);
        hit
    }

    /// Whether a client id or username is banned.
    pub fn banned(&self, kind: BanKind, value: &str, catalog: &Catalog) -> bool {
        let now = now_ms();
        self.config_ids.iter().any(|(k, v)| *k == kind && v == value)
            || self.temp_active(kind, value, now)
            || catalog.ban(kind, value).is_some_and(|r| r.active(now))
    }

    fn temp_active(&self, kind: BanKind, value: &str, now: u64) -> bool {
        let mut t = self.temporary.lock();
        if t.is_empty() {
            return false;
        }
        match t.get(&(kind, value.to_string())) {
            Some(r) if r.active(now) => true,
            Some(_) => {
                t.remove(&(kind, value.to_string()));
                false
            }
            None => false,
        }
    }

    /// A temporary ban (flapping detection).
    pub fn add_temporary(&self, kind: BanKind, value: String, record: BanRecord) {
        let mut t = self.temporary.lock();
        let now = now_ms();
        t.retain(|_, r| r.active(now));
        t.insert((kind, value), record);
    }

    /// Drop a temporary ban; true if there was one.
    pub fn remove_temporary(&self, kind: BanKind, value: &str) -> bool {
        self.temporary.lock().remove(&(kind, value.to_string())).is_some()
    }

    pub fn in_config(&self, kind: BanKind, value: &str) -> bool {
        match kind {
            BanKind::Network => parse_network(value).is_ok_and(|n| self.config_nets.contains(&n)),
            _ => self.config_ids.iter().any(|(k, v)| *k == kind && v == value),
        }
    }

    /// Every ban in force, sorted by kind then value.
    pub fn list(&self, catalog: &Catalog) -> Vec<BanView> {
        let now = now_ms();
        let config = BanRecord { reason: Some("configuration".into()), created_ms: 0, until_ms: None };
        let mut out: Vec<BanView> = self
            .config_ids
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .chain(self.config_nets.iter().map(|n| (BanKind::Network, n.to_string())))
            .map(|(kind, value)| BanView { kind, value, source: BanSource::Config, record: config.clone() })
            .collect();
        out.extend(catalog.bans().into_iter().filter(|(_, _, r)| r.active(now)).map(|(kind, value, record)| BanView {
            kind,
            value,
            source: BanSource::Api,
            record,
        }));
        out.extend(self.temporary.lock().iter().filter(|(_, r)| r.active(now)).map(|((kind, value), record)| {
            BanView { kind: *kind, value: value.clone(), source: BanSource::Flapping, record: record.clone() }
        }));
        out.sort_by(|a, b| (a.kind, &a.value, a.source as u8).cmp(&(b.kind, &b.value, b.source as u8)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_and_match() {
        let n = parse_network("10.1.2.3/8").expect("cidr");
        assert_eq!(n.to_string(), "10.0.0.0/8");
        assert!(n.contains(&"10.200.0.1".parse::<IpAddr>().expect("ip")));
        assert!(!n.contains(&"11.0.0.1".parse::<IpAddr>().expect("ip")));
        let host = parse_network("192.0.2.7").expect("address");
        assert_eq!(host.to_string(), "192.0.2.7/32");
        let v6 = parse_network("2001:db8::1/32").expect("v6");
        assert_eq!(v6.to_string(), "2001:db8::/32");
        assert!(v6.contains(&"2001:db8:ffff::2".parse::<IpAddr>().expect("ip")));
        assert_eq!(parse_network("::ffff:192.0.2.7").expect("mapped").to_string(), "192.0.2.7/32");
        assert!(parse_network("10.0.0.0/33").is_err());
        assert!(parse_network("example.com").is_err());
        assert!(parse_network("").is_err());
    }

    #[test]
    fn mapped_peer_addresses_match_ipv4_bans() {
        let n = parse_network("192.0.2.0/24").expect("cidr");
        let mapped: IpAddr = "::ffff:192.0.2.9".parse().expect("ip");
        assert!(!n.contains(&mapped), "ipnet itself does not unmap");
        assert!(n.contains(&mapped.to_canonical()), "which is why peers are canonicalized first");
    }

    #[test]
    fn records_expire() {
        let r = BanRecord { reason: None, created_ms: 0, until_ms: Some(1000) };
        assert!(r.active(999) && !r.active(1000));
        assert!(BanRecord { reason: None, created_ms: 0, until_ms: None }.active(u64::MAX));
    }

    #[test]
    fn normalize_values() {
        assert_eq!(normalize(BanKind::Network, "10.0.0.9/24").expect("ok"), "10.0.0.0/24");
        assert!(normalize(BanKind::ClientId, "").is_err());
        assert_eq!(normalize(BanKind::Username, "a b").expect("ok"), "a b");
    }
}
