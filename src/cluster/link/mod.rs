//! The cluster link: one TCP port per node carrying Raft RPCs, forwarded catalog writes and
//! forwarded publishes between nodes, framed and multiplexed.
//!
//! Each node dials each peer it talks to; requests travel on the dialer's connection and their
//! responses come back on it, so a pair of nodes has two connections, one per direction.
//!
//! Frame: `u32` big-endian length, then a kind byte, then the body. After the handshake:
//! `REQUEST id body` → `RESPONSE id body` (bodies are opaque here, see `cluster::rpc`),
//! `PUBLISH id message` → `PUBLISH_ACK id ok` (id 0: no acknowledgement wanted). From version 2,
//! publishes queued together for a peer go in one `PUBLISHES {id, len, message}*` frame
//! (bounded by count and bytes, see `wire`): each is acknowledged as if sent on its own.
//!
//! Handshake (mutual, the secret never crosses the wire):
//! ```text
//! dialer   → HELLO     {version, min_version, cluster, node id, name, role, advertise, nonce_d}
//! listener → CHALLENGE {version, node id, name, role, nonce_l}
//! dialer   → PROOF     {HMAC(secret, "client"|nonce_l|nonce_d)}
//! listener → WELCOME   {HMAC(secret, "server"|nonce_d|nonce_l)}  (or REFUSED {reason}, then close)
//! ```
//! The dialer proves itself first, so the listener can name a peer with a wrong secret in its
//! log; the dialer then checks the listener's proof, so neither side talks to an impostor.
//! Versions: a node speaks [`VERSION`] and accepts peers down to [`MIN_VERSION`] (N and N-1), so
//! a rolling upgrade always has a common version; the pair uses the lower of the two.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

use crate::broker::port::BoxFuture;
use crate::catalog::cmd::NodeId;
use crate::cluster::link_tls::LinkTls;
use crate::config::Role;

mod handshake;
mod stats;
mod wire;

pub use stats::LinkStats;
use stats::PeerCounters;

use wire::{
    BATCH_MAX_COUNT, READ_BUF, batch_entries, entry_len, fits_batch, next_frame, read_frame, split_id, write_frame,
    write_run,
};

/// Link protocol version spoken by this build (2: `PUBLISHES` batch frames).
pub const VERSION: u16 = 2;
/// Oldest peer version accepted (the compatibility window is N-1).
pub const MIN_VERSION: u16 = 1;
/// Largest frame accepted (snapshot chunks are the big ones).
const MAX_FRAME: usize = 64 * 1024 * 1024;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest frame accepted before the peer has proved it knows the cluster secret.
const HANDSHAKE_MAX_FRAME: usize = 4 * 1024;
/// Incoming link connections that have not completed the handshake yet; more are closed at
/// accept (counted as refused peers), so strangers cannot hold many sockets and buffers.
const MAX_UNAUTHENTICATED: usize = 32;

const HELLO: u8 = 1;
const CHALLENGE: u8 = 2;
const PROOF: u8 = 3;
const WELCOME: u8 = 4;
const REFUSED: u8 = 5;
const REQUEST: u8 = 10;
const RESPONSE: u8 = 11;
const PUBLISH: u8 = 12;
const PUBLISH_ACK: u8 = 13;
/// Several publishes in one frame (link version 2 and later).
const PUBLISHES: u8 = 14;
/// The first link version with `PUBLISHES` frames.
const BATCH_VERSION: u16 = 2;
#[derive(Debug, Error)]
pub enum LinkError {
    #[error("cannot reach {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("peer {addr} refused us: {reason}")]
    Refused { addr: String, reason: String },
    #[error("peer {addr} failed authentication (wrong cluster secret?)")]
    BadPeer { addr: String },
    #[error("link to {addr} closed")]
    Closed { addr: String },
    #[error("no answer from {addr} within {timeout:?}")]
    Timeout { addr: String, timeout: Duration },
    #[error("link protocol error: {0}")]
    Protocol(String),
    #[error("link protocol error: {0}")]
    TlsName(#[from] crate::cluster::link_tls::LinkTlsError),
    #[error("link I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Who a node is, as told in the handshake.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Identity {
    pub node_id: NodeId,
    pub name: String,
    pub role: Role,
    /// The `host:port` peers use to reach this node.
    pub advertise: String,
}

/// A receiving node's answer to a forwarded publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// Queued for every matching local session (persisted where the QoS needs it).
    Queued,
    /// Reachable, but it could not be queued (full queues): the publisher should hear of it.
    NotQueued,
    /// The frame was meant for another node id (a node replaced at the same address).
    WrongNode,
}

