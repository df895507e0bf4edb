//! `server_connection`: a whole broker connection fed arbitrary bytes.
//!
//! One node is started per process (no listeners, a temporary data dir, `storage.sync = never`)
//! in a current-thread tokio runtime. Each input runs one `serve()` over a `tokio::io::duplex`
//! pipe: the bytes are written in chunks while everything the broker answers is drained, then the
//! client end is closed. The broker must not panic (libFuzzer's panic hook aborts the process,
//! whichever task panics), and the connection task must end within [`END_WITHIN`] of the peer
//! closing: a task that outlives its peer is reported as a crash ("hang").
//!
//! Input layout:
//! - byte 0, bits 0-1: 0 = raw bytes; 1 = a valid 3.1.1 CONNECT first; 2 = a valid 5.0 CONNECT
//!   first; 3 = a 5.0 CONNECT and a SUBSCRIBE to `#` first (so the input's own PUBLISHes come
//!   back and the delivery path runs too);
//! - byte 1: chunk size of the writes (0 = all at once), so packets arrive split anywhere;
//! - the rest: the stream.

#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use starling::broker::Broker;
use starling::config::{Config, SyncPolicy};
use starling::node::{Node, NodeHandle};
use starling::transport::connection::{ListenerInfo, Plain, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;
use tokio::sync::watch;

/// How long the connection task may take to end once its peer closed the pipe.
const END_WITHIN: Duration = Duration::from_secs(3);
/// How long writing one input may take (the broker may hold a QoS ≥ 1 publisher briefly).
const WRITE_WITHIN: Duration = Duration::from_secs(3);

struct World {
    rt: Runtime,
    broker: Arc<Broker>,
    info: Arc<ListenerInfo>,
    shutdown: watch::Receiver<bool>,
    _keep: (NodeHandle, watch::Sender<bool>),
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let dir = std::env::temp_dir().join(format!("starling-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut cfg = Config::default();
        cfg.data_dir = dir;
        cfg.listeners.clear();
        cfg.sys.enabled = false;
        cfg.admin.enabled = false;
        cfg.storage.sync = SyncPolicy::Never;
        // Small limits keep the per-process state small and the paths that enforce them hot.
        cfg.mqtt.max_packet_size = 64 * 1024;
        cfg.session.max_queued = 64;
        cfg.session.memory_window = 16;
        cfg.session.max_session_expiry = Duration::from_secs(2);
        cfg.session.publisher_wait = Duration::from_millis(20);
        let node = rt.block_on(Node::start(cfg)).expect("node starts");
        let broker = node.broker.clone();
        let (tx, rx) = watch::channel(false);
        let info = Arc::new(ListenerInfo { name: "fuzz".into(), allow_anonymous: true });
        World { rt, broker, info, shutdown: rx, _keep: (node, tx) }
    })
}

/// 3.1.1 CONNECT, clean session, keep alive 60, client id "fz".
const CONNECT_V3: &[u8] = &[0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 2, b'f', b'z'];
/// 5.0 CONNECT, clean start, keep alive 60, no properties, client id "fz".
const CONNECT_V5: &[u8] = &[0x10, 15, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 60, 0, 0, 2, b'f', b'z'];
/// 5.0 SUBSCRIBE id 1, no properties, `#` QoS 2.
const SUBSCRIBE_ALL_V5: &[u8] = &[0x82, 6, 0, 1, 0, 0, 1, b'#', 2];

fuzz_target!(|input: &[u8]| {
    if input.len() < 2 {
        return;
    }
    let (mode, chunk, body) = (input[0] & 3, usize::from(input[1]), &input[2..]);
    let mut stream = Vec::with_capacity(body.len() + 32);
    match mode {
        1 => stream.extend_from_slice(CONNECT_V3),
        2 => stream.extend_from_slice(CONNECT_V5),
        3 => {
            stream.extend_from_slice(CONNECT_V5);
            stream.extend_from_slice(SUBSCRIBE_ALL_V5);
        }
        _ => {}
    }
    stream.extend_from_slice(body);
    let w = world();
    w.rt.block_on(one_connection(w, &stream, chunk));
});

async fn one_connection(w: &World, stream: &[u8], chunk: usize) {
    let (client, server) = tokio::io::duplex(16 * 1024);
    let peer = SocketAddr::from(([127, 0, 0, 1], 40000));
    let task = tokio::spawn(serve(Plain(server), peer, w.broker.clone(), w.info.clone(), w.shutdown.clone()));
    let (mut rd, mut wr) = tokio::io::split(client);
    // Drain whatever the broker answers, so it never blocks on a full pipe.
    let drain = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    });
    let write = async {
        let size = if chunk == 0 { stream.len().max(1) } else { chunk };
        for piece in stream.chunks(size) {
            if wr.write_all(piece).await.is_err() {
                return; // the broker closed the connection
            }
            // Let the connection task read this piece on its own.
            tokio::task::yield_now().await;
        }
        // Give the broker a turn to act on the last packet before the peer goes away.
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
    };
    if tokio::time::timeout(WRITE_WITHIN, write).await.is_err() {
        panic!("hang: writing {} bytes to the connection took more than {WRITE_WITHIN:?}", stream.len());
    }
    let _ = wr.shutdown().await;
    drop(wr);
    match tokio::time::timeout(END_WITHIN, task).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("connection task failed: {e}"),
        Err(_) => panic!("hang: the connection task did not end within {END_WITHIN:?} after its peer closed"),
    }
    drain.abort();
}
