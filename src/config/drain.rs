//! `[drain]`: how a node sends its clients away before it stops (`starling ctl node drain`,
//! SIGTERM in a cluster), like NATS's lame-duck mode and EMQX's node evacuation.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DrainConfig {
    /// Connected clients are sent away (DISCONNECT 0x9C, "use another server") spread evenly
    /// over this window, so that they do not all reconnect to the other nodes at once. On
    /// SIGTERM the window is cut to half of `--grace`.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// At most this many clients are sent away per second (0 = no limit but the window). When
    /// it makes the evacuation longer than `window`, the rate wins, except against `--grace`.
    pub rate: u32,
    /// After the last client is sent away, how long `ctl node drain --wait` waits for other
    /// nodes to take their sessions over.
    #[serde(with = "humantime_serde")]
    pub takeover: Duration,
}

impl Default for DrainConfig {
    fn default() -> Self {
        DrainConfig { window: Duration::from_secs(10), rate: 500, takeover: Duration::from_secs(5) }
    }
}

impl DrainConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.window.is_zero() {
            return Err(ConfigError::invalid(
                "drain.window must be more than 0 (\"1s\" sends everyone away within a second)",
            ));
        }
        Ok(())
    }
}
