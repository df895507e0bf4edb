//! Small helpers shared by the `proto_*` behaviour tests (the harness stays untouched): property
//! shorthands, CONNECT with anything a test needs, acks, and reason-code extraction.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::{
    ContentType, CorrelationData, MaximumPacketSize, MessageExpiryInterval, Packet, PayloadFormat,
    PayloadFormatIndicator, Property, ReceiveMaximum, RequestProblemInformation, ResponseTopic, RetainHandling,
    SessionExpiryInterval, SubEntry, SubOpts, SubscriptionIdentifier, TopicAlias, TopicAliasMaximum, UserProperty,
    WillDelayInterval, v3_1_1, v5_0,
};
use mqtt_protocol_core::mqtt::result_code::DisconnectReasonCode;

use crate::harness::Probe;
use crate::harness::probe::{Read, qos};

/// A short wait used to show that something does NOT arrive.
pub const QUIET: Duration = Duration::from_millis(300);

// ------------------------------------------------------------------ properties

pub fn p_session_expiry(s: u32) -> Property {
    SessionExpiryInterval::new(s).expect("prop").into()
}
pub fn p_receive_max(n: u16) -> Property {
    ReceiveMaximum::new(n).expect("prop").into()
}
pub fn p_max_packet(n: u32) -> Property {
    MaximumPacketSize::new(n).expect("prop").into()
}
pub fn p_alias_max(n: u16) -> Property {
    TopicAliasMaximum::new(n).expect("prop").into()
}
pub fn p_alias(n: u16) -> Property {
    TopicAlias::new(n).expect("prop").into()
}
pub fn p_user(k: &str, v: &str) -> Property {
    UserProperty::new(k, v).expect("prop").into()
}
pub fn p_expiry(s: u32) -> Property {
    MessageExpiryInterval::new(s).expect("prop").into()
}
pub fn p_will_delay(s: u32) -> Property {
    WillDelayInterval::new(s).expect("prop").into()
}
pub fn p_sub_id(n: u32) -> Property {
    SubscriptionIdentifier::new(n).expect("prop").into()
}
pub fn p_content_type(s: &str) -> Property {
    ContentType::new(s).expect("prop").into()
}
pub fn p_response_topic(s: &str) -> Property {
    ResponseTopic::new(s).expect("prop").into()
}
pub fn p_correlation(b: &[u8]) -> Property {
    CorrelationData::new(b.to_vec()).expect("prop").into()
}
pub fn p_utf8_payload() -> Property {
    PayloadFormatIndicator::new(PayloadFormat::String).expect("prop").into()
}
pub fn p_request_problem_info(v: u8) -> Property {
    RequestProblemInformation::new(v).expect("prop").into()
}

// Property lookups --------------------------------------------------------------

pub fn session_expiry_of(props: &[Property]) -> Option<u32> {
    props.iter().find_map(|p| match p {
        Property::SessionExpiryInterval(v) => Some(v.val()),
        _ => None,
    })
}
pub fn message_expiry_of(props: &[Property]) -> Option<u32> {
    props.iter().find_map(|p| match p {
        Property::MessageExpiryInterval(v) => Some(v.val()),
        _ => None,
    })
}
pub fn alias_of(props: &[Property]) -> Option<u16> {
    props.iter().find_map(|p| match p {
        Property::TopicAlias(v) => Some(v.val()),
        _ => None,
    })
}
pub fn sub_ids_of(props: &[Property]) -> Vec<u32> {
    props
        .iter()
        .filter_map(|p| match p {
            Property::SubscriptionIdentifier(v) => Some(v.val()),
            _ => None,
        })
        .collect()
}
pub fn user_props_of(props: &[Property]) -> Vec<(String, String)> {
    props
        .iter()
        .filter_map(|p| match p {
            Property::UserProperty(v) => Some((v.key().to_string(), v.val().to_string())),
            _ => None,
        })
        .collect()
}

// ------------------------------------------------------------------ connecting

/// A will for [`connect5`] / [`connect3`].
#[derive(Clone, Default)]
pub struct WillSpec {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
    pub props: Vec<Property>,
}

