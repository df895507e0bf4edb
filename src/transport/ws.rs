//! MQTT over WebSocket (MQTT 3.1.1 and 5.0, section 6): the HTTP upgrade, and [`WsIo`], which
//! makes a WebSocket look like the byte stream [`MqttIo`] the connection task runs on.
//!
//! The spec's rules, and how they are met:
//! - MQTT control packets go in **binary** frames; a text frame closes the connection
//!   (MQTT-6.0.0-1). [`WsIo::read_some`] ends the connection on one.
//! - A frame may hold part of a packet, or several packets (MQTT-6.0.0-2): frames are only
//!   a transport, their payloads are appended to the connection's byte stream and the
//!   connection's packet decoder finds the packet boundaries, as it does for TCP.
//! - The client offers the subprotocol `mqtt` (`mqttv3.1` for old 3.1 clients) and the server
//!   echoes the one it selected (MQTT-6.0.0-3/4). A client that offers neither is refused.
//!
//! The upgrade request is parsed here rather than by tungstenite's handshake, so that every
//! refusal gets a clear HTTP answer (404 for another path, 400 with the reason for a request
//! that is not an MQTT WebSocket upgrade) instead of a closed socket. The frames are read and
//! written here too (RFC 6455, server side, no extensions), so that an idle connection holds
//! no buffer: see [`WsIo`].

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::transport::connection::MqttIo;

/// The subprotocols MQTT over WebSocket uses, in the server's order of preference.
pub const SUBPROTOCOLS: [&str; 2] = ["mqtt", "mqttv3.1"];
/// The upgrade request (request line and headers) must fit in this.
const MAX_REQUEST: usize = 8 * 1024;
const MAX_HEADERS: usize = 64;

/// What a WebSocket listener needs to upgrade a connection.
#[derive(Debug, Clone)]
pub struct WsOptions {
    /// The path MQTT is served on (`/mqtt`).
    pub path: String,
    /// The largest WebSocket message (and frame) accepted.
    pub max_message: usize,
    /// Which browser pages may upgrade (`allowed_origins`).
    pub origins: crate::transport::access::OriginPolicy,
}

impl WsOptions {
    /// `max_packet_size` is the broker's MQTT limit: a frame may carry more than one packet,
    /// so a message may be up to twice that (and never less than 64 KiB).
    pub fn new(path: &str, max_packet_size: u32) -> WsOptions {
        let max_message = (max_packet_size as usize).saturating_mul(2).max(64 * 1024);
        WsOptions { path: path.to_string(), max_message, origins: Default::default() }
    }

    pub fn origins(mut self, origins: crate::transport::access::OriginPolicy) -> WsOptions {
        self.origins = origins;
        self
    }
}

/// Why an upgrade was refused; the variant's [`reason`](UpgradeError::reason) is the metric label.
#[derive(Debug, Error)]
pub enum UpgradeError {
    #[error("HTTP request headers larger than {MAX_REQUEST} bytes")]
    TooLarge,
    #[error("malformed HTTP request: {0}")]
    BadRequest(String),
    #[error("request for {0:?}, which is not the MQTT WebSocket path")]
    Path(String),
    #[error("not a WebSocket upgrade: {0}")]
    NotUpgrade(&'static str),
    #[error("a web page of origin {0:?} may not connect here (allowed_origins)")]
    Origin(String),
    #[error("no MQTT WebSocket subprotocol offered (offered: {0:?})")]
    Subprotocol(String),
    #[error("connection closed during the WebSocket upgrade")]
    Closed,
    #[error("WebSocket upgrade: {0}")]
    Io(#[from] std::io::Error),
}

impl UpgradeError {
    pub fn reason(&self) -> &'static str {
        match self {
            UpgradeError::TooLarge => "too_large",
            UpgradeError::BadRequest(_) => "bad_request",
            UpgradeError::Path(_) => "path",
            UpgradeError::NotUpgrade(_) => "not_upgrade",
            UpgradeError::Subprotocol(_) => "subprotocol",
            UpgradeError::Origin(_) => "origin",
            UpgradeError::Closed => "closed",
            UpgradeError::Io(_) => "io_error",
        }
    }
}

/// An accepted upgrade: what to answer, and the subprotocol chosen.
#[derive(Debug, PartialEq, Eq)]
struct Accept {
    key_accept: String,
    subprotocol: &'static str,
}

/// An HTTP refusal: status line, body, extra headers, and the error it stands for.
struct Refusal {
    status: &'static str,
    body: String,
    headers: &'static str,
    error: UpgradeError,
}

impl Refusal {
    fn new(status: &'static str, body: impl Into<String>, error: UpgradeError) -> Refusal {
        Refusal { status, body: body.into(), headers: "", error }
    }
}

/// Every comma-separated value of every header `name` (headers may repeat).
fn header_values<'b>(headers: &[httparse::Header<'b>], name: &str) -> Vec<&'b str> {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .filter_map(|h| std::str::from_utf8(h.value).ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect()
}

