//! Logging with tracing: human-readable text or JSON lines on stderr, filtered by `log.level`
//! unless `RUST_LOG` is set.

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Install the global subscriber. Calling it twice is harmless (the second call is ignored).
pub fn init(cfg: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(with_quiet_deps(&cfg.level)))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match cfg.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
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
