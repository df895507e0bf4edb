//! Slow and stalling clients: slowloris CONNECTs, half-open connections, and a subscriber that
//! never reads. The broker must close what never completes at `mqtt.connect_timeout`, keep
//! serving others meanwhile, keep a non-reading subscriber's memory bounded by
//! `session.max_queued`, never hold a publisher forever, and eventually drop the subscriber that
//! does not read (counted as `starling_disconnects_total{reason="write_timeout"}`).

use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::{Packet, Qos, SubEntry, SubOpts, v5_0};
use starling::metrics::DropReason;
use starling::metrics::ReasonLabel;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

use crate::harness::probe::connack_ok;
use crate::harness::{Probe, TestNode, wait_for};

fn disconnects(node: &TestNode, reason: &str) -> u64 {
    node.broker().metrics.disconnects.get_or_create(&ReasonLabel { reason: reason.into() }).get()
}

fn connect_bytes(client_id: &str, keep_alive: u16) -> Vec<u8> {
    v5_0::Connect::builder()
        .client_id(client_id)
        .expect("id")
        .clean_start(true)
        .keep_alive(keep_alive)
        .build()
        .expect("connect")
        .to_continuous_buffer()
}

/// Read until the peer closes; `Some(elapsed since t0)`, or `None` if still open at `deadline`.
async fn closed_at(s: &mut TcpStream, t0: Instant, deadline: Instant) -> Option<Duration> {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(t0.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// A normal client can connect and get a message through.
async fn round_trip(node: &TestNode, tag: &str) {
    let (mut sub, ack) = Probe::connect_v5(node.addr, &format!("{tag}-sub"), true, vec![]).await;
    assert!(connack_ok(&ack), "{tag}: normal CONNECT refused: {ack:?}");
    assert_eq!(sub.subscribe_v5(1, &[(&format!("{tag}/t"), 0)], vec![]).await, vec![0]);
    let (mut publ, ack) = Probe::connect_v5(node.addr, &format!("{tag}-pub"), true, vec![]).await;
    assert!(connack_ok(&ack));
    publ.publish_v5(&format!("{tag}/t"), b"hello", 0, false, None, vec![]).await;
    assert_eq!(sub.expect_publish_v5().await.payload().as_slice(), b"hello");
}

#[tokio::test]
async fn slow_connect_one_byte_per_100ms_completes_within_connect_timeout() {
    let node = TestNode::start_with(|c| c.mqtt.connect_timeout = Duration::from_secs(4)).await;
    let bytes = connect_bytes("slowpoke", 60);
    assert!(bytes.len() >= 15, "the CONNECT should take a while to trickle in");
    let mut s = TcpStream::connect(node.addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let t0 = Instant::now();
    for b in &bytes {
        s.write_all(&[*b]).await.expect("the broker keeps the slow connection open");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let trickle = t0.elapsed();
    let mut ack = [0u8; 64];
    let n =
        tokio::time::timeout(Duration::from_secs(2), s.read(&mut ack)).await.expect("CONNACK in time").expect("read");
    assert!(n >= 4 && ack[0] == 0x20, "expected CONNACK, got {:02x?}", &ack[..n]);
    assert_eq!(ack[3], 0x00, "slow but timely CONNECT refused: {:02x?}", &ack[..n]);
    assert!(trickle >= Duration::from_millis(1400), "the CONNECT was not sent slowly ({trickle:?})");
    assert_eq!(disconnects(&node, "connect_timeout"), 0);
}

#[tokio::test]
async fn trickled_connect_that_never_completes_is_closed_at_the_connect_timeout() {
    let node = TestNode::start_with(|c| c.mqtt.connect_timeout = Duration::from_secs(1)).await;
    // A CONNECT too long to finish in time at one byte per 100 ms (~13 s).
    let bytes = connect_bytes(&"s".repeat(120), 60);
    let s = TcpStream::connect(node.addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let t0 = Instant::now();
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        for b in bytes {
            if wr.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut buf = [0u8; 64];
    let closed = match tokio::time::timeout(Duration::from_secs(4), rd.read(&mut buf)).await {
        Err(_) => panic!("slowloris connection still open after {:?}", t0.elapsed()),
        Ok(Ok(0)) | Ok(Err(_)) => t0.elapsed(),
        Ok(Ok(n)) => panic!("broker answered an incomplete CONNECT: {:02x?}", &buf[..n]),
    };
    writer.abort();
    assert!(closed >= Duration::from_millis(900), "closed before the timeout: {closed:?}");
    assert!(closed <= Duration::from_millis(2500), "closed long after the 1 s timeout: {closed:?}");
    wait_for("the connect_timeout end to be counted", Duration::from_secs(2), || {
        disconnects(&node, "connect_timeout") == 1
    })
    .await;
}

#[tokio::test]
async fn many_half_open_connections_are_closed_at_the_timeout_and_do_not_block_others() {
    const N: usize = 200;
    let node = TestNode::start_with(|c| c.mqtt.connect_timeout = Duration::from_secs(1)).await;
    let t0 = Instant::now();
    let mut idle = Vec::with_capacity(N);
    for i in 0..N {
        let mut s = TcpStream::connect(node.addr).await.expect("connect");
        // A quarter send the first byte of a CONNECT and stop there.
        if i % 4 == 0 {
            s.write_all(&[0x10]).await.expect("write");
        }
        idle.push(s);
    }
    // While all of them are open, a normal client is served.
    round_trip(&node, "busy").await;
    assert!(t0.elapsed() < Duration::from_secs(1), "setup too slow for the test to mean anything");
    let deadline = t0 + Duration::from_secs(4);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, mut s) in idle.into_iter().enumerate() {
        tasks.spawn(async move { (i, closed_at(&mut s, t0, deadline).await) });
    }
    let mut open = Vec::new();
    let mut latest = Duration::ZERO;
    while let Some(r) = tasks.join_next().await {
        match r.expect("task") {
            (i, None) => open.push(i),
            (_, Some(t)) => latest = latest.max(t),
        }
    }
    assert!(open.is_empty(), "{} half-open connections still open after 4 s: {open:?}", open.len());
    assert!(latest <= Duration::from_millis(3000), "the last half-open connection closed only at {latest:?}");
    wait_for("all connect timeouts to be counted", Duration::from_secs(2), || {
        disconnects(&node, "connect_timeout") == N as u64
    })
    .await;
    // And afterwards too.
    round_trip(&node, "after").await;
}

/// A 5.0 subscriber whose socket has a small receive buffer, subscribed to `filter`; the caller
/// never reads from it again after the SUBACK.
async fn stalled_subscriber(node: &TestNode, client_id: &str, filter: &str, qos: Qos) -> TcpStream {
    let sock = TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(4096).expect("rcvbuf");
    let mut s = sock.connect(node.addr).await.expect("connect");
    s.write_all(&connect_bytes(client_id, 0)).await.expect("write");
    read_packet(&mut s, 0x20).await;
    let sub = v5_0::Subscribe::builder()
        .packet_id(1)
        .entries(vec![SubEntry::new(filter, SubOpts::new().set_qos(qos)).expect("entry")])
        .build()
        .expect("subscribe");
    s.write_all(&sub.to_continuous_buffer()).await.expect("write");
    read_packet(&mut s, 0x90).await;
    s
}

/// Read exactly one small packet and check its first byte.
async fn read_packet(s: &mut TcpStream, first: u8) {
    let mut head = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut head)).await.expect("in time").expect("read");
    assert_eq!(head[0], first, "unexpected packet {:02x?}", head);
    assert!(head[1] < 0x80, "unexpectedly long packet");
    let mut body = vec![0u8; usize::from(head[1])];
    s.read_exact(&mut body).await.expect("body");
}

fn vm_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_reading_subscriber_keeps_memory_bounded_and_the_publisher_flowing() {
    const MAX_QUEUED: usize = 100;
    const PAYLOAD: usize = 64 * 1024;
    const MESSAGES: usize = 4000; // 256 MiB in all
    let node = TestNode::start_with(|c| c.session.max_queued = MAX_QUEUED).await;
    let _stalled = stalled_subscriber(&node, "stalled", "flood/#", Qos::AtMostOnce).await;
    let rss_before = vm_rss_kib();

    // Watch the broker's queues while the flood runs.
    let broker = node.broker().clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut peak = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(broker.queue_totals().0);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            peak
        })
    };

    let (mut publ, ack) = Probe::connect_v5(node.addr, "flooder", true, vec![]).await;
    assert!(connack_ok(&ack));
    let payload = vec![0x5a; PAYLOAD];
    let t0 = Instant::now();
    let flood = async {
        for i in 0..MESSAGES {
            publ.publish_v5(&format!("flood/{}", i % 8), &payload, 0, false, None, vec![]).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(8), flood)
        .await
        .unwrap_or_else(|_| panic!("publisher blocked: 256 MiB of QoS 0 not taken within 8 s"));
    // The broker still reads the publisher: a PINGREQ is answered.
    publ.send(v5_0::Pingreq::new()).await;
    match publ.recv_within(Duration::from_secs(3)).await {
        crate::harness::probe::Read::Packet(Packet::V5_0Pingresp(_)) => {}
        other => panic!("publisher not served after the flood: {other:?}"),
    }
    let took = t0.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = watcher.await.expect("watcher");
    let rss_after = vm_rss_kib();

    assert!(peak <= MAX_QUEUED, "queued messages reached {peak}, above session.max_queued = {MAX_QUEUED}");
    let dropped = node.broker().metrics.dropped_count(DropReason::QueueFull);
    assert!(dropped > 0, "the stalled subscriber's overflow was not counted as dropped (queue_full)");
    if let (Some(a), Some(b)) = (rss_before, rss_after) {
        let grown_mib = b.saturating_sub(a) / 1024;
        // 256 MiB went through; a bounded broker holds ~max_queued × 64 KiB plus socket buffers.
        assert!(grown_mib < 128, "RSS grew by {grown_mib} MiB while flooding a non-reading client");
        eprintln!(
            "flood: {MESSAGES} × {PAYLOAD} B in {took:?}; peak queue {peak}; dropped {dropped}; RSS +{grown_mib} MiB"
        );
    }
}

#[tokio::test]
async fn qos1_publisher_to_a_full_queue_gets_quota_exceeded_instead_of_waiting_forever() {
    let node = TestNode::start_with(|c| {
        c.session.max_queued = 10;
        c.session.max_inflight = 4;
        c.session.publisher_wait = Duration::from_millis(300);
    })
    .await;
    let _stalled = stalled_subscriber(&node, "stalled1", "q1/t", Qos::AtLeastOnce).await;
    let (mut publ, ack) = Probe::connect_v5(node.addr, "q1-pub", true, vec![]).await;
    assert!(connack_ok(&ack));
    let t0 = Instant::now();
    let mut refused_at = None;
    let mut held = Duration::ZERO;
    for pid in 1..=40u16 {
        let sent = Instant::now();
        publ.publish_v5("q1/t", b"m", 1, false, Some(pid), vec![]).await;
        let ack = match publ.recv_within(Duration::from_secs(3)).await {
            crate::harness::probe::Read::Packet(Packet::V5_0Puback(a)) => a,
            other => panic!("publish {pid}: no PUBACK within 3 s (publisher blocked?): {other:?}"),
        };
        assert_eq!(ack.packet_id(), pid);
        if ack.reason_code().map(|c| c as u8) == Some(0x97) {
            held = sent.elapsed();
            refused_at = Some(pid);
            break;
        }
    }
    let pid = refused_at.expect("40 QoS 1 messages into a 10-message queue were all accepted");
    // `session.max_queued` counts what is in flight too: 10 accepted (at most 10 + 4 + slack if
    // it did not), then the publisher is held for publisher_wait and refused with 0x97.
    assert!((11..=16).contains(&pid), "quota exceeded at message {pid}, expected right after 10");
    assert!(held >= Duration::from_millis(250), "refused after {held:?}, before publisher_wait (300 ms)");
    assert!(held < Duration::from_secs(2), "publisher held {held:?}, far beyond publisher_wait (300 ms)");
    assert!(t0.elapsed() < Duration::from_secs(3), "took {:?}", t0.elapsed());
    assert!(node.broker().queue_totals().0 <= 10);
}

/// A subscriber that stops reading is dropped once a write has been pending for
/// `mqtt.write_timeout` (2 s here), counted as `write_timeout`, and the broker goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_reading_subscriber_is_dropped_at_the_write_timeout() {
    let node = TestNode::start_with(|c| {
        c.session.max_queued = 100;
        c.mqtt.write_timeout = Duration::from_secs(2);
    })
    .await;
    let mut stalled = stalled_subscriber(&node, "stalled-wt", "wt/#", Qos::AtMostOnce).await;
    let (mut publ, ack) = Probe::connect_v5(node.addr, "wt-pub", true, vec![]).await;
    assert!(connack_ok(&ack));
    let payload = vec![0xa5; 64 * 1024];
    // Enough to fill the socket buffers and the broker's write buffer for the subscriber.
    for _ in 0..400 {
        publ.publish_v5("wt/x", &payload, 0, false, None, vec![]).await;
    }
    let t0 = Instant::now();
    wait_for("the stalled subscriber to be dropped for write_timeout", Duration::from_secs(15), || {
        disconnects(&node, "write_timeout") == 1
    })
    .await;
    let t = t0.elapsed();
    assert!(t >= Duration::from_millis(1500), "dropped after only {t:?}");
    // Its socket is closed (after the bytes already buffered).
    let mut buf = vec![0u8; 1 << 16];
    let end = Instant::now() + Duration::from_secs(10);
    let closed = loop {
        match tokio::time::timeout_at(end, stalled.read(&mut buf)).await {
            Err(_) => break false,
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(_)) => {}
        }
    };
    assert!(closed, "the dropped subscriber's socket is still open");
    round_trip(&node, "wt-after").await;
}
