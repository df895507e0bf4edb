//! PROXY protocol v1 (text) and v2 (binary), as sent by HAProxy, AWS NLB, GCP and most cloud
//! load balancers in front of a TCP service: a header before the client's first byte that says
//! who the client really is. The source address it carries becomes the connection's peer, so
//! logs, the admin API, limits and bans see the client rather than the load balancer.
//!
//! The parser is incremental and never reads past the header: [`parse`] says how many more
//! bytes it needs at least, [`read_header`] reads exactly that many, so whatever follows (the
//! TLS handshake, MQTT CONNECT, the HTTP upgrade) is left in the socket untouched and the
//! stream needs no "rewind" buffer. v1 lines are read byte by byte after the first 15 bytes;
//! that is at most ~90 one-byte reads once per connection.
//!
//! Spec: <https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt>.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The v1 header starts with this.
const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest v1 header allowed by the spec, CRLF included.
pub const V1_MAX: usize = 107;
/// The shortest one: `PROXY UNKNOWN\r\n`.
const V1_MIN: usize = 15;
/// The v2 signature: chosen so that it cannot start any text protocol.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
const V2_FIXED: usize = 16;
/// The largest v2 address + TLV block accepted. The format allows 65535; load balancers send
/// a few hundred bytes at most (addresses plus TLVs such as an AWS VPC endpoint id), and a
/// cap keeps an unauthenticated peer from making us buffer 64 KiB.
pub const V2_MAX_BODY: usize = 4096;

/// What the header says about the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    /// A proxied TCP connection: the client's address and the address it connected to.
    Proxied { source: SocketAddr, destination: SocketAddr },
    /// v2 LOCAL: the proxy's own connection (a health check); the TCP peer is the client.
    Local,
    /// v1 `UNKNOWN` or a v2 family we do not map (UNSPEC, UNIX, UDP): keep the TCP peer.
    Unknown,
}

impl Header {
    /// The client address to use, given the TCP peer.
    pub fn peer(&self, tcp_peer: SocketAddr) -> SocketAddr {
        match self {
            Header::Proxied { source, .. } => *source,
            Header::Local | Header::Unknown => tcp_peer,
        }
    }
}

/// One step of the incremental parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parse {
    /// At least this many more bytes are needed (reading exactly this many never over-reads).
    Need(usize),
    /// A complete header of this many bytes.
    Done(Header, usize),
}

#[derive(Debug, Error)]
pub enum ProxyError {
    #[error("no PROXY protocol header (the connection did not start with one)")]
    Missing,
    #[error("malformed PROXY protocol v1 header: {0}")]
    V1(&'static str),
    #[error("malformed PROXY protocol v2 header: {0}")]
    V2(&'static str),
    #[error("PROXY protocol header longer than allowed")]
    Oversize,
    #[error("connection closed inside the PROXY protocol header")]
    Truncated,
    #[error("no complete PROXY protocol header within the connect timeout")]
    Timeout,
    #[error("reading the PROXY protocol header: {0}")]
    Io(std::io::Error),
}

impl ProxyError {
    /// The metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            ProxyError::Missing => "missing",
            ProxyError::V1(_) | ProxyError::V2(_) => "malformed",
            ProxyError::Oversize => "oversize",
            ProxyError::Truncated => "truncated",
            ProxyError::Timeout => "timeout",
            ProxyError::Io(_) => "io_error",
        }
    }
}

/// Parse the start of a connection. `buf` holds everything read so far.
pub fn parse(buf: &[u8]) -> Result<Parse, ProxyError> {
    let Some(&first) = buf.first() else { return Ok(Parse::Need(1)) };
    if first == V1_PREFIX[0] {
        parse_v1(buf)
    } else if first == V2_SIGNATURE[0] {
        parse_v2(buf)
    } else {
        Err(ProxyError::Missing)
    }
}

