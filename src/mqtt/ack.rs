//! The QoS 1 and 2 flows: PUBACK/PUBREC for the client's publishes (in order, each after the
//! other nodes confirmed it), PUBREL/PUBCOMP, and the client's acknowledgements of deliveries.

use mqtt_protocol_core::mqtt::connection::Event;
use mqtt_protocol_core::mqtt::packet::{GenericPacketTrait, Packet, v3_1_1, v5_0};
use mqtt_protocol_core::mqtt::result_code::MqttError;

use super::Driver;
use super::reason::Reason;
use crate::broker::port::{ClusterError, Confirmation};

/// A PUBACK or PUBREC to send once the other nodes have confirmed the message.
/// The acknowledgements waiting for other nodes, oldest first; out of line, since only a
/// client publishing QoS ≥ 1 to subscribers on other nodes has any. The queue is kept between
/// messages and given back when the connection goes idle ([`Acks::shrink`]).
#[derive(Default)]
#[allow(clippy::box_collection)] // 8 bytes inline instead of 32: the point of the type
pub(super) struct Acks(Option<Box<std::collections::VecDeque<PendingAck>>>);

impl Acks {
    pub(super) fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|q| q.is_empty())
    }

    pub(super) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |q| q.len())
    }

    pub(super) fn push_back(&mut self, a: PendingAck) {
        self.0.get_or_insert_default().push_back(a);
    }

    pub(super) fn pop_front(&mut self) -> Option<PendingAck> {
        self.0.as_mut()?.pop_front()
    }

    pub(super) fn front_mut(&mut self) -> Option<&mut PendingAck> {
        self.0.as_mut()?.front_mut()
    }

    /// Free the queue if it is empty.
    pub(super) fn shrink(&mut self) {
        if self.is_empty() {
            self.0 = None;
        }
    }
}

impl IntoIterator for Acks {
    type Item = PendingAck;
    type IntoIter = std::iter::Flatten<std::option::IntoIter<std::collections::VecDeque<PendingAck>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.map(|q| *q).into_iter().flatten()
    }
}

pub(super) struct PendingAck {
    pid: u16,
    qos: u8,
    /// The reason code from this node's part of the delivery.
    rc: Reason,
    confirm: Option<Confirmation>,
}

impl PendingAck {
    pub(super) fn new(pid: u16, qos: u8, rc: Reason, confirm: Option<Confirmation>) -> PendingAck {
        PendingAck { pid, qos, rc, confirm }
    }

    /// What the other nodes said (at once when nothing was forwarded). Cancel-safe.
    pub(super) async fn confirmed(&mut self) -> Result<(), ClusterError> {
        match &mut self.confirm {
            Some(c) => c.await,
            None => Ok(()),
        }
    }
}

/// An acknowledgement of the QoS 1/2 flows in version 5.0 (`v5`) or 3.1.1 (which carries no
/// reason code).
pub(crate) fn ack_packet(v5: bool, kind: Ack, pid: u16, rc: Reason) -> Result<Packet, MqttError> {
    match (v5, kind) {
        (true, Ack::Puback) => {
            v5_0::Puback::builder().packet_id(pid).reason_code(rc.puback()).build().map(Packet::from)
        }
        (true, Ack::Pubrec) => {
            v5_0::Pubrec::builder().packet_id(pid).reason_code(rc.pubrec()).build().map(Packet::from)
        }
        (true, Ack::Pubrel) => v5_0::Pubrel::builder().packet_id(pid).build().map(Packet::from),
        (true, Ack::Pubcomp) => {
            v5_0::Pubcomp::builder().packet_id(pid).reason_code(rc.pubcomp()).build().map(Packet::from)
        }
        (false, Ack::Puback) => v3_1_1::Puback::builder().packet_id(pid).build().map(Packet::from),
        (false, Ack::Pubrec) => v3_1_1::Pubrec::builder().packet_id(pid).build().map(Packet::from),
        (false, Ack::Pubrel) => v3_1_1::Pubrel::builder().packet_id(pid).build().map(Packet::from),
        (false, Ack::Pubcomp) => v3_1_1::Pubcomp::builder().packet_id(pid).build().map(Packet::from),
    }
}