/// Check an upgrade request against the listener's path and the MQTT subprotocols.
fn decide(req: &httparse::Request<'_, '_>, opts: &WsOptions) -> Result<Accept, Refusal> {
    let target = req.path.unwrap_or("");
    // The query string does not select anything; browsers' MQTT libraries sometimes add one.
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    if path != opts.path {
        return Err(Refusal::new(
            "404 Not Found",
            format!("no MQTT WebSocket endpoint at {path}\n"),
            UpgradeError::Path(path.to_string()),
        ));
    }
    if req.method != Some("GET") {
        let mut r = Refusal::new(
            "405 Method Not Allowed",
            "MQTT over WebSocket needs a GET upgrade request\n",
            UpgradeError::NotUpgrade("method is not GET"),
        );
        r.headers = "Allow: GET\r\n";
        return Err(r);
    }
    let values = |name: &str| header_values(req.headers, name).into_iter();
    let origin = values("Origin").next();
    if !opts.origins.allows(origin, values("Host").next()) {
        let origin = crate::auth::limits::clip(origin.unwrap_or_default()).into_owned();
        return Err(Refusal::new("403 Forbidden", "this origin may not connect here\n", UpgradeError::Origin(origin)));
    }
    let not_upgrade = |why: &'static str| {
        let mut r = Refusal::new(
            "426 Upgrade Required",
            format!("this is an MQTT over WebSocket endpoint: {why}\n"),
            UpgradeError::NotUpgrade(why),
        );
        r.headers = "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n";
        r
    };
    if req.version != Some(1) {
        return Err(not_upgrade("HTTP/1.1 is required"));
    }
    if !values("Connection").any(|v| v.eq_ignore_ascii_case("upgrade")) {
        return Err(not_upgrade("no \"Connection: Upgrade\" header"));
    }
    if !values("Upgrade").any(|v| v.eq_ignore_ascii_case("websocket")) {
        return Err(not_upgrade("no \"Upgrade: websocket\" header"));
    }
    if !values("Sec-WebSocket-Version").any(|v| v == "13") {
        return Err(not_upgrade("Sec-WebSocket-Version must be 13"));
    }
    let key = values("Sec-WebSocket-Key").next().unwrap_or("");
    // 16 random bytes in base64.
    if key.len() != 24 || !key.ends_with("==") {
        return Err(Refusal::new(
            "400 Bad Request",
            "missing or malformed Sec-WebSocket-Key\n",
            UpgradeError::NotUpgrade("bad Sec-WebSocket-Key"),
        ));
    }
    let offered: Vec<&str> = values("Sec-WebSocket-Protocol").collect();
    // The client's order of preference wins among the ones we speak.
    let Some(subprotocol) = offered.iter().find_map(|o| SUBPROTOCOLS.iter().find(|s| *s == o).copied()) else {
        return Err(Refusal::new(
            "400 Bad Request",
            "MQTT over WebSocket needs the subprotocol \"mqtt\" (Sec-WebSocket-Protocol: mqtt)\n",
            UpgradeError::Subprotocol(offered.join(", ")),
        ));
    };
    let key_accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    Ok(Accept { key_accept, subprotocol })
}