impl Confirm {
    fn byte(self) -> u8 {
        match self {
            Confirm::NotQueued => 0,
            Confirm::Queued => 1,
            Confirm::WrongNode => 2,
        }
    }

    fn from_byte(b: Option<&u8>) -> Confirm {
        match b {
            Some(1) => Confirm::Queued,
            Some(2) => Confirm::WrongNode,
            _ => Confirm::NotQueued,
        }
    }
}

/// A forwarded publish handed to the [`LinkHandler`]: answered at once, or later.
pub enum Delivered {
    Now(Confirm),
    /// Delivered now, to a subscriber with a backlog: the reader yields once the rest of this
    /// read is delivered, so that subscriber's connection gets to run (a local publisher
    /// yields after each read the same way). The rest of the read still takes the fast path:
    /// waiting here would send it, message by message, through the delivering task.
    Congested(Confirm),
    Later(BoxFuture<'static, Confirm>),
}

/// What the rest of the cluster layer does with what arrives on the link.
pub trait LinkHandler: Send + Sync + 'static {
    /// Answer a request (an encoded `cluster::rpc::Rpc`).
    fn request(&self, from: Identity, body: Vec<u8>) -> BoxFuture<'static, Vec<u8>>;
    /// Deliver a forwarded publish to local sessions: the answer once it is queued (persisted
    /// where the subscriber's QoS needs it), at once when nothing had to wait. `message` is read
    /// before this returns.
    fn publish(&self, from: &Arc<Identity>, message: &[u8]) -> Delivered;
    /// Run `f`, which starts the deliveries of many publishes synchronously: the handler may
    /// hold back what those deliveries would each set in motion (waking the subscribers'
    /// connections) and do it once, when `f` returns.
    fn batch(&self, f: &mut dyn FnMut()) {
        f()
    }
}

/// A link connection: plain TCP, or TCP under mutual TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
type Stream = Box<dyn Io>;

struct Inner {
    me: Identity,
    cluster: String,
    /// The shared secret peers prove they know; `None` when mutual TLS alone authenticates.
    secret: Option<Vec<u8>>,
    tls: Option<LinkTls>,
    /// Looked up for every forwarded publish: foldhash, not SipHash.
    peers: Mutex<HashMap<String, Arc<Peer>, foldhash::fast::RandomState>>,
    next_id: AtomicU64,
    stats: Arc<LinkStats>,
    stop: watch::Receiver<bool>,
}

/// This node's end of the cluster link. Cheap to clone.
#[derive(Clone)]
pub struct Link {
    inner: Arc<Inner>,
}

enum Out {
    Request { id: u64, body: Vec<u8>, reply: oneshot::Sender<Vec<u8>> },
    Publish { id: u64, message: Bytes, ack: Option<oneshot::Sender<Confirm>> },
}

/// An outgoing connection to one peer address, (re)established on demand by its task.
struct Peer {
    tx: mpsc::Sender<Out>,
    /// The peer's identity once a handshake succeeded.
    who: Mutex<Option<Identity>>,
    forwarded: Arc<PeerCounters>,
}

impl Link {
    /// The link's TLS material, when `[cluster.tls]` is set (reloaded through it).
    pub fn tls(&self) -> Option<&LinkTls> {
        self.inner.tls.as_ref()
    }

    pub fn new(
        me: Identity,
        cluster: String,
        secret: Option<&str>,
        tls: Option<LinkTls>,
        stop: watch::Receiver<bool>,
    ) -> Link {
        Link {
            inner: Arc::new(Inner {
                me,
                cluster,
                secret: secret.map(|s| s.as_bytes().to_vec()),
                tls,
                peers: Mutex::new(HashMap::default()),
                next_id: AtomicU64::new(1),
                stats: Arc::new(LinkStats::default()),
                stop,
            }),
        }
    }

    pub fn me(&self) -> &Identity {
        &self.inner.me
    }

    pub fn stats(&self) -> Arc<LinkStats> {
        self.inner.stats.clone()
    }