fn parse_v1(buf: &[u8]) -> Result<Parse, ProxyError> {
    let n = buf.len().min(V1_PREFIX.len());
    if buf.get(..n) != V1_PREFIX.get(..n) {
        return Err(ProxyError::Missing);
    }
    // The prefix first, so that a client that sends no header is told apart early.
    if buf.len() < V1_PREFIX.len() {
        return Ok(Parse::Need(V1_PREFIX.len() - buf.len()));
    }
    if buf.len() < V1_MIN {
        return Ok(Parse::Need(V1_MIN - buf.len()));
    }
    // A lone CR or LF anywhere is an error; the line ends at the first CRLF.
    let Some(cr) = buf.iter().position(|&b| b == b'\r' || b == b'\n') else {
        return if buf.len() >= V1_MAX { Err(ProxyError::Oversize) } else { Ok(Parse::Need(1)) };
    };
    if buf.get(cr) != Some(&b'\r') {
        return Err(ProxyError::V1("line feed without carriage return"));
    }
    match buf.get(cr + 1) {
        None if cr + 1 >= V1_MAX => return Err(ProxyError::Oversize),
        None => return Ok(Parse::Need(1)),
        Some(b'\n') => {}
        Some(_) => return Err(ProxyError::V1("carriage return without line feed")),
    }
    let line = std::str::from_utf8(buf.get(..cr).unwrap_or_default()).map_err(|_| ProxyError::V1("not ASCII"))?;
    let fields: Vec<&str> = line.split(' ').collect();
    let header = match fields.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Header::Unknown,
        ["PROXY", proto @ ("TCP4" | "TCP6"), src, dst, sport, dport] => {
            let ip = |s: &str| -> Result<IpAddr, ProxyError> {
                let ip = if *proto == "TCP4" {
                    s.parse::<Ipv4Addr>().map(IpAddr::V4)
                } else {
                    s.parse::<Ipv6Addr>().map(IpAddr::V6)
                };
                ip.map_err(|_| ProxyError::V1("bad address"))
            };
            let port = |s: &str| -> Result<u16, ProxyError> {
                // Decimal digits only: `u16::from_str` would also take a sign.
                if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ProxyError::V1("bad port"));
                }
                s.parse().map_err(|_| ProxyError::V1("bad port"))
            };
            Header::Proxied {
                source: SocketAddr::new(ip(src)?, port(sport)?),
                destination: SocketAddr::new(ip(dst)?, port(dport)?),
            }
        }
        ["PROXY", "TCP4" | "TCP6", ..] => return Err(ProxyError::V1("expected 4 fields after the protocol")),
        ["PROXY", ..] => return Err(ProxyError::V1("unknown protocol (TCP4, TCP6 or UNKNOWN)")),
        _ => return Err(ProxyError::V1("does not start with \"PROXY \"")),
    };
    Ok(Parse::Done(header, cr + 2))
}

fn parse_v2(buf: &[u8]) -> Result<Parse, ProxyError> {
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf.get(..n) != V2_SIGNATURE.get(..n) {
        return Err(ProxyError::Missing);
    }
    if buf.len() < V2_SIGNATURE.len() {
        return Ok(Parse::Need(V2_SIGNATURE.len() - buf.len()));
    }
    let Some(fixed) = buf.get(..V2_FIXED) else { return Ok(Parse::Need(V2_FIXED - buf.len())) };
    let (ver_cmd, fam, len) = (fixed[12], fixed[13], usize::from(u16::from_be_bytes([fixed[14], fixed[15]])));
    if ver_cmd >> 4 != 2 {
        return Err(ProxyError::V2("version is not 2"));
    }
    let local = match ver_cmd & 0x0f {
        0 => true,
        1 => false,
        _ => return Err(ProxyError::V2("unknown command")),
    };
    if len > V2_MAX_BODY {
        return Err(ProxyError::Oversize);
    }
    let total = V2_FIXED + len;
    let Some(body) = buf.get(V2_FIXED..total) else { return Ok(Parse::Need(total - buf.len())) };
    if local {
        // The body of a LOCAL header is to be ignored, whatever it holds.
        return Ok(Parse::Done(Header::Local, total));
    }
    let addr_len = match fam {
        0x11 => 12, // TCP over IPv4
        0x21 => 36, // TCP over IPv6
        // UNSPEC, UNIX sockets, UDP: nothing we can use as a TCP client address.
        _ => return Ok(Parse::Done(Header::Unknown, total)),
    };
    let (addrs, tlvs) =
        body.split_at_checked(addr_len).ok_or(ProxyError::V2("address block shorter than its family"))?;
    check_tlvs(tlvs)?;
    let header = if addr_len == 12 {
        let ip = |o: usize| IpAddr::V4(Ipv4Addr::new(addrs[o], addrs[o + 1], addrs[o + 2], addrs[o + 3]));
        let port = |o: usize| u16::from_be_bytes([addrs[o], addrs[o + 1]]);
        Header::Proxied { source: SocketAddr::new(ip(0), port(8)), destination: SocketAddr::new(ip(4), port(10)) }
    } else {
        let ip = |o: usize| {
            let mut b = [0u8; 16];
            b.copy_from_slice(&addrs[o..o + 16]);
            IpAddr::V6(Ipv6Addr::from(b))
        };
        let port = |o: usize| u16::from_be_bytes([addrs[o], addrs[o + 1]]);
        Header::Proxied { source: SocketAddr::new(ip(0), port(32)), destination: SocketAddr::new(ip(16), port(34)) }
    };
    Ok(Parse::Done(header, total))
}

