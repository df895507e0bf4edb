//! Listeners: accept loops that hand each connection to its own task.
//!
//! A connection holds an owned semaphore permit (the listener's `max_connections`) for its
//! whole life, and a clone of the drain sender, so shutdown can wait for the last one to end.
//!
//! Everything before MQTT runs in the connection's task, never in the accept loop, and all of
//! it together is bounded by the connect timeout: the PROXY protocol header (which comes
//! first, before TLS), the TLS handshake, the WebSocket upgrade. Then every kind of listener
//! runs the same MQTT connection code over an [`MqttIo`](connection::MqttIo).

use std::net::SocketAddr;
use std::sync::Arc;

use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;

use crate::broker::Broker;
use crate::transport::connection::{self, ListenerInfo};
use crate::transport::proxy::{self, ProxyError};
use crate::transport::tls::{self, TlsListener};
use crate::transport::ws::{self, WsOptions};

#[derive(Debug, Error)]
pub enum ListenerError {
    #[error("listener {name}: cannot bind {addr}")]
    Bind { name: String, addr: SocketAddr, source: std::io::Error },
}

/// Bind a TCP listener; the error names the listener and the address.
pub async fn bind(name: &str, addr: SocketAddr) -> Result<TcpListener, ListenerError> {
    TcpListener::bind(addr).await.map_err(|source| ListenerError::Bind { name: name.into(), addr, source })
}

/// How a listener's connections get from TCP to MQTT.
pub struct Setup {
    pub info: Arc<ListenerInfo>,
    /// `tls`, `wss`: the TLS material.
    pub tls: Option<Arc<TlsListener>>,
    /// `ws`, `wss`: the upgrade's path and limits.
    pub ws: Option<WsOptions>,
    /// A PROXY protocol header comes first.
    pub proxy_protocol: bool,
    pub max_connections: usize,
}

/// Accept connections on `listener` until `shutdown` flips.
pub async fn run(
    listener: TcpListener,
    setup: Arc<Setup>,
    broker: Arc<Broker>,
    shutdown: watch::Receiver<bool>,
    drain: mpsc::Sender<()>,
) {
    let permits = Arc::new(Semaphore::new(setup.max_connections));
    let mut stop = shutdown.clone();
    let mut refused_logged = false;
    let name = setup.info.name.clone();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(listener = %name, "accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        if broker.is_draining() {
            // Clients are being sent to other nodes; a new one must not land here.
            broker.metrics().refused("draining");
            drop(stream);
            continue;
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            broker.metrics().refused("max_connections");
            if !refused_logged {
                tracing::warn!(
                    listener = %name,
                    max_connections = setup.max_connections,
                    "connection limit reached; refusing new connections"
                );
                refused_logged = true;
            }
            drop(stream);
            continue;
        };
        refused_logged = false;
        let _ = stream.set_nodelay(true);
        // Held by the connection for its whole life: a `permit` of the listener and `drain`,
        // which shutdown waits for.
        let held = (permit, drain.clone());
        if setup.tls.is_none() && setup.ws.is_none() && !setup.proxy_protocol {
            // Banned networks and the per-address connection rate (see `prepare`).
            if broker.auth().admit_peer(&name, peer.ip()).is_err() {
                continue;
            }
            // The task is the MQTT connection itself: nothing else in it, for the client's life.
            tokio::spawn(connection::serve_as(
                stream,
                peer,
                broker.clone(),
                setup.info.clone(),
                None,
                shutdown.clone(),
                held,
            ));
        } else {
            tokio::spawn(prepare(stream, peer, setup.clone(), broker.clone(), shutdown.clone(), held));
        }
    }
}

/// What a connection holds until it ends (see [`run`]).
type Held = (tokio::sync::OwnedSemaphorePermit, mpsc::Sender<()>);

