//! Bytes in → packets → the handler of each packet family; the library's events → output,
//! timers and the end of the connection.

use std::collections::VecDeque;
use std::time::Duration;

use mqtt_protocol_core::mqtt::common::Cursor;
use mqtt_protocol_core::mqtt::connection::{Event, TimerKind};
use mqtt_protocol_core::mqtt::packet::Packet;
use mqtt_protocol_core::mqtt::result_code::DisconnectReasonCode;
use tokio::time::Instant;

use super::{Driver, End};

impl Driver {
    /// Feed bytes read from the client, one packet at a time.
    pub async fn feed(&mut self, data: &[u8]) {
        let data = &*self.mqtt31.input(data);
        // Fixed-header flags and CONNECT's reserved bit are ours to check; bytes before a bad
        // packet are still processed.
        let (good, bad) = match self.frames.check(data) {
            Ok(()) => (data, None),
            Err(e) => (data.get(..e.offset).unwrap_or(&[]), Some(e)),
        };
        self.feed_checked(good, bad).await;
    }

    /// Feed frame-checked bytes; `bad` is the frame error right after them, if any. The
    /// deliveries the client acknowledged in them are completed at the end, together.
    pub(super) async fn feed_checked(&mut self, good: &[u8], bad: Option<crate::protocol::frame::FrameError>) {
        self.feed_packets(good, bad).await;
        self.complete_acked();
    }

    async fn feed_packets(&mut self, good: &[u8], bad: Option<crate::protocol::frame::FrameError>) {
        let mut cur = Cursor::new(good);
        while (cur.position() as usize) < good.len() && self.end.is_none() {
            let before = cur.position();
            let ev = self.mqtt.recv(&mut cur);
            let error = ev.iter().find_map(|e| match e {
                Event::NotifyError(e) => Some(*e),
                _ => None,
            });
            let closing = ev.iter().any(|e| matches!(e, Event::RequestClose));
            self.process(ev).await;
            if let Some(e) = error.filter(|_| !closing && self.end.is_none()) {
                // The library reported a bad packet without closing (e.g. a packet type a server
                // must not receive): a protocol error ends the connection (MQTT-4.13.1-1).
                let reason: DisconnectReasonCode = e.into();
                let ev = self.protocol_violation(reason, &format!("{e:?}"));
                self.process(ev).await;
            }
            if cur.position() == before {
                break;
            }
            let ending = self.end.is_some();
            if let Some(l) = &mut self.limits
                && std::mem::take(&mut l.hold)
                && !ending
            {
                let rest = good.get(cur.position() as usize..).unwrap_or(&[]);
                if !rest.is_empty() || bad.is_some() {
                    l.held = Some((rest.to_vec(), bad));
                    return;
                }
            }
        }
        if let Some(e) = bad.filter(|_| self.end.is_none()) {
            let ev = self.protocol_violation(DisconnectReasonCode::MalformedPacket, e.what);
            self.process(ev).await;
        }
    }

    /// Handle the library's events in order; handlers may produce more.
    pub(super) async fn process(&mut self, events: Vec<Event>) {
        let mut work: VecDeque<Event> = events.into();
        while let Some(ev) = work.pop_front() {
            match ev {
                Event::RequestSendPacket { packet, .. } => {
                    self.broker.metrics().packet_out(packet_name(&packet));
                    super::ack::append_packet(&mut self.wbuf, &packet);
                }
                Event::NotifyPacketReceived(p) => {
                    self.broker.metrics().packet_in(packet_name(&p));
                    let more = self.on_packet(p).await;
                    // Usually nothing is left to handle: take the handler's vector as it is
                    // rather than copying it (one allocation less per PUBLISH).
                    if work.is_empty() {
                        work = more.into();
                    } else {
                        work.extend(more);
                    }
                }
                Event::RequestTimerReset { kind: TimerKind::PingreqRecv, duration_ms } => {
                    self.keepalive_deadline = Some(Instant::now() + Duration::from_millis(duration_ms));
                }
                Event::RequestTimerCancel(TimerKind::PingreqRecv) => self.keepalive_deadline = None,
                Event::RequestTimerReset { .. } | Event::RequestTimerCancel(_) => {}
                Event::NotifyPacketIdReleased(_) => {}
                Event::NotifyError(e) => {
                    tracing::info!(client = ?self.client_id, peer = %self.peer, error = ?e, "protocol error");
                    if self.session.is_none() {
                        self.end.get_or_insert(End::ProtocolError);
                    }
                }
                Event::RequestClose => {
                    self.end.get_or_insert(End::ProtocolError);
                }
            }
        }
    }

