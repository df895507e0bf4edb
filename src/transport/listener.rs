//! Listeners: accept loops that hand each connection to its own task.
//!
//! A connection holds an owned semaphore permit (the listener's `max_connections`) for its
//! whole life, and a clone of the drain sender, so shutdown can wait for the last one to end.

use std::net::SocketAddr;
use std::sync::Arc;

use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::broker::Broker;
use crate::transport::connection::{self, ListenerInfo, Plain};
use crate::transport::tls::{self, TlsListener};

#[derive(Debug, Error)]
pub enum ListenerError {
    #[error("listener {name}: cannot bind {addr}")]
    Bind { name: String, addr: SocketAddr, source: std::io::Error },
}

/// Bind a TCP listener; the error names the listener and the address.
pub async fn bind(name: &str, addr: SocketAddr) -> Result<TcpListener, ListenerError> {
    TcpListener::bind(addr).await.map_err(|source| ListenerError::Bind { name: name.into(), addr, source })
}

/// Accept MQTT connections on `listener` until `shutdown` flips.
pub async fn run_tcp(
    listener: TcpListener,
    broker: Arc<Broker>,
    info: Arc<ListenerInfo>,
    max_connections: usize,
    shutdown: watch::Receiver<bool>,
    drain: mpsc::Sender<()>,
) {
    run(listener, None, broker, info, max_connections, shutdown, drain).await
}

/// Accept MQTT-over-TLS connections on `listener` until `shutdown` flips. The handshake runs in
/// each connection's own task, under the connect timeout, never in the accept loop.
pub async fn run_tls(
    listener: TcpListener,
    tls: Arc<TlsListener>,
    broker: Arc<Broker>,
    info: Arc<ListenerInfo>,
    max_connections: usize,
    shutdown: watch::Receiver<bool>,
    drain: mpsc::Sender<()>,
) {
    run(listener, Some(tls), broker, info, max_connections, shutdown, drain).await
}

async fn run(
    listener: TcpListener,
    tls: Option<Arc<TlsListener>>,
    broker: Arc<Broker>,
    info: Arc<ListenerInfo>,
    max_connections: usize,
    shutdown: watch::Receiver<bool>,
    drain: mpsc::Sender<()>,
) {
    let permits = Arc::new(Semaphore::new(max_connections));
    let mut stop = shutdown.clone();
    let mut refused_logged = false;
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(listener = %info.name, "accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            broker.metrics.refused("max_connections");
            if !refused_logged {
                tracing::warn!(listener = %info.name, max_connections, "connection limit reached; refusing new connections");
                refused_logged = true;
            }
            drop(stream);
            continue;
        };
        refused_logged = false;
        let _ = stream.set_nodelay(true);
        let broker = broker.clone();
        let info = info.clone();
        let shutdown = shutdown.clone();
        let drain = drain.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => connection::serve(stream, peer, broker, info, shutdown).await,
                Some(tls) => serve_tls(stream, peer, &tls, broker, info, shutdown).await,
            }
            drop(permit);
            drop(drain);
        });
    }
}

/// Complete the TLS handshake (bounded by the connect timeout), then serve MQTT over it.
async fn serve_tls(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: &TlsListener,
    broker: Arc<Broker>,
    info: Arc<ListenerInfo>,
    shutdown: watch::Receiver<bool>,
) {
    let timeout = broker.settings.connect_timeout;
    let stream = match tokio::time::timeout(timeout, tls.acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            broker.metrics.tls_handshake_failures.inc();
            tracing::debug!(listener = %info.name, %peer, "TLS handshake failed: {e}");
            return;
        }
        Err(_) => {
            broker.metrics.tls_handshake_failures.inc();
            tracing::debug!(listener = %info.name, %peer, "TLS handshake timed out after {timeout:?}");
            return;
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
    connection::serve_as(Plain(stream), peer, broker, info, identity, shutdown).await;
}
