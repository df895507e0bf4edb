//! PUBLISH properties the broker forwards unchanged: Payload Format Indicator, Content Type,
//! Response Topic, Correlation Data and User Properties (in order) — live, retained, queued,
//! and from a real client.

use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::{PayloadFormat, Property};

use crate::harness::TestNode;
use crate::proto_util::*;

fn all_props() -> Vec<Property> {
    vec![
        p_utf8_payload(),
        p_content_type("application/json"),
        p_response_topic("reply/here"),
        p_correlation(&[0, 1, 2, 255]),
        p_user("b", "1"),
        p_user("a", "2"),
        p_user("b", "3"),
    ]
}

fn check(props: &[Property]) {
    let pfi = props.iter().find_map(|p| match p {
        Property::PayloadFormatIndicator(v) => Some(v.val()),
        _ => None,
    });
    assert_eq!(pfi, Some(PayloadFormat::String as u8), "Payload Format Indicator: {props:?}");
    let ct = props.iter().find_map(|p| match p {
        Property::ContentType(v) => Some(v.val().to_string()),
        _ => None,
    });
    assert_eq!(ct.as_deref(), Some("application/json"));
    let rt = props.iter().find_map(|p| match p {
        Property::ResponseTopic(v) => Some(v.val().to_string()),
        _ => None,
    });
    assert_eq!(rt.as_deref(), Some("reply/here"));
    let cd = props.iter().find_map(|p| match p {
        Property::CorrelationData(v) => Some(v.val().to_vec()),
        _ => None,
    });
    assert_eq!(cd, Some(vec![0, 1, 2, 255]));
    assert_eq!(
        user_props_of(props),
        vec![
            ("b".to_string(), "1".to_string()),
            ("a".to_string(), "2".to_string()),
            ("b".to_string(), "3".to_string()),
        ],
        "User Properties forwarded in order (MQTT-3.3.2-18)"
    );
}

#[tokio::test]
async fn mqtt_3_3_2_17_18_publish_properties_forwarded_live() {
    let node = TestNode::start().await;
    let mut s = client5(node.addr, "pps", true, vec![]).await;
    s.subscribe_v5(1, &[("pp", 1)], vec![]).await;
    let mut p = client5(node.addr, "ppp", true, vec![]).await;
    p.publish_v5("pp", b"{}", 1, false, Some(1), all_props()).await;
    expect_puback5(&mut p, 1).await;
    let m = s.expect_publish_v5().await;
    assert_eq!(m.payload().as_slice(), b"{}");
    check(m.props());
}

#[tokio::test]
async fn publish_properties_kept_on_retained_message() {
    let node = TestNode::start().await;
    let mut p = client5(node.addr, "ppr", true, vec![]).await;
    p.publish_v5("ppr", b"{}", 1, true, Some(1), all_props()).await;
    expect_puback5(&mut p, 1).await;
    let mut s = client5(node.addr, "pprs", true, vec![]).await;
    s.subscribe_v5(1, &[("ppr", 1)], vec![]).await;
    check(s.expect_publish_v5().await.props());
}

#[tokio::test]
async fn publish_properties_kept_in_offline_queue() {
    let node = TestNode::start().await;
    let mut s = client5(node.addr, "ppq", true, vec![p_session_expiry(30)]).await;
    s.subscribe_v5(1, &[("ppq", 1)], vec![]).await;
    disconnect_normal(&mut s).await;
    let mut p = client5(node.addr, "ppqp", true, vec![]).await;
    p.publish_v5("ppq", b"{}", 1, false, Some(1), all_props()).await;
    expect_puback5(&mut p, 1).await;
    let (mut s, ack) = open5(node.addr, connect5("ppq", false, 30, vec![p_session_expiry(30)], None)).await;
    assert!(ack.session_present());
    check(s.expect_publish_v5().await.props());
}

#[tokio::test]
async fn v5_properties_do_not_reach_v311_subscriber_but_message_does() {
    let node = TestNode::start().await;
    let mut s = client3(node.addr, "pp3", true).await;
    s.subscribe_v3(1, &[("pp3", 0)]).await;
    let mut p = client5(node.addr, "pp3p", true, vec![]).await;
    p.publish_v5("pp3", b"data", 0, false, None, all_props()).await;
    assert_eq!(s.expect_publish_v3().await.payload().as_slice(), b"data");
}

/// A real client (rumqttc, MQTT 5.0) publishing with properties; the probe checks them.
#[tokio::test]
async fn rumqttc_v5_publisher_properties_reach_subscriber() {
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::mqttbytes::v5::PublishProperties;
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    let node = TestNode::start().await;
    let mut s = client5(node.addr, "rpps", true, vec![]).await;
    s.subscribe_v5(1, &[("rpp", 1)], vec![]).await;
    let mut o = MqttOptions::new("rpp-pub", "127.0.0.1", node.port());
    o.set_keep_alive(Duration::from_secs(5));
    let (client, mut ev) = AsyncClient::new(o, 10);
    let props = PublishProperties {
        payload_format_indicator: Some(1),
        content_type: Some("application/json".into()),
        response_topic: Some("reply/here".into()),
        correlation_data: Some(vec![0u8, 1, 2, 255].into()),
        user_properties: vec![("b".into(), "1".into()), ("a".into(), "2".into()), ("b".into(), "3".into())],
        ..Default::default()
    };
    client.publish_with_properties("rpp", QoS::AtLeastOnce, false, "{}", props).await.expect("publish");
    let driver = tokio::spawn(async move {
        loop {
            if let Ok(Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::PubAck(_))) = ev.poll().await {
                return;
            }
        }
    });
    let m = s.expect_publish_v5().await;
    check(m.props());
    tokio::time::timeout(Duration::from_secs(5), driver).await.expect("PUBACK to the real client").expect("driver");
}
