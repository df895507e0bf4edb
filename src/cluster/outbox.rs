//! Messages for peers that could not confirm them: a QoS ≥ 1 publish forwarded to a node that is
//! down (or cut off) is kept here, on this node's disk, and the publisher is acknowledged — the
//! message is durable, just not yet where it is going. A flusher sends each peer's backlog in
//! order once the peer answers again; while a peer has a backlog, newer messages for it queue
//! behind it, so per-publisher order holds. The receiving node then delivers to its sessions, or
//! hands the messages on with the session if its client moved elsewhere meanwhile; while the
//! peer does not answer, what is kept for its clients that resumed elsewhere follows them
//! (`replicated/follow.rs`).

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

    /// Up to `max` messages for `node` after the one with key `after` (from the oldest without).
    pub fn after(&self, node: NodeId, after: Option<&[u8]>, max: usize) -> Result<Vec<Entry>, StorageError> {
        let Some(after) = after else { return self.peek(node, max) };
        let prefix = node.to_be_bytes();
        let mut out = Vec::new();
        for item in self.store.outbox.range(after.to_vec()..) {
            let (k, v) = item.into_inner().map_err(StorageError::Read)?;
            if !k.starts_with(&prefix) {
                break;
            }
            if *k == *after {
                continue;
            }
            out.push((k.to_vec(), v.to_vec()));
            if out.len() >= max {
                break;
            }
        }
        Ok(out)
    }

    /// Replace a kept message (it travels with a changed list of clients to skip). A message
    /// delivered and removed meanwhile stays removed.
    pub fn replace(&self, key: &[u8], message: &[u8]) -> Result<(), StorageError> {
        if self.store.outbox.get(key).map_err(StorageError::Read)?.is_none() {
            return Ok(());
        }
        let mut b = self.store.batch();
        b.insert(&self.store.outbox, key.to_vec(), message.to_vec());
        self.store.commit(b)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox() -> (tempfile::TempDir, Outbox) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), &crate::config::StorageConfig::default()).expect("store");
        (dir, Outbox::open(store).expect("outbox"))
    }

    #[test]
    fn after_reads_one_nodes_messages_past_a_key_and_replace_keeps_removed_ones_removed() {
        let (_d, o) = outbox();
        for (node, m) in [(1, "a"), (2, "x"), (1, "b"), (1, "c"), (3, "y")] {
            o.push(node, m.as_bytes()).expect("push");
        }
        let all = o.after(1, None, 10).expect("read");
        let vals: Vec<&[u8]> = all.iter().map(|(_, v)| v.as_slice()).collect();
        assert_eq!(vals, [b"a", b"b", b"c"]);
        let rest = o.after(1, Some(&all[0].0), 10).expect("read");
        assert_eq!(rest.iter().map(|(_, v)| v.as_slice()).collect::<Vec<_>>(), [b"b", b"c"]);
        assert_eq!(o.after(1, Some(&all[1].0), 1).expect("read").len(), 1);
        assert!(o.after(1, Some(&all[2].0), 10).expect("read").is_empty(), "nothing of node 2 or 3");
        o.replace(&all[1].0, b"B").expect("replace");
        o.remove(1, &[all[2].0.clone()]).expect("remove");
        o.replace(&all[2].0, b"C").expect("replace");
        let now: Vec<Vec<u8>> = o.peek(1, 10).expect("read").into_iter().map(|(_, v)| v).collect();
        assert_eq!(now, [b"a".to_vec(), b"B".to_vec()]);
        assert_eq!(o.total(), 4);
    }
}
