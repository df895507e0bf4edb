//! MQTT 3.1 (protocol name `MQIsdp`, level 3) clients, which older device fleets still use and
//! other brokers (Mosquitto, EMQX, HiveMQ, VerneMQ) accept. 3.1 differs from 3.1.1 on the wire
//! only in the CONNECT's protocol name and level (and CONNACK's first byte, reserved in 3.1), so
//! a 3.1 CONNECT is rewritten into the equivalent 3.1.1 CONNECT before the protocol library
//! sees it; everything after is 3.1.1. Like Mosquitto, a 3.1 client must send a client id
//! (empty → CONNACK 2); the old 23-character limit is not enforced (Mosquitto does not either).
//!
//! The same place takes the *bridge bit*: a broker bridging over 3.1/3.1.1 may set the top bit
//! of the protocol level (`0x83`/`0x84`, Mosquitto's `try_private`) to say it is a bridge. The
//! level is rewritten to the plain one and the bit noted, so the driver can give that client's
//! subscriptions MQTT 5's *no local* (what it publishes is not sent back to it).

/// Where the stream is: still reading the start of the first packet, or decided.
#[derive(Debug, Default)]
pub struct Mqtt31 {
    /// Bytes held while the first packet's header and protocol name are incomplete (boxed:
    /// every connection carries this struct, and only a few split first packets use it).
    #[allow(clippy::box_collection)] // 8 bytes inline instead of 24
    pending: Option<Box<Vec<u8>>>,
    decided: bool,
    /// The client speaks MQTT 3.1.
    pub is31: bool,
    /// A 3.1 client sent an empty client id (CONNACK 2, as 3.1 requires an id).
    pub empty_client_id: bool,
    /// The CONNECT had the bridge bit (protocol level `0x80 | 3` or `0x80 | 4`).
    pub bridge: bool,
}

/// Bytes needed to decide: fixed header (at most 5) + name length (2) + "MQIsdp" (6) + level.
const DECIDE_AT: usize = 5 + 2 + 6 + 1;

/// The bridge bit of a 3.1/3.1.1 protocol level.
const BRIDGE_BIT: u8 = 0x80;