/// Append `p`'s wire bytes to `out`. The packets of the QoS flows (a PUBLISH and its
/// acknowledgement for every message at QoS ≥ 1) are written straight into the output buffer:
/// the library's `to_continuous_buffer` builds a fresh vector per packet (and another for a
/// PUBLISH's topic), several allocations per message on the busiest path. Byte-for-byte the
/// library's encoding (unit-tested against it).
pub(super) fn append_packet(out: &mut Vec<u8>, p: &Packet) {
    match p {
        Packet::V3_1_1Publish(p) => {
            let topic = p.topic_name().as_bytes();
            let payload = p.payload().as_slice();
            let pid = p.packet_id();
            let remaining = 2 + topic.len() + if pid.is_some() { 2 } else { 0 } + payload.len();
            let flags = (u8::from(p.dup()) << 3) | (super::publish::qos_u8(p.qos()) << 1) | u8::from(p.retain());
            out.reserve(remaining + 5);
            out.push(0x30 | flags);
            crate::protocol::wire::put_varint(out, remaining);
            // A topic the library holds is an MQTT string: below 64 KiB.
            out.extend_from_slice(&u16::try_from(topic.len()).unwrap_or(u16::MAX).to_be_bytes());
            out.extend_from_slice(topic);
            if let Some(pid) = pid {
                out.extend_from_slice(&pid.to_be_bytes());
            }
            out.extend_from_slice(payload);
        }
        Packet::V3_1_1Puback(a) => out.extend_from_slice(&fixed4(0x40, a.packet_id())),
        Packet::V3_1_1Pubrec(a) => out.extend_from_slice(&fixed4(0x50, a.packet_id())),
        Packet::V3_1_1Pubrel(a) => out.extend_from_slice(&fixed4(0x62, a.packet_id())),
        Packet::V3_1_1Pubcomp(a) => out.extend_from_slice(&fixed4(0x70, a.packet_id())),
        // 5.0 packets carry properties: the library's slices, copied once.
        Packet::V5_0Publish(_) | Packet::V5_0Puback(_) => {
            for s in p.to_buffers() {
                out.extend_from_slice(&s);
            }
        }
        other => out.extend_from_slice(&other.to_continuous_buffer()),
    }
}

/// A 3.1.1 acknowledgement: fixed header, remaining length 2, packet id.
fn fixed4(header: u8, pid: u16) -> [u8; 4] {
    let [hi, lo] = pid.to_be_bytes();
    [header, 2, hi, lo]
}

/// The acknowledgements of the QoS 1 and 2 flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ack {
    Puback,
    Pubrec,
    Pubrel,
    Pubcomp,
}

impl Driver {
    /// Acknowledge a publish now, or after the ones before it and its confirmation.
    pub(super) fn queue_ack(&mut self, ack: PendingAck) -> Vec<Event> {
        if ack.confirm.is_none() && self.acks.is_empty() {
            return self.acknowledge(ack, Ok(()));
        }
        self.acks.push_back(ack);
        // Often confirmed already (a fast peer, or nothing forwarded).
        self.settle_ready()
    }

    /// The oldest waiting acknowledgement's confirmation ([`Driver::confirmation`]) came.
    pub async fn confirmed(&mut self, first: Result<(), ClusterError>) {
        let ev = self.settle(first);
        self.process(ev).await;
    }

    /// The first waiting acknowledgement's confirmation came: send it and every one after it
    /// that is ready too.
    pub(super) fn settle(&mut self, first: Result<(), ClusterError>) -> Vec<Event> {
        let mut events = Vec::new();
        if let Some(a) = self.acks.pop_front() {
            events = self.acknowledge(a, first);
        }
        events.extend(self.settle_ready());
        events
    }

    /// Send the waiting acknowledgements, oldest first, up to the first one whose
    /// confirmation is still outstanding.
    fn settle_ready(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(a) = self.acks.front_mut() {
            let r = match &mut a.confirm {
                None => Ok(()),
                Some(c) => match futures_util::FutureExt::now_or_never(c.as_mut()) {
                    Some(r) => r,
                    None => break,
                },
            };
            if let Some(a) = self.acks.pop_front() {
                events.extend(self.acknowledge(a, r));
            }
        }
        events
    }

    /// PUBACK or PUBREC for a publish, given what the other nodes said.
    fn acknowledge(&mut self, a: PendingAck, remote: Result<(), ClusterError>) -> Vec<Event> {
        let mut rc = a.rc;
        if let Err(e) = remote {
            tracing::error!(client = ?self.client_id, "publish failed: {e}");
            rc = rc.max(Reason::ImplementationSpecificError);
        }
        match a.qos {
            1 => self.send_ack(Ack::Puback, a.pid, rc),
            _ => {
                if rc.failed()
                    && let Some(s) = &self.session
                {
                    // A failed PUBREC ends the exchange: the id may be reused (MQTT-4.3.3).
                    self.broker.incoming_qos2(s, a.pid, false);
                }
                self.send_ack(Ack::Pubrec, a.pid, rc)
            }
        }
    }

    pub(super) fn pubrel(&mut self, pid: u16) -> Vec<Event> {
        let known = match &self.session {
            Some(s) => {
                let known = s.has_incoming_qos2(pid);
                self.broker.incoming_qos2(s, pid, false);
                known
            }
            None => false,
        };
        let rc = if known { Reason::Success } else { Reason::PacketIdentifierNotFound };
        self.send_ack(Ack::Pubcomp, pid, rc)
    }

