//! Conformance cases from third-party suites (Paho interoperability, Mosquitto's broker tests)
//! that Starling got wrong: a valid CONNECT that crashed the protocol library, ill-formed packets
//! answered instead of closed, and the answer to a PUBLISH with an unknown topic alias. Each test
//! is named after the spec statement it checks.

use std::time::{Duration, Instant};

use mqtt_protocol_core::mqtt::packet::Packet;

use crate::harness::probe::Read;
use crate::harness::{Probe, TestNode};
use crate::proto_util::*;

/// A raw 3.1.1 CONNECT: `flags`, then the payload fields as given (already length-prefixed).
fn connect3_raw(flags: u8, payload: &[&[u8]]) -> Vec<u8> {
    let mut body = mstr(b"MQTT");
    body.extend([4, flags, 0, 30]);
    for f in payload {
        body.extend_from_slice(f);
    }
    raw(0x10, &body)
}

/// A raw 5.0 CONNECT with empty properties (and empty will properties when the will flag is set).
fn connect5_raw(flags: u8, client_id: &[u8], rest: &[&[u8]]) -> Vec<u8> {
    let mut body = mstr(b"MQTT");
    body.extend([5, flags, 0, 30, 0]);
    body.extend(mstr(client_id));
    for f in rest {
        body.extend_from_slice(f);
    }
    raw(0x10, &body)
}

/// Everything the broker sends until it closes (at most 2 s), or `Err` if it stays open.
async fn until_closed(p: &mut Probe) -> Result<Vec<Packet>, Vec<Packet>> {
    let mut seen = Vec::new();
    loop {
        match p.recv_within(Duration::from_secs(2)).await {
            Read::Closed => return Ok(seen),
            Read::Timeout => return Err(seen),
            Read::Packet(pk) => seen.push(pk),
        }
    }
}

/// 3.1.1: send a bad CONNECT and require a close without any CONNACK ([MQTT-3.1.4-1]).
async fn closed_without_connack3(node: &TestNode, bytes: &[u8], what: &str) {
    let mut p = Probe::tcp(node.addr, false).await;
    p.send_raw(bytes).await;
    match until_closed(&mut p).await {
        Ok(seen) => assert!(seen.is_empty(), "{what}: answered {seen:?} before closing"),
        Err(seen) => panic!("{what}: not closed within 2 s; received {seen:?}"),
    }
}

/// 5.0: a malformed CONNECT is closed, at most after a CONNACK with Malformed Packet (0x81).
async fn refused_as_malformed5(node: &TestNode, bytes: &[u8], what: &str) {
    let mut p = Probe::tcp(node.addr, true).await;
    p.send_raw(bytes).await;
    match until_closed(&mut p).await {
        Ok(seen) => {
            for pk in &seen {
                match pk {
                    Packet::V5_0Connack(c) => assert_eq!(c.reason_code() as u8, 0x81, "{what}: {c:?}"),
                    other => panic!("{what}: answered {other:?}"),
                }
            }
        }
        Err(seen) => panic!("{what}: not closed within 2 s; received {seen:?}"),
    }
}

#[tokio::test]
async fn mqtt_3_1_2_11_5_topic_alias_maximum_0_is_accepted() {
    // Topic Alias Maximum = 0 is how a client says "no aliases"; mqtt-protocol-core 0.7.9
    // asserted `lowest <= highest` on it and the client got no CONNACK.
    let node = TestNode::start().await;
    let (mut sub, ack) = open5(node.addr, connect5("tam0", true, 30, vec![p_alias_max(0)], None)).await;
    assert!(crate::harness::probe::connack_ok(&ack), "{:?}", ack.reason_code());
    sub.subscribe_v5(1, &[("tam0/t", 0)], vec![]).await;
    let mut publ = client5(node.addr, "tam0-pub", true, vec![]).await;
    for i in 0..3u8 {
        publ.publish_v5("tam0/t", &[i], 0, false, None, vec![]).await;
        let got = sub.expect_publish_v5().await;
        assert_eq!(got.topic_name(), "tam0/t", "no alias may replace the topic");
        assert_eq!(alias_of(got.props()), None, "the client accepts no topic alias");
    }
    // The broker is still serving after the CONNECT that used to panic.
    assert_eq!(node.broker().metrics.connection_panics.get(), 0);
}

