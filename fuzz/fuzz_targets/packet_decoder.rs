//! `packet_decoder`: arbitrary bytes through every decoder the broker runs on untrusted input.
//!
//! - the byte stream goes to `mqtt-protocol-core`'s server `Connection::recv` (version
//!   Undetermined, the broker's options), in chunks, as the connection task feeds it; a CONNECT
//!   is answered with a successful CONNACK so the connected state is explored too, and every
//!   packet received is re-encoded and printed;
//! - `starling::protocol::frame::FrameCheck::check` sees the same stream, whole and split in two:
//!   both must agree on whether it is bad;
//! - `starling::protocol::Message::decode` and `starling::broker::session::Delivery::decode` (the
//!   on-disk records): a record that decodes must survive encode → decode unchanged.
//!
//! Nothing may panic. Input layout: byte 0 picks the chunk size for `recv` and the split point
//! for the frame check; the rest is the stream (and the record).

#![no_main]

use libfuzzer_sys::fuzz_target;
use mqtt_protocol_core::mqtt::common::Cursor;
use mqtt_protocol_core::mqtt::connection::{ConnectionOptions, Event};
use mqtt_protocol_core::mqtt::packet::{GenericPacketTrait, Packet, v3_1_1, v5_0};
use mqtt_protocol_core::mqtt::result_code::{ConnectReasonCode, ConnectReturnCode};
use mqtt_protocol_core::mqtt::{Connection, Version, role};
use starling::broker::session::Delivery;
use starling::protocol::Message;
use starling::protocol::frame::FrameCheck;

/// The broker's defaults (`mqtt.max_packet_size`, `mqtt.receive_maximum`).
const MAX_PACKET: u32 = 1024 * 1024;
const RECEIVE_MAX: u16 = 128;

fuzz_target!(|input: &[u8]| {
    let Some((&sel, data)) = input.split_first() else {
        return;
    };
    protocol_connection(sel, data);
    frame_check(sel, data);
    records(data);
});

fn protocol_connection(sel: u8, data: &[u8]) {
    let opts = ConnectionOptions::new().maximum_packet_size_recv(MAX_PACKET).receive_maximum(RECEIVE_MAX);
    let mut mqtt = Connection::<role::Server>::with_options(Version::Undetermined, opts);
    mqtt.set_auto_ping_response(true);
    mqtt.set_auto_map_topic_alias_send(true);
    let chunk = usize::from(sel % 32) + 1;
    let chunk = if sel >= 128 { data.len().max(1) } else { chunk };
    for piece in data.chunks(chunk) {
        let mut cur = Cursor::new(piece);
        let mut closed = false;
        while (cur.position() as usize) < piece.len() {
            let before = cur.position();
            let events = mqtt.recv(&mut cur);
            for ev in events {
                match ev {
                    Event::NotifyPacketReceived(p) => {
                        let _ = p.to_continuous_buffer();
                        let _ = format!("{p}");
                        let _ = format!("{p:?}");
                        answer_connect(&mut mqtt, &p);
                        closed |= broker_closes_on(&p);
                    }
                    Event::RequestSendPacket { packet, .. } => {
                        let _ = packet.to_continuous_buffer();
                    }
                    // The broker ends the connection on any error the library reports
                    // (`Conn::feed` / `Conn::process` in src/transport/connection.rs).
                    Event::RequestClose | Event::NotifyError(_) => closed = true,
                    _ => {}
                }
            }
            if closed || cur.position() == before {
                break;
            }
        }
        if closed {
            // The broker stops feeding a connection once it is to be closed.
            return;
        }
    }
}

/// Packets the broker closes the connection on before feeding the library more bytes, where
/// the library itself does not: a QoS > 0 PUBLISH with packet id 0 (MQTT-2.2.1-3). Without
/// this, a second such QoS 2 PUBLISH makes mqtt-protocol-core 0.7.9 panic building its PUBREC
/// (core.rs:3062, `unwrap` on `MalformedPacket`); see fuzz/README.md.
fn broker_closes_on(p: &Packet) -> bool {
    match p {
        Packet::V5_0Publish(p) => p.packet_id() == Some(0),
        Packet::V3_1_1Publish(p) => p.packet_id() == Some(0),
        _ => false,
    }
}

/// Accept a CONNECT as the broker would, so the rest of the stream meets a connected server.
fn answer_connect(mqtt: &mut Connection<role::Server>, p: &Packet) {
    let connack: Option<Packet> = match p {
        Packet::V5_0Connect(_) => v5_0::Connack::builder()
            .session_present(false)
            .reason_code(ConnectReasonCode::Success)
            .build()
            .ok()
            .map(Packet::from),
        Packet::V3_1_1Connect(_) => v3_1_1::Connack::builder()
            .session_present(false)
            .return_code(ConnectReturnCode::Accepted)
            .build()
            .ok()
            .map(Packet::from),
        _ => None,
    };
    if let Some(c) = connack {
        for ev in mqtt.send(c) {
            if let Event::RequestSendPacket { packet, .. } = ev {
                let _ = packet.to_continuous_buffer();
            }
        }
    }
}

fn frame_check(sel: u8, data: &[u8]) {
    let whole = FrameCheck::new().check(data);
    if let Err(e) = whole {
        assert!(e.offset < data.len().max(1), "error offset {} outside the chunk", e.offset);
    }
    let split = (usize::from(sel) * data.len()) / 255;
    let (a, b) = data.split_at(split.min(data.len()));
    let mut c = FrameCheck::new();
    let parts = c.check(a).and_then(|()| c.check(b));
    assert_eq!(
        whole.is_err(),
        parts.is_err(),
        "FrameCheck disagrees with itself when the stream is split at {split}: whole {whole:?}, split {parts:?}"
    );
}

fn records(data: &[u8]) {
    if let Ok(m) = Message::decode(data) {
        let again = Message::decode(&m.encode()).expect("an encoded message decodes");
        assert_eq!(again, m, "Message encode/decode is not a round trip");
    }
    if let Ok(d) = Delivery::decode(7, data) {
        let again = Delivery::decode(7, &d.encode()).expect("an encoded delivery decodes");
        assert_eq!(*again.msg, *d.msg);
        assert_eq!((again.qos, again.retain, &again.sub_ids), (d.qos, d.retain, &d.sub_ids));
        assert_eq!(again.shared, d.shared);
    }
}
