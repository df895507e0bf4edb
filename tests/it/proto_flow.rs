//! Flow control (Receive Maximum both ways, `session.max_inflight`) and Maximum Packet Size
//! both ways.

use mqtt_protocol_core::mqtt::packet::{GenericPacketTrait, Packet, v3_1_1};

use crate::harness::TestNode;
use crate::harness::probe::Read;
use crate::proto_util::*;

#[tokio::test]
async fn mqtt_3_3_4_9_broker_respects_client_receive_maximum() {
    let node = TestNode::start().await;
    let mut s = client5(node.addr, "rm", true, vec![p_receive_max(2)]).await;
    s.subscribe_v5(1, &[("rm", 1)], vec![]).await;
    let mut p = client5(node.addr, "rmp", true, vec![]).await;
    for i in 1..=5u16 {
        p.publish_v5("rm", &[i as u8], 1, false, Some(i), vec![]).await;
        expect_puback5(&mut p, i).await;
    }
    let first = drain_publishes5(&mut s, QUIET, false).await;
    assert_eq!(first.len(), 2, "only Receive Maximum unacknowledged QoS 1 PUBLISHes");
    puback5(&mut s, first[0].packet_id().expect("pid")).await;
    let next = drain_publishes5(&mut s, QUIET, false).await;
    assert_eq!(next.len(), 1, "one ack frees one slot");
    puback5(&mut s, first[1].packet_id().expect("pid")).await;
    puback5(&mut s, next[0].packet_id().expect("pid")).await;
    let rest = drain_publishes5(&mut s, QUIET, true).await;
    let mut all: Vec<u8> = first.iter().chain(&next).chain(&rest).map(|m| m.payload().as_slice()[0]).collect();
    all.sort();
    assert_eq!(all, vec![1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn v311_inflight_bounded_by_session_max_inflight() {
    let node = TestNode::start_with(|c| c.session.max_inflight = 2).await;
    let mut s = client3(node.addr, "mi3", true).await;
    s.subscribe_v3(1, &[("mi", 1)]).await;
    let mut p = client3(node.addr, "mi3p", true).await;
    for i in 1..=4u16 {
        p.publish_v3("mi", &[i as u8], 1, false, Some(i)).await;
        assert!(matches!(p.expect().await, Packet::V3_1_1Puback(_)));
    }
    let a = s.expect_publish_v3().await;
    let _b = s.expect_publish_v3().await;
    s.expect_silence(QUIET).await;
    puback3(&mut s, a.packet_id().expect("pid")).await;
    assert_eq!(s.expect_publish_v3().await.payload().as_slice(), &[3]);
}

/// A full window acknowledged in one write (the acknowledgements of one read are completed
/// together) frees the whole window: the next messages follow, in order.
#[tokio::test]
async fn v311_window_acked_in_one_write_is_refilled_in_order() {
    let node = TestNode::start_with(|c| c.session.max_inflight = 3).await;
    let mut s = client3(node.addr, "wa3", true).await;
    s.subscribe_v3(1, &[("wa", 1)]).await;
    let mut p = client3(node.addr, "wa3p", true).await;
    for i in 1..=7u16 {
        p.publish_v3("wa", &[i as u8], 1, false, Some(i)).await;
        assert!(matches!(p.expect().await, Packet::V3_1_1Puback(_)));
    }
    let mut got = Vec::new();
    for _ in 0..2 {
        let mut acks = Vec::new();
        for _ in 0..3 {
            let m = s.expect_publish_v3().await;
            got.push(m.payload().as_slice()[0]);
            let ack = v3_1_1::Puback::builder().packet_id(m.packet_id().expect("pid")).build().expect("puback");
            acks.extend(Packet::from(ack).to_continuous_buffer());
        }
        s.expect_silence(QUIET).await;
        s.send_raw(&acks).await;
    }
    got.push(s.expect_publish_v3().await.payload().as_slice()[0]);
    assert_eq!(got, vec![1, 2, 3, 4, 5, 6, 7]);
}

/// A full in-flight window holds back QoS 1 messages until an acknowledgement comes, but not a
/// QoS 0 one, which goes out at once.
#[tokio::test]
async fn v311_qos0_is_sent_while_the_window_is_full() {
    let node = TestNode::start_with(|c| c.session.max_inflight = 1).await;
    let mut s = client3(node.addr, "wq3", true).await;
    s.subscribe_v3(1, &[("wq/#", 1)]).await;
    let mut p = client3(node.addr, "wq3p", true).await;
    p.publish_v3("wq/1", &[1], 1, false, Some(1)).await;
    assert!(matches!(p.expect().await, Packet::V3_1_1Puback(_)));
    let first = s.expect_publish_v3().await;
    assert_eq!(first.payload().as_slice(), &[1]);
    // The window (1) is full: the next QoS 1 message waits for the acknowledgement.
    p.publish_v3("wq/2", &[2], 1, false, Some(2)).await;
    assert!(matches!(p.expect().await, Packet::V3_1_1Puback(_)));
    s.expect_silence(QUIET).await;
    puback3(&mut s, first.packet_id().expect("pid")).await;
    let second = s.expect_publish_v3().await;
    assert_eq!(second.payload().as_slice(), &[2]);
    // Window full again; a QoS 0 message is delivered without waiting for it.
    p.publish_v3("wq/3", &[3], 0, false, None).await;
    let third = s.expect_publish_v3().await;
    assert_eq!(third.payload().as_slice(), &[3]);
    assert_eq!(third.packet_id(), None);
    puback3(&mut s, second.packet_id().expect("pid")).await;
    s.expect_silence(QUIET).await;
}

#[tokio::test]
async fn mqtt_3_3_4_8_client_exceeding_server_receive_maximum_disconnected_0x93() {
    let node = TestNode::start_with(|c| c.mqtt.receive_maximum = 2).await;
    let mut other = client5(node.addr, "rmo", true, vec![]).await;
    let mut p = client5(node.addr, "rmx", true, vec![]).await;
    // QoS 2 stays unacknowledged until PUBREL/PUBCOMP: three at once exceed 2.
    for i in 1..=3u16 {
        p.publish_v5("rmx", b"x", 2, false, Some(i), vec![]).await;
    }
    assert_eq!(close_reason(&mut p).await, Some(0x93));
    assert!(sync5(&mut other).await.is_empty());
}

#[tokio::test]
async fn qos1_acked_immediately_never_exceeds_server_receive_maximum() {
    let node = TestNode::start_with(|c| c.mqtt.receive_maximum = 2).await;
    let mut p = client5(node.addr, "rm1", true, vec![]).await;
    // Three QoS 1 PUBLISHes in one write: each is PUBACKed before the next is read.
    let mut bytes = Vec::new();
    for i in 1..=3u16 {
        let m = mqtt_protocol_core::mqtt::packet::v5_0::Publish::builder()
            .topic_name("rm1")
            .expect("t")
            .qos(mqtt_protocol_core::mqtt::packet::Qos::AtLeastOnce)
            .packet_id(i)
            .payload(b"x".to_vec())
            .build()
            .expect("publish");
        bytes.extend(Packet::from(m).to_continuous_buffer());
    }
    p.send_raw(&bytes).await;
    for i in 1..=3u16 {
        expect_puback5(&mut p, i).await;
    }
}

#[tokio::test]
async fn mqtt_3_2_2_15_v5_oversized_packet_disconnects_0x95() {
    let node = TestNode::start_with(|c| c.mqtt.max_packet_size = 256).await;
    let mut other = client5(node.addr, "bigo", true, vec![]).await;
    other.subscribe_v5(1, &[("big", 0)], vec![]).await;
    let mut p = client5(node.addr, "big5", true, vec![]).await;
    p.publish_v5("big", &[b'x'; 1000], 0, false, None, vec![]).await;
    assert_eq!(close_reason(&mut p).await, Some(0x95));
    // Nothing of it was delivered, and the broker serves others.
    assert!(sync5(&mut other).await.is_empty());
    let mut q = client5(node.addr, "big5b", true, vec![]).await;
    q.publish_v5("big", b"small", 0, false, None, vec![]).await;
    assert_eq!(other.expect_publish_v5().await.payload().as_slice(), b"small");
}

#[tokio::test]
async fn v311_oversized_packet_closes() {
    let node = TestNode::start_with(|c| c.mqtt.max_packet_size = 256).await;
    let mut p = client3(node.addr, "big3", true).await;
    p.publish_v3("big", &[b'x'; 1000], 0, false, None).await;
    assert!(matches!(p.recv().await, Read::Closed));
}

#[tokio::test]
async fn oversized_connect_is_closed_without_connack() {
    let node = TestNode::start_with(|c| c.mqtt.max_packet_size = 128).await;
    let long_id = "c".repeat(400);
    let mut p = crate::harness::Probe::tcp(node.addr, true).await;
    p.send(connect5(&long_id, true, 30, vec![], None)).await;
    assert!(matches!(p.recv().await, Read::Closed));
}

#[tokio::test]
async fn mqtt_3_1_2_25_message_over_client_maximum_packet_size_dropped_for_that_client_only() {
    let node = TestNode::start().await;
    let mut small = client5(node.addr, "mps", true, vec![p_max_packet(100), p_receive_max(1)]).await;
    small.subscribe_v5(1, &[("mps", 1)], vec![]).await;
    let mut big = client5(node.addr, "mpb", true, vec![]).await;
    big.subscribe_v5(1, &[("mps", 1)], vec![]).await;
    let mut p = client5(node.addr, "mpp", true, vec![]).await;
    p.publish_v5("mps", &[b'y'; 500], 1, false, Some(1), vec![]).await;
    expect_puback5(&mut p, 1).await;
    p.publish_v5("mps", b"tiny", 1, false, Some(2), vec![]).await;
    expect_puback5(&mut p, 2).await;
    let got_big = drain_publishes5(&mut big, QUIET, true).await;
    assert_eq!(got_big.len(), 2, "the unlimited subscriber gets both");
    assert_eq!(got_big[0].payload().len(), 500);
    // The small client: the large one is skipped (and does not hold its only in-flight slot).
    let got_small = drain_publishes5(&mut small, QUIET, true).await;
    let payloads: Vec<&[u8]> = got_small.iter().map(|m| m.payload().as_slice()).collect();
    assert_eq!(payloads, vec![&b"tiny"[..]]);
}
