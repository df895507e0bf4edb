//! Partitions without duplicate storms or stalls (issue 16), at the Rust level: a core that
//! cannot reach a quorum neither raises its term (pre-vote) nor reports ready, a leader without a
//! quorum behind it is not ready, and a session that moved while its owner was away gets each
//! message once, however many were published after the move. tests/chaos (scenarios f, g, h)
//! measures the same with real partitions and load.

use std::collections::BTreeMap;
use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::Packet;
use mqtt_protocol_core::mqtt::packet::v5_0;
use mqtt_protocol_core::mqtt::result_code::DisconnectReasonCode;

use crate::harness::cluster::{TestCluster, persistent};
use crate::harness::{Probe, wait_for};

fn term(c: &TestCluster, i: usize) -> u64 {
    c.nodes[i].cluster().metrics().term
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_core_without_a_quorum_neither_campaigns_nor_reports_ready() {
    let mut c = TestCluster::start(3, 0).await;
    let leader = c.leader().expect("a leader");
    let lone = (0..3).find(|i| *i != leader).expect("a follower");
    let other = (0..3).find(|i| *i != leader && *i != lone).expect("another follower");
    let before = term(&c, lone);
    c.nodes[leader].stop().await;
    c.nodes[other].stop().await;
    // Several election timeouts (1–2 s each): without pre-vote the lone core campaigns in each.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(term(&c, lone), before, "a core that cannot reach a quorum must not raise its term");
    assert!(!c.nodes[lone].cluster().ready(), "no leader heard: not ready");
    // The others return: a leader is elected again (a pre-vote round that a quorum answers).
    c.nodes[leader].restart().await;
    c.nodes[other].restart().await;
    c.wait_formed(Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_without_a_quorum_is_not_ready() {
    let mut c = TestCluster::start(3, 0).await;
    let leader = c.leader().expect("a leader");
    assert!(c.nodes[leader].cluster().ready());
    for i in (0..3).filter(|i| *i != leader) {
        c.nodes[i].stop().await;
    }
    // It still calls itself leader (nothing tells it otherwise), but no quorum acknowledges it.
    wait_for("the leader reports not ready", Duration::from_secs(10), || !c.nodes[leader].cluster().ready()).await;
}

/// Publish `n` QoS 1 messages `prefix-0..n` in pipelined batches; panics on a refusal.
async fn publish_many(p: &mut Probe, topic: &str, prefix: &str, n: usize) {
    let mut sent = 0;
    while sent < n {
        let batch = (n - sent).min(100);
        for k in 0..batch {
            let pid = (k + 1) as u16;
            p.publish_v5(topic, format!("{prefix}-{}", sent + k).as_bytes(), 1, false, Some(pid), vec![]).await;
        }
        for _ in 0..batch {
            match p.expect().await {
                Packet::V5_0Puback(a) => assert!(a.reason_code().is_none_or(|c| (c as u8) < 0x80), "refused: {a:?}"),
                other => panic!("expected PUBACK, got {other:?}"),
            }
        }
        sent += batch;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_moved_while_its_owner_was_away_gets_each_message_once() {
    let mut c = TestCluster::start_fast_failover(3, 0).await;
    let down = (0..3).find(|i| Some(*i) != c.leader()).expect("a follower");
    let publ_node = (0..3).find(|i| *i != down).expect("another");
    let move_to = (0..3).find(|i| *i != down && *i != publ_node).expect("a third");
    let (mut dev, _) = Probe::connect_v5(c.mqtt(down), "once", false, persistent()).await;
    dev.subscribe_v5(1, &[("once/#", 1)], vec![]).await;
    c.wait_applied(Duration::from_secs(10)).await;
    wait_for("route replicated", Duration::from_secs(10), || {
        c.nodes[publ_node].broker().cluster.routes_for("once/x").nodes.len() == 1
    })
    .await;
    dev.disconnect_v5(DisconnectReasonCode::NormalDisconnection).await;
    let (mut publ, _) = Probe::connect_v5(c.mqtt(publ_node), "once-pub", true, vec![]).await;
    c.nodes[down].stop().await;
    publish_many(&mut publ, "once/a", "during", 20).await;
    let (mut dev2, ack) = Probe::connect_v5(c.mqtt(move_to), "once", false, persistent()).await;
    assert!(ack.session_present(), "subscriptions restored from the catalog");
    wait_for("registry and route at the new node", Duration::from_secs(10), || {
        let b = c.nodes[publ_node].broker();
        let there = c.nodes[move_to].broker().cluster.node_id();
        b.catalog.owner_of("once") == Some(there) && b.cluster.routes_for("once/x").nodes.contains(&there)
    })
    .await;
    // More than a session's window of recent message ids (4,096): the copies kept for the old
    // owner must not come back through its hand-back.
    let after = 4_500;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let reader = tokio::spawn(async move {
        loop {
            match dev2.recv_within(Duration::from_secs(20)).await {
                crate::harness::probe::Read::Packet(Packet::V5_0Publish(m)) => {
                    if let Some(pid) = m.packet_id() {
                        dev2.send(v5_0::Puback::builder().packet_id(pid).build().expect("puback")).await;
                    }
                    if tx.send(String::from_utf8_lossy(m.payload().as_slice()).into_owned()).is_err() {
                        return;
                    }
                }
                crate::harness::probe::Read::Packet(_) => {}
                _ => return,
            }
        }
    });
    publish_many(&mut publ, "once/a", "after", after).await;
    c.nodes[down].restart().await;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let want = 20 + after;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while counts.len() < want {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(p)) => *counts.entry(p).or_default() += 1,
            _ => panic!("only {} of {want} distinct messages arrived", counts.len()),
        }
    }
    // Wait for the old owner's hand-back and the outbox to settle, then count late copies.
    wait_for("outbox drained", Duration::from_secs(20), || c.nodes[publ_node].cluster().metrics().outbox_messages == 0)
        .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    while let Ok(p) = rx.try_recv() {
        *counts.entry(p).or_default() += 1;
    }
    reader.abort();
    let dups: Vec<&String> = counts.iter().filter(|(_, n)| **n > 1).map(|(p, _)| p).collect();
    assert!(dups.is_empty(), "{} messages delivered more than once, e.g. {:?}", dups.len(), &dups[..dups.len().min(5)]);
}
