//! Logging with tracing: human-readable text or JSON lines on stderr, filtered by `log.level`
//! unless `RUST_LOG` is set. Under systemd (`JOURNAL_STREAM` is set, i.e. stderr goes to the
//! journal) events go to journald natively instead, with their fields and priority; if the
//! journald socket cannot be opened, stderr is used and a warning says so.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogConfig, LogFormat};

/// Install the global subscriber. Calling it twice is harmless (the second call is ignored).
pub fn init(cfg: &LogConfig) {
    let journal = std::env::var_os("JOURNAL_STREAM").is_some_and(|v| !v.is_empty());
    let mut fallback = None;
    if journal {
        match tracing_journald::layer() {
            Ok(layer) => {
                let _ = tracing_subscriber::registry().with(filter(cfg)).with(layer).try_init();
                return;
            }
            Err(e) => fallback = Some(e),
        }
    }
    let builder = tracing_subscriber::fmt().with_env_filter(filter(cfg)).with_writer(std::io::stderr);
    let _ = match cfg.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if let Some(e) = fallback {
        tracing::warn!("JOURNAL_STREAM is set but the journald socket cannot be opened ({e}); logging to stderr");
    }
}

/// `RUST_LOG`, else `log.level` (with noisy dependencies quieted), else `info`.
fn filter(cfg: &LogConfig) -> EnvFilter {
    EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(with_quiet_deps(&cfg.level)))
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

/// The storage engine logs every table flush at INFO; keep that out of an operator's log unless
/// the filter names it.
fn with_quiet_deps(level: &str) -> String {
    let mut f = level.to_string();
    for dep in ["fjall", "lsm_tree"] {
        if !f.contains(dep) {
            f.push_str(&format!(",{dep}=warn"));
        }
    }
    f
}