    /// Send an acknowledgement of the QoS 1/2 flows in the connection's version; `rc` is the 5.0
    /// reason code (3.1.1 has none).
    pub(super) fn send_ack(&mut self, kind: Ack, pid: u16, rc: Reason) -> Vec<Event> {
        let p = ack_packet(self.v5(), kind, pid, rc);
        match p {
            Ok(p) => self.mqtt.send(p),
            Err(e) => {
                tracing::warn!(client = ?self.client_id, pid, error = ?e, "cannot build acknowledgement");
                Vec::new()
            }
        }
    }

    /// PUBACK or PUBCOMP from the client: the delivery is done. Recorded with the others of
    /// this read by [`Driver::complete_acked`] once the read is handled, before anything is sent
    /// again (the packet id is not reused before: only `pump` takes new ones).
    pub(super) fn acked(&mut self, pid: u16) -> Vec<Event> {
        if self.session.is_some() {
            self.acked.get_or_insert_default().push(pid);
        }
        Vec::new()
    }

    /// Complete the deliveries acknowledged since the last call, all at once.
    pub(super) fn complete_acked(&mut self) {
        let Some(acked) = self.acked.as_mut().filter(|a| !a.is_empty()) else {
            return;
        };
        if let Some(s) = &self.session {
            self.broker.complete_all(s, self.conn_id, acked);
        }
        acked.clear();
    }

    pub(super) fn pubrec(&mut self, pid: u16, failed: bool) -> Vec<Event> {
        let Some(s) = self.session.clone() else {
            return Vec::new();
        };
        if failed {
            self.broker.complete(&s, self.conn_id, pid);
            return Vec::new();
        }
        self.broker.released(&s, self.conn_id, pid);
        self.send_ack(Ack::Pubrel, pid, Reason::Success)
    }

    /// The connection ends with acknowledgements still waiting: their messages were sent, so
    /// see the confirmations through (what a node does not confirm goes to the outbox, in
    /// order). The client gets no acknowledgement and sends them again when it reconnects.
    pub(super) fn release_acks(&mut self) {
        let acks = std::mem::take(&mut self.acks);
        if acks.is_empty() {
            return;
        }
        let broker = self.broker.clone();
        let session = self.session.clone();
        // Per connection batch: ends once these acknowledgements are confirmed or failed.
        tokio::spawn(async move {
            for mut a in acks {
                let r = a.confirmed().await;
                if r.is_err()
                    && a.qos == 2
                    && let Some(s) = &session
                {
                    // Not handled after all: a resent PUBLISH with this id must be routed again.
                    broker.incoming_qos2(s, a.pid, false);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqtt_protocol_core::mqtt::packet::{Property, Qos, UserProperty};

    fn lib_bytes(p: &Packet) -> Vec<u8> {
        p.to_continuous_buffer()
    }

    fn ours(p: &Packet) -> Vec<u8> {
        // Appended after bytes already there, as in the output buffer.
        let mut out = vec![0xAA];
        append_packet(&mut out, p);
        out.split_off(1)
    }

    #[test]
    fn append_packet_writes_what_the_library_encodes() {
        let mut packets: Vec<Packet> = Vec::new();
        for (qos, pid) in [(Qos::AtMostOnce, None), (Qos::AtLeastOnce, Some(1u16)), (Qos::ExactlyOnce, Some(65535))] {
            for (dup, retain) in [(false, false), (true, false), (false, true), (true, true)] {
                for (topic, len) in [("a", 0usize), ("bench/7", 64), ("t/x/y", 200), ("long/topic", 20_000)] {
                    let mut b = v3_1_1::Publish::builder()
                        .topic_name(topic)
                        .expect("topic")
                        .qos(qos)
                        .retain(retain)
                        .dup(dup && pid.is_some())
                        .payload(vec![9u8; len]);
                    if let Some(pid) = pid {
                        b = b.packet_id(pid);
                    }
                    packets.push(b.build().expect("v3 publish").into());
                    let mut b = v5_0::Publish::builder()
                        .topic_name(topic)
                        .expect("topic")
                        .qos(qos)
                        .retain(retain)
                        .payload(vec![3u8; len])
                        .props(vec![Property::UserProperty(UserProperty::new("k", "v").expect("prop"))]);
                    if let Some(pid) = pid {
                        b = b.packet_id(pid);
                    }
                    packets.push(b.build().expect("v5 publish").into());
                }
            }
        }
        for pid in [1u16, 256, 65535] {
            for kind in [Ack::Puback, Ack::Pubrec, Ack::Pubrel, Ack::Pubcomp] {
                for v5 in [false, true] {
                    for rc in [Reason::Success, Reason::NoMatchingSubscribers, Reason::QuotaExceeded] {
                        packets.push(ack_packet(v5, kind, pid, rc).expect("ack"));
                    }
                }
            }
        }
        for p in &packets {
            assert_eq!(ours(p), lib_bytes(p), "{p:?}");
        }
    }
}
