//! The structure-aware fuzzer on stable Rust, bounded in time so CI runs it: the generator in
//! `fuzz/gen/packets.rs` builds client streams with every property id and field at boundary
//! values, each stream runs through one broker connection (`transport::connection::serve` over
//! an in-memory pipe), and the broker must neither panic (counted in
//! `starling_connection_panics_total`, since panics are caught) nor keep a connection task
//! alive after its peer went away. First the checked-in seeds (`fuzz/seeds/structured/`) are
//! replayed, then fresh seeded inputs until the time budget is spent.
//!
//! `STARLING_FUZZ_SECONDS` sets the budget (default 5; `scripts/test` runs 60).
//! `STARLING_FUZZ_SEED` sets the first seed (default: from the clock; printed on failure).
//! `STARLING_FUZZ_WRITE_SEEDS=<dir>` writes the streams of seeds 1..=64 there and stops.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use starling::transport::connection::{ListenerInfo, Plain, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::harness::TestNode;

#[path = "../../fuzz/gen/packets.rs"]
#[allow(dead_code)]
mod packets;

/// How long a connection task may take to end once its peer closed.
const END_WITHIN: Duration = Duration::from_secs(3);

/// Run one client stream through one connection; `Err` says what went wrong.
async fn one(node: &TestNode, stream: &[u8], chunk: usize) -> Result<(), String> {
    let broker = node.broker().clone();
    let info = Arc::new(ListenerInfo { name: "fuzz".into(), allow_anonymous: true, anonymous_implicit: false });
    let (_tx, rx) = watch::channel(false);
    let (client, server) = tokio::io::duplex(16 * 1024);
    let peer = SocketAddr::from(([127, 0, 0, 1], 40000));
    let task = tokio::spawn(serve(Plain(server), peer, broker, info, rx));
    let (mut rd, mut wr) = tokio::io::split(client);
    let drain = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    });
    let size = if chunk == 0 { stream.len().max(1) } else { chunk };
    let write = async {
        for piece in stream.chunks(size) {
            if wr.write_all(piece).await.is_err() {
                return;
            }
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    if tokio::time::timeout(END_WITHIN, write).await.is_err() {
        return Err("writing the stream did not finish within 3 s".into());
    }
    let _ = wr.shutdown().await;
    drop(wr);
    let r = match tokio::time::timeout(END_WITHIN, task).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("connection task failed: {e}")),
        Err(_) => Err("the connection task did not end within 3 s of its peer closing".into()),
    };
    drain.abort();
    r
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_structured_packets_never_panic_the_broker() {
    let seeds_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/structured");
    if let Ok(dir) = std::env::var("STARLING_FUZZ_WRITE_SEEDS") {
        std::fs::create_dir_all(&dir).expect("seed dir");
        for seed in 1..=64u64 {
            let s = packets::session(&mut packets::Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
            std::fs::write(Path::new(&dir).join(format!("seed-{seed:03}.bin")), s).expect("write seed");
        }
        return;
    }
    let node = TestNode::start_with(|c| {
        c.mqtt.max_packet_size = 64 * 1024;
        c.session.max_queued = 64;
        c.session.max_session_expiry = Duration::from_secs(2);
    })
    .await;
    let panics = || node.broker().metrics.connection_panics.get();
    // The checked-in seeds, whole and split into 1-byte and 7-byte pieces.
    let mut files: Vec<_> =
        std::fs::read_dir(&seeds_dir).map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", seeds_dir.display());
    for f in &files {
        let bytes = std::fs::read(f).expect("seed");
        for chunk in [0, 1, 7] {
            if let Err(e) = one(&node, &bytes, chunk).await {
                panic!("{}: {e} (chunk {chunk})", f.display());
            }
            assert_eq!(panics(), 0, "{}: a connection task panicked (chunk {chunk})", f.display());
        }
    }
    // Fresh inputs for the time budget.
    let budget = std::env::var("STARLING_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5u64);
    let first: u64 = std::env::var("STARLING_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
    });
    let t0 = Instant::now();
    let mut runs = 0u64;
    while t0.elapsed() < Duration::from_secs(budget) {
        let seed = first.wrapping_add(runs);
        let mut rng = packets::Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let stream = packets::session(&mut rng);
        let chunk = [0, 0, 1, 3, 64][(seed % 5) as usize];
        if let Err(e) = one(&node, &stream, chunk).await {
            panic!("seed {seed}: {e}; stream {}", hex(&stream));
        }
        assert_eq!(panics(), 0, "seed {seed}: a connection task panicked; stream {}", hex(&stream));
        runs += 1;
    }
    eprintln!(
        "fuzz_structured: {} seeds, {runs} generated inputs from seed {first} in {:?}",
        files.len(),
        t0.elapsed()
    );
    // The broker still serves a normal client afterwards.
    let mut p = crate::proto_util::client5(node.addr, "after-fuzz", true, vec![]).await;
    crate::proto_util::ping5(&mut p).await;
}
