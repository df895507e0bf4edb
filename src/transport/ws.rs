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
//! that is not an MQTT WebSocket upgrade) instead of a closed socket.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_util::{Sink, StreamExt};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Message};

use crate::transport::connection::MqttIo;

/// The subprotocols MQTT over WebSocket uses, in the server's order of preference.
pub const SUBPROTOCOLS: [&str; 2] = ["mqtt", "mqttv3.1"];
/// The upgrade request (request line and headers) must fit in this.
const MAX_REQUEST: usize = 8 * 1024;
const MAX_HEADERS: usize = 64;
/// tungstenite allocates its read buffer up front for every connection; its default (128 KiB)
/// would make idle WebSocket clients cost far more than TCP ones.
const READ_BUFFER: usize = 8 * 1024;

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
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        // Written as soon as sent: the connection task writes one batch per loop turn and
        // flushes it, so there is nothing to gain from buffering here.
        .write_buffer_size(0)
        .max_message_size(Some(opts.max_message))
        .max_frame_size(Some(opts.max_message));
    // A client may pipeline its first frames behind the request.
    let ws = WebSocketStream::from_partially_read(stream, tail.to_vec(), Role::Server, Some(config)).await;
    Ok(WsIo { ws, subprotocol: accept.subprotocol })
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
pub struct WsIo<S> {
    ws: WebSocketStream<S>,
    subprotocol: &'static str,
}

impl<S> WsIo<S> {
    /// The subprotocol agreed in the upgrade.
    pub fn subprotocol(&self) -> &'static str {
        self.subprotocol
    }
}

fn ws_error(e: tokio_tungstenite::tungstenite::Error) -> std::io::Error {
    use tokio_tungstenite::tungstenite::Error as E;
    match e {
        E::Io(e) => e,
        E::ConnectionClosed | E::AlreadyClosed => std::io::ErrorKind::ConnectionAborted.into(),
        other => std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> MqttIo for WsIo<S> {
    /// Cancel-safe (the connection task polls it in a `select!`): a frame's payload is
    /// appended in the same poll that takes it from the WebSocket.
    async fn read_some(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        loop {
            match self.ws.next().await {
                None | Some(Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed)) => return Ok(0),
                Some(Err(e)) => return Err(ws_error(e)),
                Some(Ok(Message::Binary(b))) if b.is_empty() => continue,
                Some(Ok(Message::Binary(b))) => {
                    let n = b.len();
                    if buf.is_empty() {
                        // Takes the frame's allocation when it is not shared.
                        *buf = Vec::from(b);
                    } else {
                        buf.extend_from_slice(&b);
                    }
                    return Ok(n);
                }
                Some(Ok(Message::Text(_))) => {
                    let frame = CloseFrame { code: CloseCode::Unsupported, reason: "MQTT needs binary frames".into() };
                    // Bounded: a peer that does not read must not hold the task here.
                    let _ = tokio::time::timeout(Duration::from_secs(1), self.ws.close(Some(frame))).await;
                    return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "text WebSocket frame"));
                }
                Some(Ok(Message::Close(_))) => {
                    // tungstenite queued the close reply; send it (bounded) so the client sees
                    // a clean close rather than a dropped connection.
                    let _ =
                        tokio::time::timeout(Duration::from_secs(1), futures_util::SinkExt::flush(&mut self.ws)).await;
                    return Ok(0);
                }
                // Pings are answered by tungstenite itself; pongs and raw frames carry nothing.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsIo<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let mut ws = Pin::new(&mut self.ws);
        ready!(ws.as_mut().poll_ready(cx)).map_err(ws_error)?;
        ws.start_send(Message::Binary(Bytes::copy_from_slice(data))).map_err(ws_error)?;
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.ws).poll_flush(cx).map_err(ws_error)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.ws).poll_close(cx).map_err(ws_error)
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
