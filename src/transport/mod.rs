//! Transports: listeners and the per-connection task that moves bytes between a socket and
//! its MQTT driver (`crate::mqtt`).

pub mod access;
pub mod connection;
pub mod contain;
pub mod listener;
pub mod proxy;
pub mod tls;
pub mod ws;
