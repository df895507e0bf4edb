//! Silent-peer detection on the dialer's side of a link connection. A peer cut off without a
//! TCP reset leaves the connection open and simply stops answering; without this, the first
//! forwarded QoS ≥ 1 publish would wait the whole `forward_timeout` before the outbox takes over,
//! and its publisher's acknowledgements with it. So while answers are owed (requests or publish
//! confirmations outstanding) and none has come for [`PROBE_AFTER`], the connection is probed
//! with an empty request (every version of the peer answers it, with an error, from a task of
//! its own, so a busy publish path does not delay the answer); after [`SILENT_AFTER`] without
//! any frame the connection is given up, which fails everything waiting on it at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Owed answers, and none for this long: probe.
pub const PROBE_AFTER: Duration = Duration::from_millis(300);
/// Owed answers, and no frame at all for this long: the peer is gone.
pub const SILENT_AFTER: Duration = Duration::from_millis(1000);
const TICK: Duration = Duration::from_millis(100);
/// A request body larger than this (a snapshot chunk, 3 MB by default) may take longer than
/// [`SILENT_AFTER`] to cross a slow link: while one is outstanding, silence is not judged.
pub const BULKY: usize = 256 * 1024;

/// When the connection last heard from its peer.
pub struct Heard {
    epoch: Instant,
    ms: AtomicU64,
}

impl Heard {
    pub fn new() -> Arc<Heard> {
        Arc::new(Heard { epoch: Instant::now(), ms: AtomicU64::new(0) })
    }

    /// A frame arrived (or nothing was owed, so silence meant nothing).
    pub fn now(&self) {
        self.ms.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn age(&self) -> Duration {
        self.epoch.elapsed().saturating_sub(Duration::from_millis(self.ms.load(Ordering::Relaxed)))
    }
}

/// Returns once the peer has been silent for [`SILENT_AFTER`] while `owed()` said answers were
/// due; calls `probe()` at most once per [`PROBE_AFTER`] before that. Runs until then (the
/// connection's task aborts it when the connection ends for another reason).
pub async fn silent(heard: Arc<Heard>, owed: impl Fn() -> bool, probe: impl Fn()) {
    let mut probed: Option<Instant> = None;
    loop {
        tokio::time::sleep(TICK).await;
        if !owed() {
            heard.now();
            probed = None;
            continue;
        }
        let age = heard.age();
        if age >= SILENT_AFTER {
            return;
        }
        if age >= PROBE_AFTER && probed.is_none_or(|p| p.elapsed() >= PROBE_AFTER) {
            probe();
            probed = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[tokio::test]
    async fn silence_counts_only_while_answers_are_owed() {
        let heard = Heard::new();
        let owed = Arc::new(AtomicBool::new(false));
        let probes = Arc::new(AtomicU64::new(0));
        let task = {
            let (heard, owed, probes) = (heard.clone(), owed.clone(), probes.clone());
            tokio::spawn(async move {
                silent(
                    heard,
                    move || owed.load(Ordering::Relaxed),
                    move || {
                        probes.fetch_add(1, Ordering::Relaxed);
                    },
                )
                .await
            })
        };
        // Idle for longer than SILENT_AFTER: nothing is owed, so nothing happens.
        tokio::time::sleep(SILENT_AFTER * 2).await;
        assert!(!task.is_finished());
        assert_eq!(probes.load(Ordering::Relaxed), 0);
        // Owed, answers keep coming: still alive.
        owed.store(true, Ordering::Relaxed);
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            heard.now();
        }
        assert!(!task.is_finished());
        // Owed and silent: probed, then given up within SILENT_AFTER plus a tick.
        tokio::time::sleep(SILENT_AFTER + TICK * 2).await;
        assert!(task.is_finished());
        assert!(probes.load(Ordering::Relaxed) >= 1);
    }
}
