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

#[tokio::test]
async fn mqtt_4_13_2_disconnect_reason_arrives_while_the_client_still_sends() {
    // The broker ends the connection with DISCONNECT 0x93 while the client's publishes are
    // still arriving. Closing with them unread would reset the connection (the client's next
    // write fails, and the reason can be lost); the broker shuts down its side and reads the
    // rest away for a bounded time instead, so the client reads the reason, then EOF, and its
    // writes meanwhile do not fail.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let node = TestNode::start_with(|c| c.mqtt.receive_maximum = 2).await;
    for round in 0..5 {
        let mut p = client5(node.addr, &format!("gc-{round}"), true, vec![]).await;
        let mut burst = Vec::new();
        for i in 1..=40u16 {
            let mut body = mstr(b"gc/t");
            body.extend(i.to_be_bytes());
            body.push(0);
            body.extend_from_slice(&[b'p'; 2048]);
            burst.extend(raw(0x34, &body)); // QoS 2
        }
        p.stream.write_all(&burst).await.expect("burst");
        // Read until the DISCONNECT, writing more meanwhile.
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        let reason = loop {
            if let Some(at) = got.windows(2).position(|w| w[0] == 0xE0) {
                if let Some(rc) = got.get(at + 2) {
                    break *rc;
                }
            }
            let n = tokio::time::timeout_at(deadline, p.stream.read(&mut buf))
                .await
                .expect("DISCONNECT within 3 s")
                .unwrap_or_else(|e| panic!("round {round}: read failed before the DISCONNECT: {e}"));
            assert!(n > 0, "round {round}: closed before a DISCONNECT; got {got:x?}");
            got.extend_from_slice(&buf[..n]);
        };
        assert_eq!(reason, 0x93, "round {round}");
        // The broker is draining: more writes are accepted, then it closes cleanly (EOF).
        for _ in 0..3 {
            p.stream.write_all(&[0xC0, 0x00]).await.unwrap_or_else(|e| panic!("round {round}: write reset: {e}"));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let eof = tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                match p.stream.read(&mut buf).await {
                    Ok(0) => return Ok(()),
                    Ok(_) => continue,
                    Err(e) => return Err(e),
                }
            }
        })
        .await
        .expect("closed within the linger time");
        assert!(eof.is_ok(), "round {round}: reset instead of EOF: {eof:?}");
    }
}
