//! `[storage]`: the data directory and how fjall writes it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// When fjall's journal is fsynced.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SyncPolicy {
    /// Before every acknowledgement that depends on the write.
    Always,
    /// Every `sync_interval`.
    Interval,
    /// Left to the OS.
    Never,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Lz4,
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub sync: SyncPolicy,
    #[serde(with = "humantime_serde")]
    pub sync_interval: Duration,
    pub compression: Compression,
    /// Block cache size in bytes.
    pub cache_size: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            sync: SyncPolicy::Interval,
            sync_interval: Duration::from_millis(100),
            compression: Compression::Lz4,
            cache_size: 32 * 1024 * 1024,
        }
    }
}