/// Read the HTTP upgrade request from `stream`, answer it, and return the WebSocket. A
/// refusal is answered with an HTTP error before the error is returned. The caller bounds
/// the time this takes (the connect timeout).
pub async fn upgrade<S>(mut stream: S, opts: &WsOptions) -> Result<WsIo<S>, UpgradeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = Vec::with_capacity(1024);
    let end = loop {
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(UpgradeError::Closed);
        }
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_REQUEST {
            let r = Refusal::new("431 Request Header Fields Too Large", "", UpgradeError::TooLarge);
            return Err(refuse(&mut stream, r).await);
        }
    };
    let (head, tail) = buf.split_at(end);
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let decided = match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => decide(&req, opts),
        Ok(httparse::Status::Partial) => Err(Refusal::new(
            "400 Bad Request",
            "incomplete HTTP request\n",
            UpgradeError::BadRequest("incomplete request".into()),
        )),
        Err(e) => Err(Refusal::new("400 Bad Request", format!("{e}\n"), UpgradeError::BadRequest(e.to_string()))),
    };
    let accept = match decided {
        Ok(a) => a,
        Err(r) => return Err(refuse(&mut stream, r).await),
    };
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: {}\r\n\r\n",
        accept.key_accept, accept.subprotocol
    );
    stream.write_all(response.as_bytes()).await?;
    stream.flush().await?;
    // A client may pipeline its first frames behind the request.
    Ok(WsIo::new(stream, tail.to_vec(), opts.max_message, accept.subprotocol))
}

async fn refuse<S: AsyncWrite + Unpin>(stream: &mut S, r: Refusal) -> UpgradeError {
    let msg = format!(
        "HTTP/1.1 {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n{}",
        r.status,
        r.body.len(),
        r.headers,
        r.body
    );
    // Best effort: the client is refused either way.
    let _ = stream.write_all(msg.as_bytes()).await;
    let _ = stream.shutdown().await;
    r.error
}

/// A WebSocket carrying MQTT: binary frame payloads in, one binary frame per write out.
///
/// The framing (RFC 6455) is done here rather than by tungstenite, which keeps a read buffer
/// (8 KiB here) for the life of every connection. This one holds no heap memory while the
/// client is idle: a read goes through a stack buffer, a frame's payload is unmasked straight
/// into the connection's read buffer, and only a frame header cut by the end of a read (at most
/// 14 bytes) is kept between reads. Control frames are collected in a small `Vec` that exists
/// only while one arrives; outgoing frames live in `out` until written.
pub struct WsIo<S> {
    stream: S,
    subprotocol: &'static str,
    max_message: usize,
    /// A frame header received in part.
    head: [u8; MAX_HEADER],
    head_len: u8,
    /// The frame whose payload is arriving.
    frame: Option<InFrame>,
    /// A fragmented binary message is in progress: its size so far.
    message: Option<u64>,
    /// The payload of the control frame arriving (at most 125 bytes).
    control: Vec<u8>,
    /// Bytes the client sent behind the upgrade request, read before the socket.
    early: Vec<u8>,
    /// Framed bytes to write, `out[out_pos..]` not yet written.
    out: Vec<u8>,
    out_pos: usize,
    close_sent: bool,
    /// A close frame or end of stream was received: reads return 0 from now on.
    closed: bool,
    /// A protocol violation found after some payload was already returned; reported next.
    failed: Option<Failure>,
}

/// The largest frame header: 2 bytes, a 64-bit length, the mask.
const MAX_HEADER: usize = 14;
/// Bytes read from the socket per step; on the stack, so an idle connection holds none.
const READ_STEP: usize = 8 * 1024;
/// Unwritten frames (pong replies) beyond which reading waits for the client to read.
const MAX_QUEUED: usize = 16 * 1024;
const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

#[derive(Debug, Clone, Copy)]
struct InFrame {
    opcode: u8,
    remaining: u64,
    mask: [u8; 4],
    /// Payload bytes unmasked so far (selects the mask byte).
    offset: u64,
}

/// Why the connection is being closed: the close code sent, and the error returned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Failure {
    code: u16,
    reason: &'static str,
}

impl Failure {
    fn protocol(reason: &'static str) -> Failure {
        Failure { code: 1002, reason }
    }
}

/// What one read step found.
enum Step {
    Data(usize),
    /// A close frame, or the end of the stream.
    Closed,
    Failed(Failure),
}

/// Whether a received close code may be echoed (RFC 6455 7.4).
fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

impl<S> WsIo<S> {
    fn new(stream: S, early: Vec<u8>, max_message: usize, subprotocol: &'static str) -> WsIo<S> {
        WsIo {
            stream,
            subprotocol,
            max_message,
            head: [0; MAX_HEADER],
            head_len: 0,
            frame: None,
            message: None,
            control: Vec::new(),
            early,
            out: Vec::new(),
            out_pos: 0,
            close_sent: false,
            closed: false,
            failed: None,
        }
    }

