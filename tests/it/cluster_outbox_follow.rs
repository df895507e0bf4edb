//! Messages a publishing node keeps for an unreachable owner follow the owner's clients that
//! resumed elsewhere, without waiting for the owner to come back. A replicant removed by a
//! scale-down never comes back (it stays in the membership until `cluster.replicant_timeout`):
//! what was acknowledged and kept for it reached its moved clients only an hour later.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::Packet;
use mqtt_protocol_core::mqtt::packet::v5_0;
use mqtt_protocol_core::mqtt::result_code::DisconnectReasonCode;

use crate::harness::cluster::{TestCluster, persistent, publish_acked};
use crate::harness::probe::Read;
use crate::harness::{Probe, wait_for};

/// Every QoS 1 payload received (acknowledged) until `quiet` passes without one, with counts.
async fn receive_counts(p: &mut Probe, until: &BTreeSet<String>, wait: Duration) -> BTreeMap<String, usize> {
    let mut got: BTreeMap<String, usize> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if until.iter().all(|w| got.contains_key(w)) {
            return got;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return got;
        }
        match p.recv_within(left).await {
            Read::Packet(Packet::V5_0Publish(m)) => {
                *got.entry(String::from_utf8_lossy(m.payload().as_slice()).into_owned()).or_default() += 1;
                if let Some(pid) = m.packet_id() {
                    p.send(v5_0::Puback::builder().packet_id(pid).build().expect("puback")).await;
                }
            }
            Read::Packet(_) => {}
            _ => return got,
        }
    }
}

/// `to_publisher`: the client resumes on the publishing node itself (the kept messages are
/// delivered there), else on a third node (they are forwarded to it).
async fn kept_messages_follow(to_publisher: bool) {
    let mut c = TestCluster::start_fast_failover(3, 0).await;
    let down = (0..3).find(|i| Some(*i) != c.leader()).expect("a follower");
    let publ_node = (0..3).find(|i| *i != down).expect("another");
    let third = (0..3).find(|i| *i != down && *i != publ_node).expect("a third");
    let move_to = if to_publisher { publ_node } else { third };
    let client = if to_publisher { "follow-here" } else { "follow-there" };
    let (mut dev, _) = Probe::connect_v5(c.mqtt(down), client, false, persistent()).await;
    dev.subscribe_v5(1, &[("follow/#", 1)], vec![]).await;
    c.wait_applied(Duration::from_secs(10)).await;
    wait_for("route replicated", Duration::from_secs(10), || {
        c.nodes[publ_node].broker().cluster.routes_for("follow/x").nodes.len() == 1
    })
    .await;
    dev.disconnect_v5(DisconnectReasonCode::NormalDisconnection).await;
    let (mut publ, _) = Probe::connect_v5(c.mqtt(publ_node), &format!("{client}-pub"), true, vec![]).await;
    // The owner goes away and does not come back during this test.
    c.nodes[down].stop().await;
    let during: Vec<String> = (1..=20).map(|i| format!("during-{i}")).collect();
    for (i, m) in during.iter().enumerate() {
        publish_acked(&mut publ, "follow/a", m, i as u16 + 1).await;
    }
    assert!(c.nodes[publ_node].cluster().metrics().outbox_messages >= 20, "kept for the owner that is down");
    let (mut dev2, ack) = Probe::connect_v5(c.mqtt(move_to), client, false, persistent()).await;
    assert!(ack.session_present(), "subscriptions restored from the catalog");
    publish_acked(&mut publ, "follow/a", "after-1", 100).await;
    let mut want: BTreeSet<String> = during.iter().cloned().collect();
    want.insert("after-1".into());
    let got = receive_counts(&mut dev2, &want, Duration::from_secs(15)).await;
    let missing: Vec<&String> = want.iter().filter(|w| !got.contains_key(*w)).collect();
    assert!(missing.is_empty(), "acknowledged messages that did not follow the client: {missing:?}");
    // The owner comes back: what it is sent from the outbox must not reach the client again.
    c.nodes[down].restart().await;
    wait_for("outbox drained", Duration::from_secs(20), || c.nodes[publ_node].cluster().metrics().outbox_messages == 0)
        .await;
    let more = receive_counts(&mut dev2, &BTreeSet::from(["never".to_string()]), Duration::from_secs(4)).await;
    let twice: Vec<(&String, usize)> =
        got.iter().map(|(k, n)| (k, n + more.get(k).copied().unwrap_or(0))).filter(|(_, n)| *n > 1).collect();
    assert!(twice.is_empty(), "received more than once: {twice:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_messages_follow_a_client_to_a_third_node() {
    kept_messages_follow(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_messages_follow_a_client_to_the_publishing_node() {
    kept_messages_follow(true).await;
}