pub fn will(topic: &str, payload: &[u8], props: Vec<Property>) -> WillSpec {
    WillSpec { topic: topic.into(), payload: payload.to_vec(), qos: 0, retain: false, props }
}

/// A v5 CONNECT with the usual fields.
pub fn connect5(id: &str, clean: bool, keep_alive: u16, props: Vec<Property>, w: Option<WillSpec>) -> v5_0::Connect {
    let mut b = v5_0::Connect::builder().client_id(id).expect("id").clean_start(clean).keep_alive(keep_alive);
    if !props.is_empty() {
        b = b.props(props);
    }
    if let Some(w) = w {
        b = b.will_message(w.topic.as_str(), w.payload.clone(), qos(w.qos), w.retain).expect("will");
        if !w.props.is_empty() {
            b = b.will_props(w.props);
        }
    }
    b.build().expect("connect")
}

pub fn connect3(id: &str, clean: bool, keep_alive: u16, w: Option<WillSpec>) -> v3_1_1::Connect {
    let mut b = v3_1_1::Connect::builder().client_id(id).expect("id").clean_session(clean).keep_alive(keep_alive);
    if let Some(w) = w {
        b = b.will_message(w.topic.as_str(), w.payload.clone(), qos(w.qos), w.retain).expect("will");
    }
    b.build().expect("connect")
}

