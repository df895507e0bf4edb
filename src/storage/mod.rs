//! fjall storage: one database per node under the data dir, one keyspace per table.
//!
//! | keyspace   | key                                   | value                         |
//! |------------|---------------------------------------|-------------------------------|
//! | `sessions` | client id                             | [`crate::broker::session::SessionMeta`] |
//! | `queue`    | client key ++ seq (u64 BE)            | encoded message + delivery    |
//! | `inflight` | client key ++ b'o' ++ pid (u16 BE)    | seq ++ phase (outgoing)       |
//! |            | client key ++ b'r' ++ pid (u16 BE)    | empty (incoming QoS 2 seen)   |
//! | `catalog`  | see `cluster::catalog`                | the replicated catalog        |
//! | `raft_log` | log index (u64 BE)                    | a Raft log entry (JSON)       |
//! | `raft_meta`| `vote`, `committed`, `purged`         | Raft's own state (JSON)       |
//! | `outbox`   | node id (u64 BE) ++ seq (u64 BE)      | encoded message for a peer that was unreachable |
//!
//! A "client key" is the client id prefixed with its u16 length, so a prefix scan for client
//! `ab` never returns client `abc`'s rows. Writes that belong together go in one atomic batch.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use thiserror::Error;

use crate::config::{Compression, StorageConfig, SyncPolicy};

#[derive(Debug, Error)]
pub enum StorageError {
    #[error("cannot open the data directory {path}")]
    Open { path: PathBuf, source: fjall::Error },
    #[error("cannot create the data directory {path}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("storage write failed (disk full or read-only?): {0}")]
    Write(fjall::Error),
    #[error("storage read failed: {0}")]
    Read(fjall::Error),
    #[error("corrupt record in {table}: {reason}")]
    Corrupt { table: &'static str, reason: String },
}

pub type Batch = fjall::OwnedWriteBatch;

/// Handles to the node's keyspaces. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Database,
    pub sessions: Keyspace,
    pub queue: Keyspace,
    pub inflight: Keyspace,
    pub catalog: Keyspace,
    pub raft_log: Keyspace,
    pub raft_meta: Keyspace,
    pub outbox: Keyspace,
    sync: SyncPolicy,
    path: Arc<PathBuf>,
}

impl Store {
    /// Open (or create) the database in `dir`. Errors name the path.
    pub fn open(dir: &Path, cfg: &StorageConfig) -> Result<Store, StorageError> {
        std::fs::create_dir_all(dir).map_err(|source| StorageError::CreateDir { path: dir.into(), source })?;
        let db_path = dir.join("db");
        let open_err = |source| StorageError::Open { path: db_path.clone(), source };
        let db = Database::builder(&db_path)
            .cache_size(cfg.cache_size)
            // The sync policy is ours to apply (see `commit`); fjall would otherwise fsync on
            // its own schedule.
            .manual_journal_persist(true)
            .open()
            .map_err(open_err)?;
        let compression = cfg.compression;
        let opts = move || {
            let o = KeyspaceCreateOptions::default();
            match compression {
                Compression::Lz4 => o,
                Compression::None => o.data_block_compression_policy(fjall::config::CompressionPolicy::disabled()),
            }
        };
        let ks = |name: &str| db.keyspace(name, opts).map_err(open_err);
        Ok(Store {
            sessions: ks("sessions")?,
            queue: ks("queue")?,
            inflight: ks("inflight")?,
            catalog: ks("catalog")?,
            raft_log: ks("raft_log")?,
            raft_meta: ks("raft_meta")?,
            outbox: ks("outbox")?,
            sync: cfg.sync,
            path: Arc::new(dir.to_path_buf()),
            db,
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.path
    }

    pub fn batch(&self) -> Batch {
        self.db.batch()
    }

    /// Commit a batch atomically. With `sync = "always"` the journal is fsynced before this
    /// returns, so the caller may acknowledge; otherwise the data is in the OS page cache (it
    /// survives a process crash) and the interval task fsyncs it.
    pub fn commit(&self, batch: Batch) -> Result<(), StorageError> {
        if batch.is_empty() {
            return Ok(());
        }
        batch.commit().map_err(StorageError::Write)?;
        match self.sync {
            SyncPolicy::Always => self.db.persist(PersistMode::SyncData).map_err(StorageError::Write),
            SyncPolicy::Interval | SyncPolicy::Never => {
                self.db.persist(PersistMode::Buffer).map_err(StorageError::Write)
            }
        }
    }

    /// Commit and fsync whatever the sync policy: Raft's vote and log must be on disk before
    /// the node answers a vote or acknowledges an append.
    pub fn commit_durable(&self, batch: Batch) -> Result<(), StorageError> {
        if !batch.is_empty() {
            batch.commit().map_err(StorageError::Write)?;
        }
        self.db.persist(PersistMode::SyncData).map_err(StorageError::Write)
    }

    /// fsync the journal (interval task, shutdown).
    pub fn sync_now(&self) -> Result<(), StorageError> {
        self.db.persist(PersistMode::SyncAll).map_err(StorageError::Write)
    }

    /// Bytes the database occupies on disk.
    pub fn disk_space(&self) -> u64 {
        self.db.disk_space().unwrap_or(0)
    }
}

/// `len(client) as u16 BE ++ client`.
pub fn client_key(client: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(client.len() + 12);
    // Client ids are limited to 65535 bytes by the protocol (a UTF-8 string's length prefix).
    let len = u16::try_from(client.len()).unwrap_or(u16::MAX);
    k.extend_from_slice(&len.to_be_bytes());
    k.extend_from_slice(client.as_bytes());
    k
}

pub fn queue_key(client: &str, seq: u64) -> Vec<u8> {
    let mut k = client_key(client);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

pub fn inflight_out_key(client: &str, pid: u16) -> Vec<u8> {
    let mut k = client_key(client);
    k.push(b'o');
    k.extend_from_slice(&pid.to_be_bytes());
    k
}

pub fn inflight_in_key(client: &str, pid: u16) -> Vec<u8> {
    let mut k = client_key(client);
    k.push(b'r');
    k.extend_from_slice(&pid.to_be_bytes());
    k
}

/// The sequence number at the end of a queue key.
pub fn seq_of_queue_key(key: &[u8]) -> Option<u64> {
    let tail = key.len().checked_sub(8).and_then(|s| key.get(s..))?;
    let mut a = [0u8; 8];
    a.copy_from_slice(tail);
    Some(u64::from_be_bytes(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_keys_do_not_prefix_each_other() {
        assert!(!client_key("abc").starts_with(&client_key("ab")));
        assert_eq!(seq_of_queue_key(&queue_key("x", 42)), Some(42));
        assert_eq!(seq_of_queue_key(b"short"), None);
    }

    #[test]
    fn open_write_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = StorageConfig::default();
        {
            let s = Store::open(dir.path(), &cfg).expect("open");
            let mut b = s.batch();
            b.insert(&s.queue, queue_key("c", 1), b"one".to_vec());
            s.commit(b).expect("commit");
        }
        let s = Store::open(dir.path(), &cfg).expect("reopen");
        let v = s.queue.get(queue_key("c", 1)).expect("get");
        assert_eq!(v.as_deref(), Some(&b"one"[..]));
    }

    #[test]
    fn unwritable_dir_names_path() {
        let err = Store::open(Path::new("/proc/starling-cannot-exist"), &StorageConfig::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("/proc/starling-cannot-exist"), "{err}");
    }
}
