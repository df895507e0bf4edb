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
/// Stop pumping once about this much is buffered; the transport flushes and comes back. A
/// buffer this size is reserved at once when a full batch shows a backlog, so it never grows
/// by copying; a write this size still carries hundreds of small messages.
const WBUF_HIGH: usize = 64 * 1024;
/// A PUBLISH's bytes besides its topic and payload, about: fixed header, topic length, packet id.
const PACKET_SLACK: usize = 8;

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
            // Room for the batch at once (about: properties may add a few bytes): growing the
            // buffer packet by packet copies it over and over. A full batch has more behind it.
            let want: usize = items.iter().map(|(_, d)| d.msg.topic.len() + d.msg.payload.len() + PACKET_SLACK).sum();
            let need = if n == PUMP_BATCH { want.max(WBUF_HIGH) } else { want };
            if self.wbuf.is_empty() && self.wbuf.capacity() < need {
                // A fresh buffer: growing the kept small one would copy its stale bytes too.
                self.wbuf = Vec::with_capacity(need);
            } else {
                self.wbuf.reserve(need);
            }
            // Counted once per batch: the counters are shared by every connection's thread.
            let mut sent = [0u64; 3];
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
                    let (wbuf, max_out) = (&mut self.wbuf, self.max_out);
                    let fits = d.msg.wire.with_shaped(&d.msg, &shape, |bytes| {
                        let fits = bytes.len() <= max_out;
                        if fits {
                            wbuf.extend_from_slice(bytes);
                        }
                        fits
                    });
                    if fits {
                        sent[0] += 1;
                    } else {
                        metrics.dropped(DropReason::PacketTooLarge);
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
                } else if let Some(c) = sent.get_mut(usize::from(d.qos)) {
                    *c += 1;
                }
            }
            for (c, k) in metrics.messages_sent.iter().zip(sent) {
                if k > 0 {
                    c.inc_by(k);
                }
            }
            let total: u64 = sent.iter().sum();
            if total > 0 {
                metrics.packets_out_n("publish", total);
            }
            // Stop before a batch like this one would outgrow the buffer.
            let full = self.wbuf.len() + want > WBUF_HIGH;
            if full || n < PUMP_BATCH {
                if full {
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
