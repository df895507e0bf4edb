//! The driver without a socket: a client-role `mqtt-protocol-core` connection encodes what a
//! client sends, the driver handles it, and the same client decodes the driver's output.

use std::net::SocketAddr;
use std::sync::Arc;

use mqtt_protocol_core::mqtt::common::Cursor;
use mqtt_protocol_core::mqtt::connection::Event;
use mqtt_protocol_core::mqtt::packet::{
    GenericPacketTrait, Packet, Property, Qos, SubEntry, SubOpts, TopicAlias, TopicAliasMaximum, v3_1_1, v5_0,
};
use mqtt_protocol_core::mqtt::result_code::{
    ConnectReasonCode, ConnectReturnCode, DisconnectReasonCode, PubackReasonCode, PubrecReasonCode, SubackReasonCode,
    SubackReturnCode,
};
use mqtt_protocol_core::mqtt::{Connection, Version, role};

use super::ack::PendingAck;
use super::reason::Reason;
use super::{Driver, End, ListenerInfo};
use crate::broker::port::ClusterError;
use crate::config::Config;
use crate::node::{Node, NodeHandle};

/// One driver and the client talking to it, over a node with no listeners.
struct Pair {
    d: Driver,
    client: Connection<role::Client>,
    _node: NodeHandle,
    _dir: tempfile::TempDir,
}

const ACL: &str = r#"
default = "allow"

[[rules]]
permission = "deny"
action = "all"
topics = ["secret/#"]
"#;

impl Pair {
    async fn new(version: Version, config: impl FnOnce(&mut Config, &std::path::Path)) -> Pair {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = Config::default();
        cfg.data_dir = dir.path().into();
        cfg.listeners.clear();
        cfg.admin.enabled = false;
        config(&mut cfg, dir.path());
        let node = Node::start(cfg).await.expect("node");
        let info = Arc::new(ListenerInfo { name: "t".into(), allow_anonymous: true, anonymous_implicit: false });
        let peer: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
        let d = Driver::new(node.broker.clone(), info, peer, None);
        let client = Connection::<role::Client>::new(version);
        Pair { d, client, _node: node, _dir: dir }
    }

    /// Send `p` as the client, let the driver handle it, and return what it answered.
    async fn send(&mut self, p: Packet) -> Vec<Packet> {
        let mut bytes = Vec::new();
        for e in self.client.send(p) {
            if let Event::RequestSendPacket { packet, .. } = e {
                bytes.extend_from_slice(&packet.to_continuous_buffer());
            }
        }
        assert!(!bytes.is_empty(), "the client library refused to send the packet");
        self.feed(&bytes).await
    }

    /// Raw bytes from the client (what its library would not encode).
    async fn feed(&mut self, bytes: &[u8]) -> Vec<Packet> {
        self.d.feed(bytes).await;
        self.d.pump();
        self.output()
    }

    fn output(&mut self) -> Vec<Packet> {
        let out = self.d.output().to_vec();
        self.d.written();
        let mut cur = Cursor::new(&out[..]);
        let mut got = Vec::new();
        while (cur.position() as usize) < out.len() {
            let before = cur.position();
            for e in self.client.recv(&mut cur) {
                if let Event::NotifyPacketReceived(p) = e {
                    got.push(p);
                }
            }
            if cur.position() == before {
                break;
            }
        }
        got
    }

    async fn connect5(&mut self, id: &str, props: Vec<Property>) -> Vec<Packet> {
        let mut b = v5_0::Connect::builder().client_id(id).expect("id").clean_start(true);
        if !props.is_empty() {
            b = b.props(props);
        }
        self.send(b.build().expect("connect").into()).await
    }

    async fn connect3(&mut self, id: &str, clean: bool) -> Vec<Packet> {
        let c = v3_1_1::Connect::builder().client_id(id).expect("id").clean_session(clean).build().expect("connect");
        self.send(c.into()).await
    }

    fn pid(&mut self) -> u16 {
        self.client.acquire_packet_id().expect("packet id")
    }