#[tokio::test]
async fn mqtt_1_5_3_2_nul_in_client_id_or_user_name_closes_without_connack() {
    let node = TestNode::start().await;
    closed_without_connack3(&node, &connect3_raw(0x02, &[&mstr(b"a\0b")]), "U+0000 in client id").await;
    let uname = connect3_raw(0x82, &[&mstr(b"cid"), &mstr(b"us\0er")]);
    closed_without_connack3(&node, &uname, "U+0000 in user name").await;
    let will = connect3_raw(0x06, &[&mstr(b"cid"), &mstr(b"wi\0ll"), &mstr(b"x")]);
    closed_without_connack3(&node, &will, "U+0000 in will topic").await;
}

#[tokio::test]
async fn mqtt_1_5_4_2_nul_in_connect_strings_is_malformed_v5() {
    let node = TestNode::start().await;
    refused_as_malformed5(&node, &connect5_raw(0x02, b"a\0b", &[]), "U+0000 in client id").await;
    let uname = connect5_raw(0x82, b"cid", &[&mstr(b"us\0er")]);
    refused_as_malformed5(&node, &uname, "U+0000 in user name").await;
    let will = connect5_raw(0x06, b"cid", &[&[0], &mstr(b"wi\0ll"), &mstr(b"x")]);
    refused_as_malformed5(&node, &will, "U+0000 in will topic").await;
}

#[tokio::test]
async fn mqtt_3_1_4_1_inconsistent_connect_flags_close_without_connack() {
    let node = TestNode::start().await;
    // A user name in the payload, but no user name flag: bytes after the last field.
    let stray_user = connect3_raw(0x02, &[&mstr(b"cid"), &mstr(b"user")]);
    closed_without_connack3(&node, &stray_user, "user name without the user name flag").await;
    // [MQTT-3.1.2-22]: a password flag without the user name flag.
    let pw_only = connect3_raw(0x42, &[&mstr(b"cid"), &mstr(b"pw")]);
    closed_without_connack3(&node, &pw_only, "password flag without user name flag").await;
    // The will flag, a will topic, but no will payload.
    let no_payload = connect3_raw(0x06, &[&mstr(b"cid"), &mstr(b"will/t")]);
    closed_without_connack3(&node, &no_payload, "will flag without will payload").await;
    // A user name flag whose string runs past the packet.
    let short_user = connect3_raw(0x82, &[&mstr(b"cid"), &[0, 9, b'u']]);
    closed_without_connack3(&node, &short_user, "user name longer than the packet").await;
}

#[tokio::test]
async fn mqtt_1_5_4_2_nul_in_subscribe_filter_closes() {
    let node = TestNode::start().await;
    // 5.0: DISCONNECT Malformed Packet, no SUBACK.
    let mut c5 = client5(node.addr, "nulsub5", true, vec![]).await;
    let mut body = vec![0x00, 0x01, 0x00];
    body.extend(mstr(b"a/\0/b"));
    body.push(0x00);
    c5.send_raw(&raw(0x82, &body)).await;
    match until_closed(&mut c5).await {
        Ok(seen) => match seen.as_slice() {
            [Packet::V5_0Disconnect(d)] => assert_eq!(d.reason_code().map(|r| r as u8), Some(0x81)),
            other => panic!("5.0: expected only DISCONNECT 0x81, got {other:?}"),
        },
        Err(seen) => panic!("5.0: not closed; received {seen:?}"),
    }
    // 3.1.1: closed, no SUBACK.
    let mut c3 = client3(node.addr, "nulsub3", true).await;
    let mut body = vec![0x00, 0x01];
    body.extend(mstr(b"a/\0/b"));
    body.push(0x00);
    c3.send_raw(&raw(0x82, &body)).await;
    match until_closed(&mut c3).await {
        Ok(seen) => assert!(seen.is_empty(), "3.1.1: answered {seen:?}"),
        Err(seen) => panic!("3.1.1: not closed; received {seen:?}"),
    }
}

