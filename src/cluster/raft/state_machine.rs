//! The Raft state machine: committed entries go to [`Catalog::apply_batch`], together with the
//! applied log id and the membership, in one atomic write — so after a crash the catalog and
//! "what was applied" can never disagree.
//!
//! A snapshot is the whole catalog keyspace ([`Catalog::export`]); the latest one is kept in
//! `raft_meta` so lagging or new nodes can be sent it and the log before it purged.

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{Entry, EntryPayload, OptionalSend, RaftSnapshotBuilder};

use super::{CatalogReply, LogId, Member, Membership, RaftStorageError, TypeConfig, io_err};
use crate::catalog::Catalog;
use crate::catalog::cmd::{CatalogCmd, NodeId};
use crate::storage::Store;

const APPLIED: &str = "raft_applied";
const MEMBERSHIP: &str = "raft_membership";
const SNAP_META: &[u8] = b"snapshot_meta";
const SNAP_DATA: &[u8] = b"snapshot_data";

#[derive(Clone)]
pub struct StateMachine {
    catalog: Arc<Catalog>,
    store: Store,
    /// Last applied index, for metrics and readiness (read without the state machine's lock).
    applied: Arc<AtomicU64>,
}

impl StateMachine {
    pub fn new(catalog: Arc<Catalog>, store: Store) -> StateMachine {
        let sm = StateMachine { catalog, store, applied: Arc::new(AtomicU64::new(0)) };
        if let Ok((Some(id), _)) = sm.read_applied() {
            sm.applied.store(id.index, Ordering::Relaxed);
        }
        sm
    }

    pub fn applied_index(&self) -> Arc<AtomicU64> {
        self.applied.clone()
    }

    fn read_applied(&self) -> Result<(Option<LogId>, Membership), RaftStorageError> {
        let applied = match self.catalog.meta(APPLIED).map_err(|e| io_err("read applied", e))? {
            Some(v) => serde_json::from_slice(&v).map_err(|e| io_err("decode applied", e))?,
            None => None,
        };
        let membership = match self.catalog.meta(MEMBERSHIP).map_err(|e| io_err("read membership", e))? {
            Some(v) => serde_json::from_slice(&v).map_err(|e| io_err("decode membership", e))?,
            None => Membership::default(),
        };
        Ok((applied, membership))
    }

    fn save_snapshot(&self, meta: &SnapshotMeta<NodeId, Member>, data: &[u8]) -> Result<(), RaftStorageError> {
        let m = serde_json::to_vec(meta).map_err(|e| io_err("encode snapshot meta", e))?;
        let mut b = self.store.batch();
        b.insert(&self.store.raft_meta, SNAP_META.to_vec(), m);
        b.insert(&self.store.raft_meta, SNAP_DATA.to_vec(), data.to_vec());
        self.store.commit_durable(b).map_err(|e| io_err("write snapshot", e))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, RaftStorageError> {
        let (data, meta) = self.catalog.export(&[APPLIED, MEMBERSHIP]).map_err(|e| io_err("export catalog", e))?;
        let applied_raw = meta.first().cloned().flatten();
        let membership_raw = meta.get(1).cloned().flatten();
        let last_log_id: Option<LogId> = match applied_raw {
            Some(v) => serde_json::from_slice(&v).map_err(|e| io_err("decode applied", e))?,
            None => None,
        };
        let last_membership: Membership = match membership_raw {
            Some(v) => serde_json::from_slice(&v).map_err(|e| io_err("decode membership", e))?,
            None => Membership::default(),
        };
        let snapshot_id = match &last_log_id {
            Some(l) => format!("{}-{}-{}", l.leader_id.term, l.index, rand::random::<u32>()),
            None => format!("empty-{}", rand::random::<u32>()),
        };
        let meta = SnapshotMeta { last_log_id, last_membership, snapshot_id };
        self.save_snapshot(&meta, &data)?;
        tracing::debug!(bytes = data.len(), last = ?meta.last_log_id, "catalog snapshot built");
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, Membership), RaftStorageError> {
        self.read_applied()
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CatalogReply>, RaftStorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let (mut applied, mut membership) = self.read_applied()?;
        let mut cmds: Vec<CatalogCmd> = Vec::new();
        // How many commands each entry contributed, to split the results back per entry.
        let mut per_entry = Vec::new();
        for e in entries {
            applied = Some(e.log_id);
            match e.payload {
                EntryPayload::Blank => per_entry.push(0),
                EntryPayload::Normal(w) => {
                    per_entry.push(w.0.len());
                    cmds.extend(w.0);
                }
                EntryPayload::Membership(m) => {
                    membership = Membership::new(Some(e.log_id), m);
                    per_entry.push(0);
                }
            }
        }
        let meta = [
            (APPLIED, serde_json::to_vec(&applied).map_err(|e| io_err("encode applied", e))?),
            (MEMBERSHIP, serde_json::to_vec(&membership).map_err(|e| io_err("encode membership", e))?),
        ];
        let mut results = self.catalog.apply_batch(&cmds, &meta).map_err(|e| io_err("apply catalog", e))?.into_iter();
        if let Some(a) = applied {
            self.applied.store(a.index, Ordering::Relaxed);
        }
        Ok(per_entry.into_iter().map(|n| CatalogReply(results.by_ref().take(n).collect())).collect())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, RaftStorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, Member>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), RaftStorageError> {
        let data = snapshot.into_inner();
        self.catalog.import(&data).map_err(|e| io_err("install catalog snapshot", e))?;
        // The snapshot's own metadata is what the catalog now reflects.
        let extra = [
            (APPLIED, serde_json::to_vec(&meta.last_log_id).map_err(|e| io_err("encode applied", e))?),
            (MEMBERSHIP, serde_json::to_vec(&meta.last_membership).map_err(|e| io_err("encode membership", e))?),
        ];
        self.catalog.apply_batch(&[], &extra).map_err(|e| io_err("record snapshot", e))?;
        if let Some(l) = meta.last_log_id {
            self.applied.store(l.index, Ordering::Relaxed);
        }
        self.save_snapshot(meta, &data)?;
        tracing::info!(bytes = data.len(), last = ?meta.last_log_id, "catalog snapshot installed");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, RaftStorageError> {
        let Some(m) = self.store.raft_meta.get(SNAP_META).map_err(|e| io_err("read snapshot", e))? else {
            return Ok(None);
        };
        let meta: SnapshotMeta<NodeId, Member> =
            serde_json::from_slice(&m).map_err(|e| io_err("decode snapshot meta", e))?;
        let data = self.store.raft_meta.get(SNAP_DATA).map_err(|e| io_err("read snapshot", e))?.map(|d| d.to_vec());
        Ok(Some(Snapshot { meta, snapshot: Box::new(Cursor::new(data.unwrap_or_default())) }))
    }
}
