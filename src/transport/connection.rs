//! The connection task: owns the socket and drives one [`Driver`] from a `select!` loop
//! (socket bytes in, session deliveries out, confirmations from other nodes, the keep-alive
//! and throttle timer, kicks, shutdown). Everything the driver produces during one loop turn
//! is flushed once. The MQTT decisions are the driver's (`crate::mqtt`); this file only moves
//! bytes and waits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::broker::Broker;
pub use crate::mqtt::ListenerInfo;
use crate::mqtt::{Driver, End};

/// Bytes reserved for one socket read.
const READ_CHUNK: usize = 16 * 1024;

/// A byte stream a connection can run on. Reading waits for readiness first and only then
/// allocates, so an idle connection holds no read buffer.
pub trait MqttIo: AsyncWrite + Unpin + Send {
    /// Wait for data and append what is available to `buf`; 0 = end of stream.
    fn read_some(&mut self, buf: &mut Vec<u8>) -> impl std::future::Future<Output = std::io::Result<usize>> + Send;
}

impl MqttIo for tokio::net::TcpStream {
    async fn read_some(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        // `readable` + `try_read_buf` bypass tokio's cooperative budget (only `async_io` uses
        // it): without this a publisher with a full socket never yields, and the subscribers it
        // feeds starve on the same worker (measured: a QoS 0 fan-in delivered nothing until the
        // publishers stopped).
        tokio::task::consume_budget().await;
        loop {
            self.readable().await?;
            buf.reserve(READ_CHUNK);
            match self.try_read_buf(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    // Readiness was stale; give the buffer back before waiting again.
                    if buf.is_empty() {
                        *buf = Vec::new();
                    }
                    continue;
                }
                r => return r,
            }
        }
    }
}

/// Any other stream (TLS, WebSocket adapters, test pipes): a plain buffered read.
pub struct Plain<S>(pub S);

