//! The broker's own application message: what a PUBLISH carries once it is accepted, independent
//! of the protocol version it came in with, plus its persisted (on-disk and on-the-wire between
//! nodes) encoding.
//!
//! Encoding: a version byte, then fields in a fixed order; strings and byte strings are u32
//! length-prefixed. Decoding never panics: every read is bounds-checked and a short or malformed
//! buffer is a [`CodecError`].

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use mqtt_protocol_core::mqtt::ArcPayload;
use thiserror::Error;

/// Format version written first in every encoded message (1: without the id; still read).
const MESSAGE_FORMAT: u8 = 2;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("record is truncated")]
    Truncated,
    #[error("unknown record format version {0}")]
    Version(u8),
    #[error("record holds invalid UTF-8")]
    Utf8,
    #[error("record has an invalid value")]
    Invalid,
}

/// The PUBLISH properties that a broker passes through unchanged (MQTT-3.3.2-4 ... -20).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishProps {
    pub payload_format: Option<u8>,
    pub content_type: Option<String>,
    pub response_topic: Option<String>,
    pub correlation_data: Option<Vec<u8>>,
    pub user_properties: Vec<(String, String)>,
}

/// An accepted application message. Shared between subscribers as `Arc<Message>`; the payload is
/// reference-counted too, so fan-out never copies it.
#[derive(Debug, Clone)]
pub struct Message {
    pub topic: Arc<str>,
    pub payload: ArcPayload,
    pub qos: u8,
    pub retain: bool,
    pub props: PublishProps,
    /// Absolute expiry (unix milliseconds) computed from Message Expiry Interval on receipt;
    /// the remaining interval is what subscribers are sent (MQTT-3.3.2-6).
    pub expires_at_ms: Option<u64>,
    /// Client id of the publisher, for the no-local subscription option.
    pub origin: Arc<str>,
    /// Encoded QoS 0 PUBLISH packets of this message, built on first use and shared by every
    /// subscriber that gets the same bytes (see [`crate::protocol::wire`]).
    pub wire: crate::protocol::wire::WireCache,
    /// Identifies this publish cluster-wide (random, assigned when accepted; 0 = unknown), so a
    /// session that gets the same message twice — directly and again from a node handing back
    /// what it held — queues it once.
    pub id: u64,
}

/// A fresh message id (never 0).
pub fn new_message_id() -> u64 {
    rand::random::<u64>() | 1
}

impl PartialEq for Message {
    fn eq(&self, o: &Self) -> bool {
        self.topic == o.topic
            && self.payload.as_slice() == o.payload.as_slice()
            && self.qos == o.qos
            && self.retain == o.retain
            && self.props == o.props
            && self.expires_at_ms == o.expires_at_ms
            && self.origin == o.origin
    }
}

/// Milliseconds since the unix epoch (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Message {
    /// Has the message expired at `now` (unix ms)?
    pub fn expired(&self, now: u64) -> bool {
        self.expires_at_ms.is_some_and(|t| t <= now)
    }

    /// Remaining Message Expiry Interval in seconds, rounded up, for forwarding.
    pub fn remaining_expiry(&self, now: u64) -> Option<u32> {
        self.expires_at_ms.map(|t| {
            let ms = t.saturating_sub(now);
            u32::try_from(ms.div_ceil(1000)).unwrap_or(u32::MAX).max(1)
        })
    }

    /// Serialize for the session queue, the retained store and the cluster link.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(64 + self.topic.len() + self.payload.len());
        self.encode_into(&mut b);
        b
    }

    /// [`Message::encode`] appended to `b`.
    pub fn encode_into(&self, b: &mut Vec<u8>) {
        b.push(MESSAGE_FORMAT);
        b.push(self.qos | if self.retain { 0x80 } else { 0 });
        b.extend_from_slice(&self.id.to_be_bytes());
        put_str(b, &self.topic);
        put_str(b, &self.origin);
        put_opt_u64(b, self.expires_at_ms);
        match self.props.payload_format {
            Some(v) => b.extend_from_slice(&[1, v]),
            None => b.push(0),
        }
        put_opt_bytes(b, self.props.content_type.as_deref().map(str::as_bytes));
        put_opt_bytes(b, self.props.response_topic.as_deref().map(str::as_bytes));
        put_opt_bytes(b, self.props.correlation_data.as_deref());
        put_u32(b, self.props.user_properties.len() as u32);
        for (k, v) in &self.props.user_properties {
            put_str(b, k);
            put_str(b, v);
        }
        put_bytes(b, self.payload.as_slice());
    }

    pub fn decode(buf: &[u8]) -> Result<Message, CodecError> {
        let mut r = Reader { buf, pos: 0 };
        let ver = r.u8()?;
        if ver != MESSAGE_FORMAT && ver != 1 {
            return Err(CodecError::Version(ver));
        }
        let flags = r.u8()?;
        let id = if ver >= 2 { r.u64()? } else { 0 };
        let qos = flags & 0x03;
        if qos > 2 {
            return Err(CodecError::Invalid);
        }
        let topic = shared_str(&LAST_TOPIC, r.str()?);
        let origin = shared_str(&LAST_ORIGIN, r.str()?);
        let expires_at_ms = r.opt_u64()?;
        let payload_format = if r.u8()? == 1 { Some(r.u8()?) } else { None };
        let content_type = r.opt_string()?;
        let response_topic = r.opt_string()?;
        let correlation_data = r.opt_bytes()?.map(<[u8]>::to_vec);
        let n = r.u32()? as usize;
        let mut user_properties = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            user_properties.push((r.string()?, r.string()?));
        }
        let payload = r.bytes()?;
        let payload: Arc<[u8]> = Arc::from(payload);
        let len = payload.len();
        Ok(Message {
            topic,
            payload: ArcPayload::new(payload, 0, len),
            qos,
            retain: flags & 0x80 != 0,
            props: PublishProps { payload_format, content_type, response_topic, correlation_data, user_properties },
            expires_at_ms,
            origin,
            wire: Default::default(),
            id,
        })
    }
}

