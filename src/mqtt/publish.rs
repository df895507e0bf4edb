//! PUBLISH from the client: validation, rate limit, ACL, then the broker; its PUBACK/PUBREC
//! goes through the acknowledgement pipeline (`ack`).

use std::sync::Arc;

use mqtt_protocol_core::mqtt::ArcPayload;
use mqtt_protocol_core::mqtt::connection::Event;
use mqtt_protocol_core::mqtt::packet::{Property, Qos, v3_1_1, v5_0};
use mqtt_protocol_core::mqtt::result_code::DisconnectReasonCode;
use tokio::time::Instant;

use super::Driver;
use super::ack::{Ack, PendingAck};
use super::reason::Reason;
use crate::auth::acl::Action;
use crate::broker::PublishOutcome;
use crate::protocol::message::now_ms;
use crate::protocol::{Message, PublishProps, topic};

/// A PUBLISH of either version.
struct Publish<'a> {
    topic: &'a str,
    payload: ArcPayload,
    qos: u8,
    retain: bool,
    pid: Option<u16>,
    props: PublishProps,
    /// Message Expiry Interval, seconds.
    expiry: Option<u32>,
}

impl Driver {
    pub(super) async fn on_publish_v5(&mut self, p: v5_0::Publish) -> Vec<Event> {
        if p.props().iter().any(|x| matches!(x, Property::SubscriptionIdentifier(_))) {
            // MQTT-3.3.4-6: only the server puts subscription identifiers in a PUBLISH.
            let what = "subscription identifier in a client PUBLISH";
            return self.protocol_violation(DisconnectReasonCode::ProtocolError, what);
        }
        let expiry = p.props().iter().find_map(|x| match x {
            Property::MessageExpiryInterval(v) => Some(v.val()),
            _ => None,
        });
        let publish = Publish {
            topic: p.topic_name(),
            payload: p.payload().clone(),
            qos: qos_u8(p.qos()),
            retain: p.retain(),
            pid: p.packet_id(),
            props: publish_props_in(p.props()),
            expiry,
        };
        self.on_publish(publish).await
    }

    pub(super) async fn on_publish_v3(&mut self, p: v3_1_1::Publish) -> Vec<Event> {
        let publish = Publish {
            topic: p.topic_name(),
            payload: p.payload().clone(),
            qos: qos_u8(p.qos()),
            retain: p.retain(),
            pid: p.packet_id(),
            props: PublishProps::default(),
            expiry: None,
        };
        self.on_publish(publish).await
    }