/// TLVs after the addresses are not used, but must tile the rest of the block exactly: a
/// header whose lengths do not add up is corrupt, and trusting its addresses would be wrong.
fn check_tlvs(mut rest: &[u8]) -> Result<(), ProxyError> {
    while !rest.is_empty() {
        let [_ty, hi, lo, ..] = *rest else { return Err(ProxyError::V2("truncated TLV header")) };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        rest = rest.get(3 + len..).ok_or(ProxyError::V2("TLV longer than the header"))?;
    }
    Ok(())
}

/// Read a PROXY header from the start of `s`, consuming exactly its bytes. The caller bounds
/// the time (the connect timeout).
pub async fn read_header<S: AsyncRead + Unpin>(s: &mut S) -> Result<Header, ProxyError> {
    let mut buf = Vec::with_capacity(V1_MAX);
    loop {
        match parse(&buf)? {
            Parse::Done(header, _) => return Ok(header),
            Parse::Need(n) => {
                let start = buf.len();
                buf.resize(start + n, 0);
                let dst = buf.get_mut(start..).unwrap_or_default();
                s.read_exact(dst).await.map_err(|e| match e.kind() {
                    std::io::ErrorKind::UnexpectedEof => ProxyError::Truncated,
                    _ => ProxyError::Io(e),
                })?;
            }
        }
    }
}

/// Encoders for tests (here and in the integration tests): what a load balancer sends.
pub mod encode {
    use std::net::SocketAddr;

    /// A v1 header for a TCP connection from `src` to `dst` (both the same family).
    pub fn v1(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
        let proto = if src.is_ipv4() { "TCP4" } else { "TCP6" };
        format!("PROXY {proto} {} {} {} {}\r\n", src.ip(), dst.ip(), src.port(), dst.port()).into_bytes()
    }