impl<S: AsyncRead + AsyncWrite + Unpin + Send> MqttIo for Plain<S> {
    async fn read_some(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        buf.reserve(READ_CHUNK);
        self.0.read_buf(buf).await
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Plain<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, data)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Serve one client connection until it ends. Never panics on input; every way out is counted.
pub async fn serve<S>(
    stream: S,
    peer: SocketAddr,
    broker: Arc<Broker>,
    info: Arc<ListenerInfo>,
    shutdown: watch::Receiver<bool>,
) where
    S: MqttIo,
{
    serve_as(stream, peer, broker, info, None, shutdown).await
}

/// [`serve`] for a client already identified by its transport (a verified TLS client
/// certificate): `identity` is its username, whatever CONNECT carries, and counts as
/// credentials for the listener's anonymous-access check.
pub async fn serve_as<S>(
    stream: S,
    peer: SocketAddr,
    broker: Arc<Broker>,
    info: Arc<ListenerInfo>,
    identity: Option<String>,
    shutdown: watch::Receiver<bool>,
) where
    S: MqttIo,
{
    let mut d = Driver::new(broker, info, peer, identity);
    let mut stream = stream;
    let end = match super::contain::catch(run(&mut d, &mut stream, shutdown)).await {
        Ok(end) => end,
        Err(what) => {
            // Owned: the driver is not `Sync`, so no reference to it is held across the write.
            let (stage, broker, id) = (d.stage(), d.broker().clone(), d.client_id().map(str::to_string));
            let (m, t) = (broker.metrics(), broker.settings().write_timeout);
            Box::pin(super::contain::answer_panic(&mut stream, m, id.as_deref(), peer, stage, &what.0, t)).await;
            End::Panic
        }
    };
    if let Err(what) = super::contain::catch(Box::pin(d.finish(end))).await {
        d.broker().metrics().connection_panics.inc();
        tracing::error!(client = ?d.client_id(), peer = %peer, panic = what.0, "connection clean-up panicked");
    }
    if end.server_closed() {
        // Boxed: only a closing connection needs its state, not every idle one.
        Box::pin(super::contain::linger(&mut stream, super::contain::LINGER_TIME, super::contain::LINGER_BYTES)).await;
    }
}

async fn run<S: MqttIo>(d: &mut Driver, stream: &mut S, mut shutdown: watch::Receiver<bool>) -> End {
    // Empty (unallocated) while the client is idle: idle connections must stay small.
    let mut rbuf: Vec<u8> = Vec::new();
    let connect_deadline = Instant::now() + d.broker().settings().connect_timeout;
    loop {
        if let Some(end) = d.end() {
            let _ = flush(d, stream).await;
            return end;
        }
        if !d.output().is_empty() {
            if let Err(e) = flush(d, stream).await {
                return Box::pin(salvage(d, stream, e)).await;
            }
            if let Some(end) = d.end() {
                return end;
            }
        }
        let session = d.session().cloned();
        let notified = session.as_ref().map(|s| s.woken());
        let mut notified = std::pin::pin!(notified);
        // Register for wake-ups before checking for kicks, so none is missed in between.
        if let Some(n) = notified.as_mut().as_pin_mut() {
            n.enable();
        }
        if d.kicked() {
            Box::pin(d.leave_kicked()).await;
            continue;
        }
        let wake = async {
            match notified.as_mut().as_pin_mut() {
                Some(n) => n.await,
                None => std::future::pending().await,
            }
        };
        // One timer for every deadline: every idle connection's task holds it.
        let first = d.deadline(connect_deadline);
        let timer = async {
            match first {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        let (readable, waiting) = (d.readable(), d.awaiting_confirmation());
        tokio::select! {
            r = d.confirmation(), if waiting => Box::pin(d.confirmed(r)).await,
            r = stream.read_some(&mut rbuf), if readable => match r {
                Ok(0) => return End::PeerClosed,
                Ok(n) => {
                    d.received(n);
                    let data = std::mem::take(&mut rbuf);
                    if d.session().is_none() {
                        if let Some(end) = Box::pin(feed_connect(d, stream, data)).await {
                            return end;
                        }
                        d.pump();
                        continue;
                    }
                    // Boxed: packet handling is a large future, and an idle connection's task
                    // should not carry it inline.
                    Box::pin(d.feed(&data)).await;
                    if d.take_congested() {
                        // A subscriber we feed has a backlog: let its connection run.
                        tokio::task::yield_now().await;
                    }
                    // Keep a large buffer only while reads fill it (a busy client).
                    if n >= READ_CHUNK / 2 {
                        rbuf = data;
                        rbuf.clear();
                    }
                    d.pump();
                }
                Err(_) => return End::IoError,
            },
            _ = wake => d.pump(),
            _ = timer => {
                if let Some(end) = Box::pin(d.timer()).await {
                    return end;
                }
            }
            _ = shutdown.changed() => Box::pin(d.shutdown()).await,
        }
    }
}

/// Feed bytes that may hold the CONNECT while watching the socket: the CONNECT's password
/// check can wait in a queue, and a client that closes meanwhile must not cost a hash. Bytes
/// the client sends after the CONNECT are kept (at most about one read) and fed in order.
/// `Some(End::PeerClosed)` when the client closed before it was connected.
async fn feed_connect<S: MqttIo>(d: &mut Driver, stream: &mut S, mut data: Vec<u8>) -> Option<End> {
    loop {
        let (tx, rx) = watch::channel(false);
        d.watch_peer(Some(rx));
        let mut more = Vec::new();
        let mut closed = false;
        {
            let mut fed = std::pin::pin!(d.feed(&data));
            loop {
                tokio::select! {
                    // The socket first: a close already seen stops a check before it starts.
                    biased;
                    r = stream.read_some(&mut more), if !closed && more.len() < READ_CHUNK => {
                        if matches!(r, Ok(0) | Err(_)) {
                            closed = true;
                            let _ = tx.send(true);
                        }
                    }
                    () = &mut fed => break,
                }
            }
        }
        d.watch_peer(None);
        d.received(more.len());
        // An end already decided (a refused CONNECT) is the run loop's to flush and report.
        if d.end().is_some() {
            return None;
        }
        if closed && d.session().is_none() {
            return Some(End::PeerClosed);
        }
        if !more.is_empty() {
            if d.session().is_none() {
                data = more;
                continue;
            }
            d.feed(&more).await;
            if d.end().is_some() {
                return None;
            }
        }
        return closed.then_some(End::PeerClosed);
    }
}

/// A write failed (the client may have closed with our packets unread, so its kernel sent a
/// reset), but what it sent before is still readable: a DISCONNECT there ends the connection
/// normally, without the will ([MQTT-3.14.4-3]). Reads only what arrives within a short,
/// bounded time.
async fn salvage<S: MqttIo>(d: &mut Driver, stream: &mut S, e: End) -> End {
    if e != End::IoError || d.session().is_none() {
        return e;
    }
    let mut left = 64 * 1024usize;
    let until = Instant::now() + Duration::from_millis(100);
    while left > 0 && d.end().is_none() {
        let mut buf = Vec::new();
        match tokio::time::timeout_at(until, stream.read_some(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                left = left.saturating_sub(n);
                d.feed(&buf).await;
            }
            _ => break,
        }
    }
    match d.end() {
        Some(end @ (End::ClientDisconnect | End::ClientDisconnectWithWill)) => end,
        _ => e,
    }
}

/// Write what the driver produced, within the write timeout.
async fn flush<S: AsyncWrite + Unpin>(d: &mut Driver, stream: &mut S) -> Result<(), End> {
    if d.output().is_empty() {
        return Ok(());
    }
    let timeout = d.broker().settings().write_timeout;
    let out = d.output();
    // Flushed too: TLS and WebSocket streams may hold back the tail of a write.
    let write = async {
        stream.write_all(out).await?;
        stream.flush().await
    };
    match tokio::time::timeout(timeout, write).await {
        Ok(Ok(())) => {
            d.written();
            Ok(())
        }
        Ok(Err(_)) => Err(End::IoError),
        Err(_) => {
            tracing::info!(client = ?d.client_id(), peer = %d.peer(), "client does not read; dropping it");
            Err(End::WriteTimeout)
        }
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;
    use mqtt_protocol_core::mqtt::{Connection, role};

    /// Idle connections must stay small: keep an eye on what one costs.
    #[tokio::test]
    async fn connection_footprint() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let c = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = crate::config::Config::default();
        cfg.data_dir = dir.path().into();
        cfg.listeners.clear();
        cfg.admin.enabled = false;
        let node = crate::node::Node::start(cfg).await.expect("node");
        let (_tx, rx) = watch::channel(false);
        let info = Arc::new(ListenerInfo { name: "t".into(), allow_anonymous: true, anonymous_implicit: false });
        let fut = serve(c, addr, node.broker.clone(), info, rx);
        eprintln!(
            "serve future: {} bytes, Driver: {} bytes, protocol connection: {} bytes",
            std::mem::size_of_val(&fut),
            std::mem::size_of::<Driver>(),
            std::mem::size_of::<Connection<role::Server>>()
        );
        // Everything here is held for the life of an idle connection (3.2 KiB in a debug build
        // when this bound was set; release builds lay futures out tighter).
        assert!(std::mem::size_of_val(&fut) < 4096);
    }
}