    async fn publish5(&mut self, topic: &str, q: Qos, props: Vec<Property>) -> Vec<Packet> {
        let mut b = v5_0::Publish::builder().topic_name(topic).expect("topic").qos(q).payload(b"x".to_vec());
        if q != Qos::AtMostOnce {
            b = b.packet_id(self.pid());
        }
        if !props.is_empty() {
            b = b.props(props);
        }
        self.send(b.build().expect("publish").into()).await
    }

    async fn subscribe5(&mut self, filters: &[&str]) -> Vec<Packet> {
        let opts = SubOpts::new().set_qos(Qos::ExactlyOnce);
        let entries: Vec<SubEntry> = filters.iter().map(|f| SubEntry::new(*f, opts).expect("entry")).collect();
        let pid = self.pid();
        let s = v5_0::Subscribe::builder().packet_id(pid).entries(entries).build().expect("subscribe");
        self.send(s.into()).await
    }
}

fn qos1_v5(topic: &str, pid: u16) -> Packet {
    let b = v5_0::Publish::builder().topic_name(topic).expect("topic").qos(Qos::AtLeastOnce).packet_id(pid);
    b.payload(b"x".to_vec()).build().expect("publish").into()
}

fn qos1_v3(topic: &str, pid: u16) -> Packet {
    let b = v3_1_1::Publish::builder().topic_name(topic).expect("topic").qos(Qos::AtLeastOnce).packet_id(pid);
    b.payload(b"x".to_vec()).build().expect("publish").into()
}

fn acl_config(c: &mut Config, dir: &std::path::Path) {
    let acl = dir.join("acl.toml");
    std::fs::write(&acl, ACL).expect("write acl");
    c.auth.acl_file = Some(acl);
}

fn connack5(p: &[Packet]) -> ConnectReasonCode {
    match p {
        [Packet::V5_0Connack(c)] => c.reason_code(),
        other => panic!("expected one CONNACK, got {other:?}"),
    }
}

fn connack3(p: &[Packet]) -> ConnectReturnCode {
    match p {
        [Packet::V3_1_1Connack(c)] => c.return_code(),
        other => panic!("expected one CONNACK, got {other:?}"),
    }
}

fn disconnect(p: &[Packet]) -> DisconnectReasonCode {
    match p {
        [Packet::V5_0Disconnect(d)] => d.reason_code().unwrap_or(DisconnectReasonCode::NormalDisconnection),
        other => panic!("expected one DISCONNECT, got {other:?}"),
    }
}

