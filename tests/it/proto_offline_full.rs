//! A persistent session whose client is away and whose queue is full (`session.max_queued`)
//! makes no room until the client returns, so the broker must not hold a publish waiting for it
//! (`session.publisher_wait`): the message is dropped for that session at once and everyone
//! else keeps getting it. Waiting held every later publish of the node behind the full queue
//! (one message per `publisher_wait`), and with it every connected subscriber on that node —
//! as scripts/k8s-scenarios found, where an earlier scenario's subscribers had gone away.

use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::{Packet, Property, SessionExpiryInterval};
use mqtt_protocol_core::mqtt::result_code::DisconnectReasonCode;
use starling::metrics::DropReason;

use crate::harness::probe::{Read, connack_ok};
use crate::harness::{Probe, TestNode};

const MAX_QUEUED: usize = 5;
const MESSAGES: u16 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_of_an_offline_session_holds_no_publish() {
    let node = TestNode::start_with(|c| {
        c.session.max_queued = MAX_QUEUED;
        // Far longer than the test's bound: waiting for the offline session even once shows.
        c.session.publisher_wait = Duration::from_secs(30);
    })
    .await;
    let expiry = vec![Property::SessionExpiryInterval(SessionExpiryInterval::new(300).expect("expiry"))];
    let (mut away, ack) = Probe::connect_v5(node.addr, "away", true, expiry).await;
    assert!(connack_ok(&ack));
    away.subscribe_v5(1, &[("full/#", 1)], vec![]).await;
    away.disconnect_v5(DisconnectReasonCode::NormalDisconnection).await;
    // The broker closes the socket once the session is detached: from then on it is away.
    away.expect_close().await;

    let (mut here, ack) = Probe::connect_v5(node.addr, "here", true, vec![]).await;
    assert!(connack_ok(&ack));
    here.subscribe_v5(1, &[("full/#", 0)], vec![]).await;
    let (mut publ, ack) = Probe::connect_v5(node.addr, "full-pub", true, vec![]).await;
    assert!(connack_ok(&ack));

    for pid in 1..=MESSAGES {
        publ.publish_v5("full/t", format!("m{pid}").as_bytes(), 1, false, Some(pid), vec![]).await;
        match publ.recv_within(Duration::from_secs(5)).await {
            Read::Packet(Packet::V5_0Puback(a)) => assert_eq!(a.packet_id(), pid),
            other => panic!(
                "publish {pid}: no PUBACK within 5 s, the broker waits for the offline session's \
                 full queue ({MAX_QUEUED} messages): {other:?}"
            ),
        }
        match here.recv_within(Duration::from_secs(5)).await {
            Read::Packet(Packet::V5_0Publish(p)) => assert_eq!(p.payload().as_slice(), format!("m{pid}").as_bytes()),
            other => panic!("the connected subscriber did not get message {pid} within 5 s: {other:?}"),
        }
    }
    let dropped = node.broker().metrics.dropped_count(DropReason::QueueFull);
    assert!(
        dropped >= u64::from(MESSAGES) - MAX_QUEUED as u64,
        "{dropped} messages counted as dropped for the full offline queue, expected at least {}",
        usize::from(MESSAGES) - MAX_QUEUED
    );
}