    /// Accept peers on `listener` until the stop signal; each connection gets its own task.
    pub fn serve(&self, listener: TcpListener, handler: Arc<dyn LinkHandler>) {
        let link = self.clone();
        // Owned by the link: ends on its stop signal, which the cluster raises at shutdown.
        tokio::spawn(async move {
            let mut stop = link.inner.stop.clone();
            let unauthenticated = Arc::new(tokio::sync::Semaphore::new(MAX_UNAUTHENTICATED));
            loop {
                let (stream, addr) = tokio::select! {
                    r = listener.accept() => match r {
                        Ok(x) => x,
                        Err(e) => {
                            tracing::warn!("cluster link accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    _ = stop.changed() => return,
                };
                let _ = stream.set_nodelay(true);
                let Ok(permit) = unauthenticated.clone().try_acquire_owned() else {
                    link.inner.stats.refused_peers.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%addr, "cluster link: too many connections still in their handshake; closed");
                    continue;
                };
                let link = link.clone();
                let handler = handler.clone();
                // Per peer connection: ends when the peer hangs up or the link stops.
                tokio::spawn(async move {
                    // TLS and the link handshake together must finish by one deadline.
                    let deadline = tokio::time::Instant::now() + HANDSHAKE_TIMEOUT;
                    let stream: Stream = match &link.inner.tls {
                        None => Box::new(stream),
                        Some(t) => match tokio::time::timeout_at(deadline, t.acceptor().accept(stream)).await {
                            Ok(Ok(s)) => Box::new(s),
                            Ok(Err(e)) => {
                                link.inner.stats.refused_peers.fetch_add(1, Ordering::Relaxed);
                                tracing::error!(%addr, "refused cluster peer: TLS handshake failed: {e}");
                                return;
                            }
                            Err(_) => return,
                        },
                    };
                    if let Err(e) = link.serve_conn(stream, addr, handler, (deadline, permit)).await {
                        tracing::debug!(%addr, "cluster link connection ended: {e}");
                    }
                });
            }
        });
    }

    /// Send a request to the node at `addr` and wait for its answer.
    pub async fn request(&self, addr: &str, body: Vec<u8>, timeout: Duration) -> Result<Vec<u8>, LinkError> {
        let peer = self.peer(addr);
        let (reply, rx) = oneshot::channel();
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let closed = || LinkError::Closed { addr: addr.to_string() };
        let fut = async {
            peer.tx.send(Out::Request { id, body, reply }).await.map_err(|_| closed())?;
            rx.await.map_err(|_| closed())
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(LinkError::Timeout { addr: addr.to_string(), timeout }),
        }
    }

    /// Queue a publish for the node at `addr`, in order with earlier ones. With `ack`, the
    /// returned receiver resolves to true once the peer has queued it.
    pub async fn publish(&self, addr: &str, message: Bytes, ack: bool) -> Option<oneshot::Receiver<Confirm>> {
        let peer = self.peer(addr);
        let (tx, rx) = if ack {
            let (t, r) = oneshot::channel();
            (Some(t), Some(r))
        } else {
            (None, None)
        };
        let id = if ack { self.inner.next_id.fetch_add(1, Ordering::Relaxed) } else { 0 };
        let len = message.len() as u64;
        if peer.tx.send(Out::Publish { id, message, ack: tx }).await.is_err() {
            self.inner.stats.errors.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        peer.forwarded.messages.fetch_add(1, Ordering::Relaxed);
        peer.forwarded.bytes.fetch_add(len, Ordering::Relaxed);
        rx
    }

    /// The identity of the node at `addr`, once a connection to it has been made.
    pub fn peer_identity(&self, addr: &str) -> Option<Identity> {
        self.inner.peers.lock().get(addr).and_then(|p| p.who.lock().clone())
    }

    fn peer(&self, addr: &str) -> Arc<Peer> {
        let mut peers = self.inner.peers.lock();
        if let Some(p) = peers.get(addr)
            && !p.tx.is_closed()
        {
            return p.clone();
        }
        let (tx, rx) = mpsc::channel(8192);
        let p = Arc::new(Peer { tx, who: Mutex::new(None), forwarded: self.inner.stats.counters(addr) });
        peers.insert(addr.to_string(), p.clone());
        // Per peer address, registered in `peers`: it ends when the link stops.
        tokio::spawn(self.clone().run_peer(addr.to_string(), p.clone(), rx));
        p
    }

    /// The dialer side of one peer: connect (with back-off) when there is something to send,
    /// write frames in batches, read answers in a companion task.
    async fn run_peer(self, addr: String, peer: Arc<Peer>, mut rx: mpsc::Receiver<Out>) {
        let mut backoff = Duration::from_millis(100);
        let mut stop = self.inner.stop.clone();
        let mut first: Option<Out> = None;
        loop {
            if first.is_none() {
                first = tokio::select! {
                    o = rx.recv() => match o { Some(o) => Some(o), None => return },
                    _ = stop.changed() => return,
                };
            }
            let (stream, who, version) = match self.dial(&addr).await {
                Ok(x) => x,
                Err(e) => {
                    self.inner.stats.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(peer = %addr, "cluster link: {e}");
                    // Whatever waits on this item learns at once that the peer is unreachable.
                    first = None;
                    while let Ok(o) = rx.try_recv() {
                        drop(o);
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
            };
            backoff = Duration::from_millis(100);
            *peer.who.lock() = Some(who.clone());
            tracing::debug!(peer = %addr, name = %who.name, "cluster link up");
            let (rd, wr) = tokio::io::split(stream);
            let pending: Arc<Mutex<Pending>> = Arc::default();
            let heard = crate::cluster::link_watch::Heard::new();
            // Per connection: aborted by run_peer when this connection ends.
            let reader = tokio::spawn(read_answers(BufReader::new(rd), pending.clone(), heard.clone()));
            let (dead, watchdog) = self.watch_silence(&peer, &pending, heard);
            let mut silent = false;
            let mut w = BufWriter::with_capacity(64 * 1024, wr);
            let mut broken = false;
            let stats = &self.inner.stats;
            'conn: loop {
                let item = match first.take() {
                    Some(o) => o,
                    None => tokio::select! {
                        o = rx.recv() => match o { Some(o) => o, None => break 'conn },
                        _ = stop.changed() => break 'conn,
                        _ = dead.notified() => {
                            silent = true;
                            break 'conn;
                        }
                    },
                };
                let mut batch = vec![item];
                while batch.len() < BATCH_MAX_COUNT {
                    match rx.try_recv() {
                        Ok(o) => batch.push(o),
                        Err(_) => break,
                    }
                }
                let mut frames = 0;
                let written = async {
                    // Consecutive publishes go out in `PUBLISHES` frames when the peer reads
                    // them; the batch is what the queue held, so a lone message is not delayed.
                    let mut run: Vec<(u64, Bytes)> = Vec::new();
                    let mut run_bytes = 0;
                    for o in batch {
                        let r = match o {
                            Out::Publish { id, message, ack } if version >= BATCH_VERSION => {
                                if let Some(a) = ack {
                                    pending.lock().publishes.insert(id, a);
                                }
                                if !fits_batch(run.len(), run_bytes, message.len()) {
                                    match write_run(&mut w, &mut run).await {
                                        Ok(n) => frames += n,
                                        Err(_) => return false,
                                    }
                                    run_bytes = 0;
                                }
                                run_bytes += entry_len(message.len());
                                run.push((id, message));
                                continue;
                            }
                            Out::Request { id, body, reply } => {
                                match write_run(&mut w, &mut run).await {
                                    Ok(n) => frames += n,
                                    Err(_) => return false,
                                }
                                run_bytes = 0;
                                {
                                    let mut p = pending.lock();
                                    p.requests.insert(id, reply);
                                    if body.len() > crate::cluster::link_watch::BULKY {
                                        p.bulky.insert(id);
                                    }
                                }
                                write_frame(&mut w, REQUEST, &[&id.to_be_bytes(), &body]).await
                            }
                            Out::Publish { id, message, ack } => {
                                if let Some(a) = ack {
                                    pending.lock().publishes.insert(id, a);
                                }
                                frames += 1;
                                write_frame(&mut w, PUBLISH, &[&id.to_be_bytes(), &message]).await
                            }
                        };
                        if r.is_err() {
                            return false;
                        }
                    }
                    match write_run(&mut w, &mut run).await {
                        Ok(n) => frames += n,
                        Err(_) => return false,
                    }
                    w.flush().await.is_ok()
                };
                // A silent peer's socket buffer fills up and the writes block: the watchdog
                // ends them too.
                let ok = tokio::select! {
                    ok = written => ok,
                    _ = dead.notified() => {
                        silent = true;
                        false
                    }
                };
                stats.publish_frames_sent.fetch_add(frames, Ordering::Relaxed);
                stats.writes.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    broken = true;
                    break 'conn;
                }
                if reader.is_finished() {
                    break 'conn;
                }
            }
            reader.abort();
            watchdog.abort();
            if silent {
                tracing::warn!(
                    peer = %addr,
                    "cluster link: no answer for {:?} while answers were owed; connection dropped",
                    crate::cluster::link_watch::SILENT_AFTER
                );
                // What queued behind the silence fails at once too, rather than waiting for a
                // connection attempt to a peer that does not answer.
                while let Ok(o) = rx.try_recv() {
                    drop(o);
                }
            }
            // Dropping the senders tells every waiter the link went away.
            *pending.lock() = Pending::default();
            *peer.who.lock() = None;
            if !broken && (rx.is_closed() || *stop.borrow()) {
                return;
            }
            self.inner.stats.errors.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(peer = %addr, "cluster link down; reconnecting on demand");
        }
    }

    /// Start the silent-peer watchdog of one connection (see `cluster::link_watch`): the
    /// returned `Notify` fires when the peer stopped answering.
    fn watch_silence(
        &self,
        peer: &Arc<Peer>,
        pending: &Arc<Mutex<Pending>>,
        heard: Arc<crate::cluster::link_watch::Heard>,
    ) -> (Arc<tokio::sync::Notify>, tokio::task::JoinHandle<()>) {
        let dead = Arc::new(tokio::sync::Notify::new());
        let (link, tx, pending, fire) = (self.clone(), peer.tx.clone(), pending.clone(), dead.clone());
        // Per connection: the caller aborts the returned handle when the connection ends.
        let task = tokio::spawn(async move {
            let owed = || {
                let p = pending.lock();
                p.bulky.is_empty() && (!p.requests.is_empty() || !p.publishes.is_empty())
            };
            let probe = || {
                let (reply, _) = oneshot::channel();
                let id = link.inner.next_id.fetch_add(1, Ordering::Relaxed);
                let _ = tx.try_send(Out::Request { id, body: Vec::new(), reply });
            };
            crate::cluster::link_watch::silent(heard, owed, probe).await;
            fire.notify_one();
        });
        (dead, task)
    }

    /// The listener's half: handshake, then requests and publishes until the peer goes away.
    async fn serve_conn(
        &self,
        mut s: Stream,
        addr: SocketAddr,
        handler: Arc<dyn LinkHandler>,
        (deadline, permit): (tokio::time::Instant, tokio::sync::OwnedSemaphorePermit),
    ) -> Result<(), LinkError> {
        let who = match tokio::time::timeout_at(deadline, self.accept_handshake(&mut s, addr)).await {
            Ok(r) => r?,
            Err(_) => return Err(LinkError::Timeout { addr: addr.to_string(), timeout: HANDSHAKE_TIMEOUT }),
        };
        // Authenticated: no longer counts against the handshake cap.
        drop(permit);
        tracing::debug!(%addr, name = %who.name, "cluster peer connected");
        let (rd, wr) = tokio::io::split(s);
        let (out_tx, mut out_rx) = mpsc::channel::<Answer>(8192);
        // Responses and acks from many tasks funnel through one writer.
        // Per peer connection: ends when every `out_tx` is dropped.
        let writer = tokio::spawn(async move {
            let mut w = BufWriter::with_capacity(64 * 1024, wr);
            while let Some(a) = out_rx.recv().await {
                let r = match a {
                    Answer::Response(id, body) => write_frame(&mut w, RESPONSE, &[&id.to_be_bytes(), &body]).await,
                    Answer::Ack(id, c) => write_frame(&mut w, PUBLISH_ACK, &[&id.to_be_bytes(), &[c.byte()]]).await,
                };
                if r.is_err() || (out_rx.is_empty() && w.flush().await.is_err()) {
                    return;
                }
            }
        });
        // Publishes are delivered in arrival order. Most are queued at once: those are
        // delivered right here, so a whole read's worth of them reaches the subscribers'
        // queues in one go (handing each to another task cost more in wake-ups than the
        // delivery itself). One that has to wait (a full queue holding its publisher back),
        // and every publish after it until the backlog is worked off, goes to a task of its
        // own, so a slow subscriber never holds up Raft traffic on the same connection.
        let (pub_tx, mut pub_rx) = mpsc::channel::<Delivering>(8192);
        let pub_out = out_tx.clone();
        let who = Arc::new(who);
        let backlog = Arc::new(AtomicU64::new(0));
        let publisher = {
            let backlog = backlog.clone();
            let (handler, who) = (handler.clone(), who.clone());
            // Per peer connection: ends when the read loop drops `pub_tx`.
            tokio::spawn(async move {
                while let Some(d) = pub_rx.recv().await {
                    let (id, confirm) = match d {
                        Delivering::Started(id, confirm) => (id, confirm),
                        Delivering::Frame(id, message) => match handler.publish(&who, &message) {
                            Delivered::Now(ok) => (id, Box::pin(std::future::ready(ok)) as BoxFuture<'static, Confirm>),
                            // Let the backlogged subscriber's connection run before the next.
                            Delivered::Congested(ok) => (
                                id,
                                Box::pin(async move {
                                    tokio::task::yield_now().await;
                                    ok
                                }) as BoxFuture<'static, Confirm>,
                            ),
                            Delivered::Later(confirm) => (id, confirm),
                        },
                    };
                    let ok = confirm.await;
                    backlog.fetch_sub(1, Ordering::AcqRel);
                    if id != 0 && pub_out.send(Answer::Ack(id, ok)).await.is_err() {
                        return;
                    }
                }
            })
        };
        // Frames are taken from the socket a read at a time and handled in one synchronous
        // pass (what must wait is collected and done after it), so the publishes of a read
        // are queued for their subscribers together and each subscriber's connection is woken
        // once per read, not once per message.
        let mut rd = rd;
        let mut buf: Vec<u8> = Vec::with_capacity(READ_BUF);
        let mut stop = self.inner.stop.clone();
        let mut acks: Vec<Answer> = Vec::new();
        let mut queued: Vec<Delivering> = Vec::new();
        let mut requests: Vec<(u64, Vec<u8>)> = Vec::new();
        let result = 'conn: loop {
            if buf.capacity() - buf.len() < READ_BUF / 4 {
                buf.reserve(READ_BUF);
            }
            let n = tokio::select! {
                r = rd.read_buf(&mut buf) => match r {
                    Ok(n) => n,
                    Err(e) => break Err(e.into()),
                },
                _ = stop.changed() => break Ok(()),
            };
            if n == 0 {
                break Err(LinkError::Closed { addr: addr.to_string() });
            }
            self.inner.stats.reads.fetch_add(1, Ordering::Relaxed);
            let mut bad = None;
            let mut used = 0;
            let mut congested = false;
            // Each publish, in arrival order: delivered now if nothing waits before it.
            let mut deliver = |id: u64, message: &[u8]| {
                self.inner.stats.received_messages.fetch_add(1, Ordering::Relaxed);
                if !queued.is_empty() || backlog.load(Ordering::Acquire) > 0 {
                    self.inner.stats.deferred_messages.fetch_add(1, Ordering::Relaxed);
                    queued.push(Delivering::Frame(id, message.to_vec()));
                    return;
                }
                match handler.publish(&who, message) {
                    Delivered::Now(ok) if id != 0 => acks.push(Answer::Ack(id, ok)),
                    Delivered::Now(_) => {}
                    Delivered::Congested(ok) => {
                        congested = true;
                        if id != 0 {
                            acks.push(Answer::Ack(id, ok));
                        }
                    }
                    Delivered::Later(mut confirm) => match futures_util::FutureExt::now_or_never(confirm.as_mut()) {
                        Some(ok) if id != 0 => acks.push(Answer::Ack(id, ok)),
                        Some(_) => {}
                        None => queued.push(Delivering::Started(id, confirm)),
                    },
                }
            };
            handler.batch(&mut || {
                loop {
                    let (kind, body, len) = match next_frame(&buf[used..]) {
                        Ok(Some(f)) => f,
                        Ok(None) => break,
                        Err(e) => {
                            bad = Some(e);
                            break;
                        }
                    };
                    used += len;
                    if kind == PUBLISHES || kind == PUBLISH {
                        self.inner.stats.publish_frames_received.fetch_add(1, Ordering::Relaxed);
                    }
                    if kind == PUBLISHES {
                        for entry in batch_entries(body) {
                            match entry {
                                Ok((id, message)) => deliver(id, message),
                                Err(e) => {
                                    bad = Some(e);
                                    break;
                                }
                            }
                        }
                        if bad.is_some() {
                            break;
                        }
                        continue;
                    }
                    let Some((id, rest)) = split_id(body) else {
                        bad = Some(LinkError::Protocol("frame without id".into()));
                        break;
                    };
                    match kind {
                        REQUEST => requests.push((id, rest.to_vec())),
                        PUBLISH => deliver(id, rest),
                        k => {
                            bad = Some(LinkError::Protocol(format!("unexpected frame kind {k}")));
                            break;
                        }
                    }
                }
            });
            buf.drain(..used);
            if buf.is_empty() && buf.capacity() > 4 * READ_BUF {
                // A large frame (a snapshot chunk) has passed: give its memory back.
                buf = Vec::with_capacity(READ_BUF);
            }
            for (id, req) in requests.drain(..) {
                let h = handler.clone();
                let out = out_tx.clone();
                let from = Identity::clone(&who);
                // Per request: ends with its answer.
                tokio::spawn(async move {
                    let answer = h.request(from, req).await;
                    let _ = out.send(Answer::Response(id, answer)).await;
                });
            }
            for a in acks.drain(..) {
                if out_tx.send(a).await.is_err() {
                    break 'conn Ok(());
                }
            }
            for d in queued.drain(..) {
                backlog.fetch_add(1, Ordering::AcqRel);
                if pub_tx.send(d).await.is_err() {
                    break 'conn Ok(());
                }
            }
            if let Some(e) = bad {
                break Err(e);
            }
            if congested {
                self.inner.stats.congested_reads.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        };
        drop(pub_tx);
        let _ = publisher.await;
        drop(out_tx);
        let _ = writer.await;
        result
    }
}

/// A forwarded publish for the delivering task: one whose delivery started and has to wait,
/// or one (id and message) queued behind such a one.
enum Delivering {
    Started(u64, BoxFuture<'static, Confirm>),
    Frame(u64, Vec<u8>),
}

/// What the listener's side sends back.
enum Answer {
    Response(u64, Vec<u8>),
    Ack(u64, Confirm),
}

#[derive(Default)]
struct Pending {
    requests: HashMap<u64, oneshot::Sender<Vec<u8>>>,
    publishes: HashMap<u64, oneshot::Sender<Confirm>>,
    /// Outstanding requests too large to be answered within the silence limit on a slow link
    /// (snapshot chunks): while there are any, silence is not taken for a dead peer.
    bulky: std::collections::HashSet<u64>,
}

async fn read_answers<R: AsyncReadExt + Unpin>(
    mut rd: R,
    pending: Arc<Mutex<Pending>>,
    heard: Arc<crate::cluster::link_watch::Heard>,
) {
    loop {
        let Ok((kind, body)) = read_frame(&mut rd, MAX_FRAME).await else { return };
        heard.now();
        let Some((id, rest)) = split_id(&body) else { return };
        match kind {
            RESPONSE => {
                let mut p = pending.lock();
                p.bulky.remove(&id);
                if let Some(tx) = p.requests.remove(&id) {
                    let _ = tx.send(rest.to_vec());
                }
            }
            PUBLISH_ACK => {
                if let Some(tx) = pending.lock().publishes.remove(&id) {
                    let _ = tx.send(Confirm::from_byte(rest.first()));
                }
            }
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;
    impl LinkHandler for Echo {
        fn request(&self, _from: Identity, mut body: Vec<u8>) -> BoxFuture<'static, Vec<u8>> {
            body.reverse();
            Box::pin(async move { body })
        }
        fn publish(&self, _from: &Arc<Identity>, message: &[u8]) -> Delivered {
            let ok = if message.ends_with(b"ok") { Confirm::Queued } else { Confirm::NotQueued };
            // "later…" waits once, so it and what follows take the delivering task's path.
            if message.starts_with(b"later") {
                Delivered::Later(Box::pin(async move {
                    tokio::task::yield_now().await;
                    ok
                }))
            } else if message.starts_with(b"busy") {
                Delivered::Congested(ok)
            } else {
                Delivered::Now(ok)
            }
        }
    }

    fn id(n: NodeId) -> Identity {
        Identity { node_id: n, name: format!("n{n}"), role: Role::Core, advertise: String::new() }
    }

    async fn server(secret: &str, cluster: &str) -> (String, watch::Sender<bool>) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        let (tx, rx) = watch::channel(false);
        Link::new(id(1), cluster.into(), Some(secret), None, rx).serve(l, Arc::new(Echo));
        (addr, tx)
    }

    #[tokio::test]
    async fn request_publish_and_ack() {
        let (addr, _stop) = server("0123456789abcdef", "c").await;
        let (_t, rx) = watch::channel(false);
        let client = Link::new(id(2), "c".into(), Some("0123456789abcdef"), None, rx);
        let r = client.request(&addr, b"abc".to_vec(), Duration::from_secs(5)).await.expect("request");
        assert_eq!(r, b"cba");
        assert_eq!(client.peer_identity(&addr).map(|i| i.node_id), Some(1));
        let ok = client.publish(&addr, Bytes::from_static(b"ok"), true).await.expect("ack wanted");
        assert_eq!(ok.await.expect("acked"), Confirm::Queued);
        let bad = client.publish(&addr, Bytes::from_static(b"no"), true).await.expect("ack wanted");
        assert_eq!(bad.await.expect("acked"), Confirm::NotQueued);
        assert!(client.publish(&addr, Bytes::from_static(b"fire"), false).await.is_none());
    }

    #[tokio::test]
    async fn publishes_queued_together_are_each_answered() {
        let (addr, _stop) = server("0123456789abcdef", "c").await;
        let (_t, rx) = watch::channel(false);
        let client = Link::new(id(2), "c".into(), Some("0123456789abcdef"), None, rx);
        // Connected first, so the next publishes queue up behind each other and go out in
        // batch frames (more than one frame's count of them).
        client.request(&addr, b"x".to_vec(), Duration::from_secs(5)).await.expect("request");
        let kinds: [&[u8]; 4] = [b"ok", b"no", b"later-ok", b"later-no"];
        let mut waits = Vec::new();
        for i in 0..1000usize {
            let m = kinds[i % 4];
            // Some without an acknowledgement, as QoS 0 forwards are.
            let ack = i % 5 != 0;
            let rx = client.publish(&addr, Bytes::from_static(m), ack).await;
            assert_eq!(rx.is_some(), ack);
            if let Some(rx) = rx {
                waits.push((m, rx));
            }
        }
        for (m, rx) in waits {
            let want = if m.ends_with(b"ok") { Confirm::Queued } else { Confirm::NotQueued };
            let got = tokio::time::timeout(Duration::from_secs(10), rx).await.expect("in time").expect("acked");
            assert_eq!(got, want, "{}", String::from_utf8_lossy(m));
        }
        assert_eq!(client.stats().forwarded().iter().map(|f| f.1).sum::<u64>(), 1000);
    }

    /// A publish to a subscriber with a backlog makes the reader yield after the read, and
    /// does not send the rest of the read through the delivering task (a copy and a hand-off
    /// per message, each waking its subscriber on its own).
    #[tokio::test]
    async fn a_congested_subscriber_leaves_the_rest_of_the_read_on_the_fast_path() {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        let (_stop, srx) = watch::channel(false);
        let srv = Link::new(id(1), "c".into(), Some("0123456789abcdef"), None, srx);
        srv.serve(l, Arc::new(Echo));
        let (_t, rx) = watch::channel(false);
        let client = Link::new(id(2), "c".into(), Some("0123456789abcdef"), None, rx);
        client.request(&addr, b"x".to_vec(), Duration::from_secs(5)).await.expect("request");
        let mut waits = Vec::new();
        for i in 0..1000usize {
            let m: &'static [u8] = if i % 10 == 0 { b"busy-ok" } else { b"ok" };
            waits.push(client.publish(&addr, Bytes::from_static(m), true).await.expect("ack wanted"));
        }
        for rx in waits {
            let got = tokio::time::timeout(Duration::from_secs(10), rx).await.expect("in time").expect("acked");
            assert_eq!(got, Confirm::Queued);
        }
        let st = srv.stats();
        assert!(st.congested_reads.load(Ordering::Relaxed) > 0, "the reader yielded after congested reads");
        assert_eq!(st.deferred_messages.load(Ordering::Relaxed), 0, "nothing took the slow path");
        assert_eq!(st.received_messages.load(Ordering::Relaxed), 1000);
    }

    #[tokio::test]
    async fn wrong_secret_or_cluster_is_refused() {
        let (addr, _stop) = server("0123456789abcdef", "c").await;
        let (_t, rx) = watch::channel(false);
        let wrong = Link::new(id(3), "c".into(), Some("fedcba9876543210"), None, rx.clone());
        let e = wrong.dial(&addr).await.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("wrong cluster secret"), "{e}");
        assert!(wrong.request(&addr, b"x".to_vec(), Duration::from_secs(2)).await.is_err());
        let other = Link::new(id(4), "other".into(), Some("0123456789abcdef"), None, rx);
        let e = other.dial(&addr).await.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("cluster"), "{e}");
    }
}
