//! CONNECT / CONNACK: the properties the server announces or grants, client identifiers,
//! keep alive, the connect timeout and the rules about the first and a second CONNECT.

use std::time::{Duration, Instant};

use mqtt_protocol_core::mqtt::packet::{Packet, Property};
use mqtt_protocol_core::mqtt::result_code::{ConnectReasonCode, ConnectReturnCode};

use crate::harness::probe::{Read, connack_ok};
use crate::harness::{Probe, TestNode};
use crate::proto_util::*;

fn find<T>(props: &[Property], f: impl Fn(&Property) -> Option<T>) -> Option<T> {
    props.iter().find_map(f)
}

#[tokio::test]
async fn mqtt_3_2_2_session_expiry_capped_by_server_is_returned_in_connack() {
    let node = TestNode::start_with(|c| {
        c.session.max_session_expiry = Duration::from_secs(10);
    })
    .await;
    let (_p, ack) = open5(node.addr, connect5("cap", true, 30, vec![p_session_expiry(3600)], None)).await;
    assert!(connack_ok(&ack));
    assert_eq!(
        session_expiry_of(ack.props()),
        Some(10),
        "CONNACK must carry the Session Expiry Interval the server uses: {:?}",
        ack.props()
    );
    // A request under the cap is used as is (no need to tell the client).
    let (_q, ack) = open5(node.addr, connect5("nocap", true, 30, vec![p_session_expiry(5)], None)).await;
    assert!(matches!(session_expiry_of(ack.props()), None | Some(5)));
}

#[tokio::test]
async fn v5_connack_announces_receive_maximum_packet_size_and_topic_alias_maximum() {
    let node = TestNode::start_with(|c| {
        c.mqtt.receive_maximum = 7;
        c.mqtt.max_packet_size = 4096;
        c.mqtt.topic_alias_maximum = 5;
    })
    .await;
    let (_p, ack) = open5(node.addr, connect5("caps", true, 30, vec![], None)).await;
    assert!(connack_ok(&ack));
    let props = ack.props();
    let rm = find(props, |p| match p {
        Property::ReceiveMaximum(v) => Some(v.val()),
        _ => None,
    });
    let mps = find(props, |p| match p {
        Property::MaximumPacketSize(v) => Some(v.val()),
        _ => None,
    });
    let tam = find(props, |p| match p {
        Property::TopicAliasMaximum(v) => Some(v.val()),
        _ => None,
    });
    assert_eq!(rm, Some(7), "Receive Maximum in CONNACK: {props:?}");
    assert_eq!(mps, Some(4096), "Maximum Packet Size in CONNACK: {props:?}");
    assert_eq!(tam, Some(5), "Topic Alias Maximum in CONNACK: {props:?}");
}

#[tokio::test]
async fn v5_connack_announces_maximum_qos_when_limited() {
    let node = TestNode::start_with(|c| c.mqtt.max_qos = 1).await;
    let (_p, ack) = open5(node.addr, connect5("mq", true, 30, vec![], None)).await;
    let mq = find(ack.props(), |p| match p {
        Property::MaximumQos(v) => Some(v.val()),
        _ => None,
    });
    assert_eq!(mq, Some(1));
}

#[tokio::test]
async fn mqtt_3_2_2_16_assigned_client_identifier_for_empty_client_id() {
    let node = TestNode::start().await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (mut p, ack) = open5(node.addr, connect5("", true, 30, vec![], None)).await;
        assert!(connack_ok(&ack), "{:?}", ack.reason_code());
        let id = find(ack.props(), |p| match p {
            Property::AssignedClientIdentifier(v) => Some(v.val().to_string()),
            _ => None,
        })
        .expect("CONNACK carries an Assigned Client Identifier");
        assert!(!id.is_empty());
        // The connection works.
        assert!(sync5(&mut p).await.is_empty());
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1], "assigned identifiers must be unique");
}

