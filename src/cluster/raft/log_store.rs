//! The Raft log in fjall: entries in `raft_log` keyed by index (u64 big-endian, so key order is
//! log order), and the vote, committed and purged log ids in `raft_meta`. Every write is fsynced
//! before it is reported done, whatever `storage.sync` says: Raft's safety depends on it.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, OptionalSend, RaftLogReader, Vote};

use super::{LogId, RaftStorageError, TypeConfig, io_err};
use crate::catalog::cmd::NodeId;
use crate::storage::Store;

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const PURGED: &[u8] = b"purged";

#[derive(Clone)]
pub struct LogStore {
    store: Store,
}

impl LogStore {
    pub fn new(store: Store) -> LogStore {
        LogStore { store }
    }

    fn meta<T: for<'de> serde::Deserialize<'de>>(&self, key: &[u8]) -> Result<Option<T>, RaftStorageError> {
        match self.store.raft_meta.get(key).map_err(|e| io_err("read raft meta", e))? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v).map(Some).map_err(|e| io_err("decode raft meta", e)),
        }
    }

    fn put_meta<T: serde::Serialize>(&self, key: &[u8], v: &T) -> Result<(), RaftStorageError> {
        let bytes = serde_json::to_vec(v).map_err(|e| io_err("encode raft meta", e))?;
        let mut b = self.store.batch();
        b.insert(&self.store.raft_meta, key.to_vec(), bytes);
        self.store.commit_durable(b).map_err(|e| io_err("write raft meta", e))
    }

    /// Whether this node has ever been part of a cluster (a vote or a log entry exists).
    pub fn is_initialized(&self) -> bool {
        let vote: Option<Vote<NodeId>> = self.meta(VOTE).ok().flatten();
        vote.is_some() || self.store.raft_log.first_key_value().is_some()
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, RaftStorageError> {
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(i) => Bound::Included(i.to_be_bytes().to_vec()),
            Bound::Excluded(i) => Bound::Excluded(i.to_be_bytes().to_vec()),
            Bound::Unbounded => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for item in self.store.raft_log.range((Bound::Included(start.to_be_bytes().to_vec()), end)) {
            let v = item.value().map_err(|e| io_err("read raft log", e))?;
            out.push(serde_json::from_slice(&v).map_err(|e| io_err("decode raft log entry", e))?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, RaftStorageError> {
        let last_purged_log_id: Option<LogId> = self.meta(PURGED)?;
        let last = match self.store.raft_log.last_key_value() {
            None => None,
            Some(kv) => {
                let v = kv.value().map_err(|e| io_err("read raft log", e))?;
                let e: Entry<TypeConfig> =
                    serde_json::from_slice(&v).map_err(|e| io_err("decode raft log entry", e))?;
                Some(e.log_id)
            }
        };
        Ok(LogState { last_purged_log_id, last_log_id: last.or(last_purged_log_id) })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), RaftStorageError> {
        self.put_meta(VOTE, vote)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, RaftStorageError> {
        self.meta(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), RaftStorageError> {
        self.put_meta(COMMITTED, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, RaftStorageError> {
        Ok(self.meta::<Option<LogId>>(COMMITTED)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), RaftStorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut b = self.store.batch();
        for e in entries {
            let v = serde_json::to_vec(&e).map_err(|e| io_err("encode raft log entry", e))?;
            b.insert(&self.store.raft_log, e.log_id.index.to_be_bytes().to_vec(), v);
        }
        let r = self.store.commit_durable(b).map_err(|e| std::io::Error::other(e.to_string()));
        let failed = r.as_ref().err().map(|e| e.to_string());
        callback.log_io_completed(r);
        match failed {
            Some(e) => Err(io_err("append raft log", e)),
            None => Ok(()),
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), RaftStorageError> {
        self.remove_range(Bound::Included(log_id.index), Bound::Unbounded)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), RaftStorageError> {
        self.put_meta(PURGED, &log_id)?;
        self.remove_range(Bound::Unbounded, Bound::Included(log_id.index))
    }
}

impl LogStore {
    fn remove_range(&self, from: Bound<u64>, to: Bound<u64>) -> Result<(), RaftStorageError> {
        let conv = |b: Bound<u64>| match b {
            Bound::Included(i) => Bound::Included(i.to_be_bytes().to_vec()),
            Bound::Excluded(i) => Bound::Excluded(i.to_be_bytes().to_vec()),
            Bound::Unbounded => Bound::Unbounded,
        };
        let mut b = self.store.batch();
        for item in self.store.raft_log.range((conv(from), conv(to))) {
            let k = item.key().map_err(|e| io_err("read raft log", e))?;
            b.remove(&self.store.raft_log, k.to_vec());
        }
        self.store.commit_durable(b).map_err(|e| io_err("trim raft log", e))
    }
}
