//! Messages for peers that could not confirm them: a QoS ≥ 1 publish forwarded to a node that is
//! down (or cut off) is kept here, on this node's disk, and the publisher is acknowledged — the
//! message is durable, just not yet where it is going. A flusher sends each peer's backlog in
//! order once the peer answers again; while a peer has a backlog, newer messages for it queue
//! behind it, so per-publisher order holds. The receiving node then delivers to its sessions, or
//! hands the messages on with the session if its client moved elsewhere meanwhile.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::catalog::cmd::NodeId;
use crate::storage::{StorageError, Store};

/// A stored message: its key and the encoded message.
pub type Entry = (Vec<u8>, Vec<u8>);

pub struct Outbox {
    store: Store,
    /// Messages waiting per peer.
    pending: Mutex<BTreeMap<NodeId, u64>>,
    /// Messages waiting in all: read on every forward, so kept where no lock is needed.
    held: AtomicU64,
    next_seq: AtomicU64,
    /// Called when a node's backlog begins (its first kept message), outside the lock.
    on_first: std::sync::OnceLock<Box<dyn Fn(NodeId) + Send + Sync>>,
}

fn key(node: NodeId, seq: u64) -> Vec<u8> {
    let mut k = node.to_be_bytes().to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

impl Outbox {
    pub fn open(store: Store) -> Result<Outbox, StorageError> {
        let mut pending = BTreeMap::new();
        let mut max = 0;
        for item in store.outbox.iter() {
            let k = item.key().map_err(StorageError::Read)?;
            if k.len() != 16 {
                continue;
            }
            let node = u64::from_be_bytes(k[..8].try_into().unwrap_or([0; 8]));
            let seq = u64::from_be_bytes(k[8..].try_into().unwrap_or([0; 8]));
            *pending.entry(node).or_insert(0) += 1;
            max = max.max(seq);
        }
        let held = AtomicU64::new(pending.values().sum());
        Ok(Outbox {
            store,
            pending: Mutex::new(pending),
            held,
            next_seq: AtomicU64::new(max + 1),
            on_first: std::sync::OnceLock::new(),
        })
    }

    /// Have `f` called with the node whenever a node's backlog begins. Set once.
    pub fn on_backlog_begins(&self, f: impl Fn(NodeId) + Send + Sync + 'static) {
        let _ = self.on_first.set(Box::new(f));
    }

    pub fn has(&self, node: NodeId) -> bool {
        self.holding() && self.pending.lock().get(&node).is_some_and(|n| *n > 0)
    }

    /// Whether anything is kept for any node.
    pub fn holding(&self) -> bool {
        self.held.load(Ordering::Acquire) > 0
    }

    pub fn total(&self) -> u64 {
        self.held.load(Ordering::Acquire)
    }

    pub fn nodes(&self) -> Vec<NodeId> {
        self.pending.lock().iter().filter(|(_, n)| **n > 0).map(|(k, _)| *k).collect()
    }

    /// Keep a message for `node`.
    pub fn push(&self, node: NodeId, message: &[u8]) -> Result<(), StorageError> {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let mut b = self.store.batch();
        b.insert(&self.store.outbox, key(node, seq), message.to_vec());
        self.store.commit(b)?;
        let first = {
            let mut pending = self.pending.lock();
            let n = pending.entry(node).or_insert(0);
            *n += 1;
            *n == 1
        };
        self.held.fetch_add(1, Ordering::Release);
        if first && let Some(f) = self.on_first.get() {
            f(node);
        }
        Ok(())
    }

    /// The oldest `max` messages for `node`, with their keys.
    pub fn peek(&self, node: NodeId, max: usize) -> Result<Vec<Entry>, StorageError> {
        let mut out = Vec::new();
        for item in self.store.outbox.prefix(node.to_be_bytes()) {
            let (k, v) = item.into_inner().map_err(StorageError::Read)?;
            out.push((k.to_vec(), v.to_vec()));
            if out.len() >= max {
                break;
            }
        }
        Ok(out)
    }

    /// Forget messages the peer confirmed.
    pub fn remove(&self, node: NodeId, keys: &[Vec<u8>]) -> Result<(), StorageError> {
        let mut b = self.store.batch();
        for k in keys {
            b.remove(&self.store.outbox, k.clone());
        }
        self.store.commit(b)?;
        if let Some(n) = self.pending.lock().get_mut(&node) {
            let gone = keys.len().min(*n as usize) as u64;
            *n -= gone;
            self.held.fetch_sub(gone, Ordering::Release);
        }
        Ok(())
    }
}
