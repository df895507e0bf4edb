//! Bad input: each case closes the offending connection (5.0 with the spec's DISCONNECT reason
//! when one is sent, 3.1.1 with a plain close), and the broker keeps serving other clients.

use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::Packet;

use crate::harness::probe::Read;
use crate::harness::{Probe, TestNode};
use crate::proto_util::*;

/// A bystander subscribed to "alive", connected before the bad client.
async fn bystander(node: &TestNode) -> Probe {
    let mut b = client5(node.addr, "bystander", true, vec![]).await;
    b.subscribe_v5(1, &[("alive", 0)], vec![]).await;
    b
}

/// The broker still routes messages: a new client publishes, the bystander receives.
async fn assert_alive(node: &TestNode, by: &mut Probe) {
    let mut p = client5(node.addr, "checker", true, vec![]).await;
    p.publish_v5("alive", b"still here", 0, false, None, vec![]).await;
    assert_eq!(by.expect_publish_v5().await.payload().as_slice(), b"still here");
}

/// Connect (5.0), send `bytes`, return the DISCONNECT reason (if any) once closed.
async fn bad5(node: &TestNode, bytes: &[u8]) -> Option<u8> {
    let mut c = client5(node.addr, "offender5", true, vec![]).await;
    c.send_raw(bytes).await;
    close_reason(&mut c).await
}

/// Connect (3.1.1), send `bytes`, expect a plain close (no reply at all).
async fn bad3(node: &TestNode, bytes: &[u8]) {
    let mut c = client3(node.addr, "offender3", true).await;
    c.send_raw(bytes).await;
    match c.recv().await {
        Read::Closed => {}
        other => panic!("3.1.1 connection not closed: {other:?}"),
    }
}

/// What the broker did with a bad packet on one connection: `Ok(reason)` once closed (with
/// the DISCONNECT reason if one came first), `Err(what happened instead)`.
async fn outcome(c: &mut Probe) -> Result<Option<u8>, String> {
    let mut reason = None;
    let mut seen = Vec::new();
    loop {
        match c.recv_within(Duration::from_secs(2)).await {
            Read::Closed => return Ok(reason),
            Read::Timeout => return Err(format!("not closed within 2 s; received {seen:?}")),
            Read::Packet(Packet::V5_0Disconnect(d)) => reason = Some(d.reason_code().map(|c| c as u8).unwrap_or(0)),
            Read::Packet(p) => seen.push(format!("{p}")),
        }
    }
}

/// Run one bad input against both versions, reporting each. `want5` is the reason accepted from
/// a 5.0 DISCONNECT (closing without one is allowed too: the spec lets the server just close);
/// 3.1.1 must close without answering.
async fn both(v5: &[u8], v3: &[u8], want5: u8) {
    let node = TestNode::start().await;
    let mut by = bystander(&node).await;
    let mut c5 = client5(node.addr, "offender5", true, vec![]).await;
    c5.send_raw(v5).await;
    let r5 = match outcome(&mut c5).await {
        Ok(None) => Ok(()),
        Ok(Some(rc)) if rc == want5 => Ok(()),
        Ok(Some(rc)) => Err(format!("5.0: DISCONNECT {rc:#x}, expected {want5:#x}")),
        Err(e) => Err(format!("5.0: {e}")),
    };
    let mut c3 = client3(node.addr, "offender3", true).await;
    c3.send_raw(v3).await;
    let r3 = match outcome(&mut c3).await {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("3.1.1: {e}")),
    };
    assert_alive(&node, &mut by).await;
    let errs: Vec<String> = [r5, r3].into_iter().filter_map(Result::err).collect();
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

fn publish5(first: u8, topic: &[u8], pid: Option<u16>) -> Vec<u8> {
    let mut body = mstr(topic);
    if let Some(p) = pid {
        body.extend(p.to_be_bytes());
    }
    body.push(0);
    body.extend(b"payload");
    raw(first, &body)
}

