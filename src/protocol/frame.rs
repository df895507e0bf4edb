//! Checks on the raw byte stream that the protocol library leaves to the server: the fixed-header
//! flags of every packet type (MQTT-2.1.3-1, a malformed packet otherwise) and the reserved bit
//! of CONNECT's flags (MQTT-3.1.2-3). It walks packet boundaries as bytes arrive, in any split,
//! without buffering.

/// A violation found at byte `offset` of the chunk being checked (the start of the bad packet,
/// so everything before it can still be processed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameError {
    pub offset: usize,
    pub what: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting the first byte of a packet.
    Start,
    /// Reading the remaining-length varint.
    Length,
    /// Inside the body.
    Body,
}

#[derive(Debug, Clone)]
pub struct FrameCheck {
    state: State,
    packet_type: u8,
    remaining: usize,
    multiplier: usize,
    length_bytes: u8,
    body_pos: usize,
    /// Offset (in the current chunk) where the current packet began; 0 if it began earlier.
    packet_start: usize,
    /// The next packet is the stream's first and must be a CONNECT ([MQTT-3.1.0-1]): known from
    /// its first byte, so a client that starts with anything else is closed at once instead of
    /// being held open until the connect timeout.
    connect_first: bool,
}

impl Default for FrameCheck {
    fn default() -> Self {
        Self::new()
    }
}

/// Flags a packet type must carry (PUBLISH's are checked by the library).
fn required_flags(packet_type: u8) -> Option<u8> {
    match packet_type {
        3 => None,
        6 | 8 | 10 => Some(0b0010),
        _ => Some(0),
    }
}

/// Offset of the connect-flags byte in a CONNECT body ("MQTT" name, then the level).
const CONNECT_FLAGS_AT: usize = 7;

/// CONNECT flag rules (MQTT-3.1.2-3, -11, -13, -15; 3.1.1's MQTT-3.1.2-22 is left to the
/// library, 5.0 allows a password without a user name).
fn bad_connect_flags(f: u8) -> Option<&'static str> {
    let will = f & 0x04 != 0;
    let will_qos = (f >> 3) & 0x03;
    let will_retain = f & 0x20 != 0;
    if f & 0x01 != 0 {
        Some("CONNECT reserved flag is set")
    } else if will_qos == 3 {
        Some("CONNECT will QoS 3")
    } else if !will && (will_qos != 0 || will_retain) {
        Some("CONNECT will QoS or retain set without a will")
    } else {
        None
    }
}

impl FrameCheck {
    pub fn new() -> Self {
        Self {
            state: State::Start,
            packet_type: 0,
            remaining: 0,
            multiplier: 1,
            length_bytes: 0,
            body_pos: 0,
            packet_start: 0,
            connect_first: false,
        }
    }

    /// A checker for a server's side of a new connection: the first packet must be CONNECT.
    pub fn server() -> Self {
        Self { connect_first: true, ..Self::new() }
    }

