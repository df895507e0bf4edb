//! A persistent session handed over while its node stops: every QoS 1 message the publisher got
//! a PUBACK for reaches the subscriber. The old owner's routes stay until the new owner's are in
//! the catalog; removed at once, a publish in between (long when the stopping node is the Raft
//! leader: until the next election) matched no route and was acknowledged to nobody.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::Packet;
use mqtt_protocol_core::mqtt::packet::v3_1_1;

use crate::harness::Probe;
use crate::harness::cluster::TestCluster;
use crate::harness::probe::Read;

const TOPIC: &str = "handover/ids";

/// Read QoS 1 publishes (acknowledging each) until the connection closes or `quiet` passes.
async fn drain_ids(p: &mut Probe, got: &mut BTreeSet<u64>, quiet: Duration) {
    loop {
        match p.recv_within(quiet).await {
            Read::Packet(Packet::V3_1_1Publish(m)) => {
                if let Ok(id) = String::from_utf8_lossy(m.payload().as_slice()).parse::<u64>() {
                    got.insert(id);
                }
                if let Some(pid) = m.packet_id() {
                    p.send(v3_1_1::Puback::builder().packet_id(pid).build().expect("puback")).await;
                }
            }
            Read::Packet(_) => {}
            _ => return,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_follow_a_session_off_a_stopping_leader() {
    let mut c = TestCluster::start(3, 0).await;
    c.wait_formed(Duration::from_secs(30)).await;
    let leader = c.leader().expect("a leader");
    let others: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let (publisher_node, new_home) = (others[0], others[1]);

    let (mut sub, _) = Probe::connect_v3(c.mqtt(leader), "handover-sub", false).await;
    sub.subscribe_v3(1, &[(TOPIC, 1)]).await;
    c.wait_applied(Duration::from_secs(10)).await;

    // The publisher: one QoS 1 message at a time, counting the acknowledged ones.
    let (mut publ, _) = Probe::connect_v3(c.mqtt(publisher_node), "handover-pub", true).await;
    let stop = Arc::new(AtomicBool::new(false));
    let stop_pub = stop.clone();
    let publishing = tokio::spawn(async move {
        let mut acked = Vec::new();
        let mut id = 1u64;
        while !stop_pub.load(Ordering::Relaxed) && id < 5000 {
            let pid = (id % 60000) as u16 + 1;
            publ.publish_v3(TOPIC, id.to_string().as_bytes(), 1, false, Some(pid)).await;
            match publ.recv_within(Duration::from_secs(10)).await {
                Read::Packet(Packet::V3_1_1Puback(a)) if a.packet_id() == pid => acked.push(id),
                other => panic!("no PUBACK for {id}: {other:?}"),
            }
            id += 1;
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        acked
    });

    let mut got = BTreeSet::new();
    drain_ids(&mut sub, &mut got, Duration::from_millis(300)).await;
    let handle = c.nodes[leader].handle.take().expect("running");
    let stopping = tokio::spawn(handle.shutdown(Duration::from_secs(6)));
    // Sent away (3.1.1: the connection closes): resume the session on another node.
    drain_ids(&mut sub, &mut got, Duration::from_secs(10)).await;
    let (mut sub, ack) = Probe::connect_v3(c.mqtt(new_home), "handover-sub", false).await;
    assert!(ack.session_present(), "the session moved with its client");
    drain_ids(&mut sub, &mut got, Duration::from_millis(500)).await;
    stopping.await.expect("shutdown task");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let acked = publishing.await.expect("publisher");
    drain_ids(&mut sub, &mut got, Duration::from_secs(2)).await;

    assert!(acked.len() > 50, "too few messages published: {}", acked.len());
    let missing: Vec<u64> = acked.iter().copied().filter(|id| !got.contains(id)).collect();
    assert!(missing.is_empty(), "acknowledged but never delivered: {missing:?} (of {})", acked.len());
}
