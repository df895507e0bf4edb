//! One publish fanned out to subscribers that each need different bytes: protocol version,
//! RETAIN as published or not, subscription identifiers (one, several, none), a message expiry,
//! QoS 1 or 0, topic aliases, a small Maximum Packet Size. The broker encodes a QoS 0 PUBLISH
//! once per distinct shape and shares the bytes; every subscriber must still get exactly what
//! its own subscription asks for, in publish order.

use std::collections::BTreeSet;

use mqtt_protocol_core::mqtt::packet::{Packet, Qos, v5_0};

use crate::harness::TestNode;
use crate::proto_util::*;

const N: usize = 5;

/// What one v5 subscriber received, per message: (topic, payload, QoS, RETAIN, sorted sub ids,
/// message expiry present, user properties).
type Got = (String, Vec<u8>, Qos, bool, BTreeSet<u32>, bool, Vec<(String, String)>);

fn got5(m: &v5_0::Publish) -> Got {
    (
        m.topic_name().to_string(),
        m.payload().as_slice().to_vec(),
        m.qos(),
        m.retain(),
        sub_ids_of(m.props()).into_iter().collect(),
        message_expiry_of(m.props()).is_some(),
        user_props_of(m.props()),
    )
}

async fn take5(p: &mut crate::harness::Probe, n: usize) -> Vec<v5_0::Publish> {
    let mut out = Vec::new();
    while out.len() < n {
        out.push(p.expect_publish_v5().await);
    }
    out
}

#[tokio::test]
async fn mixed_shapes_in_one_fan_out_each_get_their_own_bytes() {
    let node = TestNode::start().await;
    let topic = "fan/shape";
    // Plain: no identifier, RETAIN cleared (the live message is not "as published").
    let mut plain = client5(node.addr, "f-plain", true, vec![]).await;
    plain.subscribe_v5(1, &[(topic, 0)], vec![]).await;
    // Two subscribers of the same shape (identifier 5): the same bytes serve both.
    let mut id5a = client5(node.addr, "f-id5a", true, vec![]).await;
    id5a.subscribe_v5(1, &[(topic, 0)], vec![p_sub_id(5)]).await;
    let mut id5b = client5(node.addr, "f-id5b", true, vec![]).await;
    id5b.subscribe_v5(1, &[("fan/+", 0)], vec![p_sub_id(5)]).await;
    // Another identifier, and two overlapping subscriptions with two identifiers.
    let mut id9 = client5(node.addr, "f-id9", true, vec![]).await;
    id9.subscribe_v5(1, &[(topic, 0)], vec![p_sub_id(9)]).await;
    let mut both = client5(node.addr, "f-both", true, vec![]).await;
    both.subscribe_v5(1, &[("fan/#", 0)], vec![p_sub_id(1)]).await;
    both.subscribe_v5(2, &[("fan/+", 0)], vec![p_sub_id(2)]).await;
    // Retain As Published.
    let mut rap = client5(node.addr, "f-rap", true, vec![]).await;
    rap.subscribe_entries_v5(1, vec![entry(topic, 0, false, true, 2)], vec![]).await;
    // QoS 1 granted: the QoS 0 publish still arrives at QoS 0.
    let mut q1 = client5(node.addr, "f-q1", true, vec![]).await;
    q1.subscribe_v5(1, &[(topic, 1)], vec![p_sub_id(5)]).await;
    // Topic aliases accepted: the broker assigns one, per connection.
    let mut alias = client5(node.addr, "f-alias", true, vec![p_alias_max(4)]).await;
    alias.subscribe_v5(1, &[(topic, 0)], vec![p_sub_id(5)]).await;
    // Too small for the messages with properties: they are dropped for this client only.
    let mut small = client5(node.addr, "f-small", true, vec![p_max_packet(20)]).await;
    small.subscribe_v5(1, &[(topic, 0)], vec![]).await;
    // MQTT 3.1.1: no properties at all.
    let mut v3 = client3(node.addr, "f-v3", true).await;
    v3.subscribe_v3(1, &[(topic, 0)]).await;

    let mut p = client5(node.addr, "f-pub", true, vec![]).await;
    for i in 0..N {
        // Odd messages carry an expiry and a user property, even ones neither; all retained.
        let props = if i % 2 == 1 { vec![p_expiry(600), p_user("k", "v")] } else { vec![] };
        p.publish_v5(topic, format!("m{i}").as_bytes(), 0, true, None, props).await;
    }
    assert!(sync5(&mut p).await.is_empty());

    let expect = |i: usize, retain: bool, ids: &[u32]| -> Got {
        let users = if i % 2 == 1 { vec![("k".to_string(), "v".to_string())] } else { vec![] };
        (
            topic.to_string(),
            format!("m{i}").into_bytes(),
            Qos::AtMostOnce,
            retain,
            ids.iter().copied().collect(),
            i % 2 == 1,
            users,
        )
    };
    for (probe, retain, ids) in [
        (&mut plain, false, &[][..]),
        (&mut id5a, false, &[5][..]),
        (&mut id5b, false, &[5][..]),
        (&mut id9, false, &[9][..]),
        (&mut both, false, &[1, 2][..]),
        (&mut rap, true, &[][..]),
        (&mut q1, false, &[5][..]),
    ] {
        let got: Vec<Got> = take5(probe, N).await.iter().map(got5).collect();
        let want: Vec<Got> = (0..N).map(|i| expect(i, retain, ids)).collect();
        assert_eq!(got, want);
        assert!(sync5(probe).await.is_empty(), "nothing more");
    }
    // The aliasing client: same content; the topic comes once, then (possibly) only the alias.
    let got = take5(&mut alias, N).await;
    assert_eq!(got[0].topic_name(), topic);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m.payload().as_slice(), format!("m{i}").as_bytes());
        assert_eq!(sub_ids_of(m.props()), vec![5]);
        assert!(m.topic_name() == topic || (m.topic_name().is_empty() && alias_of(m.props()).is_some()));
    }
    // 20 bytes hold a plain message (16), not one with expiry and a user property (28).
    let got: Vec<Vec<u8>> =
        take5(&mut small, N.div_ceil(2)).await.iter().map(|m| m.payload().as_slice().to_vec()).collect();
    assert_eq!(got, (0..N).step_by(2).map(|i| format!("m{i}").into_bytes()).collect::<Vec<_>>());
    assert!(sync5(&mut small).await.is_empty());
    for i in 0..N {
        let m = v3.expect_publish_v3().await;
        assert_eq!((m.topic_name(), m.payload().as_slice(), m.retain()), (topic, format!("m{i}").as_bytes(), false));
    }
    assert!(sync3(&mut v3).await.is_empty());
}