    async fn on_publish(&mut self, p: Publish<'_>) -> Vec<Event> {
        let broker = self.broker.clone();
        let s = broker.settings();
        let (topic_name, qos, pid) = (p.topic, p.qos, p.pid);
        if let Err(e) = topic::validate_topic_name(topic_name, s.topic_limits) {
            broker.metrics().refused("publish_topic_invalid");
            return self.protocol_violation(DisconnectReasonCode::TopicNameInvalid, &format!("bad topic name: {e}"));
        }
        if qos > s.max_qos {
            return self.protocol_violation(DisconnectReasonCode::QosNotSupported, "QoS above the maximum");
        }
        if p.retain && !s.retain_available {
            return self.protocol_violation(DisconnectReasonCode::RetainNotSupported, "retain not available");
        }
        if qos > 0 && pid == Some(0) {
            // MQTT-2.2.1-3: QoS 1/2 PUBLISH needs a non-zero packet identifier.
            return self.protocol_violation(DisconnectReasonCode::MalformedPacket, "packet identifier 0");
        }
        let (Some(session), Some(client)) = (self.session.clone(), self.client_id.clone()) else {
            return Vec::new();
        };
        if let Some(c) = broker.metrics().messages_received.get(usize::from(qos)) {
            c.inc();
        }
        if let Some(l) = &mut self.limits
            && let Some(b) = &mut l.msg
        {
            let wait = b.take_with_debt(1.0, Instant::now().into_std());
            l.hold |= !wait.is_zero();
            self.throttle(wait, "messages");
        }
        if let Some(acl) = &mut self.acl
            && !acl.allows(broker.auth(), self.username.as_deref(), &client, Action::Publish, topic_name)
        {
            // 5.0: PUBACK/PUBREC "not authorized". 3.1.1 has no way to say no: acknowledged
            // and dropped.
            let user = self.username.as_deref().unwrap_or("");
            broker.auth().refused("acl_publish", &format!("{client}|{topic_name}"), || {
                format!("client {client:?} (username {user:?}) may not publish to {topic_name:?}; dropped")
            });
            let rc = if self.v5() { Reason::NotAuthorized } else { Reason::Success };
            return match (qos, pid) {
                (1, Some(pid)) => self.send_ack(Ack::Puback, pid, rc),
                (2, Some(pid)) => {
                    if !rc.failed() {
                        // 3.1.1: the exchange continues to PUBREL/PUBCOMP as usual.
                        broker.incoming_qos2(&session, pid, true);
                    }
                    self.send_ack(Ack::Pubrec, pid, rc)
                }
                _ => Vec::new(),
            };
        }
        let msg = Arc::new(Message {
            topic: topic_name.into(),
            payload: p.payload,
            qos,
            retain: p.retain,
            props: p.props,
            expires_at_ms: p.expiry.map(|e| now_ms() + u64::from(e) * 1000),
            origin: client,
            wire: Default::default(),
            id: crate::protocol::message::new_message_id(),
        });
        if qos == 2
            && let Some(pid) = pid
        {
            broker.incoming_qos2(&session, pid, true);
        }
        // While some node's messages are kept in the outbox, what this publisher forwards
        // must queue behind its own earlier, still unconfirmed messages: wait for those first.
        let mut events = Vec::new();
        if !self.acks.is_empty() && broker.forwarding_held() {
            while !self.acks.is_empty() {
                let r = self.confirmation().await;
                events.extend(self.settle(r));
            }
        }
        let (outcome, confirm) = match broker.publish_unconfirmed(msg).await {
            Ok(r) => {
                self.congested |= r.outcome.congested;
                (Ok(r.outcome), r.confirm)
            }
            Err(e) => {
                tracing::error!(client = ?self.client_id, "publish failed: {e}");
                (Err(()), None)
            }
        };
        let Some(pid) = pid else { return events };
        // PUBACK and PUBREC share these reason codes.
        let rc = match outcome {
            Err(()) => Reason::ImplementationSpecificError,
            Ok(PublishOutcome { refused, .. }) if refused > 0 => Reason::QuotaExceeded,
            Ok(PublishOutcome { delivered: 0, .. }) => Reason::NoMatchingSubscribers,
            Ok(_) => Reason::Success,
        };
        let ack = self.queue_ack(PendingAck::new(pid, qos, rc, confirm));
        if events.is_empty() {
            return ack;
        }
        events.extend(ack);
        events
    }
}

/// PUBLISH (or will) properties the broker forwards unchanged.
pub(crate) fn publish_props_in(props: &[Property]) -> PublishProps {
    let mut out = PublishProps::default();
    for p in props {
        match p {
            Property::PayloadFormatIndicator(v) => out.payload_format = Some(v.val()),
            Property::ContentType(v) => out.content_type = Some(v.val().to_string()),
            Property::ResponseTopic(v) => out.response_topic = Some(v.val().to_string()),
            Property::CorrelationData(v) => out.correlation_data = Some(v.val().to_vec()),
            Property::UserProperty(v) => out.user_properties.push((v.key().to_string(), v.val().to_string())),
            _ => {}
        }
    }
    out
}

pub(super) fn qos_u8(q: Qos) -> u8 {
    match q {
        Qos::AtMostOnce => 0,
        Qos::AtLeastOnce => 1,
        Qos::ExactlyOnce => 2,
    }
}

pub(super) fn qos_of(q: u8) -> Qos {
    match q {
        0 => Qos::AtMostOnce,
        1 => Qos::AtLeastOnce,
        _ => Qos::ExactlyOnce,
    }
}
