//! Deliveries to the client: ready messages from the session become PUBLISH packets in the
//! output buffer, within the client's window and maximum packet size.

use mqtt_protocol_core::mqtt::connection::Event;
use mqtt_protocol_core::mqtt::packet::{
    ContentType, CorrelationData, MessageExpiryInterval, Packet, PayloadFormat, PayloadFormatIndicator, Property,
    ResponseTopic, SubscriptionIdentifier, UserProperty, v3_1_1, v5_0,
};
use mqtt_protocol_core::mqtt::result_code::MqttError;

use super::Driver;
use super::publish::qos_of;
use crate::broker::session::Delivery;
use crate::metrics::DropReason;
use crate::protocol::message::now_ms;
use crate::protocol::wire::Shape;

/// Deliveries taken from the session per pump step.
const PUMP_BATCH: usize = 256;
/// Stop pumping once this much is buffered; the transport flushes and comes back.
const WBUF_HIGH: usize = 1 << 20;

impl Driver {
    /// Move ready deliveries from the session to the output buffer.
    pub fn pump(&mut self) {
        let Some(session) = self.session.clone() else {
            return;
        };
        if self.end.is_some() {
            return;
        }
        let v5 = self.v5();
        let broker = self.broker.clone();
        let metrics = broker.metrics();
        loop {
            let mqtt = &mut self.mqtt;
            let items =
                broker.take_ready(&session, self.conn_id, PUMP_BATCH, self.window, || mqtt.acquire_packet_id().ok());
            if items.is_empty() {
                return;
            }
            let n = items.len();
            let now = now_ms();
            for (pid, d) in items {
                if pid.is_none() && !self.aliases_out {
                    // QoS 0 without topic aliases: no per-connection state in the packet, so its
                    // bytes are encoded once per message and shape and shared by its subscribers.
                    let shape = Shape {
                        v5,
                        retain: d.retain,
                        sub_ids: &d.sub_ids,
                        expiry: if v5 { d.msg.remaining_expiry(now) } else { None },
                    };
                    let bytes = d.msg.wire.shaped(&d.msg, &shape);
                    if bytes.len() > self.max_out {
                        metrics.dropped(DropReason::PacketTooLarge);
                    } else {
                        self.wbuf.extend_from_slice(&bytes);
                        metrics.messages_sent[0].inc();
                        metrics.packet_out("publish");
                    }
                    continue;
                }
                let built = if v5 {
                    build_v5(&d, pid, false).map(Packet::from)
                } else {
                    build_v3(&d, pid, false).map(Packet::from)
                };
                let Some(packet) = built else {
                    // Logged by the builder; completed so it does not block the session.
                    if let Some(pid) = pid {
                        let _ = self.mqtt.release_packet_id(pid);
                        broker.complete(&session, self.conn_id, pid);
                    }
                    continue;
                };
                let ev = self.mqtt.send(packet);
                let mut too_large = false;
                for e in ev {
                    match e {
                        Event::RequestSendPacket { packet, .. } => {
                            super::ack::append_packet(&mut self.wbuf, &packet);
                        }
                        Event::NotifyError(MqttError::PacketTooLarge) => too_large = true,
                        Event::NotifyError(e) => {
                            tracing::debug!(client = ?self.client_id, error = ?e, "delivery not sent");
                        }
                        _ => {}
                    }
                }
                if too_large {
                    // MQTT-3.1.2-25: a message larger than the client accepts is dropped for it.
                    metrics.dropped(DropReason::PacketTooLarge);
                    if let Some(pid) = pid {
                        let _ = self.mqtt.release_packet_id(pid);
                        broker.complete(&session, self.conn_id, pid);
                    }
                } else {
                    if let Some(c) = metrics.messages_sent.get(usize::from(d.qos)) {
                        c.inc();
                    }
                    metrics.packet_out("publish");
                }
            }
            if self.wbuf.len() >= WBUF_HIGH || n < PUMP_BATCH {
                if self.wbuf.len() >= WBUF_HIGH {
                    // Come back after the flush.
                    session.wake_again();
                }
                return;
            }
        }
    }
}

pub(crate) fn build_v5(d: &Delivery, pid: Option<u16>, dup: bool) -> Option<v5_0::Publish> {
    let m = &d.msg;
    let mut props: Vec<Property> = Vec::new();
    if let Some(pf) = m.props.payload_format {
        let f = if pf == 1 { PayloadFormat::String } else { PayloadFormat::Binary };
        push_prop(&mut props, PayloadFormatIndicator::new(f).map(Property::PayloadFormatIndicator));
    }
    if let Some(e) = m.remaining_expiry(now_ms()) {
        push_prop(&mut props, MessageExpiryInterval::new(e).map(Property::MessageExpiryInterval));
    }
    if let Some(ct) = &m.props.content_type {
        push_prop(&mut props, ContentType::new(ct.as_str()).map(Property::ContentType));
    }
    if let Some(rt) = &m.props.response_topic {
        push_prop(&mut props, ResponseTopic::new(rt.as_str()).map(Property::ResponseTopic));
    }
    if let Some(cd) = &m.props.correlation_data {
        push_prop(&mut props, CorrelationData::new(cd.clone()).map(Property::CorrelationData));
    }
    for (k, v) in &m.props.user_properties {
        push_prop(&mut props, UserProperty::new(k.as_str(), v.as_str()).map(Property::UserProperty));
    }
    for id in &d.sub_ids {
        push_prop(&mut props, SubscriptionIdentifier::new(*id).map(Property::SubscriptionIdentifier));
    }
    let r = v5_0::Publish::builder().topic_name(&*m.topic).and_then(|b| {
        let mut b = b.qos(qos_of(d.qos)).retain(d.retain).dup(dup).payload(m.payload.clone());
        if let Some(pid) = pid {
            b = b.packet_id(pid);
        }
        if !props.is_empty() {
            b = b.props(props);
        }
        b.build()
    });
    r.map_err(|e| tracing::warn!(topic = %m.topic, error = ?e, "cannot build PUBLISH")).ok()
}

pub(crate) fn build_v3(d: &Delivery, pid: Option<u16>, dup: bool) -> Option<v3_1_1::Publish> {
    let m = &d.msg;
    let r = v3_1_1::Publish::builder().topic_name(&*m.topic).and_then(|b| {
        let mut b = b.qos(qos_of(d.qos)).retain(d.retain).dup(dup).payload(m.payload.clone());
        if let Some(pid) = pid {
            b = b.packet_id(pid);
        }
        b.build()
    });
    r.map_err(|e| tracing::warn!(topic = %m.topic, error = ?e, "cannot build PUBLISH")).ok()
}

pub(super) fn push_prop(props: &mut Vec<Property>, p: Result<Property, MqttError>) {
    match p {
        Ok(p) => props.push(p),
        Err(e) => tracing::debug!(error = ?e, "property dropped"),
    }
}