/// A QoS 1 publish to QoS 1 and QoS 0 subscribers with and without identifiers: the QoS 0 ones
/// take the shared bytes, the QoS 1 ones their own packet ids, and each gets every message once.
#[tokio::test]
async fn shared_qos0_bytes_and_per_subscriber_qos1_packets_in_one_fan_out() {
    let node = TestNode::start().await;
    let topic = "fanq/t";
    let mut q0 = client5(node.addr, "fq-0", true, vec![]).await;
    q0.subscribe_v5(1, &[(topic, 0)], vec![p_sub_id(3)]).await;
    let mut q1a = client5(node.addr, "fq-1a", true, vec![]).await;
    q1a.subscribe_v5(1, &[(topic, 1)], vec![p_sub_id(3)]).await;
    let mut q1b = client5(node.addr, "fq-1b", true, vec![]).await;
    q1b.subscribe_v5(1, &[(topic, 1)], vec![]).await;
    let mut p = client5(node.addr, "fq-pub", true, vec![]).await;
    for i in 0..N {
        let pid = u16::try_from(i + 1).expect("pid");
        p.publish_v5(topic, format!("q{i}").as_bytes(), 1, false, Some(pid), vec![]).await;
        assert_eq!(expect_puback5(&mut p, pid).await, 0);
    }
    for m in take5(&mut q0, N).await.iter().enumerate() {
        assert_eq!((m.1.qos(), m.1.payload().as_slice()), (Qos::AtMostOnce, format!("q{}", m.0).as_bytes()));
        assert_eq!(sub_ids_of(m.1.props()), vec![3]);
    }
    for (probe, ids) in [(&mut q1a, vec![3]), (&mut q1b, vec![])] {
        let mut pids = BTreeSet::new();
        for i in 0..N {
            let m = probe.expect_publish_v5().await;
            assert_eq!((m.qos(), m.payload().as_slice()), (Qos::AtLeastOnce, format!("q{i}").as_bytes()));
            assert_eq!(sub_ids_of(m.props()), ids);
            let pid = m.packet_id().expect("pid");
            assert!(pids.insert(pid), "packet ids in flight are distinct");
            puback5(probe, pid).await;
        }
        let rest = sync5(probe).await;
        assert!(!rest.iter().any(|p| matches!(p, Packet::V5_0Publish(_))), "no redelivery: {rest:?}");
    }
}
