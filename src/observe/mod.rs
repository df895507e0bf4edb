//! Observability: the metrics registry, logging setup, and the HTTP admin listener (metrics,
//! probes, REST API).

pub mod admin;
pub mod log;
pub mod metrics;

pub use metrics::{DropReason, Metrics};
