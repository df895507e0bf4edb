//! Membership upkeep: discovery, joining (or bootstrapping) a cluster, promoting caught-up
//! cores, removing replicants that stay away, and removals an operator asks for.

use super::*;

impl RaftCluster {
    /// Discovery and membership upkeep, until `stop`.
    pub async fn run_membership(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        if self.cfg.role == Role::Core && self.cfg.bootstrap_expect.is_multiple_of(2) {
            tracing::warn!(
                bootstrap_expect = self.cfg.bootstrap_expect,
                "an even number of cores tolerates no more failures than one core fewer; use an odd number"
            );
        }
        let mut leader_seen = None;
        loop {
            let cur = self.raft.metrics().borrow().current_leader;
            if cur != leader_seen {
                if cur.is_some() {
                    self.leader_changes.fetch_add(1, Ordering::Relaxed);
                }
                tracing::info!(leader = ?cur, "cluster leader changed");
                leader_seen = cur;
            }
            if let Err(e) = self.tick().await {
                tracing::debug!("membership: {e}");
            }
            self.refresh_addrs();
            tokio::select! {
                _ = tokio::time::sleep(self.cfg.discovery.interval.min(Duration::from_secs(1))) => {}
                _ = stop.changed() => return,
            }
        }
    }

    pub(super) async fn tick(&self) -> Result<(), MembershipError> {
        if self.in_membership() {
            if !self.joined.swap(true, Ordering::Relaxed) {
                tracing::info!(node = %self.member.name, "member of the cluster");
            }
            let leader = self.raft.metrics().borrow().current_leader;
            if leader == Some(self.me) {
                self.upkeep().await;
            } else if let Some(addr) = leader.and_then(|l| self.member_addr(l)) {
                // A node removed while unreachable never hears of it through the log: the
                // leader's membership is the authority.
                if let Some(s) = self.status_of(&addr).await
                    && s.leader == leader
                {
                    self.leader_last_log.store(s.last_log, Ordering::Relaxed);
                    if !s.members.is_empty() && !s.members.iter().any(|(id, _, _)| *id == self.me) {
                        self.mark_removed();
                    }
                }
            }
            return Ok(());
        }
        let knows_cluster = self.raft.metrics().borrow().membership_config.nodes().next().is_some();
        if self.removed.load(Ordering::Relaxed)
            || self.joined.load(Ordering::Relaxed)
            || (self.log.is_initialized() && knows_cluster)
        {
            // Leaving is explicit and sticks: a removed node must not come back on its own.
            self.mark_removed();
            return Ok(());
        }
        let peers = self.discovery.peers().await;
        let mut statuses = Vec::new();
        for addr in &peers {
            if let Some(s) = self.status_of(addr).await {
                statuses.push((addr.clone(), s));
            }
        }
        // Someone is in a cluster: join it through its leader.
        let leader = statuses.iter().find_map(|(_, s)| {
            let l = s.leader?;
            s.members.iter().find(|(id, _, _)| *id == l).map(|(_, m, _)| m.addr.clone())
        });
        if let Some(leader_addr) = leader {
            return self.join_via(&leader_addr).await;
        }
        if statuses.iter().any(|(_, s)| s.initialized && s.id != self.me) {
            return Err(MembershipError::Waiting("peers are in a cluster but no leader is known yet".into()));
        }
        if self.cfg.role != Role::Core || self.log.is_initialized() {
            return Err(MembershipError::Waiting("waiting for a cluster to join".into()));
        }
        let mut cores: BTreeMap<String, NodeId> = statuses
            .iter()
            .filter(|(_, s)| s.member.role == Role::Core)
            .map(|(_, s)| (s.member.name.clone(), s.id))
            .collect();
        cores.insert(self.member.name.clone(), self.me);
        if cores.len() < self.cfg.bootstrap_expect {
            return Err(MembershipError::Waiting(format!(
                "bootstrap: {} of {} cores visible ({})",
                cores.len(),
                self.cfg.bootstrap_expect,
                cores.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        if cores.keys().next() != Some(&self.member.name) {
            return Err(MembershipError::Waiting("bootstrap: waiting for the lowest-named core to initialise".into()));
        }
        tracing::info!(node = %self.member.name, cores = cores.len(), "initialising a new cluster");
        let mut members = BTreeMap::new();
        members.insert(self.me, self.member.clone());
        self.raft.initialize(members).await.map_err(|e| MembershipError::Raft(e.to_string()))
    }

    pub(super) async fn join_via(&self, leader_addr: &str) -> Result<(), MembershipError> {
        tracing::info!(leader = %leader_addr, role = self.member.role.as_str(), "asking the leader to join");
        let body = rpc::encode(&Rpc::Join { id: self.me, member: self.member.clone() });
        let answer = self.link.request(leader_addr, body, JOIN_TIMEOUT).await?;
        match serde_json::from_slice::<Reply>(&answer) {
            Ok(Reply::Join(Ok(()))) => Ok(()),
            Ok(Reply::Join(Err(e))) => Err(MembershipError::JoinRefused(e)),
            other => Err(MembershipError::Unexpected(format!("join answer {other:?}"))),
        }
    }

    pub(super) async fn status_of(&self, addr: &str) -> Option<NodeStatus> {
        let answer = self.link.request(addr, rpc::encode(&Rpc::Status), STATUS_TIMEOUT).await.ok()?;
        match serde_json::from_slice::<Reply>(&answer) {
            Ok(Reply::Status(s)) => Some(s),
            _ => None,
        }
    }

    /// Leader: admit a node. A core with a name already in the membership under another id (it
    /// came back with an empty data dir) replaces that entry.
    pub(super) async fn handle_join(&self, id: NodeId, member: Member) -> Result<(), MembershipError> {
        let metrics = self.raft_metrics();
        if metrics.current_leader != Some(self.me) {
            return Err(MembershipError::NotLeader);
        }
        let membership = metrics.membership_config.membership().clone();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        if let Some((&old, _)) = membership.nodes().find(|(i, m)| m.name == member.name && **i != id) {
            tracing::warn!(node = %member.name, old, new = id, "node rejoined with a new identity; replacing its old entry");
            self.drop_member(old, voters.contains(&old)).await?;
            self.write(vec![CatalogCmd::ClearNodeRoutes { node: old }]).await?;
        }
        let known = membership.get_node(&id) == Some(&member);
        if !known {
            tracing::info!(node = %member, id, "adding node as learner");
            self.raft.add_learner(id, member.clone(), true).await.map_err(|e| MembershipError::Raft(e.to_string()))?;
        }
        if member.role == Role::Core && !voters.contains(&id) {
            tracing::info!(node = %member, id, "promoting caught-up core to voter");
            self.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), true).await?;
        }
        self.last_seen.lock().insert(id, Instant::now());
        Ok(())
    }

    /// A membership change, retried while another one (a promotion, a join) is still being
    /// committed: openraft runs one at a time.
    pub(super) async fn change_membership(
        &self,
        change: ChangeMembers<NodeId, Member>,
        retain: bool,
    ) -> Result<(), MembershipError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.raft.change_membership(change.clone(), retain).await {
                Ok(_) => return Ok(()),
                Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(
                    openraft::error::ChangeMembershipError::InProgress(_),
                ))) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(e) => return Err(MembershipError::Raft(e.to_string())),
            }
        }
    }

    /// Leader upkeep: promote core learners that are caught up, expire gone replicants.
    pub(super) async fn upkeep(&self) {
        let m = self.raft_metrics();
        let membership = m.membership_config.membership().clone();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let last = m.last_log_index.unwrap_or(0);
        let matched = matched_indexes(&m);
        let now = Instant::now();
        for (id, node) in membership.nodes() {
            let caught_up = matched.get(id).is_some_and(|i| last.saturating_sub(*i) < 100);
            // Replication progress says nothing about a replicant that simply has nothing new
            // to receive: ask it directly whether it is there, and that it is still itself.
            let alive = *id == self.me
                || (node.role == Role::Replicant && self.status_of(&node.addr).await.is_some_and(|s| s.id == *id))
                || (node.role == Role::Core && caught_up);
            if alive {
                self.last_seen.lock().insert(*id, now);
            }
            if node.role == Role::Core && !voters.contains(id) && caught_up {
                tracing::info!(node = %node, "promoting caught-up core to voter");
                if let Err(e) =
                    self.raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([*id])), true).await
                {
                    tracing::debug!("promotion deferred: {e}");
                }
            }
            if node.role == Role::Replicant {
                let seen = *self.last_seen.lock().entry(*id).or_insert(now);
                if now.duration_since(seen) > self.cfg.replicant_timeout {
                    tracing::warn!(node = %node, gone = ?now.duration_since(seen), "removing replicant gone longer than cluster.replicant_timeout");
                    if self.remove_node(*id).await.is_ok() {
                        self.last_seen.lock().remove(id);
                    }
                }
            }
        }
    }

    /// Remove a node from the membership and its routes from the catalog (leader only).
    pub async fn remove_node(&self, id: NodeId) -> Result<(), MembershipError> {
        let addr = self.member_addr(id);
        let voter = self.raft_metrics().membership_config.membership().voter_ids().any(|v| v == id);
        self.drop_member(id, voter).await?;
        self.write(vec![CatalogCmd::ClearNodeRoutes { node: id }]).await?;
        if let Some(addr) = addr
            && id != self.me
        {
            // Best effort: the node also finds out by asking the leader.
            let _ = self.link.request(&addr, rpc::encode(&Rpc::Removed), STATUS_TIMEOUT).await;
        } else if id == self.me {
            self.mark_removed();
        }
        Ok(())
    }

    /// Take a node out of the membership. openraft removes a voter only through `RemoveVoters`
    /// (`RemoveNodes` is for learners and refuses a voter with "Learner … not found"); with
    /// `retain = false` the voter leaves the membership entirely, in one change.
    pub(super) async fn drop_member(&self, id: NodeId, voter: bool) -> Result<(), MembershipError> {
        let change = if voter {
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        };
        self.change_membership(change, false).await
    }

    /// Ask the leader to remove a node (`ctl cluster leave|forget`).
    pub async fn request_remove(&self, id: NodeId) -> Result<(), MembershipError> {
        let leader = self.raft.metrics().borrow().current_leader.ok_or(MembershipError::NoLeader)?;
        if leader == self.me {
            return self.remove_node(id).await;
        }
        let addr = self.member_addr(leader).ok_or(MembershipError::LeaderWithoutAddress)?;
        let answer = self.link.request(&addr, rpc::encode(&Rpc::Remove { id }), WRITE_TIMEOUT).await?;
        match serde_json::from_slice::<Reply>(&answer) {
            Ok(Reply::Remove(r)) => r.map_err(MembershipError::Refused),
            other => Err(MembershipError::Unexpected(format!("answer {other:?}"))),
        }
    }

    /// A node id by name, from the membership.
    pub fn id_of(&self, name: &str) -> Option<NodeId> {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.membership_config.nodes().find(|(_, n)| n.name == name).map(|(id, _)| *id)
    }

    pub(super) fn local_status(&self) -> NodeStatus {
        let m = self.raft_metrics();
        let voters: BTreeSet<NodeId> = m.membership_config.voter_ids().collect();
        NodeStatus {
            id: self.me,
            member: self.member.clone(),
            initialized: self.log.is_initialized() || m.membership_config.nodes().next().is_some(),
            leader: m.current_leader,
            term: m.current_term,
            applied: m.last_applied.map_or(0, |l| l.index),
            last_log: m.last_log_index.unwrap_or(0),
            members: m.membership_config.nodes().map(|(id, n)| (*id, n.clone(), voters.contains(id))).collect(),
        }
    }
}
