//! Bridge leases: which node runs bridge NAME (docs/bridge.md, "In a cluster").
//!
//! A row per bridge: the holder, an epoch that changes whenever the holder does (a node that
//! sees another epoch than the one it acquired has lost the lease and stops its link), and a
//! version that changes on every write. No wall clock is involved, so clock skew between
//! nodes cannot give the lease to two of them: the holder renews (a new version) well within
//! the lease time, measured from *before* it sent the renewal, and stops its link when a
//! renewal has not committed by then; another node takes the lease only after it has seen the
//! same version for the whole lease time on its own monotonic clock, and only with a
//! compare-and-set on that version ([`LeaseAction::Acquire`]). Commands are applied in log
//! order, so of several nodes taking over at once exactly one wins.

use serde::{Deserialize, Serialize};

use crate::catalog::cmd::NodeId;

/// The lease of one bridge as the catalog keeps it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRow {
    /// The node running the bridge; `None` once released (drain, stop).
    pub holder: Option<NodeId>,
    /// Changes whenever the holder changes (the fencing token).
    pub epoch: u64,
    /// Changes on every write (acquire, renew, release): what others watch for liveness.
    pub version: u64,
}

/// What a node asks of a bridge's lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaseAction {
    /// Take the lease if nobody holds it, if this node holds it already (a restart: the
    /// epoch stays, its previous run is gone), or if the row is still at `seen` (the holder
    /// did not renew for the whole lease time, or it left the membership).
    Acquire { seen: u64 },
    /// The holder extends its lease; refused unless it still holds `epoch`.
    Renew { epoch: u64 },
    /// The holder gives the lease up at once (drain, stop) so another node need not wait.
    Release { epoch: u64 },
}

/// Apply `action` of `node` to `row` (absent: never held). Deterministic; the row after it.
pub fn apply(row: Option<LeaseRow>, node: NodeId, action: LeaseAction) -> LeaseRow {
    let row = row.unwrap_or_default();
    let mut next = row;
    match action {
        LeaseAction::Acquire { seen } => {
            if row.holder == Some(node) {
                next.version += 1;
            } else if row.holder.is_none() || row.version == seen {
                next.holder = Some(node);
                next.epoch += 1;
                next.version += 1;
            }
        }
        LeaseAction::Renew { epoch } => {
            if row.holder == Some(node) && row.epoch == epoch {
                next.version += 1;
            }
        }
        LeaseAction::Release { epoch } => {
            if row.holder == Some(node) && row.epoch == epoch {
                next.holder = None;
                next.version += 1;
            }
        }
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_acquire_wins_and_others_need_the_version_they_saw() {
        let r = apply(None, 1, LeaseAction::Acquire { seen: 0 });
        assert_eq!(r, LeaseRow { holder: Some(1), epoch: 1, version: 1 });
        // Node 2 saw nothing yet (version 0): refused.
        assert_eq!(apply(Some(r), 2, LeaseAction::Acquire { seen: 0 }), r);
        let renewed = apply(Some(r), 1, LeaseAction::Renew { epoch: 1 });
        assert_eq!(renewed, LeaseRow { holder: Some(1), epoch: 1, version: 2 });
        // A take-over based on the version before the renewal fails: the holder is alive.
        assert_eq!(apply(Some(renewed), 2, LeaseAction::Acquire { seen: 1 }), renewed);
        // Based on the current version (unchanged for the lease time): node 2 gets it.
        let taken = apply(Some(renewed), 2, LeaseAction::Acquire { seen: 2 });
        assert_eq!(taken, LeaseRow { holder: Some(2), epoch: 2, version: 3 });
        // Two nodes taking over from the same version: the first in the log wins.
        let third = apply(Some(taken), 3, LeaseAction::Acquire { seen: 2 });
        assert_eq!(third, taken);
    }

    #[test]
    fn only_the_holder_of_the_epoch_renews_or_releases() {
        let r = LeaseRow { holder: Some(2), epoch: 4, version: 9 };
        assert_eq!(apply(Some(r), 1, LeaseAction::Renew { epoch: 4 }), r);
        assert_eq!(apply(Some(r), 2, LeaseAction::Renew { epoch: 3 }), r);
        assert_eq!(apply(Some(r), 1, LeaseAction::Release { epoch: 4 }), r);
        let released = apply(Some(r), 2, LeaseAction::Release { epoch: 4 });
        assert_eq!(released, LeaseRow { holder: None, epoch: 4, version: 10 });
        // Released: anyone takes it at once, whatever version it saw; a new epoch fences the old.
        let next = apply(Some(released), 3, LeaseAction::Acquire { seen: 0 });
        assert_eq!(next, LeaseRow { holder: Some(3), epoch: 5, version: 11 });
    }

    #[test]
    fn acquiring_again_is_idempotent_for_the_holder() {
        // A retried write, or a holder that restarted: same epoch, nobody else involved.
        let r = LeaseRow { holder: Some(1), epoch: 3, version: 5 };
        assert_eq!(apply(Some(r), 1, LeaseAction::Acquire { seen: 0 }), LeaseRow { version: 6, ..r });
    }

    #[test]
    fn epochs_never_repeat_whatever_the_sequence() {
        // A naive model: random actions by three nodes; the epoch is strictly increasing across
        // holder changes and a holder change always bumps it.
        let mut row: Option<LeaseRow> = None;
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..10_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let node = seed % 3 + 1;
            let cur = row.unwrap_or_default();
            let action = match (seed >> 8) % 4 {
                0 => LeaseAction::Acquire { seen: cur.version },
                1 => LeaseAction::Acquire { seen: cur.version.saturating_sub(1) },
                2 => LeaseAction::Renew { epoch: cur.epoch },
                _ => LeaseAction::Release { epoch: cur.epoch },
            };
            let next = apply(row, node, action);
            assert!(next.version >= cur.version && next.epoch >= cur.epoch);
            if next.holder.is_some() && next.holder != cur.holder {
                assert!(next.epoch > cur.epoch, "a new holder must get a new epoch");
            }
            if next != cur {
                assert_eq!(next.version, cur.version + 1);
            }
            row = Some(next);
        }
    }
}