fn publish3(first: u8, topic: &[u8], pid: Option<u16>) -> Vec<u8> {
    let mut body = mstr(topic);
    if let Some(p) = pid {
        body.extend(p.to_be_bytes());
    }
    body.extend(b"payload");
    raw(first, &body)
}

#[tokio::test]
async fn mqtt_3_3_2_2_wildcard_in_publish_topic_0x90() {
    let node = TestNode::start().await;
    let mut by = bystander(&node).await;
    for t in [&b"a/+"[..], b"a/#", b"#"] {
        assert_eq!(bad5(&node, &publish5(0x30, t, None)).await, Some(0x90), "{t:?}");
        bad3(&node, &publish3(0x30, t, None)).await;
    }
    by.expect_silence(QUIET).await;
    assert_alive(&node, &mut by).await;
}

#[tokio::test]
async fn mqtt_1_5_4_1_invalid_utf8_topic_is_malformed() {
    both(&publish5(0x30, b"bad\xff\xfe", None), &publish3(0x30, b"bad\xff\xfe", None), 0x81).await;
}

#[tokio::test]
async fn mqtt_1_5_4_1_utf16_surrogate_in_topic_is_malformed() {
    // U+D800 encoded as UTF-8 (ED A0 80) is not valid UTF-8.
    both(&publish5(0x30, b"a/\xed\xa0\x80", None), &publish3(0x30, b"a/\xed\xa0\x80", None), 0x81).await;
}

#[tokio::test]
async fn mqtt_1_5_4_2_nul_in_topic_is_refused() {
    let node = TestNode::start().await;
    let mut by = bystander(&node).await;
    let rc = bad5(&node, &publish5(0x30, b"a\0b", None)).await;
    assert!(matches!(rc, None | Some(0x81) | Some(0x90)), "{rc:x?}");
    bad3(&node, &publish3(0x30, b"a\0b", None)).await;
    by.expect_silence(QUIET).await;
    assert_alive(&node, &mut by).await;
}

#[tokio::test]
async fn mqtt_1_5_5_malformed_remaining_length_closes() {
    // Five continuation bytes: a remaining length can have at most four.
    let bytes = [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F];
    both(&bytes, &bytes, 0x81).await;
}

#[tokio::test]
async fn truncated_body_inconsistent_with_remaining_length_closes() {
    // PUBLISH claiming a 10-byte topic inside a 4-byte body.
    let bytes = raw(0x30, &[0x00, 0x0A, b'a', b'b']);
    both(&bytes, &bytes, 0x81).await;
}

#[tokio::test]
async fn mqtt_2_2_1_3_qos1_publish_with_packet_id_zero_closes() {
    // 5.0 calls it a Protocol Error (MQTT-2.2.1-3); a malformed-packet close is fine as well.
    let node = TestNode::start().await;
    let mut by = bystander(&node).await;
    let mut c = client5(node.addr, "pid0-5", true, vec![]).await;
    c.send_raw(&publish5(0x32, b"alive", Some(0))).await;
    let r5 = outcome(&mut c).await;
    let mut c = client3(node.addr, "pid0-3", true).await;
    c.send_raw(&publish3(0x32, b"alive", Some(0))).await;
    let r3 = outcome(&mut c).await;
    let leaked = match by.recv_within(QUIET).await {
        Read::Packet(p) => Some(format!("{p}")),
        _ => None,
    };
    let ok5 = matches!(r5, Ok(None) | Ok(Some(0x81)) | Ok(Some(0x82)));
    assert!(ok5 && r3.is_ok() && leaked.is_none(), "5.0: {r5:?}; 3.1.1: {r3:?}; forwarded to a subscriber: {leaked:?}");
}

#[tokio::test]
async fn v311_puback_for_unknown_packet_id_closes() {
    let node = TestNode::start().await;
    let mut by = bystander(&node).await;
    bad3(&node, &raw(0x40, &[0x12, 0x34])).await;
    assert_alive(&node, &mut by).await;
}