    /// A v2 PROXY header for a TCP connection from `src` to `dst`, with the given TLVs.
    pub fn v2(src: SocketAddr, dst: SocketAddr, tlvs: &[(u8, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        let fam = match (src, dst) {
            (SocketAddr::V4(s), SocketAddr::V4(d)) => {
                body.extend(s.ip().octets());
                body.extend(d.ip().octets());
                0x11
            }
            (s, d) => {
                let v6 = |a: SocketAddr| match a {
                    SocketAddr::V4(a) => a.ip().to_ipv6_mapped().octets(),
                    SocketAddr::V6(a) => a.ip().octets(),
                };
                body.extend(v6(s));
                body.extend(v6(d));
                0x21
            }
        };
        body.extend(src.port().to_be_bytes());
        body.extend(dst.port().to_be_bytes());
        for (ty, value) in tlvs {
            body.push(*ty);
            body.extend((value.len() as u16).to_be_bytes());
            body.extend(*value);
        }
        let mut out = super::V2_SIGNATURE.to_vec();
        out.extend([0x21, fam]);
        out.extend((body.len() as u16).to_be_bytes());
        out.extend(body);
        out
    }

    /// A v2 LOCAL header (what a load balancer's health check sends).
    pub fn v2_local() -> Vec<u8> {
        let mut out = super::V2_SIGNATURE.to_vec();
        out.extend([0x20, 0x00, 0x00, 0x00]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    /// Feed `bytes` the way [`read_header`] does and return the outcome, checking that the
    /// parser never asks for more than the header holds.
    fn run(bytes: &[u8]) -> Result<Parse, ProxyError> {
        let mut have = 0;
        loop {
            match parse(&bytes[..have])? {
                Parse::Need(n) => {
                    if have + n > bytes.len() {
                        // What the parser makes of everything there is.
                        return parse(bytes);
                    }
                    have += n;
                }
                done => return Ok(done),
            }
        }
    }

    #[test]
    fn v1_tcp4() {
        let h = b"PROXY TCP4 192.0.2.10 198.51.100.1 56324 1883\r\n";
        let mut with_more = h.to_vec();
        with_more.extend(b"\x10\x0c\x00\x04MQTT");
        let want = Header::Proxied { source: sa("192.0.2.10:56324"), destination: sa("198.51.100.1:1883") };
        assert_eq!(run(&with_more).expect("parses"), Parse::Done(want, h.len()));
    }

    #[test]
    fn v1_tcp6() {
        let h = b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 8883\r\n";
        let want = Header::Proxied { source: sa("[2001:db8::1]:4000"), destination: sa("[2001:db8::2]:8883") };
        assert_eq!(run(h).expect("parses"), Parse::Done(want, h.len()));
    }

    #[test]
    fn v1_unknown_keeps_the_tcp_peer() {
        let h = b"PROXY UNKNOWN\r\n";
        assert_eq!(run(h).expect("parses"), Parse::Done(Header::Unknown, h.len()));
        let h = b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n";
        assert_eq!(run(h).expect("parses"), Parse::Done(Header::Unknown, h.len()));
        assert_eq!(Header::Unknown.peer(sa("10.0.0.1:5")), sa("10.0.0.1:5"));
    }

    #[test]
    fn v1_encoder_round_trips() {
        for (s, d) in [("1.2.3.4:5", "6.7.8.9:10"), ("[::1]:65535", "[fe80::2]:1")] {
            let h = encode::v1(sa(s), sa(d));
            assert_eq!(
                run(&h).expect("parses"),
                Parse::Done(Header::Proxied { source: sa(s), destination: sa(d) }, h.len())
            );
        }
    }

    #[test]
    fn v1_malformed() {
        for bad in [
            &b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"[..],
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
            b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
            b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
            b"PROXY TCP4 1.2.3.\xff 5.6.7.8 1 2\r\n",
        ] {
            let r = run(bad);
            assert!(matches!(r, Err(ProxyError::V1(_))), "{:?}: {r:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn v1_without_line_end_is_oversize_after_107_bytes() {
        let mut h = b"PROXY TCP6 ".to_vec();
        h.resize(V1_MAX + 20, b'1');
        assert!(matches!(run(&h), Err(ProxyError::Oversize)));
        // A CR as byte 107 whose LF would be byte 108.
        let mut h = b"PROXY TCP6 ".to_vec();
        h.resize(V1_MAX - 1, b'1');
        h.extend(b"\r\n");
        assert!(matches!(run(&h), Err(ProxyError::Oversize)));
    }

    #[test]
    fn v2_proxy_ipv4_and_ipv6() {
        let h = encode::v2(sa("203.0.113.7:40000"), sa("10.0.0.5:1883"), &[]);
        assert_eq!(h.len(), 28);
        let want = Header::Proxied { source: sa("203.0.113.7:40000"), destination: sa("10.0.0.5:1883") };
        assert_eq!(run(&h).expect("parses"), Parse::Done(want, 28));
        let h = encode::v2(sa("[2001:db8::7]:40000"), sa("[2001:db8::5]:8883"), &[]);
        assert_eq!(h.len(), 52);
        let want = Header::Proxied { source: sa("[2001:db8::7]:40000"), destination: sa("[2001:db8::5]:8883") };
        assert_eq!(run(&h).expect("parses"), Parse::Done(want, 52));
    }

    #[test]
    fn v2_tlvs_are_skipped_but_checked() {
        // PP2_TYPE_ALPN and an AWS VPC endpoint id (0xEA).
        let tlvs: &[(u8, &[u8])] = &[(0x01, b"mqtt"), (0xEA, b"\x01vpce-0123456789abcdef")];
        let h = encode::v2(sa("198.51.100.9:1234"), sa("10.1.1.1:1883"), tlvs);
        let want = Header::Proxied { source: sa("198.51.100.9:1234"), destination: sa("10.1.1.1:1883") };
        assert_eq!(run(&h).expect("parses"), Parse::Done(want, h.len()));
        // A TLV whose length runs past the block.
        let mut bad = encode::v2(sa("198.51.100.9:1234"), sa("10.1.1.1:1883"), &[(0x01, b"mqtt")]);
        let n = bad.len();
        bad[n - 6] = 0x00;
        bad[n - 5] = 0x09;
        assert!(matches!(run(&bad), Err(ProxyError::V2(_))), "{:?}", run(&bad));
        // Stray bytes that cannot be a TLV header.
        let mut bad = encode::v2(sa("198.51.100.9:1234"), sa("10.1.1.1:1883"), &[]);
        bad.extend([0x01, 0x00]);
        bad[15] += 2;
        assert!(matches!(run(&bad), Err(ProxyError::V2(_))));
    }

    #[test]
    fn v2_local_keeps_the_tcp_peer() {
        let h = encode::v2_local();
        assert_eq!(run(&h).expect("parses"), Parse::Done(Header::Local, 16));
        assert_eq!(Header::Local.peer(sa("10.0.0.1:5")), sa("10.0.0.1:5"));
        // A LOCAL header may carry a body; it is skipped.
        let mut h = encode::v2(sa("1.2.3.4:5"), sa("6.7.8.9:10"), &[]);
        h[12] = 0x20;
        assert_eq!(run(&h).expect("parses"), Parse::Done(Header::Local, h.len()));
    }

    #[test]
    fn v2_unspec_and_unix_are_unknown() {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend([0x21, 0x00, 0x00, 0x00]);
        assert_eq!(run(&h).expect("parses"), Parse::Done(Header::Unknown, 16));
        let mut h = V2_SIGNATURE.to_vec();
        h.extend([0x21, 0x31, 0x00, 0xd8]);
        h.resize(16 + 216, 0);
        assert_eq!(run(&h).expect("parses"), Parse::Done(Header::Unknown, 16 + 216));
    }

    #[test]
    fn v2_malformed() {
        let good = encode::v2(sa("1.2.3.4:5"), sa("6.7.8.9:10"), &[]);
        let mut bad = good.clone();
        bad[12] = 0x11; // version 1 in a v2 signature
        assert!(matches!(run(&bad), Err(ProxyError::V2(_))));
        let mut bad = good.clone();
        bad[12] = 0x22; // command 2
        assert!(matches!(run(&bad), Err(ProxyError::V2(_))));
        let mut bad = good.clone();
        bad[15] = 4; // an IPv4 block of 4 bytes
        bad.truncate(20);
        assert!(matches!(run(&bad), Err(ProxyError::V2(_))));
        let mut bad = good;
        bad[3] = b'X'; // broken signature
        assert!(matches!(run(&bad), Err(ProxyError::Missing)));
    }

    #[test]
    fn v2_oversize() {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend([0x21, 0x11]);
        h.extend(((V2_MAX_BODY + 1) as u16).to_be_bytes());
        assert!(matches!(run(&h), Err(ProxyError::Oversize)));
        let mut h = V2_SIGNATURE.to_vec();
        h.extend([0x21, 0x11, 0xff, 0xff]);
        assert!(matches!(run(&h), Err(ProxyError::Oversize)));
    }

    #[test]
    fn truncated_headers_ask_for_more() {
        let v1 = b"PROXY TCP4 192.0.2.10 198.51.100.1 56324 1883\r\n";
        let v2 = encode::v2(sa("1.2.3.4:5"), sa("6.7.8.9:10"), &[(1, b"x")]);
        for h in [&v1[..], &v2[..]] {
            for cut in 0..h.len() {
                assert!(matches!(run(&h[..cut]), Ok(Parse::Need(_))), "cut at {cut}");
            }
        }
    }

    #[test]
    fn garbage_is_missing() {
        for g in [&b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c"[..], b"GET /mqtt HTTP/1.1\r\n", b"\x16\x03\x01", b"PROXZ"] {
            assert!(matches!(run(g), Err(ProxyError::Missing)), "{g:?}");
        }
    }

    #[test]
    fn never_reads_past_the_header() {
        // The parser's requests add up to the header exactly, whatever follows it.
        let h = b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";
        let mut have = 0;
        while let Ok(Parse::Need(n)) = parse(&h[..have]) {
            have += n;
            assert!(have <= h.len(), "asked for more than the header");
        }
        assert_eq!(have, h.len());
    }

    #[tokio::test]
    async fn read_header_leaves_the_rest_in_the_stream() {
        let mut data = encode::v2(sa("9.9.9.9:99"), sa("1.1.1.1:1883"), &[]);
        data.extend(b"rest");
        let mut r = &data[..];
        let h = read_header(&mut r).await.expect("header");
        assert_eq!(h.peer(sa("127.0.0.1:1")), sa("9.9.9.9:99"));
        assert_eq!(r, b"rest");
        let mut r = &b"PROXY TCP4 1.2.3.4"[..];
        assert!(matches!(read_header(&mut r).await, Err(ProxyError::Truncated)));
    }
}
