//! Publishes to other nodes: the forward frame, the `Cluster` port (forwarding, session
//! hand-over requests, submissions), and the outbox of messages peers did not confirm, sent
//! again in order when they answer.

use super::*;

impl RaftCluster {
    /// Send each peer's outbox backlog, oldest first, whenever the peer answers again; what was
    /// kept for a node that left goes to `inbound` to be routed anew.
    pub(crate) async fn run_outbox<I: Inbound>(self: Arc<Self>, inbound: Arc<I>, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = stop.changed() => return,
            }
            for node in self.outbox.nodes() {
                let Some(addr) = self.member_addr(node) else {
                    // It left the cluster: its clients' sessions live elsewhere now (restored
                    // from the catalog); route what was kept for it by today's routes.
                    self.reroute_outbox(&inbound, node).await;
                    continue;
                };
                match self.flush_outbox(node, &addr).await {
                    Ok(()) if !self.outbox.has(node) => self.moved.forget(node),
                    Ok(()) => {}
                    Err(e) => {
                        tracing::debug!(node, "outbox not flushed yet: {e}");
                        self.follow_moved(&inbound, node).await;
                    }
                }
            }
        }
    }

    /// Deliver the messages kept for a node that left the membership by the current routes
    /// (duplicates are dropped by the sessions' message-id check).
    pub(super) async fn reroute_outbox<I: Inbound>(&self, broker: &Arc<I>, node: NodeId) {
        let mut rerouted = 0usize;
        loop {
            let batch = match self.outbox.peek(node, 256) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(node, "cannot read an outbox: {e}");
                    return;
                }
            };
            if batch.is_empty() {
                break;
            }
            for (_, enc) in &batch {
                let msg = decode_forward(enc).and_then(|(_, _, _, m)| Message::decode(m).ok());
                match msg {
                    Some(m) => {
                        if let Err(e) = broker.route(Arc::new(m)).await {
                            // Keep it for the next round rather than lose it.
                            tracing::warn!(node, "re-routing a kept message failed: {e}");
                            return;
                        }
                        rerouted += 1;
                    }
                    None => tracing::warn!(node, "undecodable message in the outbox dropped"),
                }
            }
            let keys: Vec<Vec<u8>> = batch.into_iter().map(|(k, _)| k).collect();
            if let Err(e) = self.outbox.remove(node, &keys) {
                tracing::error!(node, "cannot trim an outbox: {e}");
                return;
            }
        }
        if rerouted > 0 {
            tracing::info!(node, rerouted, "messages kept for a node that left the cluster re-routed");
        }
    }

    pub(super) async fn flush_outbox(&self, node: NodeId, addr: &str) -> Result<(), FlushError> {
        loop {
            let batch = self.outbox.peek(node, 256)?;
            if batch.is_empty() {
                return Ok(());
            }
            let mut waits = Vec::with_capacity(batch.len());
            for (_, msg) in &batch {
                match self.link.publish(addr, Bytes::copy_from_slice(msg), true).await {
                    Some(rx) => waits.push(rx),
                    None => return Err(FlushError::LinkClosed),
                }
            }
            for rx in waits {
                match tokio::time::timeout(self.cfg.forward_timeout, rx).await {
                    Ok(Ok(Confirm::Queued)) => {}
                    _ => return Err(FlushError::Unconfirmed),
                }
            }
            let keys: Vec<Vec<u8>> = batch.into_iter().map(|(k, _)| k).collect();
            self.outbox.remove(node, &keys)?;
            tracing::info!(node, sent = keys.len(), "outbox backlog delivered");
        }
    }
}

/// Why an outbox backlog was not delivered (it stays, and is tried again).
#[derive(Debug, thiserror::Error)]
pub(super) enum FlushError {
    #[error("{0}")]
    Storage(#[from] crate::storage::StorageError),
    #[error("link closed")]
    LinkClosed,
    #[error("peer did not confirm")]
    Unconfirmed,
}

impl Cluster for RaftCluster {
    fn node_id(&self) -> NodeId {
        self.me
    }

    fn propose(&self, cmd: CatalogCmd) -> BoxFuture<'_, Result<CatalogResp, ClusterError>> {
        Box::pin(async move {
            let mut r = self.write(vec![cmd]).await?;
            Ok(r.pop().unwrap_or(CatalogResp::Ok))
        })
    }

    fn submit(&self, cmd: CatalogCmd) {
        self.pending_writes.fetch_add(1, Ordering::Relaxed);
        if self.queue.send(cmd).is_err() {
            self.pending_writes.fetch_sub(1, Ordering::Relaxed);
            tracing::warn!("catalog write dropped: the node is stopping");
        }
    }

