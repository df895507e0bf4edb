//! Pre-vote and leader stickiness on top of openraft 0.9, which has neither.
//!
//! openraft's own election timer is off (`enable_elect = false`): a core cut off from the others
//! would otherwise campaign every election timeout, raising its term each time, and on its return
//! that higher term makes the healthy leader step down (~1.6 s without a leader, catalog writes
//! stalled). Instead [`run`] campaigns only after a pre-vote round: when this voter has not heard
//! a leader for the leader lease plus a random part of the election timeout, it asks the other
//! voters whether they would vote for it, and triggers a real election only when a majority
//! (itself included) says yes. A voter says yes only if it does not hear a leader itself and the
//! candidate's log is at least as new as its own — what the real vote would check, without
//! changing anybody's term. A cut-off node gets no answers, so its term stays where it was.
//!
//! The same record of leader contact drives readiness: a follower that no longer hears its
//! leader is not ready, whatever its (stale) idea of the leader says.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::LogId;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::catalog::cmd::NodeId;
use crate::cluster::replicated::RaftCluster;
use crate::cluster::rpc::{self, Reply, Rpc};

/// This voter's view of leader contact, and the election timing it campaigns by.
pub struct Elections {
    /// When a leader was last heard: an AppendEntries or snapshot accepted from it, or this node
    /// leading with a quorum's acknowledgement.
    contact: Mutex<Instant>,
    /// Without a leader for this long, a voter grants pre-votes (openraft's election_timeout_min).
    min: Duration,
    /// The leader lease (openraft's election_timeout_max): voters refuse real votes while a
    /// leader was heard within it, so campaigning earlier only wastes a term.
    lease: Duration,
}

impl Elections {
    pub fn new(min: Duration, max: Duration) -> Elections {
        Elections { contact: Mutex::new(Instant::now()), min, lease: max.max(min) }
    }

    /// A leader was heard just now.
    pub fn heard_leader(&self) {
        *self.contact.lock() = Instant::now();
    }

    fn since_contact(&self) -> Duration {
        self.contact.lock().elapsed()
    }

    /// Whether a leader was heard within the lease.
    pub fn hears_leader(&self) -> bool {
        self.since_contact() < self.lease
    }

    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// The answer to a pre-vote: yes when this node does not hear a leader (and is not one with
    /// a quorum behind it) and the candidate's log is at least as new as this node's.
    pub fn grant(&self, leading: bool, mine: Option<LogId<NodeId>>, theirs: Option<LogId<NodeId>>) -> bool {
        !leading && self.since_contact() >= self.min && theirs >= mine
    }

    /// How long without a leader before this voter campaigns: the lease, plus a random share of
    /// the election timeout's spread so that two voters rarely campaign at once.
    fn timeout(&self) -> Duration {
        let spread = self.lease.saturating_sub(self.min).max(Duration::from_millis(50));
        self.lease + spread.mul_f64(rand::random::<f64>())
    }
}

/// Campaign by pre-vote, until `stop`. One round per tick at most.
pub async fn run(cluster: Arc<RaftCluster>, mut stop: watch::Receiver<bool>) {
    let tick = cluster.elections().min / 8;
    let mut wait = cluster.elections().timeout();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(tick.max(Duration::from_millis(20))) => {}
            _ = stop.changed() => return,
        }
        let m = cluster.raft_metrics();
        if m.current_leader == Some(cluster.node_id_of_self()) {
            if m.millis_since_quorum_ack.is_some_and(|ms| Duration::from_millis(ms) < cluster.elections().lease) {
                cluster.elections().heard_leader();
            }
            continue;
        }
        let voters: Vec<NodeId> = m.membership_config.membership().voter_ids().collect();
        let me = cluster.node_id_of_self();
        if cluster.is_removed() || !voters.contains(&me) || cluster.elections().since_contact() < wait {
            continue;
        }
        wait = cluster.elections().timeout();
        let last = cluster.last_log_id().await;
        let asks = voters.iter().filter(|v| **v != me).filter_map(|v| cluster.member_addr_of(*v)).map(|addr| {
            let body = rpc::encode(&Rpc::PreVote { last_log: last });
            let c = cluster.clone();
            async move {
                let answer = c.link().request(&addr, body, c.elections().min / 2).await.ok()?;
                match serde_json::from_slice::<Reply>(&answer) {
                    Ok(Reply::PreVote(yes)) => Some(yes),
                    _ => None,
                }
            }
        });
        let answers = futures_util::future::join_all(asks).await;
        let yes = 1 + answers.iter().filter(|a| **a == Some(true)).count();
        let heard = answers.iter().filter(|a| a.is_some()).count();
        // Heard a leader meanwhile (the round took a while): no campaign.
        if cluster.elections().since_contact() < cluster.elections().min {
            continue;
        }
        if yes * 2 > voters.len() {
            tracing::info!(term = m.current_term, yes, voters = voters.len(), "pre-vote won; campaigning for leader");
            if let Err(e) = cluster.trigger_election().await {
                tracing::warn!("cannot start an election: {e}");
            }
            // Give the election its time before the next round.
            cluster.elections().heard_leader();
        } else {
            tracing::debug!(
                yes,
                answered = heard,
                voters = voters.len(),
                "pre-vote lost: no campaign (no quorum reachable, or a leader is still heard)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::CommittedLeaderId;

    fn log_id(term: u64, index: u64) -> Option<LogId<NodeId>> {
        Some(LogId::new(CommittedLeaderId::new(term, 1), index))
    }

    #[test]
    fn grants_only_without_a_leader_and_for_a_log_as_new() {
        let e = Elections::new(Duration::from_millis(0), Duration::from_millis(0));
        assert!(e.grant(false, log_id(1, 5), log_id(1, 5)));
        assert!(e.grant(false, log_id(1, 5), log_id(2, 1)), "a higher term wins over a longer log");
        assert!(!e.grant(false, log_id(1, 5), log_id(1, 4)), "a shorter log is refused");
        assert!(!e.grant(true, log_id(1, 5), log_id(1, 9)), "a leader with a quorum refuses");
        let fresh = Elections::new(Duration::from_secs(60), Duration::from_secs(120));
        assert!(!fresh.grant(false, None, log_id(3, 3)), "a voter that hears its leader refuses");
        assert!(fresh.hears_leader());
    }

    #[test]
    fn campaigns_no_earlier_than_the_lease() {
        let e = Elections::new(Duration::from_millis(1000), Duration::from_millis(2000));
        for _ in 0..100 {
            let t = e.timeout();
            assert!(t >= Duration::from_millis(2000) && t <= Duration::from_millis(3000), "{t:?}");
        }
    }
}