    /// Check the next chunk of the stream.
    pub fn check(&mut self, data: &[u8]) -> Result<(), FrameError> {
        self.packet_start = 0;
        let mut i = 0;
        while i < data.len() {
            match self.state {
                State::Start => {
                    let b = data[i];
                    self.packet_start = i;
                    self.packet_type = b >> 4;
                    if std::mem::take(&mut self.connect_first) && self.packet_type != 1 {
                        return Err(FrameError { offset: i, what: "the first packet is not CONNECT" });
                    }
                    if let Some(f) = required_flags(self.packet_type)
                        && b & 0x0f != f
                    {
                        return Err(FrameError { offset: i, what: "reserved fixed-header flags are wrong" });
                    }
                    self.state = State::Length;
                    self.remaining = 0;
                    self.multiplier = 1;
                    self.length_bytes = 0;
                    i += 1;
                }
                State::Length => {
                    let b = data[i];
                    self.remaining += usize::from(b & 0x7f) * self.multiplier;
                    self.multiplier *= 128;
                    self.length_bytes += 1;
                    i += 1;
                    if b & 0x80 == 0 {
                        self.body_pos = 0;
                        self.state = if self.remaining == 0 { State::Start } else { State::Body };
                    } else if self.length_bytes == 4 {
                        return Err(FrameError {
                            offset: self.packet_start,
                            what: "remaining length longer than 4 bytes",
                        });
                    }
                }
                State::Body => {
                    let take = self.remaining.min(data.len() - i);
                    if self.packet_type == 1
                        && self.body_pos <= CONNECT_FLAGS_AT
                        && CONNECT_FLAGS_AT < self.body_pos + take
                        && let Some(what) = bad_connect_flags(data[i + CONNECT_FLAGS_AT - self.body_pos])
                    {
                        return Err(FrameError { offset: self.packet_start, what });
                    }
                    self.body_pos += take;
                    self.remaining -= take;
                    i += take;
                    if self.remaining == 0 {
                        self.state = State::Start;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONNECT_V5: [u8; 13] = [0x10, 11, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 60, 0];

    #[test]
    fn valid_stream_in_any_split() {
        let mut stream = CONNECT_V5.to_vec();
        stream.extend_from_slice(&[0xc0, 0]); // PINGREQ
        stream.extend_from_slice(&[0x62, 2, 0, 1]); // PUBREL
        stream.extend_from_slice(&[0x82, 6, 0, 1, 0, 1, b'a', 0]); // SUBSCRIBE (3.1.1 shape)
        stream.extend_from_slice(&[0x35, 3, 0, 1, b't']); // PUBLISH QoS 2 retain: flags free
        for split in 0..stream.len() {
            let mut c = FrameCheck::new();
            assert_eq!(c.check(&stream[..split]), Ok(()));
            assert_eq!(c.check(&stream[split..]), Ok(()), "split at {split}");
        }
    }

    #[test]
    fn wrong_flags_are_found_at_packet_start() {
        let mut c = FrameCheck::new();
        let data = [0xc0, 0, 0xc1, 0];
        assert_eq!(c.check(&data).map_err(|e| e.offset), Err(2));
        let mut c = FrameCheck::new();
        assert!(c.check(&[0x80, 0]).is_err(), "SUBSCRIBE needs flags 0010");
        let mut c = FrameCheck::new();
        assert!(c.check(&[0x60, 2, 0, 1]).is_err(), "PUBREL needs flags 0010");
    }

    #[test]
    fn connect_reserved_bit() {
        let mut bad = CONNECT_V5;
        bad[9] |= 1;
        for split in 0..bad.len() {
            let mut c = FrameCheck::new();
            let r = c.check(&bad[..split]).and_then(|_| c.check(&bad[split..]));
            assert!(r.is_err(), "split at {split}");
        }
    }

    #[test]
    fn will_flag_rules() {
        assert_eq!(bad_connect_flags(0x02), None);
        assert_eq!(bad_connect_flags(0x02 | 0x04 | 0x08 | 0x20), None, "will QoS 1 retained");
        assert!(bad_connect_flags(0x04 | 0x18).is_some(), "will QoS 3");
        assert!(bad_connect_flags(0x08).is_some(), "will QoS without will");
        assert!(bad_connect_flags(0x20).is_some(), "will retain without will");
    }

    #[test]
    fn server_stream_must_start_with_connect() {
        for first in [0x30u8, 0x82, 0xc0, 0xe0, 0x00, 0xf0, b'G'] {
            let mut c = FrameCheck::server();
            let e = c.check(&[first, 0xff, 0xff, 0x7f]).expect_err("not CONNECT");
            assert_eq!(e.offset, 0, "{first:#x}");
        }
        // Known from the first byte alone, whatever the split.
        assert!(FrameCheck::server().check(&[0x30]).is_err());
        let mut c = FrameCheck::server();
        assert_eq!(c.check(&CONNECT_V5), Ok(()));
        assert_eq!(c.check(&[0xc0, 0]), Ok(()), "only the first packet is checked");
    }

    #[test]
    fn overlong_length() {
        let mut c = FrameCheck::new();
        assert!(c.check(&[0x30, 0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
