//! The admin view of a Raft node: readiness, status, metrics, membership changes on an
//! operator's request, and the Raft state at a glance.

use super::*;

impl ClusterAdmin for RaftCluster {
    fn ready(&self) -> bool {
        let member = self.in_membership();
        let m = self.raft.metrics();
        let m = m.borrow();
        let applied = self.applied.load(Ordering::Relaxed);
        let Some(leader) = m.current_leader else { return false };
        if !member {
            return false;
        }
        if leader == self.me {
            // A leadership not acknowledged by a quorum lately (cut off, or rebuilt from the
            // saved vote right after a restart) is not one to report ready from.
            let sole = m.membership_config.membership().voter_ids().count() <= 1;
            let acked = m.millis_since_quorum_ack.is_some_and(|ms| Duration::from_millis(ms) < self.elections.lease());
            return (sole || acked) && m.last_log_index.unwrap_or(0).saturating_sub(applied) < 100;
        }
        if !self.elections.hears_leader() {
            // A follower keeps its idea of the leader while cut off (no election replaces it).
            return false;
        }
        // Caught up means caught up with the leader's log as last heard (asked every tick), not
        // with this node's own log, which may itself be far behind.
        let leader_last = self.leader_last_log.load(Ordering::Relaxed);
        leader_last > 0 && leader_last.saturating_sub(applied) < 100
    }

    fn raft(&self) -> Option<RaftView> {
        let m = self.raft_metrics();
        Some(RaftView {
            id: m.id,
            leader: m.current_leader,
            members: m.membership_config.nodes().count(),
            voters: m.membership_config.membership().voter_ids().count(),
            last_log_index: m.last_log_index.unwrap_or(0),
            last_applied: m.last_applied.map_or(0, |l| l.index),
            snapshot_index: m.snapshot.map(|s| s.index),
        })
    }

