//! Hand-encoded QoS 0 PUBLISH packets for the fan-out path.
//!
//! A QoS 0 PUBLISH carries no per-connection state (no packet id, and no topic alias when the
//! client allows none), so its bytes depend only on the message and its *shape*: the protocol
//! version, the RETAIN flag as sent, and in 5.0 the subscription identifiers and the remaining
//! message expiry. They are encoded once per message and shape and shared by every subscriber
//! that gets that shape, instead of going through the protocol library's packet builder for
//! each subscriber. Deliveries that need per-connection state (QoS ≥ 1 packet ids, topic
//! aliases) still take the library path.

use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::protocol::Message;

/// Shapes with per-subscriber content kept per message; past this the cache starts over (a
/// message whose subscribers carry many distinct identifier sets, or whose remaining expiry
/// ticked over while it was being delivered).
const SHAPED_MAX: usize = 8;

/// The encodings of one message, built on first use.
#[derive(Debug, Default)]
pub struct WireCache {
    /// No per-subscriber content: one slot per (protocol version, RETAIN flag).
    plain: [OnceLock<Arc<[u8]>>; 4],
    /// 5.0 shapes with subscription identifiers or a message expiry.
    shaped: Mutex<Vec<(ShapeKey, Arc<[u8]>)>>,
}

/// A copy of a message is a new message: its encodings are built again (and may differ).
impl Clone for WireCache {
    fn clone(&self) -> Self {
        WireCache::default()
    }
}

#[derive(Debug, PartialEq, Eq)]
struct ShapeKey {
    retain: bool,
    sub_ids: Box<[u32]>,
    expiry: Option<u32>,
}

impl WireCache {
    /// The encoded packet without per-subscriber content, building it on first use.
    pub fn qos0(&self, msg: &Message, v5: bool, retain: bool) -> Arc<[u8]> {
        let i = usize::from(v5) * 2 + usize::from(retain);
        self.plain[i].get_or_init(|| encode_qos0(msg, v5, None, retain).into()).clone()
    }

    /// `f` applied to the encoded packet for a QoS 0 delivery of shape `shape` (see
    /// [`Self::shaped`]), borrowed where it can be: a shape without per-subscriber content then
    /// costs no reference-count traffic on the shared bytes, which every subscriber's thread
    /// would otherwise contend on.
    pub fn with_shaped<R>(&self, msg: &Message, shape: &Shape<'_>, f: impl FnOnce(&[u8]) -> R) -> R {
        if !shape.v5 || (shape.sub_ids.is_empty() && shape.expiry.is_none()) {
            let i = usize::from(shape.v5) * 2 + usize::from(shape.retain);
            return f(self.plain[i].get_or_init(|| encode_qos0(msg, shape.v5, None, shape.retain).into()));
        }
        f(&self.shaped(msg, shape))
    }

    /// The encoded packet for a QoS 0 delivery of shape `shape`, shared with every other
    /// delivery of the same shape.
    pub fn shaped(&self, msg: &Message, shape: &Shape<'_>) -> Arc<[u8]> {
        if !shape.v5 || (shape.sub_ids.is_empty() && shape.expiry.is_none()) {
            return self.qos0(msg, shape.v5, shape.retain);
        }
        let same = |k: &ShapeKey| k.retain == shape.retain && k.expiry == shape.expiry && *k.sub_ids == *shape.sub_ids;
        if let Some((_, b)) = self.shaped.lock().iter().find(|(k, _)| same(k)) {
            return b.clone();
        }
        // Encoded outside the lock; two subscribers racing here encode it twice, harmlessly.
        let bytes: Arc<[u8]> = encode_qos0(msg, true, Some(shape), shape.retain).into();
        let mut cache = self.shaped.lock();
        if !cache.iter().any(|(k, _)| same(k)) {
            if cache.len() >= SHAPED_MAX {
                cache.clear();
            }
            let key = ShapeKey { retain: shape.retain, sub_ids: shape.sub_ids.into(), expiry: shape.expiry };
            cache.push((key, bytes.clone()));
        }
        bytes
    }
}

/// What a QoS 0 PUBLISH to one subscriber depends on besides the message.
#[derive(Debug, Clone, Copy)]
pub struct Shape<'a> {
    pub v5: bool,
    /// RETAIN as sent to this subscriber (Retain As Published).
    pub retain: bool,
    /// The identifiers of the subscriptions it matched (5.0 only).
    pub sub_ids: &'a [u32],
    /// Remaining Message Expiry Interval in seconds (5.0 only).
    pub expiry: Option<u32>,
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