/// PROXY header, TLS, WebSocket as configured, then the MQTT connection in a task of its own:
/// this task's state (the arguments, the handshake's bookkeeping) ends with the preparation
/// instead of being carried by every long-lived connection.
async fn prepare(
    mut stream: TcpStream,
    tcp_peer: SocketAddr,
    setup: Arc<Setup>,
    broker: Arc<Broker>,
    shutdown: watch::Receiver<bool>,
    held: Held,
) {
    let timeout = broker.settings().connect_timeout;
    let deadline = Instant::now() + timeout;
    let info = setup.info.clone();
    let peer = if setup.proxy_protocol {
        let header = match tokio::time::timeout_at(deadline, proxy::read_header(&mut stream)).await {
            Ok(r) => r,
            Err(_) => Err(ProxyError::Timeout),
        };
        match header {
            Ok(h) => {
                let peer = h.peer(tcp_peer);
                tracing::trace!(listener = %info.name, %tcp_peer, %peer, header = ?h, "PROXY header");
                peer
            }
            Err(e) => {
                broker.metrics().proxy_protocol_error(&info.name, e.reason());
                tracing::info!(listener = %info.name, peer = %tcp_peer, reason = e.reason(), "closing connection: {e}");
                return;
            }
        }
    } else {
        tcp_peer
    };
    // Banned networks and the per-address connection rate, by the client's real address:
    // closed before the TLS handshake or WebSocket upgrade costs anything.
    if broker.auth().admit_peer(&info.name, peer.ip()).is_err() {
        return;
    }
    let accepted = Accepted { peer, broker, info, shutdown, held };
    match (&setup.tls, &setup.ws) {
        (None, None) => accepted.serve(stream, None),
        (None, Some(ws)) => Box::pin(serve_ws(stream, ws, deadline, None, accepted)).await,
        (Some(tls), ws) => Box::pin(serve_tls(stream, tls, ws.as_ref(), deadline, accepted)).await,
    }
}

/// A connection past the listener's checks, to be served over the stream its preparation ends with.
struct Accepted {
    peer: SocketAddr,
    broker: Arc<Broker>,
    info: Arc<ListenerInfo>,
    shutdown: watch::Receiver<bool>,
    held: Held,
}

impl Accepted {
    /// Serve MQTT over `io` in a new task; `identity` as for [`connection::serve_as`].
    fn serve<S: connection::MqttIo + 'static>(self, io: S, identity: Option<String>) {
        tokio::spawn(connection::serve_as(io, self.peer, self.broker, self.info, identity, self.shutdown, self.held));
    }
}

/// TLS, then MQTT or WebSocket over it.
async fn serve_tls(
    stream: TcpStream,
    tls: &TlsListener,
    ws: Option<&WsOptions>,
    deadline: Instant,
    accepted: Accepted,
) {
    let Some((stream, identity)) =
        handshake(stream, accepted.peer, tls, deadline, &accepted.broker, &accepted.info).await
    else {
        return;
    };
    match ws {
        None => accepted.serve(tls::TlsIo(stream), identity),
        Some(ws) => Box::pin(serve_ws(stream, ws, deadline, identity, accepted)).await,
    }
}

/// Complete the TLS handshake by `deadline`; the stream and the client certificate's identity.
async fn handshake(
    stream: TcpStream,
    peer: SocketAddr,
    tls: &TlsListener,
    deadline: Instant,
    broker: &Broker,
    info: &ListenerInfo,
) -> Option<(tokio_rustls::server::TlsStream<TcpStream>, Option<String>)> {
    // The acceptor is taken per connection, so a reloaded certificate is used from the next
    // handshake on. Boxed: the handshake's state is needed only until it completes, and the
    // connection's future would otherwise keep room for it (a second rustls connection) for
    // the client's whole life.
    let stream = match tokio::time::timeout_at(deadline, Box::pin(tls.acceptor().accept(stream))).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            broker.metrics().tls_handshake_failures.inc();
            tracing::debug!(listener = %info.name, %peer, "TLS handshake failed: {e}");
            return None;
        }
        Err(_) => {
            broker.metrics().tls_handshake_failures.inc();
            tracing::debug!(listener = %info.name, %peer, "TLS handshake timed out");
            return None;
        }
    };
    let conn = stream.get_ref().1;
    // Only a verified certificate reaches here: the verifier refuses bad ones in the handshake.
    let identity = conn.peer_certificates().and_then(|c| c.first()).and_then(|c| tls::identity(c, tls.cert_identity));
    tracing::trace!(
        listener = %info.name,
        %peer,
        alpn = ?conn.alpn_protocol().map(String::from_utf8_lossy),
        version = ?conn.protocol_version(),
        "TLS established"
    );
    Some((stream, identity))
}

