//! Races between a connection's end and what comes next: session state that must not be
//! reused after a clean session, and a will that must not go out after a normal DISCONNECT.
//! Each case is looped, because the wrong answer depended on which task ran first.

use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::{Packet, v3_1_1};

use crate::harness::TestNode;
use crate::harness::probe::Read;
use crate::proto_util::*;

const ROUNDS: usize = 30;

fn disconnect3() -> Vec<u8> {
    v3_1_1::Disconnect::builder().build().expect("disconnect").to_continuous_buffer()
}

#[tokio::test]
async fn mqtt_3_1_2_6_clean_then_persistent_has_no_session() {
    // persistent → clean → persistent with one client id: the clean session replaced the stored
    // one and ended with its connection, so the third CONNACK must say Session Present 0 —
    // also when the third CONNECT arrives before the broker has finished closing the second.
    let node = TestNode::start().await;
    for i in 0..ROUNDS {
        let id = format!("pcp-{i}");
        let (mut a, ack) = open3(node.addr, connect3(&id, false, 30, None)).await;
        assert!(!ack.session_present());
        a.send_raw(&disconnect3()).await;
        assert!(matches!(a.recv().await, Read::Closed));
        let (mut b, ack) = open3(node.addr, connect3(&id, true, 30, None)).await;
        assert!(!ack.session_present(), "round {i}: clean session reports a session");
        // DISCONNECT and reconnect at once, without waiting for the close.
        b.send_raw(&disconnect3()).await;
        let (_c, ack) = open3(node.addr, connect3(&id, false, 30, None)).await;
        assert!(!ack.session_present(), "round {i}: MQTT-3.1.2-6: the clean session must not be resumed");
        drop(b);
    }
}

#[tokio::test]
async fn mqtt_3_2_2_3_clean_session_taken_over_by_persistent_has_no_session() {
    // A clean session's state lasts as long as its connection; taking the connection over with
    // Clean Session 0 closes it, so there is no session to resume (Session Present 0).
    let node = TestNode::start().await;
    for i in 0..ROUNDS {
        let id = format!("ctp-{i}");
        let (_a, ack) = open3(node.addr, connect3(&id, true, 30, None)).await;
        assert!(!ack.session_present());
        let (_b, ack) = open3(node.addr, connect3(&id, false, 30, None)).await;
        assert!(!ack.session_present(), "round {i}: MQTT-3.2.2-3: a clean session was resumed");
        // 5.0: Session Expiry 0 is the same.
        let id5 = format!("ctp5-{i}");
        let (_a, ack) = open5(node.addr, connect5(&id5, true, 30, vec![], None)).await;
        assert!(!ack.session_present());
        let (_b, ack) = open5(node.addr, connect5(&id5, false, 30, vec![p_session_expiry(60)], None)).await;
        assert!(!ack.session_present(), "round {i}: 5.0: a session with expiry 0 was resumed");
    }
}

#[tokio::test]
async fn mqtt_3_14_4_3_no_will_after_publish_then_disconnect() {
    // The client publishes to a topic it subscribes to, sends DISCONNECT and closes without
    // reading: its kernel answers the deliveries still arriving with a reset. The DISCONNECT was
    // sent first, so the broker must honour it (no will) even when a write fails first.
    let node = TestNode::start().await;
    let mut w = client5(node.addr, "race-watch", true, vec![]).await;
    w.subscribe_v5(1, &[("rwill/#", 0)], vec![]).await;
    let mut spam = client5(node.addr, "race-spam", true, vec![]).await;
    for i in 0..ROUNDS {
        let id = format!("race-{i}");
        let spec = will(&format!("rwill/{i}"), b"will", vec![]);
        let (mut c, ack) = open5(node.addr, connect5(&id, true, 30, vec![], Some(spec))).await;
        assert!(crate::harness::probe::connack_ok(&ack));
        c.subscribe_v5(1, &[(format!("self/{i}").as_str(), 0)], vec![]).await;
        // Another client keeps the broker writing to this one while it leaves.
        let mut burst = Vec::new();
        for _ in 0..100 {
            burst.extend(publish_bytes5(&format!("self/{i}"), &[b'x'; 4096]));
        }
        spam.send_raw(&burst).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        c.send_raw(&[0xE0, 0x00]).await;
        drop(c);
    }
    match w.recv_within(Duration::from_secs(2)).await {
        Read::Timeout => {}
        Read::Packet(Packet::V5_0Publish(p)) => {
            panic!("MQTT-3.14.4-3: will published after DISCONNECT: {}", p.topic_name())
        }
        other => panic!("watcher: {other:?}"),
    }
}

/// A QoS 0 5.0 PUBLISH without properties.
fn publish_bytes5(topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = mstr(topic.as_bytes());
    body.push(0);
    body.extend_from_slice(payload);
    raw(0x30, &body)
}