    fn membership(&self, op: MembershipOp) -> BoxFuture<'_, Result<String, MembershipError>> {
        Box::pin(async move {
            match op {
                MembershipOp::Join(addr) => {
                    if self.in_membership() {
                        return Err(MembershipError::AlreadyMember);
                    }
                    let s = self.status_of(&addr).await.ok_or_else(|| MembershipError::NoAnswer(addr.clone()))?;
                    let leader = s
                        .leader
                        .and_then(|l| s.members.iter().find(|(id, _, _)| *id == l).map(|(_, m, _)| m.addr.clone()))
                        .ok_or_else(|| MembershipError::NoLeaderAt {
                            addr: addr.clone(),
                            name: s.member.name.clone(),
                        })?;
                    self.join_via(&leader).await?;
                    self.removed.store(false, Ordering::Relaxed);
                    Ok(format!("joined through {leader}"))
                }
                MembershipOp::Remove(name) => {
                    let id = self.id_of(&name).ok_or_else(|| MembershipError::UnknownMember(name.clone()))?;
                    self.request_remove(id).await?;
                    Ok(format!("removed {name} (id {id})"))
                }
            }
        })
    }

    fn metrics(&self) -> ClusterMetrics {
        let m = self.raft_metrics();
        let last = m.last_log_index.unwrap_or(0);
        let matched = matched_indexes(&m);
        let is_leader = m.current_leader == Some(self.me);
        let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
        for (id, n) in m.membership_config.nodes() {
            let up = if *id == self.me || !is_leader {
                true
            } else {
                matched.get(id).is_some_and(|i| last.saturating_sub(*i) < 1000)
            };
            let state = if up { "up" } else { "unreachable" };
            *counts.entry((n.role.as_str().to_string(), state.to_string())).or_default() += 1;
        }
        let applied = self.applied.load(Ordering::Relaxed);
        let leader_last = if is_leader { last } else { self.leader_last_log.load(Ordering::Relaxed) };
        let lag = leader_last.saturating_sub(applied);
        let lag_seconds = {
            let mut at = self.caught_up_at.lock();
            if lag < 10 {
                *at = Instant::now();
                0.0
            } else {
                at.elapsed().as_secs_f64()
            }
        };
        let st = self.link.stats();
        ClusterMetrics {
            nodes: counts.into_iter().map(|((r, s), c)| (r, s, c)).collect(),
            is_leader,
            term: m.current_term,
            leader_changes: self.leader_changes.load(Ordering::Relaxed),
            last_log_index: last,
            applied_index: applied,
            replication_lag_entries: lag,
            replication_lag_seconds: lag_seconds,
            forwarded: st
                .forwarded()
                .into_iter()
                .map(|(addr, n, b)| {
                    let name = m
                        .membership_config
                        .nodes()
                        .find(|(_, node)| node.addr == addr)
                        .map_or_else(|| addr.clone(), |(_, node)| node.name.clone());
                    (name, n, b)
                })
                .collect(),
            received_messages: st.received_messages.load(Ordering::Relaxed),
            publish_frames_sent: st.publish_frames_sent.load(Ordering::Relaxed),
            link_writes: st.writes.load(Ordering::Relaxed),
            publish_frames_received: st.publish_frames_received.load(Ordering::Relaxed),
            link_reads: st.reads.load(Ordering::Relaxed),
            link_congested_reads: st.congested_reads.load(Ordering::Relaxed),
            link_deferred_messages: st.deferred_messages.load(Ordering::Relaxed),
            link_errors: st.errors.load(Ordering::Relaxed),
            refused_peers: st.refused_peers.load(Ordering::Relaxed),
            pending_writes: self.pending_writes.load(Ordering::Relaxed),
            outbox_messages: self.outbox.total(),
        }
    }

    fn status(&self) -> BoxFuture<'_, ClusterStatus> {
        Box::pin(async move {
            let mine = self.local_status();
            // Replication progress is known on the leader: ask it when this node is not.
            let leader_view = match mine.leader {
                Some(l) if l == self.me => None,
                Some(l) => match self.member_addr(l) {
                    Some(addr) => self.status_of(&addr).await,
                    None => None,
                },
                None => None,
            };
            let m = self.raft_metrics();
            let matched = matched_indexes(&m);
            let leader_last = leader_view.as_ref().map_or(mine.last_log, |s| s.last_log);
            let members = mine
                .members
                .iter()
                .map(|(id, n, voter)| {
                    let state = if Some(*id) == mine.leader {
                        "leader"
                    } else if *voter {
                        "follower"
                    } else {
                        "learner"
                    };
                    let matched = if mine.leader == Some(self.me) {
                        if *id == self.me { Some(mine.last_log) } else { matched.get(id).copied() }
                    } else if *id == self.me {
                        Some(mine.applied)
                    } else {
                        None
                    };
                    MemberStatus {
                        id: *id,
                        name: n.name.clone(),
                        addr: n.addr.clone(),
                        role: n.role.as_str().into(),
                        voter: *voter,
                        state: if mine.leader == Some(self.me) && *id != self.me && matched.is_none() {
                            "unreachable".into()
                        } else {
                            state.into()
                        },
                        matched,
                        lag: matched.map(|i| leader_last.saturating_sub(i)),
                    }
                })
                .collect::<Vec<_>>();
            let voters = members.iter().filter(|m| m.voter).count();
            let mut warnings = Vec::new();
            if voters > 0 && voters.is_multiple_of(2) {
                warnings.push(format!(
                    "{voters} voting cores: an even number tolerates no more failures than {} cores",
                    voters - 1
                ));
            }
            if mine.leader.is_none() {
                warnings.push("no leader: catalog writes are paused (quorum lost or election running)".into());
            }
            ClusterStatus {
                mode: "raft".into(),
                node_id: self.me,
                name: self.member.name.clone(),
                role: self.member.role.as_str().into(),
                leader: mine.leader,
                term: mine.term,
                applied: mine.applied,
                last_log: mine.last_log,
                members,
                warnings,
            }
        })
    }
}