#[tokio::test]
async fn mqtt_3_2_2_21_server_keep_alive_sent_when_max_keep_alive_set() {
    let node = TestNode::start_with(|c| c.mqtt.max_keep_alive = 5).await;
    for asked in [60u16, 0] {
        let (_p, ack) = open5(node.addr, connect5("ka", true, asked, vec![], None)).await;
        let ska = find(ack.props(), |p| match p {
            Property::ServerKeepAlive(v) => Some(v.val()),
            _ => None,
        });
        assert_eq!(ska, Some(5), "keep alive {asked} → Server Keep Alive 5");
    }
    // Below the limit: the client's value stands.
    let (_p, ack) = open5(node.addr, connect5("ka2", true, 3, vec![], None)).await;
    let ska = find(ack.props(), |p| match p {
        Property::ServerKeepAlive(v) => Some(v.val()),
        _ => None,
    });
    assert!(matches!(ska, None | Some(3)), "{ska:?}");
}

#[tokio::test]
async fn mqtt_3_1_2_21_server_keep_alive_is_enforced() {
    let node = TestNode::start_with(|c| c.mqtt.max_keep_alive = 1).await;
    let (mut p, ack) = open5(node.addr, connect5("ska", true, 60, vec![], None)).await;
    assert!(connack_ok(&ack));
    let t = Instant::now();
    assert_eq!(close_reason(&mut p).await, Some(0x8D));
    let e = t.elapsed();
    assert!(
        e >= Duration::from_millis(900) && e < Duration::from_millis(2600),
        "closed after {e:?}, expected about 1.5 s (Server Keep Alive 1 s)"
    );
}

#[tokio::test]
async fn v5_request_problem_information_and_user_properties_accepted() {
    let node = TestNode::start().await;
    let (mut p, ack) = open5(
        node.addr,
        connect5(
            "rpi",
            true,
            30,
            vec![
                p_request_problem_info(0),
                p_user("k", "v"),
                p_user("k", "v2"),
                p_receive_max(10),
                p_max_packet(100_000),
                p_alias_max(3),
            ],
            None,
        ),
    )
    .await;
    assert!(connack_ok(&ack), "{:?}", ack.reason_code());
    assert!(sync5(&mut p).await.is_empty());
}

#[tokio::test]
async fn mqtt_3_1_3_8_v311_empty_client_id_with_clean_session_0_is_rejected() {
    let node = TestNode::start().await;
    let (mut p, ack) = open3(node.addr, connect3("", false, 30, None)).await;
    assert_eq!(ack.return_code(), ConnectReturnCode::IdentifierRejected);
    assert!(!ack.session_present());
    assert!(close_reason(&mut p).await.is_none());
}

#[tokio::test]
async fn mqtt_3_1_3_6_v311_empty_client_id_with_clean_session_1_is_accepted() {
    let node = TestNode::start().await;
    let (mut p, ack) = open3(node.addr, connect3("", true, 30, None)).await;
    assert_eq!(ack.return_code(), ConnectReturnCode::Accepted);
    assert_eq!(p.subscribe_v3(1, &[("x", 0)]).await, vec![0]);
}

#[tokio::test]
async fn v5_client_id_too_long_is_rejected_with_0x85() {
    let node = TestNode::start_with(|c| c.mqtt.max_client_id_length = 8).await;
    let (mut p, ack) = open5(node.addr, connect5("much-too-long-id", true, 30, vec![], None)).await;
    assert_eq!(ack.reason_code(), ConnectReasonCode::ClientIdentifierNotValid);
    assert!(close_reason(&mut p).await.is_none());
}

#[tokio::test]
async fn v5_anonymous_refused_when_listener_disallows_it() {
    let node = TestNode::start_with(|c| {
        if let Some(l) = c.listeners.get_mut("tcp") {
            l.allow_anonymous = Some(false);
        }
    })
    .await;
    let (mut p, ack) = open5(node.addr, connect5("anon", true, 30, vec![], None)).await;
    assert_eq!(ack.reason_code(), ConnectReasonCode::NotAuthorized);
    assert!(close_reason(&mut p).await.is_none());
}

#[tokio::test]
async fn mqtt_3_1_2_24_v5_keep_alive_timeout_disconnects_with_0x8d_at_one_and_a_half_times() {
    let node = TestNode::start().await;
    let (mut p, ack) = open5(node.addr, connect5("ka5", true, 1, vec![], None)).await;
    assert!(connack_ok(&ack));
    let t = Instant::now();
    assert_eq!(close_reason(&mut p).await, Some(0x8D));
    let e = t.elapsed();
    assert!(
        e >= Duration::from_millis(1000) && e < Duration::from_millis(2600),
        "closed after {e:?}, expected about 1.5 s"
    );
}