/// Upgrade to WebSocket by `deadline`, then serve MQTT over it.
async fn serve_ws<S>(stream: S, opts: &WsOptions, deadline: Instant, identity: Option<String>, accepted: Accepted)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (peer, info) = (accepted.peer, &accepted.info);
    // Boxed: the upgrade's buffers and header table are needed only until it completes.
    let ws = match tokio::time::timeout_at(deadline, Box::pin(ws::upgrade(stream, opts))).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            accepted.broker.metrics().websocket_upgrade_failure(&info.name, e.reason());
            ws::describe_refusal(&info.name, peer, &e);
            return;
        }
        Err(_) => {
            accepted.broker.metrics().websocket_upgrade_failure(&info.name, "timeout");
            tracing::info!(listener = %info.name, %peer, "WebSocket upgrade not completed within the connect timeout");
            return;
        }
    };
    tracing::trace!(listener = %info.name, %peer, subprotocol = ws.subprotocol(), "WebSocket established");
    accepted.serve(ws, identity);
}

#[cfg(test)]
mod size_tests {
    use super::*;
    use crate::transport::ws::WsIo;

    /// The size of the future `f` would return, without calling it: the long-lived task of a
    /// connection over a stream the test cannot easily make (TLS, WebSocket).
    fn returned_size<A, F: std::future::Future>(_f: impl FnOnce(A) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// What a connection's task holds for the client's whole life, per listener kind: only the
    /// MQTT connection over its stream. The PROXY header, the TLS handshake and the WebSocket
    /// upgrade run in a task of their own that ends with them.
    #[tokio::test]
    async fn connection_task_footprint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = crate::config::Config { data_dir: dir.path().join("data"), ..Default::default() };
        cfg.listeners.clear();
        cfg.admin.enabled = false;
        let node = crate::node::Node::start(cfg).await.expect("node");
        let (_tx, rx) = watch::channel(false);
        let info = Arc::new(ListenerInfo { name: "t".into(), allow_anonymous: true, anonymous_implicit: false });
        let addr: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        let b = node.broker.clone();
        let task = |io| {
            let held: Option<Held> = None;
            connection::serve_as(io, addr, b.clone(), info.clone(), None, rx.clone(), held)
        };
        let plain = returned_size(|io: TcpStream| task(io));
        let tls = returned_size(|io: tls::TlsIo| {
            connection::serve_as(io, addr, b.clone(), info.clone(), None, rx.clone(), None::<Held>)
        });
        let ws = returned_size(|io: WsIo<TcpStream>| {
            connection::serve_as(io, addr, b.clone(), info.clone(), None, rx.clone(), None::<Held>)
        });
        let wss = returned_size(|io: WsIo<tokio_rustls::server::TlsStream<TcpStream>>| {
            connection::serve_as(io, addr, b.clone(), info.clone(), None, rx.clone(), None::<Held>)
        });
        let tls_stream = std::mem::size_of::<tls::TlsIo>();
        let ws_stream = std::mem::size_of::<WsIo<TcpStream>>();
        eprintln!(
            "connection task futures: plain {plain} bytes, tls {tls}, ws {ws}, wss {wss}; streams: TLS {tls_stream}, \
             WebSocket {ws_stream}"
        );
        // The plain connection's bound is `transport::connection`'s; here: the other kinds add
        // their stream and nothing else (a TLS connection's task once held the whole wss path
        // and a second rustls connection: 11,952 bytes in release builds).
        assert!(plain < 1024);
        assert!(tls <= plain + tls_stream);
        assert!(ws <= plain + ws_stream);
        assert!(wss <= plain + ws_stream + tls_stream);
    }
}
