//! Replays every file of `tests/corpus/` (hostile byte streams, see its README) against one
//! broker over TCP, all at once, and judges what the broker answered:
//!
//! - `pre_*` (no CONNECT ever completes): no successful CONNACK; at most one failed CONNACK;
//! - `v5_*` / `v3_*` (a valid CONNECT, then the hostile part): a successful CONNACK first, then
//!   nothing but a 5.0 DISCONNECT with an error reason (≥ 0x80);
//! - every connection is closed by the broker at once (1.5 s), before the keep alive the
//!   corpus CONNECTs ask for (3 s) could close a connection that silently accepted the bad
//!   packet; only truncated input waits for the connect timeout (2 s) or the keep alive;
//! - every connection task ends through `finish()` (counted in `starling_disconnects_total`), so
//!   none panicked;
//! - afterwards the broker still serves normal clients of both versions.
//!
//! A few files carry a stricter expectation from the spec (see [`expectation`]). Failures name
//! the file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::Packet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::harness::{Probe, TestNode};

/// `mqtt.max_packet_size` of the replay node; `gen_corpus.py` builds its oversized files from it.
const MAX_PACKET: u32 = 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A complete bad packet must be answered by a close at once: well before the 4.5 s at which
/// the keep alive (3 s, asked for by the corpus CONNECTs) would close a silently accepting
/// connection anyway.
const AT_ONCE: Duration = Duration::from_millis(1500);
/// A truncated CONNECT is closed at the connect timeout.
const AT_CONNECT_TIMEOUT: Duration = Duration::from_millis(3500);
/// A truncated packet after CONNECT is closed by the keep alive (1.5 × 3 s).
const AT_KEEP_ALIVE: Duration = Duration::from_secs(6);

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// No CONNECT completes.
    Pre,
    /// A valid 5.0 CONNECT first.
    V5,
    /// A valid 3.1.1 CONNECT first.
    V3,
}

#[derive(Debug, Clone)]
struct Expect {
    start: Start,
    /// The broker must close the connection within this time.
    within: Duration,
    /// `pre_*`: the broker must answer with a CONNACK carrying exactly this code.
    connack: Option<u8>,
    /// 5.0: if a DISCONNECT is sent, it must carry one of these reasons (empty: any error).
    disconnect: &'static [u8],
    /// Packet types (besides CONNACK/DISCONNECT) the broker may send before closing.
    allow: &'static [u8],
}

/// What a file's name says is expected, plus what the spec requires for some of them.
fn expectation(name: &str) -> Option<Expect> {
    let start = if name.starts_with("pre_") {
        Start::Pre
    } else if name.starts_with("v5_") {
        Start::V5
    } else if name.starts_with("v3_") {
        Start::V3
    } else {
        return None;
    };
    let mut e = Expect { start, within: AT_ONCE, connack: None, disconnect: &[], allow: &[] };
    let stem = name.trim_end_matches(".bin");
    match stem {
        // MQTT-3.1.3-8/-9: CONNACK 0x02 (identifier rejected), then close.
        "pre_v3_empty_client_id_clean_session_0" => e.connack = Some(0x02),
        // Incomplete packets: nothing to judge until a timer runs out.
        "pre_truncated_fixed_header" | "pre_truncated_connect_body" | "pre_length_beyond_data" => {
            e.within = AT_CONNECT_TIMEOUT
        }
        "v5_truncated_publish" | "v3_truncated_publish" => e.within = AT_KEEP_ALIVE,
        // A packet above the announced Maximum Packet Size → 0x95 (MQTT-3.2.2-15, 4.13); the
        // declared length is enough to know, so the body is not waited for.
        "v5_huge_length_publish" | "v5_oversized_publish" => e.disconnect = &[0x95],
        // A Topic Alias above the maximum → 0x94 (MQTT-3.3.2-9); alias 0 is a protocol error
        // (MQTT-3.3.2-8), for which 0x94 fits too.
        "v5_topic_alias_above_maximum" => e.disconnect = &[0x94],
        "v5_topic_alias_zero" => e.disconnect = &[0x82, 0x94],
        // MQTT-3.3.4-9: more QoS > 0 PUBLISHes than Receive Maximum → 0x93; the ones before the
        // limit are acknowledged (PUBREC).
        "v5_receive_maximum_exceeded" => {
            e.disconnect = &[0x93];
            e.allow = &[5];
        }
        // U+0000 is malformed (MQTT-1.5.4-2) → 0x81, not 0x90 or a SUBACK.
        "v5_publish_nul_topic" | "v5_subscribe_nul_filter" => e.disconnect = &[0x81],
        // An empty topic with no alias, or with one never set: Protocol Error (§3.3.4).
        "v5_empty_topic_without_alias" | "v5_empty_topic_unset_alias" => e.disconnect = &[0x82],
        // MQTT-3.3.2-2: a wildcard in a PUBLISH topic name → 0x90.
        "v5_publish_wildcard_plus" | "v5_publish_wildcard_hash" => e.disconnect = &[0x90],
        _ => {}
    }
    Some(e)
}