    fn forward(
        &self,
        msg: &Arc<Message>,
        targets: &[ForwardTarget],
    ) -> BoxFuture<'static, Result<Option<Confirmation>, ClusterError>> {
        // A message kept for a peer with a backlog names the clients that peer must skip: they
        // moved to a node that gets this message directly (see `cluster::moved`).
        let direct = || -> Vec<NodeId> { targets.iter().map(|t| t.node).filter(|n| !self.outbox.has(*n)).collect() };
        let targets: Vec<(NodeId, Option<Arc<str>>, Bytes)> = targets
            .iter()
            .map(|t| {
                let encoded = if msg.qos > 0 && self.outbox.has(t.node) {
                    let groups = crate::cluster::moved::groups_with_exclusions(
                        &self.moved,
                        &self.catalog,
                        t.node,
                        &msg.topic,
                        &direct(),
                        &t.groups,
                    );
                    encode_forward(t.node, &groups, &t.clients, msg)
                } else {
                    encode_forward(t.node, &t.groups, &t.clients, msg)
                };
                (t.node, self.forward_addr(t.node), encoded.into())
            })
            .collect();
        let link = self.link.clone();
        let outbox = self.outbox.clone();
        let ack = msg.qos > 0;
        let timeout = self.cfg.forward_timeout;
        Box::pin(async move {
            let mut waits = Vec::new();
            for (node, addr, encoded) in targets {
                let Some(addr) = addr else {
                    // A route of a node no longer in the membership: nothing to send it to.
                    continue;
                };
                if outbox.has(node) {
                    // Behind the backlog, to keep the order; QoS 0 is not kept (at most once).
                    if ack {
                        keep(&outbox, node, &encoded, "backlog")?;
                    }
                    continue;
                }
                if !ack {
                    // At most once: nothing to keep, so no copy either.
                    link.publish(&addr, encoded, false).await;
                    continue;
                }
                match link.publish(&addr, encoded.clone(), true).await {
                    Some(rx) => waits.push((node, encoded, rx)),
                    None => keep(&outbox, node, &encoded, "link closed")?,
                }
            }
            if waits.is_empty() {
                return Ok(None);
            }
            let deadline = tokio::time::Instant::now() + timeout;
            let confirm: Confirmation = Box::pin(async move {
                for (node, encoded, rx) in waits {
                    match tokio::time::timeout_at(deadline, rx).await {
                        Ok(Ok(Confirm::Queued)) => {}
                        // A new process at that node's address: the outbox re-routes it once the
                        // membership drops the old node.
                        Ok(Ok(Confirm::WrongNode)) => {
                            keep(&outbox, node, &encoded, "a different node answers at its address")?
                        }
                        // Reachable but refused (its subscribers' queues are full): the publisher
                        // hears about it and may retry.
                        Ok(Ok(Confirm::NotQueued)) => {
                            return Err(ClusterError::Forward {
                                node: node.to_string(),
                                reason: "not queued there".into(),
                            });
                        }
                        Ok(Err(_)) => keep(&outbox, node, &encoded, "link lost")?,
                        Err(_) => keep(&outbox, node, &encoded, "no confirmation in time")?,
                    }
                }
                Ok(())
            });
            Ok(Some(confirm))
        })
    }

    fn holding(&self) -> bool {
        self.outbox.holding()
    }

    fn routes_for(&self, topic: &str) -> RemoteRoutes {
        self.catalog.routes_for(topic, self.me)
    }

    fn take_session(
        &self,
        client: &str,
        owner: NodeId,
    ) -> BoxFuture<'_, Result<Option<SessionTransfer>, ClusterError>> {
        let deadline_ms = crate::protocol::message::now_ms() + self.cfg.takeover_timeout.as_millis() as u64;
        let rpc = Rpc::TakeSession { client: client.to_string(), deadline_ms };
        Box::pin(async move {
            match self.session_rpc(owner, rpc).await? {
                Reply::TakeSession(r) => {
                    r.map_err(|e| ClusterError::Forward { node: owner.to_string(), reason: e.to_string() })
                }
                other => {
                    Err(ClusterError::Forward { node: owner.to_string(), reason: format!("unexpected {other:?}") })
                }
            }
        })
    }

    fn give_session(&self, owner: NodeId, t: SessionTransfer) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(async move {
            match self.session_rpc(owner, Rpc::GiveSession(t)).await? {
                Reply::GiveSession(r) => {
                    r.map_err(|e| ClusterError::Forward { node: owner.to_string(), reason: e.to_string() })
                }
                other => {
                    Err(ClusterError::Forward { node: owner.to_string(), reason: format!("unexpected {other:?}") })
                }
            }
        })
    }

    fn is_member(&self, node: NodeId) -> bool {
        self.member_addr(node).is_some()
    }

    fn pending_writes(&self) -> u64 {
        self.pending_writes.load(Ordering::Relaxed)
    }
}

