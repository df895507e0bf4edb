//! Messages kept for an unreachable peer follow its clients that resumed on another node.
//!
//! A QoS ≥ 1 message kept in the outbox for peer X reached its subscribers only once X answered
//! again: X queued it in its sessions, or handed it on with a session that moved meanwhile. A
//! peer that never answers again (a replicant removed by a scale-down stays in the membership
//! until `cluster.replicant_timeout`; a node lost for good) kept them from clients that had
//! already resumed elsewhere. So while X does not answer, each of its clients now registered at
//! another node gets the kept messages matching its subscriptions there, confirmed, and the copy
//! kept for X then names the client as one to skip (`cluster::moved`), so it arrives once.

use super::forwarding::{decode_forward, encode_forward};
use super::*;
use crate::broker::ForwardedDelivery;
use crate::cluster::link::Confirm;
use crate::cluster::moved::EXCLUDE_MARK;
use crate::protocol::topic;

/// Kept messages looked at per read of the outbox.
const BATCH: usize = 256;

impl RaftCluster {
    /// Pass the messages kept for `node` on to its clients that moved (see the module comment).
    /// What is not confirmed is tried again on the next round.
    pub(super) async fn follow_moved<I: Inbound>(&self, inbound: &Arc<I>, node: NodeId) {
        for m in self.moved.moved(&self.catalog, node) {
            let (client, owner, filters, mut after) = (m.client, m.owner, m.filters, m.followed);
            if filters.is_empty() {
                continue;
            }
            loop {
                let batch = match self.outbox.after(node, after.as_deref(), BATCH) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::error!(node, "cannot read an outbox: {e}");
                        return;
                    }
                };
                let Some(last) = batch.last().map(|(k, _)| k.clone()) else { break };
                let mut passed = 0usize;
                for (key, kept) in &batch {
                    match self.pass_on(inbound, key, kept, &client, owner, &filters).await {
                        Ok(sent) => passed += usize::from(sent),
                        Err(why) => {
                            tracing::debug!(node, client, owner, "kept messages not passed on yet: {why}");
                            if let Some(k) = after {
                                self.moved.followed(node, &client, k);
                            }
                            return;
                        }
                    }
                    after = Some(key.clone());
                }
                if passed > 0 {
                    tracing::info!(
                        node,
                        client,
                        owner,
                        passed,
                        "messages kept for an unreachable node passed on to a client that moved"
                    );
                }
                self.moved.followed(node, &client, last.clone());
                after = Some(last);
            }
        }
    }

    /// Deliver one kept message to `client` at `owner` if it is for the client and the kept copy
    /// does not skip it already; then mark the copy to skip it. Whether it was passed on.
    async fn pass_on<I: Inbound>(
        &self,
        inbound: &Arc<I>,
        key: &[u8],
        kept: &[u8],
        client: &str,
        owner: NodeId,
        filters: &[String],
    ) -> Result<bool, &'static str> {
        let Some((target, groups, clients, body)) = decode_forward(kept) else { return Ok(false) };
        let skipped = groups.iter().any(|(g, c)| g == EXCLUDE_MARK && c == client);
        if skipped || (!clients.is_empty() && !clients.iter().any(|c| c == client)) {
            return Ok(false);
        }
        let Ok(msg) = Message::decode(body).map(Arc::new) else { return Ok(false) };
        if !filters.iter().any(|f| topic::matches(f, &msg.topic)) {
            return Ok(false);
        }
        let only = vec![client.to_string()];
        if owner == self.me {
            let outcome = match inbound.start_forwarded(msg.clone(), Vec::new(), only, Vec::new()) {
                ForwardedDelivery::Done(r) => r,
                ForwardedDelivery::Waiting(f) => f.await,
            };
            match outcome {
                Ok(o) if o.refused == 0 => {}
                _ => return Err("not queued here"),
            }
        } else {
            let addr = self.forward_addr(owner).ok_or("the new owner is not a member")?;
            let frame = encode_forward(owner, &[], &only, &msg);
            let rx = self.link.publish(&addr, Bytes::from(frame), true).await.ok_or("link closed")?;
            match tokio::time::timeout(self.cfg.forward_timeout, rx).await {
                Ok(Ok(Confirm::Queued)) => {}
                _ => return Err("not confirmed"),
            }
        }
        let mut marked = groups;
        marked.push((EXCLUDE_MARK.to_string(), client.to_string()));
        self.outbox
            .replace(key, &encode_forward(target, &marked, &clients, &msg))
            .map_err(|_| "cannot mark the kept copy")?;
        Ok(true)
    }
}