/// What came back on one connection.
#[derive(Debug)]
struct Seen {
    /// (packet type, body) in order.
    packets: Vec<(u8, Vec<u8>)>,
    closed_after: Option<Duration>,
    trailing: usize,
}

async fn replay(addr: std::net::SocketAddr, bytes: Vec<u8>, limit: Duration) -> Seen {
    let t0 = Instant::now();
    let s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let (mut rd, mut wr) = s.into_split();
    // Write in the background: the broker may stop reading (or close) part-way through.
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&bytes).await;
        // Keep the write side open: the broker, not the client, must end the connection.
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(wr);
    });
    let mut buf = Vec::new();
    let deadline = t0 + limit + Duration::from_millis(500);
    let mut closed_after = None;
    loop {
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout_at(deadline, rd.read(&mut chunk)).await {
            Err(_) => break,
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed_after = Some(t0.elapsed());
                break;
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    writer.abort();
    let (packets, trailing) = split_packets(&buf);
    Seen { packets, closed_after, trailing }
}

/// Split what the broker sent into (type, body); the count of bytes left over.
fn split_packets(mut buf: &[u8]) -> (Vec<(u8, Vec<u8>)>, usize) {
    let mut out = Vec::new();
    loop {
        let Some(&first) = buf.first() else { return (out, 0) };
        let mut len = 0usize;
        let mut mult = 1usize;
        let mut i = 1;
        let header = loop {
            let Some(&b) = buf.get(i) else { return (out, buf.len()) };
            len += usize::from(b & 0x7f) * mult;
            mult *= 128;
            i += 1;
            if b & 0x80 == 0 {
                break i;
            }
            if i > 4 {
                return (out, buf.len());
            }
        };
        if buf.len() < header + len {
            return (out, buf.len());
        }
        out.push((first >> 4, buf[header..header + len].to_vec()));
        buf = &buf[header + len..];
    }
}

fn name_of(ty: u8) -> &'static str {
    [
        "reserved",
        "CONNECT",
        "CONNACK",
        "PUBLISH",
        "PUBACK",
        "PUBREC",
        "PUBREL",
        "PUBCOMP",
        "SUBSCRIBE",
        "SUBACK",
        "UNSUBSCRIBE",
        "UNSUBACK",
        "PINGREQ",
        "PINGRESP",
        "DISCONNECT",
        "AUTH",
    ][usize::from(ty & 15)]
}

