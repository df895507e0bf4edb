//! A small HTTP/1.1 client for the admin API: one connection per request (ctl makes one or two),
//! plain HTTP only (the admin listener has no TLS; reach remote nodes through a tunnel or
//! `kubectl port-forward`). hyper's low-level client is used so that ctl adds no HTTP stack
//! of its own to the binary.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::http::{Method, Request, StatusCode, Uri, header};
use hyper_util::rt::TokioIo;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response accepted; a listing page is far smaller.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Everything but RFC 3986 unreserved characters is escaped, `/` included, so a client id or
/// topic always stays one path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encode one path segment or query value.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// A response: status and body.
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON (`null` when empty).
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        if self.body.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&self.body).context("the admin API answered with something that is not JSON")
    }

    /// The `error` field of an error body, else the body as text.
    pub fn error_message(&self) -> String {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).trim().to_string())
    }
}

pub struct Client {
    /// As given, for messages.
    url: String,
    host: String,
    port: u16,
    authority: String,
    /// Path prefix of the base URL (a reverse proxy may serve the API under one), no trailing `/`.
    prefix: String,
    key: Option<String>,
}

impl Client {
    /// `url` is `http://HOST:PORT[/PREFIX]`; `HOST:PORT` alone means plain HTTP.
    pub fn new(url: &str, key: Option<String>) -> anyhow::Result<Client> {
        let full = if url.contains("://") { url.to_string() } else { format!("http://{url}") };
        let uri: Uri = full.parse().map_err(|e| anyhow!("invalid admin URL {url:?}: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => bail!(
                "{url}: https is not supported; the admin listener speaks plain HTTP (use an SSH tunnel or \
                 kubectl port-forward to reach a remote node)"
            ),
            _ => bail!("invalid admin URL {url:?}: expected http://HOST:PORT"),
        }
        let auth = uri.authority().ok_or_else(|| anyhow!("invalid admin URL {url:?}: no host"))?;
        let host = auth.host().trim_start_matches('[').trim_end_matches(']').to_string();
        let port = auth.port_u16().unwrap_or(80);
        Ok(Client {
            url: url.trim_end_matches('/').to_string(),
            host,
            port,
            authority: auth.as_str().to_string(),
            prefix: uri.path().trim_end_matches('/').to_string(),
            key,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// Send one request (`path` starts with `/`, query included) and read the whole response.
    pub async fn request(&self, method: Method, path: &str) -> anyhow::Result<Reply> {
        self.send(method, path, None).await
    }

    /// Send a request with a JSON body.
    pub async fn request_json(&self, method: Method, path: &str, body: &serde_json::Value) -> anyhow::Result<Reply> {
        self.send(method, path, Some(serde_json::to_vec(body)?)).await
    }

    async fn send(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> anyhow::Result<Reply> {
        let unreachable = |why: String| anyhow!("cannot reach the admin API at {}: {why}", self.url);
        let connect = tokio::net::TcpStream::connect((self.host.as_str(), self.port));
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(unreachable(describe_io(&e))),
            Err(_) => return Err(unreachable(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()))),
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        // Drives the connection; it ends when the response is read and `sender` is dropped.
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.prefix))
            .header(header::HOST, &self.authority)
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, concat!("starling-ctl/", env!("CARGO_PKG_VERSION")));
        if let Some(k) = &self.key {
            req = req.header(header::AUTHORIZATION, format!("Bearer {k}"));
        }
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or_default()))).context("building the request")?;
        let resp = match tokio::time::timeout(RESPONSE_TIMEOUT, sender.send_request(req)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(unreachable(e.to_string())),
            Err(_) => return Err(unreachable(format!("no response within {}s", RESPONSE_TIMEOUT.as_secs()))),
        };
        let status = resp.status();
        let body = Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| anyhow!("reading the response from {}: {e}", self.url))?
            .to_bytes();
        Ok(Reply { status, body })
    }
}

/// "connection refused" rather than "Connection refused (os error 111)".
fn describe_io(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused".into(),
        TimedOut => "timed out".into(),
        ConnectionReset => "connection reset".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c = Client::new("http://127.0.0.1:18083/", None).expect("plain");
        assert_eq!((c.host.as_str(), c.port, c.prefix.as_str()), ("127.0.0.1", 18083, ""));
        let c = Client::new("[::1]:9000/admin", None).expect("v6 without scheme");
        assert_eq!((c.host.as_str(), c.port, c.prefix.as_str()), ("::1", 9000, "/admin"));
        assert!(Client::new("https://x:1", None).err().is_some_and(|e| e.to_string().contains("https")));
        assert!(Client::new("ftp://x:1", None).is_err());
    }

    #[test]
    fn segments_keep_slashes_escaped() {
        assert_eq!(encode("a/b +#é"), "a%2Fb%20%2B%23%C3%A9");
        assert_eq!(encode("x-y_z.~"), "x-y_z.~");
    }
}