    /// The subprotocol agreed in the upgrade.
    pub fn subprotocol(&self) -> &'static str {
        self.subprotocol
    }

    /// Queue one unmasked frame (servers do not mask).
    fn queue_frame(&mut self, opcode: u8, payload: &[u8]) {
        let len = payload.len();
        self.out.reserve(MAX_HEADER + len);
        self.out.push(0x80 | opcode);
        if len < 126 {
            self.out.push(len as u8);
        } else if let Ok(l) = u16::try_from(len) {
            self.out.push(126);
            self.out.extend_from_slice(&l.to_be_bytes());
        } else {
            self.out.push(127);
            self.out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        self.out.extend_from_slice(payload);
    }

    fn queue_close(&mut self, code: Option<u16>, reason: &str) {
        if self.close_sent {
            return;
        }
        self.close_sent = true;
        let mut body = Vec::with_capacity(2 + reason.len());
        if let Some(code) = code {
            body.extend_from_slice(&code.to_be_bytes());
            body.extend_from_slice(reason.as_bytes());
        }
        self.queue_frame(OP_CLOSE, &body);
    }

    /// Parse `data` from the client: payloads of binary frames are appended to `buf`, control
    /// frames answered. Returns the payload bytes appended, and stops at a close frame or a
    /// protocol violation (recorded in `closed` / `failed`).
    fn process(&mut self, mut data: &[u8], buf: &mut Vec<u8>) -> usize {
        let mut appended = 0;
        while !data.is_empty() && !self.closed && self.failed.is_none() {
            let Some(mut f) = self.frame else {
                let taken = self.take_header(data);
                data = &data[taken..];
                continue;
            };
            let n = usize::try_from(f.remaining).unwrap_or(usize::MAX).min(data.len());
            let (payload, rest) = data.split_at(n);
            data = rest;
            let target = if f.opcode >= OP_CLOSE { &mut self.control } else { &mut *buf };
            let start = target.len();
            target.extend_from_slice(payload);
            for (i, b) in target[start..].iter_mut().enumerate() {
                *b ^= f.mask[((f.offset as usize) + i) % 4];
            }
            if f.opcode < OP_CLOSE {
                appended += n;
            }
            f.offset += n as u64;
            f.remaining -= n as u64;
            self.frame = Some(f);
            if f.remaining == 0 {
                self.frame = None;
                self.frame_done(f);
            }
        }
        appended
    }

    /// Take header bytes from `data` into `head`; parse the header once complete. Returns the
    /// bytes taken.
    fn take_header(&mut self, data: &[u8]) -> usize {
        let have = self.head_len as usize;
        // How long this header is, once its first two bytes are known.
        let need = |h: &[u8]| {
            if h.len() < 2 {
                return 2;
            }
            let ext = match h[1] & 0x7f {
                126 => 2,
                127 => 8,
                _ => 0,
            };
            2 + ext + if h[1] & 0x80 != 0 { 4 } else { 0 }
        };
        let mut taken = 0;
        let mut len = have;
        loop {
            let want = need(&self.head[..len]);
            if len >= want {
                break;
            }
            let Some(&b) = data.get(taken) else {
                self.head_len = len as u8;
                return taken;
            };
            self.head[len] = b;
            len += 1;
            taken += 1;
        }
        self.head_len = 0;
        let h = self.head;
        match self.start_frame(&h[..len]) {
            Ok(()) => {}
            Err(e) => self.failed = Some(e),
        }
        taken
    }

    /// Check a complete frame header against RFC 6455 and MQTT's rules, and start the frame.
    fn start_frame(&mut self, h: &[u8]) -> Result<(), Failure> {
        let fin = h[0] & 0x80 != 0;
        let opcode = h[0] & 0x0f;
        if h[0] & 0x70 != 0 {
            return Err(Failure::protocol("reserved bits set"));
        }
        if h[1] & 0x80 == 0 {
            return Err(Failure::protocol("client frames must be masked"));
        }
        let (len, mask_at) = match h[1] & 0x7f {
            126 => (u64::from(u16::from_be_bytes([h[2], h[3]])), 4),
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&h[2..10]);
                (u64::from_be_bytes(b), 10)
            }
            l => (u64::from(l), 2),
        };
        let mut mask = [0u8; 4];
        mask.copy_from_slice(&h[mask_at..mask_at + 4]);
        match opcode {
            OP_CLOSE | OP_PING | OP_PONG => {
                if !fin || len > 125 {
                    return Err(Failure::protocol("control frames must be final and at most 125 bytes"));
                }
            }
            OP_TEXT => return Err(Failure { code: 1003, reason: "MQTT needs binary frames" }),
            OP_BINARY | OP_CONTINUATION => {
                let so_far = match (opcode, self.message) {
                    (OP_BINARY, None) => 0,
                    (OP_CONTINUATION, Some(n)) => n,
                    (OP_BINARY, Some(_)) => return Err(Failure::protocol("new message inside a fragmented one")),
                    _ => return Err(Failure::protocol("continuation frame without a message")),
                };
                let total = so_far.saturating_add(len);
                if total > self.max_message as u64 {
                    return Err(Failure { code: 1009, reason: "message too large" });
                }
                self.message = if fin { None } else { Some(total) };
            }
            _ => return Err(Failure::protocol("reserved opcode")),
        }
        let f = InFrame { opcode, remaining: len, mask, offset: 0 };
        if len == 0 {
            self.frame_done(f);
        } else {
            self.frame = Some(f);
        }
        Ok(())
    }

    /// A frame's payload is complete: answer control frames.
    fn frame_done(&mut self, f: InFrame) {
        let body = std::mem::take(&mut self.control);
        match f.opcode {
            OP_PING if !self.close_sent => self.queue_frame(OP_PONG, &body),
            OP_CLOSE => {
                self.closed = true;
                match body.len() {
                    0 => self.queue_close(None, ""),
                    1 => self.failed = Some(Failure::protocol("close frame with a 1-byte body")),
                    _ => {
                        let code = u16::from_be_bytes([body[0], body[1]]);
                        if !valid_close_code(code) {
                            self.failed = Some(Failure::protocol("invalid close code"));
                        } else if std::str::from_utf8(&body[2..]).is_err() {
                            self.failed = Some(Failure { code: 1007, reason: "close reason is not UTF-8" });
                        } else {
                            // Echoed, as RFC 6455 5.5.1 suggests.
                            self.queue_close(Some(code), "");
                        }
                    }
                }
            }
            // Pongs carry nothing; binary payloads went to the caller as they arrived.
            _ => {}
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsIo<S> {
    /// Write `out` to the stream; frees it once written, so an idle connection holds none.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.out_pos < self.out.len() {
            let n = ready!(Pin::new(&mut self.stream).poll_write(cx, &self.out[self.out_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.out_pos += n;
        }
        self.out = Vec::new();
        self.out_pos = 0;
        Poll::Ready(Ok(()))
    }

    /// One read step. Everything it takes from the stream is processed in the same poll, so
    /// dropping the future between polls loses nothing.
    fn poll_step(&mut self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<std::io::Result<Step>> {
        loop {
            if let Some(f) = self.failed.take() {
                return Poll::Ready(Ok(Step::Failed(f)));
            }
            if self.closed {
                return Poll::Ready(Ok(Step::Closed));
            }
            // Pong replies queued earlier go out as soon as the socket takes them; a client that
            // pings without reading is not read from until they are (the queue stays bounded).
            match self.poll_write_out(cx) {
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending if self.out.len() - self.out_pos > MAX_QUEUED => return Poll::Pending,
                _ => {}
            }
            let n = if !self.early.is_empty() {
                let early = std::mem::take(&mut self.early);
                self.process(&early, buf)
            } else {
                let mut step = [0u8; READ_STEP];
                let mut rb = ReadBuf::new(&mut step);
                ready!(Pin::new(&mut self.stream).poll_read(cx, &mut rb))?;
                if rb.filled().is_empty() {
                    self.closed = true;
                    return Poll::Ready(Ok(Step::Closed));
                }
                self.process(rb.filled(), buf)
            };
            if n > 0 {
                return Poll::Ready(Ok(Step::Data(n)));
            }
        }
    }

    /// Send what is queued (a close frame), bounded: a peer that does not read must not hold
    /// the task.
    async fn flush_bounded(&mut self) {
        let flush = std::future::poll_fn(|cx| {
            ready!(self.poll_write_out(cx))?;
            Pin::new(&mut self.stream).poll_flush(cx)
        });
        let _ = tokio::time::timeout(Duration::from_secs(1), flush).await;
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> MqttIo for WsIo<S> {
    /// Cancel-safe (the connection task polls it in a `select!`): see [`WsIo::poll_step`].
    async fn read_some(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        match std::future::poll_fn(|cx| self.poll_step(cx, buf)).await? {
            Step::Data(n) => Ok(n),
            Step::Closed => {
                // The close reply is queued: send it so the client sees a clean close.
                self.flush_bounded().await;
                Ok(0)
            }
            Step::Failed(f) => {
                self.queue_close(Some(f.code), f.reason);
                self.flush_bounded().await;
                // Later reads see the end of the stream.
                self.closed = true;
                Err(std::io::Error::new(std::io::ErrorKind::InvalidData, f.reason))
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsIo<S> {
    /// One binary frame per call, queued once the previous one is written.
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        ready!(self.poll_write_out(cx))?;
        if self.close_sent {
            return Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()));
        }
        self.queue_frame(OP_BINARY, data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.poll_write_out(cx))?;
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    /// A close frame (1000, normal closure), then the stream's own shutdown.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.queue_close(Some(1000), "");
        ready!(self.poll_write_out(cx))?;
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Log-friendly description of a refused upgrade.
pub fn describe_refusal(listener: &str, peer: SocketAddr, e: &UpgradeError) {
    tracing::info!(listener, %peer, reason = e.reason(), "WebSocket upgrade refused: {e}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> WsOptions {
        WsOptions::new("/mqtt", 1024 * 1024)
    }

    fn request(path: &str, protocols: &str) -> String {
        let proto =
            if protocols.is_empty() { String::new() } else { format!("Sec-WebSocket-Protocol: {protocols}\r\n") };
        format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{proto}\r\n"
        )
    }

    fn decide_raw(raw: &str) -> Result<Accept, UpgradeError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        assert!(matches!(req.parse(raw.as_bytes()), Ok(httparse::Status::Complete(_))));
        decide(&req, &opts()).map_err(|r| r.error)
    }

    #[test]
    fn accepts_mqtt_and_echoes_the_choice() {
        let a = decide_raw(&request("/mqtt", "mqtt")).expect("accepted");
        // RFC 6455's example key.
        assert_eq!(a.key_accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(a.subprotocol, "mqtt");
        assert_eq!(decide_raw(&request("/mqtt?clientId=x", "chat, mqttv3.1")).expect("ok").subprotocol, "mqttv3.1");
        assert_eq!(decide_raw(&request("/mqtt", "mqttv3.1, mqtt")).expect("ok").subprotocol, "mqttv3.1");
    }

    #[test]
    fn refusals() {
        assert!(matches!(decide_raw(&request("/other", "mqtt")), Err(UpgradeError::Path(p)) if p == "/other"));
        assert!(matches!(decide_raw(&request("/mqtt", "")), Err(UpgradeError::Subprotocol(_))));
        assert!(matches!(decide_raw(&request("/mqtt", "chat, MQTT")), Err(UpgradeError::Subprotocol(_))));
        let plain = "GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n";
        assert!(matches!(decide_raw(plain), Err(UpgradeError::NotUpgrade(_))));
        let post = request("/mqtt", "mqtt").replacen("GET", "POST", 1);
        assert!(matches!(decide_raw(&post), Err(UpgradeError::NotUpgrade(_))));
        let v8 = request("/mqtt", "mqtt").replace("Version: 13", "Version: 8");
        assert!(matches!(decide_raw(&v8), Err(UpgradeError::NotUpgrade(_))));
        let nokey = request("/mqtt", "mqtt").replace("dGhlIHNhbXBsZSBub25jZQ==", "short");
        assert!(matches!(decide_raw(&nokey), Err(UpgradeError::NotUpgrade(_))));
    }

    fn masked(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [9, 200, 33, 71];
        let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload.len() {
            l if l < 126 => f.push(0x80 | l as u8),
            l => {
                f.push(0x80 | 126);
                f.extend((l as u16).to_be_bytes());
            }
        }
        f.extend(mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    fn ws_io() -> WsIo<tokio::io::DuplexStream> {
        let (_client, server) = tokio::io::duplex(64);
        WsIo::new(server, Vec::new(), 1 << 20, "mqtt")
    }

    /// Every cut of the input, wherever it falls (header, extended length, mask, payload,
    /// between frames), gives the same bytes and leaves no buffer behind.
    #[test]
    fn frames_cut_anywhere_give_the_same_bytes() {
        let big: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let mut wire = masked(false, OP_BINARY, &big);
        wire.extend(masked(true, OP_PONG, b"p"));
        wire.extend(masked(true, OP_CONTINUATION, b"tail"));
        wire.extend(masked(true, OP_BINARY, b""));
        let mut want = big.clone();
        want.extend(b"tail");
        for cut in 0..=wire.len() {
            let mut io = ws_io();
            let mut buf = Vec::new();
            let n = io.process(&wire[..cut], &mut buf) + io.process(&wire[cut..], &mut buf);
            assert_eq!(n, want.len(), "cut at {cut}");
            assert_eq!(buf, want, "cut at {cut}");
            assert!(io.failed.is_none() && !io.closed && io.frame.is_none() && io.message.is_none());
            assert_eq!((io.control.capacity(), io.out.capacity(), io.head_len), (0, 0, 0), "cut at {cut}");
        }
    }

    #[test]
    fn pings_are_answered_and_close_is_echoed() {
        let mut io = ws_io();
        let mut buf = Vec::new();
        let mut wire = masked(true, OP_PING, b"abc");
        wire.extend(masked(true, OP_CLOSE, &[0x0f, 0xa0, b'b', b'y', b'e']));
        // Nothing after a close frame is read.
        wire.extend(masked(true, OP_BINARY, b"ignored"));
        assert_eq!(io.process(&wire, &mut buf), 0);
        assert!(io.closed && io.close_sent && buf.is_empty());
        assert_eq!(io.out, [0x8a, 3, b'a', b'b', b'c', 0x88, 2, 0x0f, 0xa0]);
    }

    #[test]
    fn violations_are_refused_with_their_code() {
        let cases: [(Vec<u8>, u16); 7] = [
            (vec![0x82, 0x01, b'x'], 1002),
            (masked(true, OP_TEXT, b"hi"), 1003),
            (masked(true, OP_CONTINUATION, b"x"), 1002),
            ([masked(false, OP_BINARY, b"x"), masked(true, OP_BINARY, b"y")].concat(), 1002),
            (masked(true, OP_CLOSE, &[3]), 1002),
            (masked(true, OP_CLOSE, &[0x03, 0xe8, 0xff]), 1007),
            (vec![0xc2, 0x80, 0, 0, 0, 0], 1002),
        ];
        for (wire, code) in cases {
            let mut io = ws_io();
            io.process(&wire, &mut Vec::new());
            assert_eq!(io.failed.map(|f| f.code), Some(code), "{wire:?}");
        }
        // A message over the limit, counted over its fragments.
        let mut io = ws_io();
        io.max_message = 10;
        let wire = [masked(false, OP_BINARY, b"123456"), masked(true, OP_CONTINUATION, b"789012")].concat();
        io.process(&wire, &mut Vec::new());
        assert_eq!(io.failed.map(|f| f.code), Some(1009));
    }

    #[tokio::test]
    async fn shutdown_sends_a_normal_close() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut io = WsIo::new(server, Vec::new(), 1 << 20, "mqtt");
        io.write_all(b"\x20\x02\x00\x00").await.expect("write");
        io.shutdown().await.expect("shutdown");
        drop(io);
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.expect("read");
        assert_eq!(out, [0x82, 4, 0x20, 2, 0, 0, 0x88, 2, 0x03, 0xe8]);
    }

    #[tokio::test]
    async fn refused_upgrade_answers_http() {
        let (mut client, server) = tokio::io::duplex(4096);
        client.write_all(request("/nope", "mqtt").as_bytes()).await.expect("write");
        let r = upgrade(server, &opts()).await;
        assert!(matches!(r, Err(UpgradeError::Path(_))));
        let mut out = String::new();
        client.read_to_string(&mut out).await.expect("read");
        assert!(out.starts_with("HTTP/1.1 404 Not Found\r\n"), "{out}");
        assert!(out.ends_with("no MQTT WebSocket endpoint at /nope\n"), "{out}");
    }

    #[tokio::test]
    async fn oversized_request_is_refused() {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let mut big = "GET /mqtt HTTP/1.1\r\n".to_string();
        while big.len() <= MAX_REQUEST {
            big.push_str("X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        client.write_all(big.as_bytes()).await.expect("write");
        assert!(matches!(upgrade(server, &opts()).await, Err(UpgradeError::TooLarge)));
    }
}