/// Keep a forwarded message that `node` did not confirm in the outbox, to be sent again in order.
pub(super) fn keep(outbox: &Outbox, node: NodeId, encoded: &[u8], why: &str) -> Result<(), ClusterError> {
    tracing::debug!(node, "peer did not confirm a forwarded message ({why}); kept in the outbox");
    outbox
        .push(node, encoded)
        .map_err(|e| ClusterError::Forward { node: node.to_string(), reason: format!("outbox: {e}") })
}

/// A forwarded publish on the link: the shared groups the receiver serves, the only clients it
/// delivers to (a relay for sessions that just moved; empty = every matching session), then the
/// message. Lists are a `u16` count of `u16`-prefixed strings (groups as group, filter pairs).
pub(super) fn encode_forward(
    target: NodeId,
    groups: &[(String, String)],
    clients: &[String],
    message: &Message,
) -> Vec<u8> {
    fn put(b: &mut Vec<u8>, s: &str) {
        let n = s.len().min(u16::MAX as usize);
        b.extend_from_slice(&(n as u16).to_be_bytes());
        b.extend_from_slice(s.as_bytes().get(..n).unwrap_or_default());
    }
    let mut b = Vec::with_capacity(96 + message.topic.len() + message.payload.len() + groups.len() * 16);
    b.extend_from_slice(&target.to_be_bytes());
    b.extend_from_slice(&(groups.len().min(u16::MAX as usize) as u16).to_be_bytes());
    for (g, f) in groups.iter().take(u16::MAX as usize) {
        put(&mut b, g);
        put(&mut b, f);
    }
    b.extend_from_slice(&(clients.len().min(u16::MAX as usize) as u16).to_be_bytes());
    for c in clients.iter().take(u16::MAX as usize) {
        put(&mut b, c);
    }
    message.encode_into(&mut b);
    b
}

fn take_u16(b: &[u8]) -> Option<(u16, &[u8])> {
    Some((u16::from_be_bytes(b.get(..2)?.try_into().ok()?), b.get(2..)?))
}

fn take_str(b: &[u8]) -> Option<(String, &[u8])> {
    let (len, r) = take_u16(b)?;
    let s = String::from_utf8(r.get(..usize::from(len))?.to_vec()).ok()?;
    Some((s, r.get(usize::from(len)..)?))
}

/// The node, shared groups and clients a forwarded message is for, and the message bytes.
pub(super) type Forwarded<'a> = (NodeId, Vec<(String, String)>, Vec<String>, &'a [u8]);

pub(super) fn decode_forward(b: &[u8]) -> Option<Forwarded<'_>> {
    let target = u64::from_be_bytes(b.get(..8)?.try_into().ok()?);
    let (n, mut rest) = take_u16(b.get(8..)?)?;
    let mut groups = Vec::with_capacity(usize::from(n).min(64));
    for _ in 0..n {
        let (g, r) = take_str(rest)?;
        let (f, r) = take_str(r)?;
        groups.push((g, f));
        rest = r;
    }
    let (n, mut rest) = take_u16(rest)?;
    let mut clients = Vec::with_capacity(usize::from(n).min(64));
    for _ in 0..n {
        let (c, r) = take_str(rest)?;
        clients.push(c);
        rest = r;
    }
    Some((target, groups, clients, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_payload_round_trip() {
        let m = |topic: &str, payload: &[u8]| {
            let p: Arc<[u8]> = Arc::from(payload);
            Message {
                topic: topic.into(),
                payload: mqtt_protocol_core::mqtt::ArcPayload::new(p, 0, payload.len()),
                qos: 1,
                retain: false,
                props: Default::default(),
                expires_at_ms: None,
                origin: "pub".into(),
                wire: Default::default(),
                id: 42,
            }
        };
        let groups = vec![("g".to_string(), "a/+".to_string()), ("h".to_string(), "#".to_string())];
        let clients = vec!["dev-1".to_string()];
        let msg = m("a/b", b"MSG");
        let b = encode_forward(7, &groups, &clients, &msg);
        let (t, g, c, body) = decode_forward(&b).expect("decodes");
        assert_eq!(t, 7);
        assert_eq!(g, groups);
        assert_eq!(c, clients);
        assert_eq!(Message::decode(body).expect("message"), msg);
        assert!(decode_forward(&b[..3]).is_none());
        let x = m("x", b"x");
        let empty = encode_forward(1, &[], &[], &x);
        let (_, g, c, body) = decode_forward(&empty).expect("decodes");
        assert!(g.is_empty() && c.is_empty());
        assert_eq!(Message::decode(body).expect("message"), x);
    }
}