/// `Err(why)` when the broker's behaviour breaks the expectation.
fn judge(e: &Expect, seen: &Seen) -> Result<(), String> {
    let shown: Vec<String> =
        seen.packets.iter().map(|(t, b)| format!("{} {:02x?}", name_of(*t), &b[..b.len().min(4)])).collect();
    let fail = |why: String| Err(format!("{why}; broker sent [{}]", shown.join(", ")));
    if seen.trailing > 0 {
        return fail(format!("{} bytes of a partial packet before the close", seen.trailing));
    }
    let mut rest = seen.packets.as_slice();
    match e.start {
        Start::Pre => {
            for (i, (t, b)) in rest.iter().enumerate() {
                if *t != 2 || i > 0 {
                    return fail(format!("{} before any CONNECT was accepted", name_of(*t)));
                }
                let code = b.get(1).copied().unwrap_or(0xff);
                if code == 0 {
                    return fail("CONNACK success for a CONNECT the spec forbids accepting".into());
                }
            }
            if let Some(want) = e.connack {
                match rest.first() {
                    Some((2, b)) if b.get(1) == Some(&want) => {}
                    _ => return fail(format!("expected CONNACK {want:#04x}")),
                }
            }
            return closed_in_time(e, seen).map_err(|why| format!("{why}; broker sent [{}]", shown.join(", ")));
        }
        Start::V5 | Start::V3 => match rest.split_first() {
            Some(((2, b), tail)) if b.get(1) == Some(&0) => rest = tail,
            _ => return fail("the valid CONNECT in front was not accepted".into()),
        },
    }
    for (t, b) in rest {
        match t {
            14 if e.start == Start::V5 => {
                let rc = b.first().copied().unwrap_or(0);
                if rc < 0x80 {
                    return fail(format!("DISCONNECT with non-error reason {rc:#04x}"));
                }
                if !e.disconnect.is_empty() && !e.disconnect.contains(&rc) {
                    return fail(format!("DISCONNECT {rc:#04x}, the spec requires one of {:02x?}", e.disconnect));
                }
            }
            t if e.allow.contains(t) => {}
            t => return fail(format!("{} in answer to a hostile packet", name_of(*t))),
        }
    }
    closed_in_time(e, seen).map_err(|why| format!("{why}; broker sent [{}]", shown.join(", ")))
}

fn closed_in_time(e: &Expect, seen: &Seen) -> Result<(), String> {
    match seen.closed_after {
        None => Err(format!("connection still open after {:?}", e.within + Duration::from_millis(500))),
        Some(t) if t > e.within => Err(format!("closed only after {t:?} (limit {:?})", e.within)),
        Some(_) => Ok(()),
    }
}