#[tokio::test]
async fn v5_puback_for_unknown_packet_id_closes_with_protocol_error() {
    let node = TestNode::start().await;
    let mut by = bystander(&node).await;
    let rc = bad5(&node, &raw(0x40, &[0x12, 0x34])).await;
    assert!(matches!(rc, None | Some(0x82)), "{rc:x?}");
    assert_alive(&node, &mut by).await;
}

#[tokio::test]
async fn v5_pubrel_for_unknown_packet_id_gets_pubcomp_0x92() {
    let node = TestNode::start().await;
    let mut c = client5(node.addr, "relx", true, vec![]).await;
    pubrel5(&mut c, 77).await;
    match c.expect().await {
        Packet::V5_0Pubcomp(p) => {
            assert_eq!(p.packet_id(), 77);
            assert_eq!(p.reason_code().map(|r| r as u8), Some(0x92), "Packet Identifier not found");
        }
        other => panic!("expected PUBCOMP, got {other:?}"),
    }
}

#[tokio::test]
async fn mqtt_2_1_2_reserved_packet_type_0_closes() {
    both(&[0x00, 0x00], &[0x00, 0x00], 0x81).await;
}

#[tokio::test]
async fn v311_auth_packet_type_15_closes() {
    let node = TestNode::start().await;
    let mut by = bystander(&node).await;
    bad3(&node, &[0xF0, 0x00]).await;
    assert_alive(&node, &mut by).await;
}

#[tokio::test]
async fn server_to_client_packet_from_client_closes() {
    // A CONNACK sent by a client: a Protocol Error (5.0) / forbidden direction (3.1.1).
    let node = TestNode::start().await;
    let mut by = bystander(&node).await;
    let mut c = client5(node.addr, "cack5", true, vec![]).await;
    c.send_raw(&raw(0x20, &[0x00, 0x00, 0x00])).await;
    let r5 = outcome(&mut c).await;
    let mut c = client3(node.addr, "cack3", true).await;
    c.send_raw(&raw(0x20, &[0x00, 0x00])).await;
    let r3 = outcome(&mut c).await;
    assert_alive(&node, &mut by).await;
    let ok5 = matches!(r5, Ok(None) | Ok(Some(0x81)) | Ok(Some(0x82)));
    assert!(ok5 && r3.is_ok(), "5.0: {r5:?}; 3.1.1: {r3:?}");
}

#[tokio::test]
async fn mqtt_4_12_v5_auth_without_authentication_method_is_protocol_error() {
    let node = TestNode::start().await;
    let mut by = bystander(&node).await;
    assert_eq!(bad5(&node, &[0xF0, 0x00]).await, Some(0x82));
    assert_alive(&node, &mut by).await;
}

#[tokio::test]
async fn mqtt_3_8_1_1_subscribe_with_reserved_flags_wrong_closes() {
    // SUBSCRIBE must have flags 0010; send 0000.
    let mut v5 = vec![0x00, 0x01, 0x00];
    v5.extend(mstr(b"alive"));
    v5.push(0);
    let mut v3 = vec![0x00, 0x01];
    v3.extend(mstr(b"alive"));
    v3.push(0);
    both(&raw(0x80, &v5), &raw(0x80, &v3), 0x81).await;
}

#[tokio::test]
async fn mqtt_3_6_1_1_pubrel_with_reserved_flags_wrong_closes() {
    both(&raw(0x60, &[0x00, 0x01]), &raw(0x60, &[0x00, 0x01]), 0x81).await;
}

#[tokio::test]
async fn mqtt_2_1_3_1_pingreq_with_flags_set_closes() {
    both(&[0xC1, 0x00], &[0xC1, 0x00], 0x81).await;
}

#[tokio::test]
async fn mqtt_3_3_1_4_publish_with_qos_3_closes() {
    both(&publish5(0x36, b"alive", Some(1)), &publish3(0x36, b"alive", Some(1)), 0x81).await;
}

#[tokio::test]
async fn mqtt_3_8_3_3_subscribe_without_filters_closes() {
    // MQTT-3.8.3-2 (5.0): a Protocol Error.
    both(&raw(0x82, &[0x00, 0x01, 0x00]), &raw(0x82, &[0x00, 0x01]), 0x82).await;
}

