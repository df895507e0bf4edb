//! `structured`: the structure-aware generator of `fuzz/gen/packets.rs` driven by libFuzzer's
//! bytes (each input is the generator's choices, not the stream), run through one broker
//! connection like `server_connection`. The stable, seeded variant runs in CI:
//! `tests/it/fuzz_structured.rs`.

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

#[path = "../gen/packets.rs"]
#[allow(dead_code)]
mod packets;

const END_WITHIN: Duration = Duration::from_secs(3);

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
        let dir = std::env::temp_dir().join(format!("starling-fuzz-structured-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut cfg = Config::default();
        cfg.data_dir = dir;
        cfg.listeners.clear();
        cfg.sys.enabled = false;
        cfg.admin.enabled = false;
        cfg.storage.sync = SyncPolicy::Never;
        cfg.mqtt.max_packet_size = 64 * 1024;
        cfg.session.max_queued = 64;
        cfg.session.max_session_expiry = Duration::from_secs(2);
        let node = rt.block_on(Node::start(cfg)).expect("node starts");
        let broker = node.broker.clone();
        let (tx, rx) = watch::channel(false);
        let info = Arc::new(ListenerInfo { name: "fuzz".into(), allow_anonymous: true });
        World { rt, broker, info, shutdown: rx, _keep: (node, tx) }
    })
}

fuzz_target!(|input: &[u8]| {
    let stream = packets::session(&mut packets::Bytes { data: input, pos: 0 });
    let w = world();
    w.rt.block_on(async {
        let (client, server) = tokio::io::duplex(16 * 1024);
        let peer = SocketAddr::from(([127, 0, 0, 1], 40000));
        let task = tokio::spawn(serve(Plain(server), peer, w.broker.clone(), w.info.clone(), w.shutdown.clone()));
        let (mut rd, mut wr) = tokio::io::split(client);
        let drain = tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            while let Ok(n) = rd.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        });
        let _ = wr.write_all(&stream).await;
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        let _ = wr.shutdown().await;
        drop(wr);
        match tokio::time::timeout(END_WITHIN, task).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("connection task failed: {e}"),
            Err(_) => panic!("hang: the connection task did not end within {END_WITHIN:?}"),
        }
        // Panics are caught by the broker now; the counter tells the fuzzer about them.
        assert_eq!(w.broker.metrics.connection_panics.get(), 0, "a connection task panicked");
        drain.abort();
    });
});
