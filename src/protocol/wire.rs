//! Hand-encoded QoS 0 PUBLISH packets for the fan-out fast path.
//!
//! A QoS 0 PUBLISH carries no per-connection state (no packet id, and no topic alias when the
//! client allows none), so the bytes are the same for every subscriber that gets the same
//! protocol version and RETAIN flag. They are encoded once per message and shared, instead of
//! going through the protocol library's packet builder for each subscriber. Deliveries that need
//! per-subscriber content (subscription identifiers, a decreasing message expiry, topic aliases,
//! QoS ≥ 1) still take the library path.

use std::sync::{Arc, OnceLock};

use crate::protocol::Message;

/// One slot per (protocol version, RETAIN flag).
#[derive(Debug, Clone, Default)]
pub struct WireCache {
    slots: [OnceLock<Arc<[u8]>>; 4],
}

impl WireCache {
    /// The encoded packet, building it on first use.
    pub fn qos0(&self, msg: &Message, v5: bool, retain: bool) -> Arc<[u8]> {
        let i = usize::from(v5) * 2 + usize::from(retain);
        self.slots[i].get_or_init(|| encode_qos0(msg, v5, retain).into()).clone()
    }
}

/// Can this delivery use the shared encoding?
pub fn shareable(msg: &Message, qos: u8, sub_ids: &[u32]) -> bool {
    qos == 0 && sub_ids.is_empty() && msg.expires_at_ms.is_none()
}

/// Append an MQTT variable byte integer (remaining length, property length).
pub fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    // Lengths were validated on receipt (topic and properties are MQTT strings, < 64 KiB).
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&s[..usize::from(len)]);
}

/// The PUBLISH properties a QoS 0 delivery forwards (MQTT 5.0 §3.3.2.3).
fn properties(msg: &Message) -> Vec<u8> {
    let p = &msg.props;
    let mut out = Vec::new();
    if let Some(f) = p.payload_format {
        out.extend_from_slice(&[0x01, f]);
    }
    if let Some(ct) = &p.content_type {
        out.push(0x03);
        put_str(&mut out, ct.as_bytes());
    }
    if let Some(rt) = &p.response_topic {
        out.push(0x08);
        put_str(&mut out, rt.as_bytes());
    }
    if let Some(cd) = &p.correlation_data {
        out.push(0x09);
        put_str(&mut out, cd);
    }
    for (k, v) in &p.user_properties {
        out.push(0x26);
        put_str(&mut out, k.as_bytes());
        put_str(&mut out, v.as_bytes());
    }
    out
}

/// Encode a QoS 0 PUBLISH of `msg`.
pub fn encode_qos0(msg: &Message, v5: bool, retain: bool) -> Vec<u8> {
    let props = if v5 { properties(msg) } else { Vec::new() };
    let mut props_len = Vec::new();
    if v5 {
        put_varint(&mut props_len, props.len());
    }
    let payload = msg.payload.as_slice();
    let remaining = 2 + msg.topic.len() + props_len.len() + props.len() + payload.len();
    let mut out = Vec::with_capacity(remaining + 5);
    out.push(0x30 | u8::from(retain));
    put_varint(&mut out, remaining);
    put_str(&mut out, msg.topic.as_bytes());
    out.extend_from_slice(&props_len);
    out.extend_from_slice(&props);
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::PublishProps;
    use mqtt_protocol_core::mqtt::ArcPayload;
    use mqtt_protocol_core::mqtt::packet::{Property, v3_1_1, v5_0};

    fn msg(payload_len: usize, props: PublishProps) -> Message {
        let p: Arc<[u8]> = vec![7u8; payload_len].into();
        Message {
            topic: "a/b".into(),
            payload: ArcPayload::new(p, 0, payload_len),
            qos: 0,
            retain: false,
            props,
            expires_at_ms: None,
            origin: "o".into(),
            wire: Default::default(),
            id: 0,
        }
    }

    /// The hand encoding is byte-for-byte what the protocol library's parser reads back.
    #[test]
    fn library_parses_what_we_encode() {
        let props = PublishProps {
            payload_format: Some(1),
            content_type: Some("text/plain".into()),
            response_topic: Some("r/t".into()),
            correlation_data: Some(vec![1, 2, 3]),
            user_properties: vec![("k".into(), "v".into()), ("k".into(), "w".into())],
        };
        for len in [0usize, 1, 100, 200, 20_000] {
            let m = msg(len, props.clone());
            for retain in [false, true] {
                let b = encode_qos0(&m, true, retain);
                let (hdr, body) = split(&b);
                let (p, _) = v5_0::Publish::parse(hdr & 0x0f, Arc::from(body)).expect("v5 parse");
                assert_eq!(p.topic_name(), "a/b");
                assert_eq!(p.retain(), retain);
                assert_eq!(p.payload().as_slice().len(), len);
                let users: Vec<_> = p
                    .props()
                    .iter()
                    .filter_map(|x| match x {
                        Property::UserProperty(u) => Some((u.key().to_string(), u.val().to_string())),
                        _ => None,
                    })
                    .collect();
                assert_eq!(users, props.user_properties);
                let b = encode_qos0(&m, false, retain);
                let (hdr, body) = split(&b);
                let (p, _) = v3_1_1::Publish::parse(hdr & 0x0f, Arc::from(body)).expect("v3 parse");
                assert_eq!(p.topic_name(), "a/b");
                assert_eq!(p.payload().as_slice().len(), len);
            }
        }
    }

    fn split(b: &[u8]) -> (u8, &[u8]) {
        let mut i = 1;
        while b[i] & 0x80 != 0 {
            i += 1;
        }
        (b[0], &b[i + 1..])
    }

    #[test]
    fn cache_shares_bytes() {
        let m = msg(10, PublishProps::default());
        let a = m.wire.qos0(&m, true, false);
        let b = m.wire.qos0(&m, true, false);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &m.wire.qos0(&m, false, false)));
    }
}
