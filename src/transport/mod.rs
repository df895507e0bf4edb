//! Transports: listeners and the per-connection task that speaks MQTT over them.

pub mod access;
pub mod connection;
pub mod contain;
pub mod listener;
pub mod proxy;
pub mod tls;
pub mod ws;
