//! The link's counters, exported as metrics (`starling_cluster_link_*`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Counters of the link, exported as metrics.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Forwarded publishes and their bytes, per peer address (kept when a connection is
    /// replaced, so the counters never go back).
    forwarded: Mutex<HashMap<String, Arc<PeerCounters>>>,
    pub received_messages: AtomicU64,
    /// Frames carrying publishes (`PUBLISH` or `PUBLISHES`) written to peers, and the flushes
    /// that wrote them: messages per frame and per write.
    pub publish_frames_sent: AtomicU64,
    pub writes: AtomicU64,
    /// Frames carrying publishes received from peers, and the socket reads of the incoming
    /// connections: messages per frame and per read.
    pub publish_frames_received: AtomicU64,
    pub reads: AtomicU64,
    /// Reads after which the reader yielded because a subscriber it fed has a backlog.
    pub congested_reads: AtomicU64,
    /// Forwarded publishes delivered by the link's delivering task instead of the reader: they
    /// arrived behind one whose delivery had to wait (the slow path, a copy and a hand-off each).
    pub deferred_messages: AtomicU64,
    pub errors: AtomicU64,
    pub refused_peers: AtomicU64,
}

/// Publishes forwarded to one peer address and their bytes.
#[derive(Debug, Default)]
pub(super) struct PeerCounters {
    pub(super) messages: AtomicU64,
    pub(super) bytes: AtomicU64,
}

impl LinkStats {
    /// (peer address, publishes, bytes) for every peer forwarded to.
    pub fn forwarded(&self) -> Vec<(String, u64, u64)> {
        let f = self.forwarded.lock();
        f.iter()
            .map(|(a, c)| (a.clone(), c.messages.load(Ordering::Relaxed), c.bytes.load(Ordering::Relaxed)))
            .collect()
    }

    pub(super) fn counters(&self, addr: &str) -> Arc<PeerCounters> {
        self.forwarded.lock().entry(addr.to_string()).or_default().clone()
    }
}