/// The PUBLISH properties a QoS 0 delivery carries (MQTT 5.0 §3.3.2.3): the message's own,
/// then what the subscriber's shape adds.
fn properties(msg: &Message, shape: Option<&Shape<'_>>) -> Vec<u8> {
    let p = &msg.props;
    let mut out = Vec::new();
    if let Some(f) = p.payload_format {
        out.extend_from_slice(&[0x01, f]);
    }
    if let Some(e) = shape.and_then(|s| s.expiry) {
        out.push(0x02);
        out.extend_from_slice(&e.to_be_bytes());
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
    for id in shape.map(|s| s.sub_ids).unwrap_or_default() {
        // A Subscription Identifier is 1..=268,435,455 (checked at SUBSCRIBE).
        out.push(0x0B);
        put_varint(&mut out, *id as usize);
    }
    out
}

/// Encode a QoS 0 PUBLISH of `msg`; `shape` adds a 5.0 subscriber's identifiers and expiry.
pub fn encode_qos0(msg: &Message, v5: bool, shape: Option<&Shape<'_>>, retain: bool) -> Vec<u8> {
    let props = if v5 { properties(msg, shape) } else { Vec::new() };
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
                let b = encode_qos0(&m, true, None, retain);
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
                let b = encode_qos0(&m, false, None, retain);
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

    /// A 5.0 shape's identifiers and expiry come out as the library reads them, after the
    /// message's own properties, and a 3.1.1 shape carries none of them.
    #[test]
    fn shaped_encoding_carries_ids_and_expiry() {
        let props = PublishProps { user_properties: vec![("k".into(), "v".into())], ..Default::default() };
        let m = msg(5, props);
        for (ids, expiry) in [(&[][..], Some(30u32)), (&[7][..], None), (&[1, 300, 268_435_455][..], Some(1))] {
            for retain in [false, true] {
                let shape = Shape { v5: true, retain, sub_ids: ids, expiry };
                let b = m.wire.shaped(&m, &shape);
                let (hdr, body) = split(&b);
                let (p, _) = v5_0::Publish::parse(hdr & 0x0f, Arc::from(body)).expect("v5 parse");
                assert_eq!((p.topic_name(), p.retain(), p.payload().as_slice()), ("a/b", retain, &[7u8; 5][..]));
                let got_ids: Vec<u32> = p
                    .props()
                    .iter()
                    .filter_map(|x| match x {
                        Property::SubscriptionIdentifier(s) => Some(s.val()),
                        _ => None,
                    })
                    .collect();
                assert_eq!(got_ids, ids);
                let got_expiry = p.props().iter().find_map(|x| match x {
                    Property::MessageExpiryInterval(e) => Some(e.val()),
                    _ => None,
                });
                assert_eq!(got_expiry, expiry);
                assert!(p.props().iter().any(|x| matches!(x, Property::UserProperty(_))));
                m.wire.with_shaped(&m, &shape, |b| assert_eq!(b, &*m.wire.shaped(&m, &shape)));
                let v3 = m.wire.shaped(&m, &Shape { v5: false, ..shape });
                m.wire.with_shaped(&m, &Shape { v5: false, ..shape }, |b| assert_eq!(b, &*v3));
                assert!(Arc::ptr_eq(&v3, &m.wire.qos0(&m, false, retain)), "3.1.1 has no properties");
            }
        }
    }

    /// One encoding per distinct shape: equal shapes share the bytes, different ones do not,
    /// and a full cache starts over without serving wrong bytes.
    #[test]
    fn shapes_share_bytes_per_shape() {
        let m = msg(3, PublishProps::default());
        fn s(ids: &[u32], expiry: Option<u32>, retain: bool) -> Shape<'_> {
            Shape { v5: true, retain, sub_ids: ids, expiry }
        }
        let a = m.wire.shaped(&m, &s(&[5], None, false));
        assert!(Arc::ptr_eq(&a, &m.wire.shaped(&m, &s(&[5], None, false))));
        assert!(!Arc::ptr_eq(&a, &m.wire.shaped(&m, &s(&[5], None, true))));
        assert!(!Arc::ptr_eq(&a, &m.wire.shaped(&m, &s(&[5, 6], None, false))));
        assert!(!Arc::ptr_eq(&a, &m.wire.shaped(&m, &s(&[5], Some(9), false))));
        let plain = m.wire.shaped(&m, &s(&[], None, false));
        assert!(Arc::ptr_eq(&plain, &m.wire.qos0(&m, true, false)), "no per-subscriber content: the plain slot");
        for id in 0..(SHAPED_MAX as u32 * 2) {
            let ids = [id + 1];
            let b = m.wire.shaped(&m, &s(&ids, None, false));
            assert_eq!(*b, *encode_qos0(&m, true, Some(&s(&ids, None, false)), false));
        }
        assert!(m.wire.shaped.lock().len() <= SHAPED_MAX);
        assert_eq!(*m.wire.clone().shaped(&m, &s(&[5], None, false)), *a, "a copy encodes again, the same");
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