/// Sum of `starling_disconnects_total` over all reasons.
fn disconnects(node: &TestNode) -> u64 {
    node.broker()
        .metrics
        .encode()
        .lines()
        .filter(|l| l.starts_with("starling_disconnects_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// A normal client of each version can still connect, subscribe and get a message.
async fn assert_serves(node: &TestNode) {
    let (mut sub, ack) = Probe::connect_v5(node.addr, "after-sub", true, vec![]).await;
    assert!(crate::harness::probe::connack_ok(&ack), "normal 5.0 CONNECT refused after the corpus: {ack:?}");
    assert_eq!(sub.subscribe_v5(1, &[("after/t", 1)], vec![]).await, vec![1]);
    let (mut publ, ack) = Probe::connect_v3(node.addr, "after-pub", true).await;
    assert_eq!(ack.return_code() as u8, 0, "normal 3.1.1 CONNECT refused after the corpus");
    publ.publish_v3("after/t", b"round trip", 1, false, Some(7)).await;
    match publ.expect().await {
        Packet::V3_1_1Puback(a) => assert_eq!(a.packet_id(), 7),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    let p = sub.expect_publish_v5().await;
    assert_eq!(p.payload().as_slice(), b"round trip");
}

fn load_corpus() -> BTreeMap<String, Vec<u8>> {
    let dir = corpus_dir();
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|x| x.to_str()) != Some("bin") {
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).expect("utf-8 name").to_string();
        files.insert(name, std::fs::read(&path).expect("read corpus file"));
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_corpus_file_is_closed_and_the_broker_keeps_serving() {
    let files = load_corpus();
    assert!(files.len() >= 90, "corpus looks incomplete: {} files in {}", files.len(), corpus_dir().display());
    let unknown: Vec<&String> = files.keys().filter(|n| expectation(n).is_none()).collect();
    assert!(unknown.is_empty(), "corpus files without a pre_/v5_/v3_ prefix (see tests/corpus/README.md): {unknown:?}");

    let node = TestNode::start_with(|c| {
        c.mqtt.max_packet_size = MAX_PACKET;
        c.mqtt.connect_timeout = CONNECT_TIMEOUT;
    })
    .await;
    let before = disconnects(&node);
    let mut tasks = tokio::task::JoinSet::new();
    for (name, bytes) in &files {
        let e = expectation(name).expect("checked above");
        let (name, bytes, addr) = (name.clone(), bytes.clone(), node.addr);
        tasks.spawn(async move {
            let seen = replay(addr, bytes, e.within).await;
            (name, judge(&e, &seen))
        });
    }
    let mut failures = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let (name, verdict) = r.expect("replay task");
        if let Err(why) = verdict {
            failures.push(format!("{name}: {why}"));
        }
    }
    // Every connection task ran to its end (a panicking one skips the count).
    let n = files.len() as u64;
    let ended = async {
        let deadline = Instant::now() + Duration::from_secs(3);
        while disconnects(&node) - before < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        disconnects(&node) - before
    }
    .await;
    if ended != n {
        failures.push(format!(
            "{} of {n} connection tasks never recorded their end (a panic in the connection task?)",
            n - ended.min(n)
        ));
    }
    assert_serves(&node).await;
    assert!(failures.is_empty(), "{} of {} corpus files failed:\n{}", failures.len(), files.len(), failures.join("\n"));
}

/// The judge itself: a broker that accepts a forbidden CONNECT, or leaves the connection open,
/// is caught (so a green run above means something).
#[test]
fn judge_rejects_success_and_open_connections() {
    let pre = expectation("pre_x.bin").expect("prefix");
    let closed = Some(Duration::from_millis(10));
    let ok = Seen { packets: vec![], closed_after: closed, trailing: 0 };
    assert!(judge(&pre, &ok).is_ok());
    let accepted = Seen { packets: vec![(2, vec![0, 0])], closed_after: closed, trailing: 0 };
    assert!(judge(&pre, &accepted).is_err());
    let refused = Seen { packets: vec![(2, vec![0, 0x87])], closed_after: closed, trailing: 0 };
    assert!(judge(&pre, &refused).is_ok());
    let open = Seen { packets: vec![], closed_after: None, trailing: 0 };
    assert!(judge(&pre, &open).is_err());
    let v5 = expectation("v5_x.bin").expect("prefix");
    let puback = Seen { packets: vec![(2, vec![0, 0]), (4, vec![0, 1])], closed_after: closed, trailing: 0 };
    assert!(judge(&v5, &puback).is_err());
    let normal = Seen { packets: vec![(2, vec![0, 0]), (14, vec![0])], closed_after: closed, trailing: 0 };
    assert!(judge(&v5, &normal).is_err());
    let error = Seen { packets: vec![(2, vec![0, 0]), (14, vec![0x82])], closed_after: closed, trailing: 0 };
    assert!(judge(&v5, &error).is_ok());
    assert!(expectation("fuzz_x.bin").is_none());
}

/// The replayer sees the broker's bytes packet by packet, however they were split.
#[test]
fn split_packets_handles_partial_input() {
    let (p, rest) = split_packets(&[0x20, 2, 0, 0, 0xe0, 1, 0x82, 0x30]);
    assert_eq!(p, vec![(2, vec![0, 0]), (14, vec![0x82])]);
    assert_eq!(rest, 1);
}
