//! Structure-aware MQTT packet generator, shared by the stable smoke test
//! (`tests/it/fuzz_structured.rs`, seeded) and the cargo-fuzz target
//! (`fuzz/fuzz_targets/structured.rs`, driven by libFuzzer's bytes).
//!
//! It builds well-framed CONNECT / PUBLISH / PUBACK / PUBREC / PUBREL / PUBCOMP / SUBSCRIBE /
//! UNSUBSCRIBE / PINGREQ / DISCONNECT / AUTH packets of both versions whose fields and 5.0
//! properties take boundary values: every property id (and unknown ones) with 0, 1, the maximum,
//! absent or duplicated, strings that are empty, contain U+0000, invalid UTF-8 or wildcards,
//! packet ids 0 / 1 / 65535, flags with reserved bits. Random bytes would almost never get past
//! the framing; these reach the decoders' and the broker's field checks. No dependencies.

/// Where choices come from.
pub trait Src {
    fn byte(&mut self) -> u8;

    /// A number below `n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        let v = (usize::from(self.byte()) << 8) | usize::from(self.byte());
        v % n
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// A deterministic xorshift source for seeded runs.
pub struct Rng(pub u64);

impl Src for Rng {
    fn byte(&mut self) -> u8 {
        let mut x = self.0.max(1);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 24) as u8
    }
}

/// Fuzzer bytes as a source; zeros once they run out.
pub struct Bytes<'a> {
    pub data: &'a [u8],
    pub pos: usize,
}

impl Src for Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
}

fn varint(out: &mut Vec<u8>, mut n: usize) {
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

fn mstr(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len().min(65535) as u16).to_be_bytes());
    out.extend_from_slice(&s[..s.len().min(65535)]);
}

fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![first];
    varint(&mut v, body.len());
    v.extend_from_slice(body);
    v
}

/// A string at a boundary.
fn string(src: &mut impl Src) -> Vec<u8> {
    match src.below(10) {
        0 => Vec::new(),
        1 => b"a".to_vec(),
        2 => b"a\0b".to_vec(),
        3 => vec![b'a', 0xff, 0xfe],
        4 => vec![0xed, 0xa0, 0x80], // a UTF-16 surrogate
        5 => b"a/+/#".to_vec(),
        6 => b"$SYS/x".to_vec(),
        7 => vec![b'x'; 1000],
        8 => b"\xef\xbf\xbf".to_vec(), // U+FFFF, allowed
        _ => b"t/1".to_vec(),
    }
}

/// A topic or client id: usually plain, sometimes at a boundary.
fn name(src: &mut impl Src) -> Vec<u8> {
    if src.chance(2) { b"fz/t".to_vec() } else { string(src) }
}

fn u8_val(src: &mut impl Src) -> u8 {
    [0, 1, 2, 0x7f, 0x80, 0xff][src.below(6)]
}

fn u16_val(src: &mut impl Src) -> u16 {
    [0, 1, 2, 10, 0x7fff, 0xffff][src.below(6)]
}

fn u32_val(src: &mut impl Src) -> u32 {
    [0, 1, 60, 0xffff, 0x7fff_ffff, u32::MAX][src.below(6)]
}

/// Every MQTT 5.0 property id, and a few that do not exist.
const PROPERTY_IDS: [u8; 30] = [
    0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x11, 0x12, 0x13, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1C, 0x1F, 0x21, 0x22,
    0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x00, 0x2B, 0x7F,
];

/// One property with a boundary value, encoded (id, then value by the id's type).
fn property(src: &mut impl Src, id: u8) -> Vec<u8> {
    let mut p = vec![id];
    match id {
        0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => p.push(u8_val(src)),
        0x13 | 0x21 | 0x22 | 0x23 => p.extend(u16_val(src).to_be_bytes()),
        0x02 | 0x11 | 0x18 | 0x27 => p.extend(u32_val(src).to_be_bytes()),
        0x0B => varint(&mut p, [0, 1, 127, 128, 268_435_455][src.below(5)]),
        0x03 | 0x08 | 0x12 | 0x15 | 0x1A | 0x1C | 0x1F => mstr(&mut p, &string(src)),
        0x09 | 0x16 => mstr(&mut p, &[0, 1, 2][..src.below(4)]),
        0x26 => {
            mstr(&mut p, &string(src));
            mstr(&mut p, &string(src));
        }
        // Unknown ids: a byte of value so the parser must give up on the id, not the length.
        _ => p.push(u8_val(src)),
    }
    p
}

/// The properties each packet may carry (MQTT 5 §2.2.2.2); others are picked too, less often.
pub const CONNECT_PROPS: &[u8] = &[0x11, 0x21, 0x27, 0x22, 0x19, 0x17, 0x26, 0x15, 0x16];
pub const WILL_PROPS: &[u8] = &[0x18, 0x01, 0x02, 0x03, 0x08, 0x09, 0x26];
pub const PUBLISH_PROPS: &[u8] = &[0x01, 0x02, 0x23, 0x08, 0x09, 0x26, 0x03];
pub const ACK_PROPS: &[u8] = &[0x1F, 0x26];
pub const SUBSCRIBE_PROPS: &[u8] = &[0x0B, 0x26];
pub const UNSUBSCRIBE_PROPS: &[u8] = &[0x26];
pub const DISCONNECT_PROPS: &[u8] = &[0x11, 0x1F, 0x26, 0x1C];
pub const AUTH_PROPS: &[u8] = &[0x15, 0x16, 0x1F, 0x26];

