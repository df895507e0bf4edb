//! Transports: listeners and the per-connection task that moves bytes between a socket and
//! its MQTT driver (`crate::mqtt`).

pub(crate) mod access;
pub mod connection;
pub(crate) mod contain;
pub(crate) mod listener;
pub mod proxy;
pub(crate) mod tls;
pub(crate) mod ws;