#[tokio::test]
async fn mqtt_3_1_2_24_v311_keep_alive_timeout_closes() {
    let node = TestNode::start().await;
    let (mut p, ack) = open3(node.addr, connect3("ka3", true, 1, None)).await;
    assert_eq!(ack.return_code(), ConnectReturnCode::Accepted);
    let t = Instant::now();
    assert!(close_reason(&mut p).await.is_none());
    let e = t.elapsed();
    assert!(
        e >= Duration::from_millis(1000) && e < Duration::from_millis(2600),
        "closed after {e:?}, expected about 1.5 s"
    );
}

#[tokio::test]
async fn mqtt_3_1_2_23_pingreq_keeps_the_connection_alive() {
    let node = TestNode::start().await;
    let (mut p, _) = open5(node.addr, connect5("kap", true, 1, vec![], None)).await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(sync5(&mut p).await.is_empty(), "PINGRESP expected");
    }
}

#[tokio::test]
async fn connection_without_connect_is_closed_after_connect_timeout() {
    let node = TestNode::start_with(|c| c.mqtt.connect_timeout = Duration::from_millis(500)).await;
    let mut p = Probe::tcp(node.addr, true).await;
    let t = Instant::now();
    match p.recv_within(Duration::from_secs(3)).await {
        Read::Closed => {}
        other => panic!("expected close after the connect timeout, got {other:?}"),
    }
    let e = t.elapsed();
    assert!(e >= Duration::from_millis(400), "closed too early: {e:?}");
}

#[tokio::test]
async fn mqtt_3_1_0_1_first_packet_other_than_connect_closes() {
    let node = TestNode::start().await;
    let mut p = Probe::tcp(node.addr, true).await;
    // PINGREQ before CONNECT.
    p.send_raw(&[0xC0, 0x00]).await;
    assert!(matches!(p.recv().await, Read::Closed));
}

#[tokio::test]
async fn mqtt_3_1_0_2_v5_second_connect_is_a_protocol_error() {
    let node = TestNode::start().await;
    let (mut p, _) = open5(node.addr, connect5("twice", true, 30, vec![], None)).await;
    p.send(connect5("twice", true, 30, vec![], None)).await;
    assert_eq!(close_reason(&mut p).await, Some(0x82));
    // The broker still works.
    let (mut q, ack) = open5(node.addr, connect5("after", true, 30, vec![], None)).await;
    assert!(connack_ok(&ack));
    assert!(sync5(&mut q).await.is_empty());
}

#[tokio::test]
async fn mqtt_3_1_0_2_v311_second_connect_closes() {
    let node = TestNode::start().await;
    let (mut p, _) = open3(node.addr, connect3("twice3", true, 30, None)).await;
    p.send(connect3("twice3", true, 30, None)).await;
    loop {
        match p.recv().await {
            Read::Closed => break,
            Read::Packet(Packet::V3_1_1Connack(_)) => panic!("second CONNECT was answered"),
            Read::Packet(_) => {}
            Read::Timeout => panic!("connection not closed after a second CONNECT"),
        }
    }
}

#[tokio::test]
async fn mqtt_3_1_2_2_unsupported_protocol_level_refused() {
    let node = TestNode::start().await;
    let mut p = Probe::tcp(node.addr, false).await;
    // "MQTT", level 9, clean session, keep alive 30, client id "x".
    let mut body = mstr(b"MQTT");
    body.extend([9u8, 0x02, 0, 30]);
    body.extend(mstr(b"x"));
    p.send_raw(&raw(0x10, &body)).await;
    // Either a CONNACK 0x01 (3.1.1 form) followed by a close, or a plain close.
    loop {
        match p.recv().await {
            Read::Closed => break,
            Read::Packet(Packet::V3_1_1Connack(c)) => {
                assert_eq!(c.return_code(), ConnectReturnCode::UnacceptableProtocolVersion);
            }
            Read::Packet(other) => panic!("unexpected {other:?}"),
            Read::Timeout => panic!("connection with an unknown protocol level stays open"),
        }
    }
}
