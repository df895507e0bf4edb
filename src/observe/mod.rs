//! Observability: the metrics registry and logging setup.

pub mod log;
pub mod metrics;

pub use metrics::{DropReason, Metrics};
