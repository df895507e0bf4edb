//! Value types the configuration parses and the layers above share: the password hash
//! algorithm and IP networks (ban lists). They live here so that config imports nothing of the
//! crate.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The algorithm new hashes are made with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HashAlgorithm {
    #[default]
    Argon2id,
    Pbkdf2Sha256,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0:?} is neither an IP address nor a CIDR network")]
pub struct BadNetwork(pub String);

/// `10.0.0.0/8`, `2001:db8::/32` or a bare address (a /32 or /128), normalized: host bits
/// cleared, IPv4-mapped IPv6 as IPv4.
pub fn parse_network(s: &str) -> Result<IpNet, BadNetwork> {
    let net = match s.parse::<IpNet>() {
        Ok(n) => n,
        Err(_) => match s.parse::<IpAddr>() {
            Ok(ip) => IpNet::from(ip.to_canonical()),
            Err(_) => return Err(BadNetwork(s.to_string())),
        },
    };
    Ok(net.trunc())
}
