//! Helpers shared by the persistence tests: session expiry properties, a pipelined QoS 1
//! publisher, in-order receivers that acknowledge what they get, and a wait for the broker to
//! have let go of every connection.

#![allow(dead_code)]

use std::sync::atomic::Ordering;
use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::{Packet, Property, Qos, SessionExpiryInterval, v3_1_1, v5_0};
use mqtt_protocol_core::mqtt::result_code::{DisconnectReasonCode, PubackReasonCode};

use crate::harness::{Probe, TestNode, wait_for};

pub fn expiry(secs: u32) -> Vec<Property> {
    vec![Property::SessionExpiryInterval(SessionExpiryInterval::new(secs).expect("expiry property"))]
}

/// Wait until the broker has finished every connection (the session is detached).
pub async fn wait_idle(node: &TestNode) {
    let b = node.broker().clone();
    wait_for("all connections to end", Duration::from_secs(5), || b.connections.load(Ordering::Relaxed) == 0).await;
}

/// Disconnect normally and wait for the broker to close the socket.
pub async fn bye_v5(mut p: Probe) {
    p.disconnect_v5(DisconnectReasonCode::NormalDisconnection).await;
    p.expect_close().await;
}

pub async fn bye_v3(mut p: Probe) {
    p.send(v3_1_1::Disconnect::new()).await;
    p.expect_close().await;
}

/// The payload of the i-th test message.
pub fn msg(i: usize) -> Vec<u8> {
    format!("m{i:05}").into_bytes()
}

/// Publish `count` QoS 1 messages (payloads [`msg`]) on `topic` from a fresh 5.0 client,
/// pipelined in windows of 100, and check that every PUBACK reports success (so every message
/// reached a session). Disconnects afterwards.
pub async fn publish_qos1_v5(addr: std::net::SocketAddr, topic: &str, count: usize) {
    let (mut p, ack) = Probe::connect_v5(addr, "publisher", true, vec![]).await;
    assert!(crate::harness::probe::connack_ok(&ack));
    let mut next = 0usize;
    while next < count {
        let end = (next + 100).min(count);
        for i in next..end {
            let pid = u16::try_from(i % 60000 + 1).expect("pid");
            p.publish_v5(topic, &msg(i), 1, false, Some(pid), vec![]).await;
        }
        for i in next..end {
            match p.expect().await {
                Packet::V5_0Puback(a) => {
                    assert_eq!(usize::from(a.packet_id()), i % 60000 + 1);
                    let rc = a.reason_code().unwrap_or(PubackReasonCode::Success);
                    assert_eq!(rc, PubackReasonCode::Success, "message {i} was not queued for the subscriber");
                }
                other => panic!("expected PUBACK for message {i}, got {other:?}"),
            }
        }
        next = end;
    }
    bye_v5(p).await;
}

pub async fn puback_v5(p: &mut Probe, pid: u16) {
    p.send(v5_0::Puback::builder().packet_id(pid).build().expect("puback")).await;
}

pub async fn puback_v3(p: &mut Probe, pid: u16) {
    p.send(v3_1_1::Puback::builder().packet_id(pid).build().expect("puback")).await;
}

/// Receive messages `from..to` on `topic` in order at QoS 1 and acknowledge each.
pub async fn expect_in_order_v5(p: &mut Probe, topic: &str, from: usize, to: usize) {
    for i in from..to {
        let m = p.expect_publish_v5().await;
        assert_eq!(m.topic_name(), topic);
        assert_eq!(
            String::from_utf8_lossy(m.payload().as_slice()),
            String::from_utf8_lossy(&msg(i)),
            "message {i} out of order or missing"
        );
        assert_eq!(m.qos(), Qos::AtLeastOnce, "message {i}");
        puback_v5(p, m.packet_id().expect("QoS 1 has a packet id")).await;
    }
}

pub async fn expect_in_order_v3(p: &mut Probe, topic: &str, from: usize, to: usize) {
    for i in from..to {
        let m = p.expect_publish_v3().await;
        assert_eq!(m.topic_name(), topic);
        assert_eq!(
            String::from_utf8_lossy(m.payload().as_slice()),
            String::from_utf8_lossy(&msg(i)),
            "message {i} out of order or missing"
        );
        assert_eq!(m.qos(), Qos::AtLeastOnce, "message {i}");
        puback_v3(p, m.packet_id().expect("QoS 1 has a packet id")).await;
    }
}

/// Round trip a PINGREQ: everything sent before it has been processed by the broker.
pub async fn barrier_v5(p: &mut Probe) {
    p.send(v5_0::Pingreq::new()).await;
    loop {
        match p.expect().await {
            Packet::V5_0Pingresp(_) => return,
            Packet::V5_0Publish(m) => panic!("unexpected PUBLISH before PINGRESP: {m:?}"),
            _ => {}
        }
    }
}

pub async fn barrier_v3(p: &mut Probe) {
    p.send(v3_1_1::Pingreq::new()).await;
    loop {
        match p.expect().await {
            Packet::V3_1_1Pingresp(_) => return,
            Packet::V3_1_1Publish(m) => panic!("unexpected PUBLISH before PINGRESP: {m:?}"),
            _ => {}
        }
    }
}
