//! A small HTTP/1.1 client for the admin API: one connection per request (ctl makes one or two),
//! over plain HTTP or HTTPS (rustls; the server is verified against `--ca` or the system's CA
//! certificates, and a client certificate is presented when the admin listener asks for one).
//! hyper's low-level client is used so that ctl adds no HTTP stack of its own to the binary.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::http::{Method, Request, StatusCode, Uri, header};
use hyper_util::rt::TokioIo;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};

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

/// How an https admin listener is trusted, and the certificate ctl presents to it.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// CA bundle (PEM) the server certificate must chain to; None = the system's CAs.
    pub ca: Option<PathBuf>,
    /// Client certificate chain and key (PEM), for an admin listener with `verify`.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// The TLS side of an https client.
struct Tls {
    config: Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
    /// Where the trusted CAs came from, for error messages.
    trust: String,
    has_client_cert: bool,
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
    /// Set for https URLs.
    tls: Option<Tls>,
    /// How long a request may take to be answered.
    response_timeout: Duration,
    /// The node's control socket, used instead of `host:port` when set ([`Client::local`]).
    socket: Option<PathBuf>,
}

impl Client {
    /// `url` is `http[s]://HOST:PORT[/PREFIX]`; `HOST:PORT` alone means plain HTTP.
    pub fn new(url: &str, key: Option<String>, tls: &TlsOptions) -> anyhow::Result<Client> {
        let full = if url.contains("://") { url.to_string() } else { format!("http://{url}") };
        let uri: Uri = full.parse().map_err(|e| anyhow!("invalid admin URL {url:?}: {e}"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => bail!("invalid admin URL {url:?}: expected http://HOST:PORT or https://HOST:PORT"),
        };
        let auth = uri.authority().ok_or_else(|| anyhow!("invalid admin URL {url:?}: no host"))?;
        let host = auth.host().trim_start_matches('[').trim_end_matches(']').to_string();
        let port = auth.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = if https {
            Some(tls_config(&host, tls).with_context(|| format!("cannot set up TLS for {url}"))?)
        } else {
            if tls.cert.is_some() {
                bail!("--client-cert needs an https:// admin URL, not {url}");
            }
            None
        };
        Ok(Client {
            url: url.trim_end_matches('/').to_string(),
            host,
            port,
            authority: auth.as_str().to_string(),
            prefix: uri.path().trim_end_matches('/').to_string(),
            key,
            tls,
            socket: None,
            response_timeout: RESPONSE_TIMEOUT,
        })
    }

    /// A client of the control socket at `path` (no key: the socket's permissions are the check).
    pub fn local(path: &Path) -> Client {
        Client {
            url: format!("unix:{}", path.display()),
            host: "localhost".into(),
            port: 0,
            authority: "localhost".into(),
            prefix: String::new(),
            key: None,
            tls: None,
            socket: Some(path.to_path_buf()),
            response_timeout: RESPONSE_TIMEOUT,
        }
    }

    /// The same client, waiting as long as it takes for answers (a drain with `--wait`).
    pub fn patient(self) -> Client {
        Client { response_timeout: Duration::from_secs(24 * 3600), ..self }
    }

    /// Whether requests go through the control socket.
    pub fn is_local(&self) -> bool {
        self.socket.is_some()
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

    /// [`Client::request`] with a JSON body.
    pub async fn request_json(&self, method: Method, path: &str, body: &serde_json::Value) -> anyhow::Result<Reply> {
        self.send(method, path, Some(serde_json::to_vec(body)?)).await
    }

    async fn send(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> anyhow::Result<Reply> {
        let unreachable = |why: String| anyhow!("cannot reach the admin API at {}: {why}", self.url);
        let req = self.build(method, path, body)?;
        if let Some(socket) = &self.socket {
            let stream = match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::UnixStream::connect(socket)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(unreachable(format!("{} (is the node running?)", describe_io(&e)))),
                Err(_) => return Err(unreachable(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()))),
            };
            return self.exchange(stream, req).await.map_err(|e| unreachable(e.to_string()));
        }
        let connect = tokio::net::TcpStream::connect((self.host.as_str(), self.port));
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(unreachable(describe_io(&e))),
            Err(_) => return Err(unreachable(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()))),
        };
        let Some(tls) = &self.tls else {
            return self.exchange(stream, req).await.map_err(|why| {
                // A TLS listener drops a plain request without an answer.
                unreachable(format!("{why} (if the admin listener has TLS, use an https:// URL)"))
            });
        };
        let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
        let stream =
            match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(tls.server_name.clone(), stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(unreachable(describe_tls(&e, tls, &self.host))),
                Err(_) => return Err(unreachable(format!("no TLS handshake within {}s", CONNECT_TIMEOUT.as_secs()))),
            };
        self.exchange(stream, req).await.map_err(|why| {
            // A listener that requires client certificates may refuse only after the handshake
            // (TLS 1.3 sends its verdict with the first data).
            let hint = if tls.has_client_cert {
                ""
            } else {
                " (if the admin listener requires client certificates, pass --client-cert and --client-key)"
            };
            unreachable(format!("{why}{hint}"))
        })
    }

    /// The request, with the headers every call sends.
    fn build(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> anyhow::Result<Request<Full<Bytes>>> {
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
        req.body(Full::new(Bytes::from(body.unwrap_or_default()))).context("building the request")
    }

    /// One request and its whole response over an open connection.
    async fn exchange<S>(&self, stream: S, req: Request<Full<Bytes>>) -> Result<Reply, ExchangeError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(ExchangeError::Handshake)?;
        // Drives the connection; it ends when the response is read and `sender` is dropped.
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let resp = match tokio::time::timeout(self.response_timeout, sender.send_request(req)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(ExchangeError::Send(e)),
            Err(_) => return Err(ExchangeError::NoResponse(self.response_timeout)),
        };
        let status = resp.status();
        let body = Limited::new(resp.into_body(), MAX_BODY).collect().await.map_err(ExchangeError::Body)?.to_bytes();
        Ok(Reply { status, body })
    }
}