/// A property block (length, then properties): absent, one or more (mostly ids `valid` for the
/// packet, sometimes any id), duplicated, or with a length that disagrees with its content.
fn properties(src: &mut impl Src, valid: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    let n = [0, 1, 1, 2, 3, 4][src.below(6)];
    let mut last: Option<Vec<u8>> = None;
    for _ in 0..n {
        let p = match &last {
            Some(prev) if src.chance(6) => prev.clone(), // duplicated
            _ => {
                let id = if src.chance(4) || valid.is_empty() {
                    PROPERTY_IDS[src.below(PROPERTY_IDS.len())]
                } else {
                    valid[src.below(valid.len())]
                };
                property(src, id)
            }
        };
        body.extend_from_slice(&p);
        last = Some(p);
    }
    let mut out = Vec::new();
    let len = match src.below(16) {
        0 => body.len() + 1, // claims more than there is
        1 => body.len().saturating_sub(1),
        _ => body.len(),
    };
    varint(&mut out, len);
    out.extend(body);
    out
}

fn packet_id(src: &mut impl Src) -> [u8; 2] {
    [1u16, 1, 2, 0, 0xffff][src.below(5)].to_be_bytes()
}

/// A CONNECT of `level` (4 or 5, sometimes 3 or 6) with boundary fields and flags.
pub fn connect(src: &mut impl Src, v5: bool) -> Vec<u8> {
    let mut body = Vec::new();
    mstr(&mut body, if src.chance(16) { b"MQIsdp" } else { b"MQTT" });
    let level = if src.chance(16) {
        [3, 6, 0][src.below(3)]
    } else if v5 {
        5
    } else {
        4
    };
    body.push(level);
    let will = src.chance(3);
    let user = src.chance(3);
    let pass = src.chance(4);
    let mut flags = 0x02u8;
    if will {
        flags |= 0x04 | ([0, 1, 2][src.below(3)] << 3);
        if src.chance(2) {
            flags |= 0x20;
        }
    }
    if user {
        flags |= 0x80;
    }
    if pass {
        flags |= 0x40;
    }
    if src.chance(8) {
        flags = src.byte(); // anything, reserved bit and inconsistencies included
    }
    body.push(flags);
    body.extend(u16_val(src).min(600).to_be_bytes()); // keep alive
    if level == 5 {
        body.extend(properties(src, CONNECT_PROPS));
    }
    mstr(&mut body, &name(src));
    if flags & 0x04 != 0 {
        if level == 5 {
            body.extend(properties(src, WILL_PROPS));
        }
        mstr(&mut body, &name(src));
        if !src.chance(8) {
            mstr(&mut body, b"will");
        }
    }
    if flags & 0x80 != 0 {
        mstr(&mut body, &name(src));
    }
    if flags & 0x40 != 0 {
        mstr(&mut body, b"pw");
    }
    if src.chance(16) {
        body.push(0); // a trailing byte
    }
    frame(0x10, &body)
}

/// One packet after CONNECT.
pub fn packet(src: &mut impl Src, v5: bool) -> Vec<u8> {
    let mut body = Vec::new();
    match src.below(12) {
        0..=2 => {
            let qos = [0u8, 1, 2, 0, 1, 3][src.below(6)];
            let flags = (qos << 1) | if src.chance(4) { 1 } else { 0 } | if src.chance(8) { 8 } else { 0 };
            mstr(&mut body, &name(src));
            if qos > 0 {
                body.extend(packet_id(src));
            }
            if v5 {
                body.extend(properties(src, PUBLISH_PROPS));
            }
            body.extend(&b"payload"[..src.below(8)]);
            frame(0x30 | flags, &body)
        }
        3..=6 => {
            let first = [0x40u8, 0x50, 0x62, 0x70][src.below(4)];
            body.extend(packet_id(src));
            if v5 && src.chance(2) {
                body.push([0x00, 0x10, 0x80, 0x92, 0xff][src.below(5)]);
                if src.chance(2) {
                    body.extend(properties(src, ACK_PROPS));
                }
            }
            frame(first, &body)
        }
        7 | 8 => {
            body.extend(packet_id(src));
            if v5 {
                body.extend(properties(src, SUBSCRIBE_PROPS));
            }
            for _ in 0..[0, 1, 1, 2, 3][src.below(5)] {
                mstr(&mut body, &name(src));
                body.push([0u8, 1, 2, 3, 0x04, 0x08, 0x10, 0x2e, 0xc0][src.below(9)]);
            }
            frame(0x82, &body)
        }
        9 => {
            body.extend(packet_id(src));
            if v5 {
                body.extend(properties(src, UNSUBSCRIBE_PROPS));
            }
            for _ in 0..[0, 1, 2][src.below(3)] {
                mstr(&mut body, &name(src));
            }
            frame(0xa2, &body)
        }
        10 => {
            if src.chance(2) {
                return vec![0xc0, 0x00];
            }
            if v5 && src.chance(2) {
                body.push([0x00, 0x04, 0x18, 0x19, 0x80, 0xff][src.below(6)]);
                body.extend(properties(src, DISCONNECT_PROPS));
            }
            frame(0xe0, &body)
        }
        _ => {
            body.push([0x00, 0x18, 0x19, 0x80][src.below(4)]);
            body.extend(properties(src, AUTH_PROPS));
            frame(0xf0, &body)
        }
    }
}

/// A whole client stream: usually a valid-looking CONNECT of a random version (with boundary
/// properties) and then up to six packets; sometimes no CONNECT at all.
pub fn session(src: &mut impl Src) -> Vec<u8> {
    let v5 = src.chance(2);
    let mut out = Vec::new();
    if !src.chance(10) {
        out.extend(connect(src, v5));
    }
    for _ in 0..src.below(7) {
        out.extend(packet(src, v5));
    }
    out
}