#[tokio::test]
async fn mqtt_3_3_4_empty_topic_with_unset_alias_is_protocol_error() {
    let node = TestNode::start().await;
    // The broker allows aliases (Topic Alias Maximum > 0), alias 1 was never set.
    let mut body = mstr(b"");
    body.extend([3, 0x23, 0x00, 0x01]); // properties: Topic Alias = 1
    body.extend(b"payload");
    let mut c = client5(node.addr, "alias-unset", true, vec![]).await;
    c.send_raw(&raw(0x30, &body)).await;
    assert_eq!(close_reason(&mut c).await, Some(0x82), "never-set alias");
    // An empty topic and no alias at all.
    let mut body = mstr(b"");
    body.push(0);
    body.extend(b"payload");
    let mut c = client5(node.addr, "alias-none", true, vec![]).await;
    c.send_raw(&raw(0x30, &body)).await;
    assert_eq!(close_reason(&mut c).await, Some(0x82), "empty topic without alias");
}

#[tokio::test]
async fn mqtt_1_5_4_2_nul_in_publish_topic_is_malformed_0x81() {
    let node = TestNode::start().await;
    let mut body = mstr(b"a\0b");
    body.push(0);
    body.extend(b"payload");
    let mut c = client5(node.addr, "nultopic", true, vec![]).await;
    c.send_raw(&raw(0x30, &body)).await;
    assert_eq!(close_reason(&mut c).await, Some(0x81));
}

#[tokio::test]
async fn mqtt_3_1_0_1_first_packet_not_connect_closes_at_once() {
    let node = TestNode::start().await;
    // A PUBLISH header declaring a long body: the broker must not wait for the body (or the
    // 10 s connect timeout) to know the first packet is not a CONNECT.
    for first in [&[0x30u8, 0xFF, 0xFF, 0x7F][..], &[0x82, 0x80, 0x01], &[0xC0, 0x00], &[0xE0]] {
        let mut p = Probe::tcp(node.addr, false).await;
        let t0 = Instant::now();
        p.send_raw(first).await;
        match p.recv_within(Duration::from_secs(3)).await {
            Read::Closed => {}
            other => panic!("{first:x?}: expected a close, got {other:?}"),
        }
        assert!(t0.elapsed() < Duration::from_secs(1), "{first:x?}: closed only after {:?}", t0.elapsed());
    }
}

/// A raw MQTT 3.1 CONNECT (`MQIsdp`, level 3), clean session.
fn connect31_raw(client_id: &[u8]) -> Vec<u8> {
    let mut body = mstr(b"MQIsdp");
    body.extend([3, 0x02, 0, 30]);
    body.extend(mstr(client_id));
    raw(0x10, &body)
}

#[tokio::test]
async fn mqtt31_mqisdp_level_3_client_is_accepted() {
    // MQTT 3.1 (what EMQX, Mosquitto, VerneMQ and HiveMQ accept): CONNACK 0, then 3.1.1 rules.
    let node = TestNode::start().await;
    let mut sub = Probe::tcp(node.addr, false).await;
    sub.send_raw(&connect31_raw(b"legacy-device")).await;
    match sub.recv().await {
        Read::Packet(Packet::V3_1_1Connack(c)) => {
            assert_eq!(c.return_code() as u8, 0, "{c:?}");
            assert!(!c.session_present(), "reserved in 3.1");
        }
        other => panic!("expected CONNACK, got {other:?}"),
    }
    // SUBSCRIBE t (QoS 0), then a 3.1.1 client publishes to it.
    let mut body = vec![0x00, 0x01];
    body.extend(mstr(b"legacy/t"));
    body.push(0);
    sub.send_raw(&raw(0x82, &body)).await;
    assert!(matches!(sub.recv().await, Read::Packet(Packet::V3_1_1Suback(_))));
    let mut p = client3(node.addr, "modern", true).await;
    let mut body = mstr(b"legacy/t");
    body.extend(b"hello");
    p.send_raw(&raw(0x30, &body)).await;
    assert_eq!(sub.expect_publish_v3().await.payload().as_slice(), b"hello");
}

#[tokio::test]
async fn mqtt31_empty_client_id_is_identifier_rejected() {
    // 3.1 has no server-assigned ids: an empty one gets CONNACK 2 (as in Mosquitto).
    let node = TestNode::start().await;
    let mut p = Probe::tcp(node.addr, false).await;
    p.send_raw(&connect31_raw(b"")).await;
    match until_closed(&mut p).await {
        Ok(seen) => match seen.as_slice() {
            [Packet::V3_1_1Connack(c)] => assert_eq!(c.return_code() as u8, 2),
            other => panic!("expected CONNACK 2 then close, got {other:?}"),
        },
        Err(seen) => panic!("not closed; received {seen:?}"),
    }
}