fn pubacks(p: &[Packet]) -> Vec<(u16, PubackReasonCode)> {
    p.iter()
        .filter_map(|p| match p {
            Packet::V5_0Puback(a) => Some((a.packet_id(), a.reason_code().unwrap_or(PubackReasonCode::Success))),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn connect_v5_accepted_and_assigned_an_id() {
    let mut t = Pair::new(Version::V5_0, |_, _| {}).await;
    let got = t.connect5("", vec![]).await;
    assert_eq!(connack5(&got), ConnectReasonCode::Success);
    let Packet::V5_0Connack(c) = &got[0] else { unreachable!() };
    let assigned = c.props().iter().any(|p| matches!(p, Property::AssignedClientIdentifier(_)));
    assert!(assigned, "an empty client id gets one assigned: {c:?}");
    assert!(t.d.session().is_some() && t.d.end().is_none());
}

#[tokio::test]
async fn connect_refusals_carry_the_code_of_each_version() {
    // Enhanced authentication: 5.0 only.
    let mut t = Pair::new(Version::V5_0, |_, _| {}).await;
    let method = mqtt_protocol_core::mqtt::packet::AuthenticationMethod::new("SCRAM").expect("method");
    let got = t.connect5("c", vec![Property::AuthenticationMethod(method)]).await;
    assert_eq!(connack5(&got), ConnectReasonCode::BadAuthenticationMethod);
    assert_eq!(t.d.end(), Some(End::Refused));

    // Empty client id with a persistent session is refused in 3.1.1 (MQTT-3.1.3-8).
    let mut t = Pair::new(Version::V3_1_1, |_, _| {}).await;
    assert_eq!(connack3(&t.connect3("", false).await), ConnectReturnCode::IdentifierRejected);
    assert_eq!(t.d.end(), Some(End::Refused));

    // No anonymous access: "not authorized" in both versions.
    let no_anon = |c: &mut Config, _: &std::path::Path| c.auth.allow_anonymous = Some(false);
    let mut t = Pair::new(Version::V5_0, no_anon).await;
    t.d.info = Arc::new(ListenerInfo { name: "t".into(), allow_anonymous: false, anonymous_implicit: false });
    assert_eq!(connack5(&t.connect5("c", vec![]).await), ConnectReasonCode::NotAuthorized);
    let mut t = Pair::new(Version::V3_1_1, no_anon).await;
    t.d.info = Arc::new(ListenerInfo { name: "t".into(), allow_anonymous: false, anonymous_implicit: false });
    assert_eq!(connack3(&t.connect3("c", true).await), ConnectReturnCode::NotAuthorized);

    // A client id longer than the limit.
    let short = |c: &mut Config, _: &std::path::Path| c.mqtt.max_client_id_length = 8;
    let long = "x".repeat(9);
    let mut t = Pair::new(Version::V5_0, short).await;
    assert_eq!(connack5(&t.connect5(&long, vec![]).await), ConnectReasonCode::ClientIdentifierNotValid);
    let mut t = Pair::new(Version::V3_1_1, short).await;
    assert_eq!(connack3(&t.connect3(&long, true).await), ConnectReturnCode::IdentifierRejected);
}

#[tokio::test]
async fn a_will_the_acl_denies_is_refused_at_connect() {
    let mut t = Pair::new(Version::V5_0, acl_config).await;
    let c = v5_0::Connect::builder()
        .client_id("w")
        .expect("id")
        .clean_start(true)
        .will_message("secret/w", b"gone", Qos::AtMostOnce, false)
        .expect("will")
        .build()
        .expect("connect");
    assert_eq!(connack5(&t.send(c.into()).await), ConnectReasonCode::NotAuthorized);
}

#[tokio::test]
async fn publish_with_an_invalid_topic_closes_with_topic_name_invalid() {
    let mut t = Pair::new(Version::V5_0, |_, _| {}).await;
    t.connect5("p", vec![]).await;
    // PUBLISH QoS 0 to "a/+" (a wildcard in a topic name), no properties, payload "x".
    let got = t.feed(&[0x30, 0x07, 0x00, 0x03, b'a', b'/', b'+', 0x00, b'x']).await;
    assert_eq!(disconnect(&got), DisconnectReasonCode::TopicNameInvalid);
    assert_eq!(t.d.end(), Some(End::ProtocolError));
}

#[tokio::test]
async fn publish_with_a_topic_alias_reaches_a_subscriber_under_its_name() {
    let mut t = Pair::new(Version::V5_0, |_, _| {}).await;
    let props = vec![Property::TopicAliasMaximum(TopicAliasMaximum::new(0).expect("max"))];
    t.connect5("a", props).await;
    let got = t.subscribe5(&["alias/t"]).await;
    assert!(matches!(&got[..], [Packet::V5_0Suback(_)]), "{got:?}");
    let alias = || Property::TopicAlias(TopicAlias::new(1).expect("alias"));
    // First use binds alias 1 to the topic; the second PUBLISH names the topic by alias only.
    let got = t.publish5("alias/t", Qos::AtLeastOnce, vec![alias()]).await;
    assert!(pubacks(&got).iter().all(|(_, rc)| *rc == PubackReasonCode::Success), "{got:?}");
    let got = t.publish5("", Qos::AtLeastOnce, vec![alias()]).await;
    assert!(pubacks(&got).iter().all(|(_, rc)| *rc == PubackReasonCode::Success), "{got:?}");
    let delivered: Vec<String> = got
        .iter()
        .filter_map(|p| match p {
            Packet::V5_0Publish(p) => Some(p.topic_name().to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, ["alias/t"], "the delivery carries the topic, not the client's alias: {got:?}");
}

#[tokio::test]
async fn publish_denied_by_the_acl_is_answered_per_version() {
    let mut t = Pair::new(Version::V5_0, acl_config).await;
    t.connect5("p", vec![]).await;
    let got = t.publish5("secret/x", Qos::AtLeastOnce, vec![]).await;
    assert_eq!(pubacks(&got).iter().map(|a| a.1).collect::<Vec<_>>(), [PubackReasonCode::NotAuthorized]);
    let got = t.publish5("open/x", Qos::AtLeastOnce, vec![]).await;
    assert_eq!(pubacks(&got).iter().map(|a| a.1).collect::<Vec<_>>(), [PubackReasonCode::NoMatchingSubscribers]);

    // 3.1.1 cannot say no: a plain PUBACK, and the message is dropped.
    let mut t = Pair::new(Version::V3_1_1, acl_config).await;
    t.connect3("p", true).await;
    let pid = t.pid();
    let got = t.send(qos1_v3("secret/x", pid)).await;
    assert!(matches!(&got[..], [Packet::V3_1_1Puback(a)] if a.packet_id() == pid), "{got:?}");
}

#[tokio::test]
async fn qos2_publish_runs_pubrec_pubrel_pubcomp() {
    let mut t = Pair::new(Version::V5_0, |_, _| {}).await;
    t.connect5("q", vec![]).await;
    t.subscribe5(&["q2/#"]).await;
    let got = t.publish5("q2/x", Qos::ExactlyOnce, vec![]).await;
    let pid = match &got[..] {
        [Packet::V5_0Pubrec(r), ..] => {
            assert_eq!(r.reason_code().unwrap_or(PubrecReasonCode::Success), PubrecReasonCode::Success);
            r.packet_id()
        }
        other => panic!("expected PUBREC first, got {other:?}"),
    };
    let incoming = |t: &Pair| t.d.session().map(|s| s.has_incoming_qos2(pid));
    assert_eq!(incoming(&t), Some(true), "the id is held until PUBREL");
    let got = t.send(v5_0::Pubrel::builder().packet_id(pid).build().expect("pubrel").into()).await;
    assert!(matches!(&got[..], [Packet::V5_0Pubcomp(c)] if c.packet_id() == pid), "{got:?}");
    assert_eq!(incoming(&t), Some(false));
}

#[tokio::test]
async fn subscribe_answers_a_reason_code_per_filter() {
    let mut t = Pair::new(Version::V5_0, acl_config).await;
    t.connect5("s", vec![]).await;
    let got = t.subscribe5(&["ok/#", "bad/#/x", "secret/#"]).await;
    let [Packet::V5_0Suback(s)] = &got[..] else { panic!("expected SUBACK, got {got:?}") };
    assert_eq!(
        s.reason_codes(),
        vec![SubackReasonCode::GrantedQos2, SubackReasonCode::TopicFilterInvalid, SubackReasonCode::NotAuthorized]
    );

    let mut t = Pair::new(Version::V3_1_1, acl_config).await;
    t.connect3("s", true).await;
    let opts = SubOpts::new().set_qos(Qos::AtLeastOnce);
    let entries = ["ok/#", "secret/#"].map(|f| SubEntry::new(f, opts).expect("entry")).to_vec();
    let pid = t.pid();
    let sub = v3_1_1::Subscribe::builder().packet_id(pid).entries(entries).build().expect("subscribe");
    let got = t.send(sub.into()).await;
    let [Packet::V3_1_1Suback(s)] = &got[..] else { panic!("expected SUBACK, got {got:?}") };
    assert_eq!(s.return_codes(), vec![SubackReturnCode::SuccessMaximumQos1, SubackReturnCode::Failure]);
}

/// A confirmation the test resolves by hand, standing in for another node's.
fn confirmation() -> (tokio::sync::oneshot::Sender<Result<(), ClusterError>>, crate::broker::port::Confirmation) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let fut = async move { rx.await.unwrap_or(Err(ClusterError::NoLeader)) };
    (tx, Box::pin(fut))
}

#[tokio::test]
async fn acknowledgements_wait_for_confirmations_in_order() {
    let mut t = Pair::new(Version::V5_0, |_, _| {}).await;
    t.connect5("o", vec![]).await;
    // Two publishes the client sent (so its library expects their PUBACKs), forwarded: the
    // first one's confirmation is slow, the second one's already there.
    let (first, second) = (t.pid(), t.pid());
    for pid in [first, second] {
        t.client.send(qos1_v5("o/x", pid));
    }
    let (slow, c1) = confirmation();
    let (fast, c2) = confirmation();
    fast.send(Ok(())).expect("fast");
    let ev = t.d.queue_ack(PendingAck::new(first, 1, Reason::Success, Some(c1)));
    t.d.process(ev).await;
    let ev = t.d.queue_ack(PendingAck::new(second, 1, Reason::Success, Some(c2)));
    t.d.process(ev).await;
    assert!(t.output().is_empty(), "nothing is acknowledged before the first confirmation");
    assert!(t.d.awaiting_confirmation());

    // The first node fails: its PUBACK says so, and the second follows it, in order.
    slow.send(Err(ClusterError::NoLeader)).expect("slow");
    let r = t.d.confirmation().await;
    t.d.confirmed(r).await;
    assert_eq!(
        pubacks(&t.output()),
        [(first, PubackReasonCode::ImplementationSpecificError), (second, PubackReasonCode::Success)]
    );
    assert!(!t.d.awaiting_confirmation());
}

#[tokio::test]
async fn reading_stops_at_receive_maximum_unconfirmed_publishes() {
    let mut t = Pair::new(Version::V5_0, |c, _| c.mqtt.receive_maximum = 2).await;
    t.connect5("r", vec![]).await;
    let mut senders = Vec::new();
    for pid in 1..=2u16 {
        assert!(t.d.readable(), "room for {pid}");
        let (tx, c) = confirmation();
        senders.push(tx);
        let ev = t.d.queue_ack(PendingAck::new(pid, 1, Reason::Success, Some(c)));
        t.d.process(ev).await;
    }
    assert!(!t.d.readable(), "receive maximum reached: the socket is not read");
    for tx in senders {
        tx.send(Ok(())).expect("confirm");
    }
    let r = t.d.confirmation().await;
    t.d.confirmed(r).await;
    assert!(t.d.readable() && !t.d.awaiting_confirmation());
}

#[tokio::test]
async fn a_subscription_identifier_from_the_client_is_a_protocol_error() {
    let mut t = Pair::new(Version::V5_0, |_, _| {}).await;
    t.connect5("i", vec![]).await;
    // PUBLISH QoS 0 to "i/x" with Subscription Identifier 7 (the client library would not
    // encode it).
    let got = t.feed(&[0x30, 0x08, 0x00, 0x03, b'i', b'/', b'x', 0x02, 0x0B, 0x07]).await;
    assert_eq!(disconnect(&got), DisconnectReasonCode::ProtocolError);
}

#[tokio::test]
async fn going_idle_gives_back_the_write_buffer() {
    let mut p = Pair::new(Version::V5_0, |_, _| {}).await;
    assert_eq!(connack5(&p.connect5("idle-buffer", vec![]).await), ConnectReasonCode::Success);
    // A written burst under the 8 KiB that `written` lets a busy connection keep.
    p.subscribe5(&["b/#"]).await;
    for _ in 0..20 {
        p.publish5("b/x", Qos::AtMostOnce, vec![]).await;
    }
    assert!(p.d.wbuf.capacity() > 0, "a busy connection keeps its buffer between writes");
    p.d.release_buffers();
    assert_eq!(p.d.wbuf.capacity(), 0);
}