thread_local! {
    /// The topic and origin of the last message decoded on this thread. A stream of forwarded
    /// or queued messages mostly repeats them: sharing the previous one saves two allocations
    /// per message on the cluster link's receiving side.
    static LAST_TOPIC: std::cell::RefCell<Option<Arc<str>>> = const { std::cell::RefCell::new(None) };
    static LAST_ORIGIN: std::cell::RefCell<Option<Arc<str>>> = const { std::cell::RefCell::new(None) };
}

/// `s` as an `Arc<str>`: the one in `last` when it holds the same text, else a new one kept there.
fn shared_str(last: &'static std::thread::LocalKey<std::cell::RefCell<Option<Arc<str>>>>, s: &str) -> Arc<str> {
    last.with(|l| {
        let mut l = l.borrow_mut();
        match &*l {
            Some(a) if **a == *s => a.clone(),
            _ => {
                let a: Arc<str> = s.into();
                *l = Some(a.clone());
                a
            }
        }
    })
}

pub(crate) fn put_u32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_be_bytes());
}
pub(crate) fn put_bytes(b: &mut Vec<u8>, v: &[u8]) {
    put_u32(b, v.len() as u32);
    b.extend_from_slice(v);
}
pub(crate) fn put_str(b: &mut Vec<u8>, v: &str) {
    put_bytes(b, v.as_bytes());
}
fn put_opt_bytes(b: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        Some(v) => {
            b.push(1);
            put_bytes(b, v);
        }
        None => b.push(0),
    }
}
pub(crate) fn put_opt_u64(b: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(v) => {
            b.push(1);
            b.extend_from_slice(&v.to_be_bytes());
        }
        None => b.push(0),
    }
}

/// A bounds-checked cursor over an encoded record.
pub(crate) struct Reader<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).ok_or(CodecError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(CodecError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    pub fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }
    pub fn u32(&mut self) -> Result<u32, CodecError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    pub fn u64(&mut self) -> Result<u64, CodecError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_be_bytes(a))
    }
    pub fn bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    pub fn string(&mut self) -> Result<String, CodecError> {
        self.str().map(str::to_string)
    }
    /// A string borrowed from the buffer (no copy until the caller makes one).
    pub fn str(&mut self) -> Result<&'a str, CodecError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| CodecError::Utf8)
    }
    pub fn opt_u64(&mut self) -> Result<Option<u64>, CodecError> {
        Ok(if self.u8()? == 1 { Some(self.u64()?) } else { None })
    }
    pub fn opt_bytes(&mut self) -> Result<Option<&'a [u8]>, CodecError> {
        Ok(if self.u8()? == 1 { Some(self.bytes()?) } else { None })
    }
    pub fn opt_string(&mut self) -> Result<Option<String>, CodecError> {
        match self.opt_bytes()? {
            Some(b) => Ok(Some(String::from_utf8(b.to_vec()).map_err(|_| CodecError::Utf8)?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Message {
        let p: Arc<[u8]> = Arc::from(&b"hello"[..]);
        Message {
            topic: "a/b".into(),
            payload: ArcPayload::new(p, 0, 5),
            qos: 1,
            retain: true,
            props: PublishProps {
                payload_format: Some(1),
                content_type: Some("text/plain".into()),
                response_topic: Some("r/t".into()),
                correlation_data: Some(vec![1, 2, 3]),
                user_properties: vec![("k".into(), "v".into()), ("k".into(), "w".into())],
            },
            expires_at_ms: Some(1234),
            origin: "client-1".into(),
            wire: Default::default(),
            id: 0,
        }
    }

    #[test]
    fn roundtrip() {
        let m = sample();
        assert_eq!(Message::decode(&m.encode()), Ok(m));
    }

    #[test]
    fn consecutive_messages_share_topic_and_origin() {
        let a = Message::decode(&sample().encode()).expect("decodes");
        let b = Message::decode(&sample().encode()).expect("decodes");
        assert!(Arc::ptr_eq(&a.topic, &b.topic) && Arc::ptr_eq(&a.origin, &b.origin));
        let mut other = sample();
        other.topic = "other/topic".into();
        let c = Message::decode(&other.encode()).expect("decodes");
        assert_eq!(&*c.topic, "other/topic");
        assert!(Arc::ptr_eq(&a.origin, &c.origin));
        assert_eq!(Message::decode(&sample().encode()), Ok(sample()));
    }

    #[test]
    fn truncated_is_an_error_not_a_panic() {
        let enc = sample().encode();
        for n in 0..enc.len() {
            assert!(Message::decode(&enc[..n]).is_err());
        }
    }

    #[test]
    fn remaining_expiry_rounds_up() {
        let mut m = sample();
        m.expires_at_ms = Some(10_500);
        assert_eq!(m.remaining_expiry(10_000), Some(1));
        assert_eq!(m.remaining_expiry(8_000), Some(3));
        assert!(!m.expired(10_499));
        assert!(m.expired(10_500));
    }

    proptest! {
        #[test]
        fn decode_arbitrary_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Message::decode(&data);
        }
    }
}