/// Why one request over an open connection got no whole response.
#[derive(Debug, thiserror::Error)]
enum ExchangeError {
    #[error("{0}")]
    Handshake(hyper::Error),
    #[error("{}", describe_hyper(.0))]
    Send(hyper::Error),
    #[error("no response within {}s", .0.as_secs())]
    NoResponse(Duration),
    #[error("reading the response: {0}")]
    Body(Box<dyn std::error::Error + Send + Sync>),
}

/// hyper's error with its cause (a TLS alert, a reset), which its own message leaves out.
fn describe_hyper(e: &hyper::Error) -> String {
    use std::error::Error;
    match e.source() {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// The rustls client configuration for `host`: trusted CAs from `--ca` or the system, and
/// the client certificate if one is given.
fn tls_config(host: &str, o: &TlsOptions) -> anyhow::Result<Tls> {
    let mut roots = rustls::RootCertStore::empty();
    let trust = match &o.ca {
        Some(path) => {
            for c in read_certs(path, "CA bundle (--ca)")? {
                roots.add(c).with_context(|| format!("CA bundle (--ca) {}: unusable certificate", path.display()))?;
            }
            format!("the CA bundle {}", path.display())
        }
        None => {
            // Certificates the platform store holds but rustls cannot use are skipped.
            let certs = rustls_native_certs::load_native_certs().unwrap_or_default();
            let (added, _) = roots.add_parsable_certificates(certs);
            format!(
                "the system's CA certificates ({added} loaded; pass --ca FILE or set STARLING_ADMIN_CA for a private CA)"
            )
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS protocol versions")?
        .with_root_certificates(roots);
    let mut config = match (&o.cert, &o.key) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert, "client certificate (--client-cert)")?;
            let pem = std::fs::read(key)
                .with_context(|| format!("cannot read the client key (--client-key) {}", key.display()))?;
            let k = PrivateKeyDer::from_pem_slice(&pem)
                .map_err(|e| anyhow!("client key (--client-key) {}: {e}", key.display()))?;
            builder.with_client_auth_cert(chain, k).map_err(|e| {
                anyhow!("client certificate {} and key {} do not match: {e}", cert.display(), key.display())
            })?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => bail!("--client-cert and --client-key go together"),
    };
    // The admin listener speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let server_name =
        ServerName::try_from(host.to_string()).map_err(|e| anyhow!("{host:?} is not a usable TLS server name: {e}"))?;
    Ok(Tls { config: Arc::new(config), server_name, trust, has_client_cert: o.cert.is_some() })
}

fn read_certs(path: &Path, what: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("cannot read the {what} {}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("{what} {}: {e}", path.display()))?;
    if certs.is_empty() {
        bail!("{what} {} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

/// A failed handshake, said so that the operator knows what to change.
fn describe_tls(e: &std::io::Error, tls: &Tls, host: &str) -> String {
    use rustls::{AlertDescription, CertificateError, Error as TlsErr};
    let Some(err) = e.get_ref().and_then(|inner| inner.downcast_ref::<TlsErr>()) else {
        return format!("TLS handshake failed: {} (is the admin listener serving https?)", describe_io(e));
    };
    match err {
        TlsErr::InvalidCertificate(CertificateError::UnknownIssuer | CertificateError::BadSignature) => {
            format!("the server's certificate is not trusted: it is not signed by a CA in {} ({err})", tls.trust)
        }
        TlsErr::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => {
            format!(
                "the server's certificate is not valid for {host:?}; connect with a name or address it lists ({err})"
            )
        }
        TlsErr::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => {
            format!("the server's certificate has expired ({err})")
        }
        TlsErr::InvalidCertificate(_) => format!("the server's certificate was refused: {err}"),
        TlsErr::AlertReceived(AlertDescription::CertificateRequired | AlertDescription::HandshakeFailure)
            if !tls.has_client_cert =>
        {
            format!(
                "the admin listener refused the handshake ({err}); if it requires client certificates, pass \
                 --client-cert and --client-key"
            )
        }
        TlsErr::AlertReceived(AlertDescription::BadCertificate | AlertDescription::UnknownCA) => {
            format!("the admin listener refused our client certificate ({err})")
        }
        TlsErr::InvalidMessage(_) | TlsErr::InappropriateMessage { .. } => {
            format!("TLS handshake failed: {err} (is the admin listener serving https, not plain http?)")
        }
        other => format!("TLS handshake failed: {other}"),
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
        let none = TlsOptions::default();
        let c = Client::new("http://127.0.0.1:18083/", None, &none).expect("plain");
        assert_eq!((c.host.as_str(), c.port, c.prefix.as_str()), ("127.0.0.1", 18083, ""));
        assert!(c.tls.is_none());
        let c = Client::new("[::1]:9000/admin", None, &none).expect("v6 without scheme");
        assert_eq!((c.host.as_str(), c.port, c.prefix.as_str()), ("::1", 9000, "/admin"));
        let c = Client::new("https://admin.example:8443", None, &none).expect("https");
        assert_eq!((c.host.as_str(), c.port), ("admin.example", 8443));
        assert!(c.tls.is_some());
        assert_eq!(Client::new("https://x", None, &none).expect("https").port, 443);
        let missing = TlsOptions { ca: Some("/nonexistent/ca.pem".into()), ..TlsOptions::default() };
        let e = Client::new("https://x:1", None, &missing).err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        assert!(Client::new("ftp://x:1", None, &none).is_err());
    }

    #[test]
    fn segments_keep_slashes_escaped() {
        assert_eq!(encode("a/b +#é"), "a%2Fb%20%2B%23%C3%A9");
        assert_eq!(encode("x-y_z.~"), "x-y_z.~");
    }
}