impl Mqtt31 {
    /// Pass the next bytes of the stream through: unchanged, except a 3.1 CONNECT (rewritten as
    /// 3.1.1) and a bridge's CONNECT (its level without the bridge bit). Until the start of the first packet has arrived, bytes are held back (at most
    /// [`DECIDE_AT`]) and an empty result is returned.
    pub fn input<'a>(&mut self, data: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        use std::borrow::Cow;
        if self.decided {
            return Cow::Borrowed(data);
        }
        if self.pending.is_none() && data.first().is_some_and(|b| *b != 0x10) {
            self.decided = true;
            return Cow::Borrowed(data);
        }
        self.pending.get_or_insert_default().extend_from_slice(data);
        match self.rewrite() {
            None => Cow::Owned(Vec::new()),
            Some(out) => {
                self.decided = true;
                self.pending = None;
                Cow::Owned(out)
            }
        }
    }

    fn take_pending(&mut self) -> Vec<u8> {
        self.pending.take().map(|b| *b).unwrap_or_default()
    }

    /// The pending bytes once there are enough to decide, rewritten if they are a 3.1 CONNECT
    /// or carry the bridge bit.
    fn rewrite(&mut self) -> Option<Vec<u8>> {
        let p: &[u8] = self.pending.as_deref().map_or(&[], |v| v);
        // The remaining length (1-4 bytes after the first).
        let mut len = 0usize;
        let mut mult = 1usize;
        let mut i = 1;
        loop {
            let Some(&b) = p.get(i) else {
                return (p.len() >= DECIDE_AT).then(|| self.take_pending());
            };
            len += usize::from(b & 0x7f) * mult;
            mult *= 128;
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
            if i > 4 {
                // Malformed length: not ours to judge.
                return Some(self.take_pending());
            }
        }
        let body = i;
        if p.len() < body + 9 {
            // Not enough for name and level yet; a body shorter than that is not a 3.1 CONNECT.
            return (len < 9).then(|| self.take_pending());
        }
        if &p[body..body + 6] == b"\x00\x04MQTT" && p[body + 6] == BRIDGE_BIT | 4 {
            self.bridge = true;
            let mut out = self.take_pending();
            out[body + 6] = 4;
            return Some(out);
        }
        if &p[body..body + 8] != b"\x00\x06MQIsdp" || p[body + 8] & !BRIDGE_BIT != 3 || len < 9 {
            return Some(self.take_pending());
        }
        self.is31 = true;
        self.bridge = p[body + 8] & BRIDGE_BIT != 0;
        // The client id's length follows name (8), level (1), flags (1) and keep alive (2).
        let id_at = body + 8 + 1 + 1 + 2;
        if let (Some(&h), Some(&l)) = (p.get(id_at), p.get(id_at + 1)) {
            self.empty_client_id = h == 0 && l == 0;
        }
        let mut out = vec![0x10];
        crate::protocol::wire::put_varint(&mut out, len - 2);
        out.extend_from_slice(b"\x00\x04MQTT\x04");
        out.extend_from_slice(&p[body + 9..]);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect31(client_id: &[u8]) -> Vec<u8> {
        let mut body = b"\x00\x06MQIsdp\x03\x02\x00\x3c".to_vec();
        body.extend((client_id.len() as u16).to_be_bytes());
        body.extend_from_slice(client_id);
        let mut v = vec![0x10];
        crate::protocol::wire::put_varint(&mut v, body.len());
        v.extend(body);
        v
    }

    fn connect311(client_id: &[u8]) -> Vec<u8> {
        let mut body = b"\x00\x04MQTT\x04\x02\x00\x3c".to_vec();
        body.extend((client_id.len() as u16).to_be_bytes());
        body.extend_from_slice(client_id);
        let mut v = vec![0x10];
        crate::protocol::wire::put_varint(&mut v, body.len());
        v.extend(body);
        v
    }

    #[test]
    fn a_31_connect_becomes_311_in_any_split() {
        let mut stream = connect31(b"dev-1");
        stream.extend_from_slice(&[0xc0, 0x00]);
        let mut want = connect311(b"dev-1");
        want.extend_from_slice(&[0xc0, 0x00]);
        for split in 0..stream.len() {
            let mut m = Mqtt31::default();
            let mut out = m.input(&stream[..split]).into_owned();
            out.extend_from_slice(&m.input(&stream[split..]));
            assert_eq!(out, want, "split at {split}");
            assert!(m.is31 && !m.empty_client_id);
        }
    }

    #[test]
    fn other_streams_pass_unchanged() {
        for stream in [connect311(b"x"), vec![0x30, 0x02, 0x00, 0x00], vec![0x10, 0x00], b"GET / HTTP/1.1\r\n".to_vec()]
        {
            for split in 0..stream.len() {
                let mut m = Mqtt31::default();
                let mut out = m.input(&stream[..split]).into_owned();
                out.extend_from_slice(&m.input(&stream[split..]));
                assert_eq!(out, stream, "split at {split}");
                assert!(!m.is31);
            }
        }
    }

    #[test]
    fn the_bridge_bit_is_noted_and_cleared_in_any_split() {
        for (mut stream, want) in [(connect311(b"gw"), connect311(b"gw")), (connect31(b"gw"), connect311(b"gw"))] {
            let at = if stream[3] == 4 { 8 } else { 10 };
            stream[at] |= 0x80;
            for split in 0..stream.len() {
                let mut m = Mqtt31::default();
                let mut out = m.input(&stream[..split]).into_owned();
                out.extend_from_slice(&m.input(&stream[split..]));
                assert_eq!(out, want, "split at {split}");
                assert!(m.bridge);
            }
        }
        let mut m = Mqtt31::default();
        let _ = m.input(&connect311(b"dev"));
        assert!(!m.bridge, "a plain 3.1.1 CONNECT is no bridge");
    }

    #[test]
    fn empty_client_id_is_noted() {
        let mut m = Mqtt31::default();
        let _ = m.input(&connect31(b""));
        assert!(m.is31 && m.empty_client_id);
    }
}