/// Open a connection, send `c` and return the v5 CONNACK.
pub async fn open5(addr: SocketAddr, c: v5_0::Connect) -> (Probe, v5_0::Connack) {
    let mut p = Probe::tcp(addr, true).await;
    p.send(c).await;
    match p.recv().await {
        Read::Packet(Packet::V5_0Connack(c)) => (p, c),
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

pub async fn open3(addr: SocketAddr, c: v3_1_1::Connect) -> (Probe, v3_1_1::Connack) {
    let mut p = Probe::tcp(addr, false).await;
    p.send(c).await;
    match p.recv().await {
        Read::Packet(Packet::V3_1_1Connack(c)) => (p, c),
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

/// Plain v5 connection with CONNECT properties.
pub async fn client5(addr: SocketAddr, id: &str, clean: bool, props: Vec<Property>) -> Probe {
    let (p, ack) = Probe::connect_v5(addr, id, clean, props).await;
    assert!(crate::harness::probe::connack_ok(&ack), "CONNACK for {id}: {:?}", ack.reason_code());
    p
}

pub async fn client3(addr: SocketAddr, id: &str, clean: bool) -> Probe {
    Probe::connect_v3(addr, id, clean).await.0
}

// ------------------------------------------------------------------ subscribing

/// A v5 subscription entry with every option.
pub fn entry(filter: &str, q: u8, no_local: bool, rap: bool, rh: u8) -> SubEntry {
    let rh = match rh {
        0 => RetainHandling::SendRetained,
        1 => RetainHandling::SendRetainedIfNotExists,
        _ => RetainHandling::DoNotSendRetained,
    };
    SubEntry::new(filter, SubOpts::new().set_qos(qos(q)).set_nl(no_local).set_rap(rap).set_rh(rh)).expect("entry")
}

// ------------------------------------------------------------------ acks

pub async fn puback5(p: &mut Probe, pid: u16) {
    p.send(v5_0::Puback::builder().packet_id(pid).build().expect("puback")).await;
}
pub async fn puback3(p: &mut Probe, pid: u16) {
    p.send(v3_1_1::Puback::builder().packet_id(pid).build().expect("puback")).await;
}
pub async fn pubrec5(p: &mut Probe, pid: u16) {
    p.send(v5_0::Pubrec::builder().packet_id(pid).build().expect("pubrec")).await;
}
pub async fn pubrel5(p: &mut Probe, pid: u16) {
    p.send(v5_0::Pubrel::builder().packet_id(pid).build().expect("pubrel")).await;
}
pub async fn pubcomp5(p: &mut Probe, pid: u16) {
    p.send(v5_0::Pubcomp::builder().packet_id(pid).build().expect("pubcomp")).await;
}
pub async fn pubrec3(p: &mut Probe, pid: u16) {
    p.send(v3_1_1::Pubrec::builder().packet_id(pid).build().expect("pubrec")).await;
}
pub async fn pubrel3(p: &mut Probe, pid: u16) {
    p.send(v3_1_1::Pubrel::builder().packet_id(pid).build().expect("pubrel")).await;
}
pub async fn pubcomp3(p: &mut Probe, pid: u16) {
    p.send(v3_1_1::Pubcomp::builder().packet_id(pid).build().expect("pubcomp")).await;
}

/// Expect a v5 PUBACK for `pid`; returns its reason code byte (0 when absent).
pub async fn expect_puback5(p: &mut Probe, pid: u16) -> u8 {
    match p.expect().await {
        Packet::V5_0Puback(a) => {
            assert_eq!(a.packet_id(), pid, "PUBACK packet id");
            a.reason_code().map(|c| c as u8).unwrap_or(0)
        }
        other => panic!("expected PUBACK {pid}, got {other:?}"),
    }
}

pub async fn ping5(p: &mut Probe) {
    p.send(v5_0::Pingreq::builder().build().expect("pingreq")).await;
}
pub async fn ping3(p: &mut Probe) {
    p.send(v3_1_1::Pingreq::builder().build().expect("pingreq")).await;
}

/// Round-trip a PINGREQ: proves the connection is alive and that everything the broker sent
/// before the PINGRESP has been read (returned, in order).
pub async fn sync5(p: &mut Probe) -> Vec<Packet> {
    ping5(p).await;
    let mut before = Vec::new();
    loop {
        match p.expect().await {
            Packet::V5_0Pingresp(_) => return before,
            other => before.push(other),
        }
    }
}
pub async fn sync3(p: &mut Probe) -> Vec<Packet> {
    ping3(p).await;
    let mut before = Vec::new();
    loop {
        match p.expect().await {
            Packet::V3_1_1Pingresp(_) => return before,
            other => before.push(other),
        }
    }
}

/// The broker closes the connection; returns the DISCONNECT reason byte if one came first.
pub async fn close_reason(p: &mut Probe) -> Option<u8> {
    p.expect_close().await.map(|d| d.reason_code().map(|c| c as u8).unwrap_or(0))
}

pub async fn disconnect_normal(p: &mut Probe) {
    p.disconnect_v5(DisconnectReasonCode::NormalDisconnection).await;
}

/// A v5 DISCONNECT with a Session Expiry Interval property.
pub async fn disconnect_with_expiry(p: &mut Probe, expiry: u32) {
    p.send(
        v5_0::Disconnect::builder()
            .reason_code(DisconnectReasonCode::NormalDisconnection)
            .props(vec![p_session_expiry(expiry)])
            .build()
            .expect("disconnect"),
    )
    .await;
}

/// Collect every PUBLISH that arrives within `wait` (v5), acking QoS 1 ones if `ack`.
pub async fn drain_publishes5(p: &mut Probe, wait: Duration, ack: bool) -> Vec<v5_0::Publish> {
    let mut out = Vec::new();
    loop {
        match p.recv_within(wait).await {
            Read::Packet(Packet::V5_0Publish(m)) => {
                if ack {
                    if let Some(pid) = m.packet_id() {
                        puback5(p, pid).await;
                    }
                }
                out.push(m);
            }
            Read::Packet(other) => panic!("expected PUBLISH, got {other:?}"),
            Read::Timeout => return out,
            Read::Closed => panic!("connection closed while draining publishes"),
        }
    }
}

/// Encode a remaining length (with the broker's own encoder, checked in its unit tests).
pub fn varint(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    starling::protocol::wire::put_varint(&mut out, n);
    out
}

/// A raw packet: first byte, then the body with its remaining length.
pub fn raw(first: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![first];
    v.extend(varint(body.len()));
    v.extend_from_slice(body);
    v
}

/// An MQTT string (length-prefixed), without any validation.
pub fn mstr(b: &[u8]) -> Vec<u8> {
    let mut v = (b.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(b);
    v
}