#[tokio::test]
async fn mqtt_3_10_3_2_unsubscribe_without_filters_closes() {
    // MQTT-3.10.3-2 (5.0): a Protocol Error.
    both(&raw(0xA2, &[0x00, 0x01, 0x00]), &raw(0xA2, &[0x00, 0x01]), 0x82).await;
}

#[tokio::test]
async fn mqtt_3_8_3_5_subscribe_options_reserved_bits_close() {
    let mut v5 = vec![0x00, 0x01, 0x00];
    v5.extend(mstr(b"alive"));
    v5.push(0xC0); // reserved bits 6-7 set
    let mut v3 = vec![0x00, 0x01];
    v3.extend(mstr(b"alive"));
    v3.push(0x03); // QoS 3
    both(&raw(0x82, &v5), &raw(0x82, &v3), 0x81).await;
}

/// CONNECT with the reserved flag (bit 0) set, clean start.
fn reserved_connect(level: u8) -> Vec<u8> {
    let mut body = mstr(b"MQTT");
    body.extend([level, 0x03, 0, 30]);
    if level == 5 {
        body.push(0);
    }
    body.extend(mstr(b"rsv"));
    raw(0x10, &body)
}

#[tokio::test]
async fn mqtt_3_1_2_3_v5_connect_reserved_flag_is_malformed() {
    let node = TestNode::start().await;
    let mut by = bystander(&node).await;
    let mut p = Probe::tcp(node.addr, true).await;
    p.send_raw(&reserved_connect(5)).await;
    loop {
        match p.recv().await {
            Read::Closed => break,
            // 5.0 may answer a malformed CONNECT with CONNACK 0x81 before closing.
            Read::Packet(Packet::V5_0Connack(c)) => assert_eq!(c.reason_code() as u8, 0x81),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_alive(&node, &mut by).await;
}

#[tokio::test]
async fn mqtt_3_1_2_3_v311_connect_reserved_flag_closes_without_connack() {
    let node = TestNode::start().await;
    let mut by = bystander(&node).await;
    let mut p = Probe::tcp(node.addr, false).await;
    p.send_raw(&reserved_connect(4)).await;
    match p.recv().await {
        Read::Closed => {}
        other => panic!("expected a plain close, got {other:?}"),
    }
    assert_alive(&node, &mut by).await;
}

#[tokio::test]
async fn topic_longer_than_configured_maximum_is_refused() {
    let node = TestNode::start_with(|c| {
        c.mqtt.max_topic_length = 16;
        c.mqtt.max_topic_levels = 3;
    })
    .await;
    let mut by = bystander(&node).await;
    let rc = bad5(&node, &publish5(0x30, b"this/topic/is/far/too/long", None)).await;
    assert_eq!(rc, Some(0x90));
    let rc = bad5(&node, &publish5(0x30, b"a/b/c/d", None)).await;
    assert_eq!(rc, Some(0x90), "more levels than allowed");
    let mut s = client5(node.addr, "longsub", true, vec![]).await;
    assert_eq!(s.subscribe_v5(1, &[("a/b/c/#", 0)], vec![]).await, vec![0x8F]);
    assert_alive(&node, &mut by).await;
}

#[tokio::test]
async fn garbage_before_connect_never_crashes_the_broker() {
    let node = TestNode::start().await;
    let mut by = bystander(&node).await;
    for junk in [&b"GET / HTTP/1.1\r\n\r\n"[..], &[0xFF; 64], &[0x10, 0x00], &[0x10, 0x02, 0x00, 0x04]] {
        let mut p = Probe::tcp(node.addr, true).await;
        p.send_raw(junk).await;
        match p.recv().await {
            Read::Closed => {}
            // Partial CONNECT: closed at the connect timeout at the latest; here, a quick check.
            Read::Timeout => {}
            Read::Packet(Packet::V5_0Connack(c)) => assert!(c.reason_code() as u8 >= 0x80),
            other => panic!("{junk:?}: unexpected {other:?}"),
        }
    }
    assert_alive(&node, &mut by).await;
}