    /// One packet from the client, to the handler of its family.
    async fn on_packet(&mut self, p: Packet) -> Vec<Event> {
        match p {
            Packet::V5_0Connect(c) => self.on_connect_v5(c).await,
            Packet::V3_1_1Connect(c) => self.on_connect_v3(c).await,
            Packet::V5_0Publish(p) => self.on_publish_v5(p).await,
            Packet::V3_1_1Publish(p) => self.on_publish_v3(p).await,
            Packet::V5_0Puback(a) => self.acked(a.packet_id()),
            Packet::V3_1_1Puback(a) => self.acked(a.packet_id()),
            Packet::V5_0Pubcomp(a) => self.acked(a.packet_id()),
            Packet::V3_1_1Pubcomp(a) => self.acked(a.packet_id()),
            Packet::V5_0Pubrec(r) => {
                let failed = r.reason_code().is_some_and(|c| c as u8 >= 0x80);
                self.pubrec(r.packet_id(), failed)
            }
            Packet::V3_1_1Pubrec(r) => self.pubrec(r.packet_id(), false),
            Packet::V5_0Pubrel(r) => self.pubrel(r.packet_id()),
            Packet::V3_1_1Pubrel(r) => self.pubrel(r.packet_id()),
            Packet::V5_0Subscribe(s) => self.on_subscribe_v5(s).await,
            Packet::V3_1_1Subscribe(s) => self.on_subscribe_v3(s).await,
            Packet::V5_0Unsubscribe(u) => {
                let filters = u.entries().iter().map(|e| e.as_str().to_string()).collect();
                self.on_unsubscribe(u.packet_id(), filters).await
            }
            Packet::V3_1_1Unsubscribe(u) => {
                let filters = u.entries().iter().map(|e| e.as_str().to_string()).collect();
                self.on_unsubscribe(u.packet_id(), filters).await
            }
            Packet::V5_0Disconnect(d) => self.on_disconnect_v5(d),
            Packet::V3_1_1Disconnect(_) => {
                self.end = Some(End::ClientDisconnect);
                Vec::new()
            }
            Packet::V5_0Auth(_) => {
                self.protocol_violation(DisconnectReasonCode::ProtocolError, "AUTH without an authentication method")
            }
            // Answered by the library (`set_auto_ping_response`).
            Packet::V5_0Pingreq(_) | Packet::V3_1_1Pingreq(_) => Vec::new(),
            other => {
                let name = packet_name(&other);
                self.protocol_violation(
                    DisconnectReasonCode::ProtocolError,
                    &format!("unexpected {name} from a client"),
                )
            }
        }
    }
}

/// A packet's name, as the metrics label it.
pub(super) fn packet_name(p: &Packet) -> &'static str {
    match p {
        Packet::V3_1_1Connect(_) | Packet::V5_0Connect(_) => "connect",
        Packet::V3_1_1Connack(_) | Packet::V5_0Connack(_) => "connack",
        Packet::V3_1_1Publish(_) | Packet::V5_0Publish(_) => "publish",
        Packet::V3_1_1Puback(_) | Packet::V5_0Puback(_) => "puback",
        Packet::V3_1_1Pubrec(_) | Packet::V5_0Pubrec(_) => "pubrec",
        Packet::V3_1_1Pubrel(_) | Packet::V5_0Pubrel(_) => "pubrel",
        Packet::V3_1_1Pubcomp(_) | Packet::V5_0Pubcomp(_) => "pubcomp",
        Packet::V3_1_1Subscribe(_) | Packet::V5_0Subscribe(_) => "subscribe",
        Packet::V3_1_1Suback(_) | Packet::V5_0Suback(_) => "suback",
        Packet::V3_1_1Unsubscribe(_) | Packet::V5_0Unsubscribe(_) => "unsubscribe",
        Packet::V3_1_1Unsuback(_) | Packet::V5_0Unsuback(_) => "unsuback",
        Packet::V3_1_1Pingreq(_) | Packet::V5_0Pingreq(_) => "pingreq",
        Packet::V3_1_1Pingresp(_) | Packet::V5_0Pingresp(_) => "pingresp",
        Packet::V3_1_1Disconnect(_) | Packet::V5_0Disconnect(_) => "disconnect",
        Packet::V5_0Auth(_) => "auth",
    }
}
