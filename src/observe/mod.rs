//! Observability: the metrics registry, logging setup, and the HTTP admin listener (metrics,
//! probes, REST API), and systemd notifications.

pub mod admin;
pub mod log;
pub mod metrics;
pub mod poll;
pub mod systemd;

pub use metrics::{DropReason, Metrics};
