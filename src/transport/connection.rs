//! The connection task: owns the socket and drives one [`Driver`] from a `select!` loop
//! (socket bytes in, session deliveries out, confirmations from other nodes, the keep-alive
//! and throttle timer, kicks, shutdown). Everything the driver produces during one loop turn
//! is flushed once. The MQTT decisions are the driver's (`crate::mqtt`); this file only moves
//! bytes and waits.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::broker::Broker;
pub use crate::mqtt::ListenerInfo;
use crate::mqtt::{Driver, End};

/// Bytes reserved for one socket read of a busy connection.
const READ_CHUNK: usize = 16 * 1024;
/// Bytes reserved for a read into an empty buffer (a connection's first read after it was
/// idle: most often one small packet, such as the CONNECT). A connect storm otherwise
/// reserves 16 KiB per connecting client, and the allocator keeps much of that afterwards.
const FIRST_READ: usize = 2 * 1024;

/// Reserve room for the next read: [`FIRST_READ`] in a new buffer, [`READ_CHUNK`] in one kept
/// from a previous read (see `run`, which keeps it while reads are not small).
fn reserve_read(buf: &mut Vec<u8>) {
    buf.reserve(if buf.capacity() == 0 { FIRST_READ } else { READ_CHUNK });
}

/// A byte stream a connection can run on. Reading waits for readiness first and only then
/// allocates, so an idle connection holds no read buffer.
pub trait MqttIo: AsyncWrite + Unpin + Send {
    /// Wait for data and append what is available to `buf`; 0 = end of stream.
    fn read_some(&mut self, buf: &mut Vec<u8>) -> impl std::future::Future<Output = std::io::Result<usize>> + Send;

    /// Whether an idle connection on this stream may park (see [`park`]): the stream holds no
    /// bytes of its own that [`MqttIo::poll_ready`] would not see.
    const PARKS: bool = false;

    /// Ready once a read would not block (data, end of stream or an error). Only called when
    /// [`MqttIo::PARKS`]; holds no state of its own, so a parked connection stores nothing for it.
    fn poll_ready(&self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        std::task::Poll::Pending
    }
}

impl MqttIo for tokio::net::TcpStream {
    const PARKS: bool = true;

    fn poll_ready(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        // An error is the read's to report: the connection wakes and reads it. (The stream's
        // own waker slot, unlike `readable()`, whose future is ≈ 100 bytes.)
        self.poll_read_ready(cx).map(|_| ())
    }

