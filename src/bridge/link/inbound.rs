//! The in side of a link: what the upstream sends is published here (prefix mapped, QoS
//! capped) and acknowledged upstream only after the local publish was accepted.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use mqtt_protocol_core::mqtt;

use super::{Link, LinkError};
use crate::bridge::map::{self, Side};
use crate::bridge::status::Drop;
use crate::broker::PublishOutcome;
use crate::mqtt::{Ack, Reason};
use crate::protocol::Message;
use crate::protocol::message::{new_message_id, now_ms};

impl Link<'_> {
    pub(super) fn on_pubrel(&mut self, pid: u16) -> Result<(), LinkError> {
        self.broker.incoming_qos2(self.session, pid, false);
        self.send_ack(Ack::Pubcomp, pid, Reason::Success)
    }

    /// A message from the upstream: published here (prefix mapped, QoS capped), then
    /// acknowledged upstream. QoS 2 ids are kept in the local session (persisted), so a resent
    /// PUBLISH after a reconnect or restart is not published twice.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn on_publish(
        &mut self,
        topic: &str,
        payload: mqtt::ArcPayload,
        qos: u8,
        retain: bool,
        pid: Option<u16>,
        mut props: crate::protocol::message::PublishProps,
        expiry: Option<u32>,
    ) -> Result<(), LinkError> {
        if qos == 2
            && let Some(pid) = pid
            && self.session.has_incoming_qos2(pid)
        {
            return self.send_ack(Ack::Pubrec, pid, Reason::Success);
        }
        let echo = self.echoes.as_mut().is_some_and(|e| e.take(topic, payload.as_slice(), Instant::now()));
        let mapped = if echo { None } else { map::map(&self.cfg.inbound, Side::Remote, topic) };
        let mut rc = Reason::Success;
        if echo {
            // Acknowledged upstream like any other, never published here a second time.
            self.status.dropped(
                Drop::Echo,
                self.name,
                &format!("{topic}: sent back by the upstream (3.1.1, no bridge bit)"),
            );
        } else if let Some((rule, local)) = mapped {
            if let Some(rt) = &props.response_topic {
                props.response_topic = Some(map::carry_prefix(rule, Side::Remote, rt));
            }
            let msg = Arc::new(Message {
                topic: local.into(),
                payload,
                qos: qos.min(rule.qos).min(self.broker.settings.max_qos),
                retain: retain && rule.retain,
                props,
                expires_at_ms: expiry.map(|e| now_ms() + u64::from(e) * 1000),
                // The out side subscribes with no local: this never goes back up this bridge.
                origin: self.session.client_id().clone(),
                wire: Default::default(),
                id: new_message_id(),
            });
            match self.broker.publish(msg).await {
                Ok(PublishOutcome { refused, .. }) if refused > 0 => rc = Reason::QuotaExceeded,
                Ok(_) => {
                    self.status.forwarded_in.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    // Not acknowledged: the upstream keeps it and sends it again on reconnect.
                    return Err(LinkError::Local(format!("local publish failed: {e}")));
                }
            };
        } else {
            tracing::debug!(bridge = self.name, topic, "message from the upstream matches no in rule; dropped");
            self.status.dropped(Drop::NoRule, self.name, topic);
        }
        match (qos, pid) {
            (1, Some(pid)) => self.send_ack(Ack::Puback, pid, rc),
            (2, Some(pid)) => {
                if rc == Reason::Success {
                    self.broker.incoming_qos2(self.session, pid, true);
                }
                self.send_ack(Ack::Pubrec, pid, rc)
            }
            _ => Ok(()),
        }
    }
}