    async fn read_some(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        // `readable` + `try_read_buf` bypass tokio's cooperative budget (only `async_io` uses
        // it): without this a publisher with a full socket never yields, and the subscribers it
        // feeds starve on the same worker (measured: a QoS 0 fan-in delivered nothing until the
        // publishers stopped).
        tokio::task::consume_budget().await;
        loop {
            self.readable().await?;
            reserve_read(buf);
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
        reserve_read(buf);
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
pub fn serve<S>(
    stream: S,
    peer: SocketAddr,
    broker: Arc<Broker>,
    info: Arc<ListenerInfo>,
    shutdown: watch::Receiver<bool>,
) -> impl Future<Output = ()> + Send + 'static
where
    S: MqttIo + 'static,
{
    serve_as(stream, peer, broker, info, None, shutdown, ())
}

/// [`serve`] for a client already identified by its transport (a verified TLS client
/// certificate): `identity` is its username, whatever CONNECT carries, and counts as
/// credentials for the listener's anonymous-access check. `held` (the listener's permit) is
/// dropped when the connection ends.
///
/// Not an `async fn`: the future it returns holds only the driver, the stream and the
/// shutdown signal, not also the arguments the driver was made from (the future of an idle
/// connection lives as long as the client).
pub fn serve_as<S, H>(
    stream: S,
    peer: SocketAddr,
    broker: Arc<Broker>,
    info: Arc<ListenerInfo>,
    identity: Option<String>,
    shutdown: watch::Receiver<bool>,
    held: H,
) -> impl Future<Output = ()> + Send + 'static
where
    S: MqttIo + 'static,
    H: Send + 'static,
{
    drive(Driver::new(broker, info, peer, identity), stream, shutdown, held)
}

/// The connection's task. Not an `async fn`: one with `mut` parameters stores each of them
/// twice (the argument and the binding), and this future lives as long as the client; an
/// `async move` block mutates the captured bindings in place.
fn drive<S: MqttIo, H: Send>(
    d: Driver,
    stream: S,
    shutdown: watch::Receiver<bool>,
    held: H,
) -> impl Future<Output = ()> + Send {
    let (mut d, mut stream, mut shutdown) = (d, stream, shutdown);
    async move {
        let connect_deadline = Instant::now() + d.broker().settings().connect_timeout;
        let mut woke = None;
        let end = loop {
            // Boxed: the loop's state (kilobytes) is held only while the connection is active,
            // not while it is parked.
            let active =
                Box::pin(super::contain::catch(run(&mut d, &mut stream, &mut shutdown, connect_deadline, woke)));
            match active.await {
                Ok(Step::End(end)) => break end,
                Ok(Step::Park) => woke = Some(park(&mut d, &mut stream, &mut shutdown).await),
                Err(what) => {
                    // Owned: the driver is not `Sync`, so no reference to it is held across the write.
                    let (stage, broker, id) = (d.stage(), d.broker().clone(), d.client_id().map(str::to_string));
                    let (m, t, peer) = (broker.metrics(), broker.settings().write_timeout, d.peer());
                    Box::pin(super::contain::answer_panic(&mut stream, m, id.as_deref(), peer, stage, &what.0, t))
                        .await;
                    break End::Panic;
                }
            }
        };
        if let Err(what) = super::contain::catch(Box::pin(d.finish(end))).await {
            d.broker().metrics().connection_panics.inc();
            tracing::error!(client = ?d.client_id(), peer = %d.peer(), panic = what.0, "connection clean-up panicked");
        }
        if end.server_closed() {
            // Boxed: only a closing connection needs its state, not every idle one.
            Box::pin(super::contain::linger(&mut stream, super::contain::LINGER_TIME, super::contain::LINGER_BYTES))
                .await;
        }
        drop(held);
    }
}

/// How long a connection has nothing to do before it parks. Short, because a parked
/// connection costs a fraction of an active one; long enough that a busy one does not park
/// and wake between every two messages.
const PARK_AFTER: Duration = Duration::from_secs(1);

/// How an active spell of a connection ended.
enum Step {
    End(End),
    /// Nothing to do for [`PARK_AFTER`]: wait in [`park`].
    Park,
}

/// What woke a parked connection; [`run`] handles it first, since the wake-up itself (the
/// session's notification, the shutdown signal) is consumed. A passed deadline wakes the
/// session too (the broker's shared timer), and the active spell's timer sees it due.
#[derive(Clone, Copy, Debug)]
enum Wake {
    Readable,
    Session,
    Shutdown,
}

/// Wait, holding nothing but the session's wake-up, until the socket is readable or the
/// session is woken: work, a kick (shutdown kicks every connection), or the deadline
/// (keep-alive) handed to the broker's shared timer. The connection is parked only when it
/// owes nothing: connected, output written, readable (not throttled), no acknowledgement
/// waiting for other nodes.
///
/// `d` and `stream` are `&mut` only because they need not be `Sync`: a shared reference held
/// across an await would make the task not `Send`.
async fn park<S: MqttIo>(d: &mut Driver, stream: &mut S, shutdown: &mut watch::Receiver<bool>) -> Wake {
    let Some(session) = d.session().cloned() else {
        return Wake::Readable;
    };
    let notified = session.woken();
    let mut notified = std::pin::pin!(notified);
    // Registered before the kick and shutdown checks, so neither is missed in between.
    notified.as_mut().enable();
    if d.kicked() {
        return Wake::Session;
    }
    if shutdown.has_changed().unwrap_or(false) {
        shutdown.borrow_and_update();
        return Wake::Shutdown;
    }
    // Connected and not throttled (see `run`): the keep-alive is the only deadline.
    if let Some(due) = d.keepalive_deadline() {
        d.broker().park_until(&session, due);
    }
    let wake = std::future::poll_fn(move |cx| {
        if notified.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(Wake::Session);
        }
        stream.poll_ready(cx).map(|()| Wake::Readable)
    })
    .await;
    d.broker().unpark(&session);
    wake
}

/// Sleep until `t`; forever without one.
async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

async fn run<S: MqttIo>(
    d: &mut Driver,
    stream: &mut S,
    shutdown: &mut watch::Receiver<bool>,
    connect_deadline: Instant,
    woke: Option<Wake>,
) -> Step {
    match woke {
        Some(Wake::Session) => d.pump(),
        Some(Wake::Shutdown) => Box::pin(d.shutdown()).await,
        Some(Wake::Readable) | None => {}
    }
    // Empty (unallocated) while the client is idle: idle connections must stay small.
    let mut rbuf: Vec<u8> = Vec::new();
    let mut park_at = S::PARKS.then(|| Instant::now() + PARK_AFTER);
    loop {
        if let Some(end) = d.end() {
            let _ = flush(d, stream).await;
            return Step::End(end);
        }
        if !d.output().is_empty() {
            if let Err(e) = flush(d, stream).await {
                return Step::End(Box::pin(salvage(d, stream, e)).await);
            }
            if let Some(end) = d.end() {
                return Step::End(end);
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
        // One timer for every deadline, parking included.
        let due = d.deadline(connect_deadline);
        let first = match (due, park_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let timer = sleep_until(first);
        let (readable, waiting) = (d.readable(), d.awaiting_confirmation());
        tokio::select! {
            r = d.confirmation(), if waiting => Box::pin(d.confirmed(r)).await,
            r = stream.read_some(&mut rbuf), if readable => match r {
                Ok(0) => return Step::End(End::PeerClosed),
                Ok(n) => {
                    d.received(n);
                    let data = std::mem::take(&mut rbuf);
                    if d.session().is_none() {
                        if let Some(end) = Box::pin(feed_connect(d, stream, data)).await {
                            return Step::End(end);
                        }
                        d.pump();
                        if d.session().is_some() && S::PARKS {
                            // Just connected: park as soon as there is nothing to do. In a
                            // connect storm (a restart, a network coming back) every client is
                            // otherwise active for a second at once, and the allocator keeps
                            // the peak of their loops' memory after they go idle.
                            park_at = Some(Instant::now());
                        }
                        continue;
                    }
                    // Boxed: packet handling is a large future, and an idle connection's task
                    // should not carry it inline.
                    Box::pin(d.feed(&data)).await;
                    if d.take_congested() {
                        // A subscriber we feed has a backlog: let its connection run.
                        tokio::task::yield_now().await;
                    }
                    // Keep the buffer while reads bring more than small packets (a busy
                    // client; the next read then reserves a full chunk); parking frees it.
                    if n >= FIRST_READ / 2 {
                        rbuf = data;
                        rbuf.clear();
                    }
                    d.pump();
                }
                Err(_) => return Step::End(End::IoError),
            },
            _ = wake => d.pump(),
            _ = timer => {
                if due.is_some_and(|t| t <= Instant::now()) {
                    if let Some(end) = Box::pin(d.timer()).await {
                        return Step::End(end);
                    }
                } else if d.session().is_some() && !waiting && readable && d.output().is_empty() && d.end().is_none() {
                    d.release_buffers();
                    return Step::Park;
                } else {
                    park_at = Some(Instant::now() + PARK_AFTER);
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
        let (_tx2, mut rx2) = watch::channel(false);
        let mut d = Driver::new(node.broker.clone(), info.clone(), addr, None);
        let mut c2 = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let parked = std::mem::size_of_val(&park(&mut d, &mut c2, &mut rx2));
        let drive = std::mem::size_of_val(&drive(
            Driver::new(node.broker.clone(), info.clone(), addr, None),
            tokio::net::TcpStream::connect(addr).await.expect("connect"),
            rx2.clone(),
            (),
        ));
        let active = std::mem::size_of_val(&run(&mut d, &mut c2, &mut rx2, Instant::now(), None));
        let fut = serve(c, addr, node.broker.clone(), info, rx);
        eprintln!(
            "serve future: {} bytes (drive: {drive}, parked: {parked}, active spell, boxed: {active}), Driver: {} bytes, protocol connection: {} bytes",
            std::mem::size_of_val(&fut),
            std::mem::size_of::<Driver>(),
            std::mem::size_of::<Connection<role::Server>>()
        );
        // Everything here is held for the life of an idle connection; the active spell's state
        // is boxed and freed while the connection is parked. Debug build, when the bounds were
        // set: 752 bytes (1,688 before the shared park timer, the single-copy `drive` and the
        // Driver's cold fields out of line; 3,360 before parking), parked 136 (584).
        assert!(std::mem::size_of_val(&fut) < 832);
        assert!(parked < 160);
    }
}
