//! The rumqttc client library (v4 = MQTT 3.1.1 and v5 modules) against the broker: pub/sub at
//! each QoS and a persistent session resumed by a new client instance (also across a broker
//! restart). Kept beside the mosquitto tests: both are real third-party clients.

use std::time::Duration;

use crate::harness::TestNode;
use crate::persist_util::wait_idle;

const T: Duration = Duration::from_secs(8);

mod v4 {
    use super::*;
    use rumqttc::{
        AsyncClient, ConnAck, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish, QoS, SubscribeReasonCode,
    };

    pub fn client(node: &TestNode, id: &str, clean: bool) -> (AsyncClient, EventLoop) {
        let mut o = MqttOptions::new(id, "127.0.0.1", node.port());
        o.set_keep_alive(Duration::from_secs(30));
        o.set_clean_session(clean);
        AsyncClient::new(o, 100)
    }

    /// Poll until `f` yields something.
    pub async fn until<R>(el: &mut EventLoop, mut f: impl FnMut(&Event) -> Option<R>) -> R {
        let fut = async {
            loop {
                match el.poll().await {
                    Ok(ev) => {
                        if let Some(r) = f(&ev) {
                            return r;
                        }
                    }
                    Err(e) => panic!("rumqttc connection error: {e}"),
                }
            }
        };
        tokio::time::timeout(T, fut).await.expect("rumqttc event did not come")
    }

    pub async fn connack(el: &mut EventLoop) -> ConnAck {
        until(el, |e| match e {
            Event::Incoming(Packet::ConnAck(c)) => Some(c.clone()),
            _ => None,
        })
        .await
    }

    pub async fn suback(el: &mut EventLoop) -> Vec<SubscribeReasonCode> {
        until(el, |e| match e {
            Event::Incoming(Packet::SubAck(s)) => Some(s.return_codes.clone()),
            _ => None,
        })
        .await
    }

    pub async fn publish(el: &mut EventLoop) -> Publish {
        until(el, |e| match e {
            Event::Incoming(Packet::Publish(p)) => Some(p.clone()),
            _ => None,
        })
        .await
    }

    pub async fn bye(c: &AsyncClient, el: &mut EventLoop) {
        c.disconnect().await.expect("disconnect");
        until(el, |e| matches!(e, Event::Outgoing(Outgoing::Disconnect)).then_some(())).await;
    }

    pub fn qos(q: u8) -> QoS {
        match q {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            _ => QoS::ExactlyOnce,
        }
    }
}

mod v5 {
    use super::*;
    use rumqttc::Outgoing;
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::mqttbytes::v5::{ConnAck, ConnectProperties, Packet, Publish, SubscribeReasonCode};
    use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};

    pub fn client(node: &TestNode, id: &str, clean: bool, expiry: Option<u32>) -> (AsyncClient, EventLoop) {
        let mut o = MqttOptions::new(id, "127.0.0.1", node.port());
        o.set_keep_alive(Duration::from_secs(30));
        o.set_clean_start(clean);
        if let Some(e) = expiry {
            let mut p = ConnectProperties::new();
            p.session_expiry_interval = Some(e);
            o.set_connect_properties(p);
        }
        AsyncClient::new(o, 100)
    }

    pub async fn until<R>(el: &mut EventLoop, mut f: impl FnMut(&Event) -> Option<R>) -> R {
        let fut = async {
            loop {
                match el.poll().await {
                    Ok(ev) => {
                        if let Some(r) = f(&ev) {
                            return r;
                        }
                    }
                    Err(e) => panic!("rumqttc v5 connection error: {e}"),
                }
            }
        };
        tokio::time::timeout(T, fut).await.expect("rumqttc v5 event did not come")
    }

    pub async fn connack(el: &mut EventLoop) -> ConnAck {
        until(el, |e| match e {
            Event::Incoming(Packet::ConnAck(c)) => Some(c.clone()),
            _ => None,
        })
        .await
    }

    pub async fn suback(el: &mut EventLoop) -> Vec<SubscribeReasonCode> {
        until(el, |e| match e {
            Event::Incoming(Packet::SubAck(s)) => Some(s.return_codes.clone()),
            _ => None,
        })
        .await
    }

    pub async fn publish(el: &mut EventLoop) -> Publish {
        until(el, |e| match e {
            Event::Incoming(Packet::Publish(p)) => Some(p.clone()),
            _ => None,
        })
        .await
    }

    pub async fn bye(c: &AsyncClient, el: &mut EventLoop) {
        c.disconnect().await.expect("disconnect");
        until(el, |e| matches!(e, Event::Outgoing(Outgoing::Disconnect)).then_some(())).await;
    }

    pub fn qos(q: u8) -> QoS {
        match q {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            _ => QoS::ExactlyOnce,
        }
    }
}

/// Publish QoS 0/1/2 from one rumqttc (3.1.1) client to another subscribed at QoS 2: every
/// message arrives with its own QoS, and the publisher's QoS 1/2 flows complete.
#[tokio::test]
async fn rumqttc_v4_pub_sub_qos_0_1_2() {
    use rumqttc::{Event, Packet, SubscribeReasonCode};
    let node = TestNode::start().await;
    let (sc, mut sel) = v4::client(&node, "rq4-sub", true);
    assert!(!v4::connack(&mut sel).await.session_present);
    sc.subscribe("rq4/#", v4::qos(2)).await.expect("subscribe");
    assert_eq!(v4::suback(&mut sel).await, vec![SubscribeReasonCode::Success(v4::qos(2))]);

    let (pc, mut pel) = v4::client(&node, "rq4-pub", true);
    v4::connack(&mut pel).await;
    for q in 0..3u8 {
        pc.publish(format!("rq4/{q}"), v4::qos(q), false, format!("p{q}")).await.expect("publish");
    }
    let pubs = tokio::spawn(async move {
        let (mut acks, mut comps) = (0, 0);
        v4::until(&mut pel, |e| {
            match e {
                Event::Incoming(Packet::PubAck(_)) => acks += 1,
                Event::Incoming(Packet::PubComp(_)) => comps += 1,
                _ => {}
            }
            (acks == 1 && comps == 1).then_some(())
        })
        .await;
    });
    for q in 0..3u8 {
        let p = v4::publish(&mut sel).await;
        assert_eq!(p.topic, format!("rq4/{q}"));
        assert_eq!(&p.payload[..], format!("p{q}").as_bytes());
        assert_eq!(p.qos, v4::qos(q));
    }
    pubs.await.expect("publisher saw PUBACK and PUBCOMP");
}

#[tokio::test]
async fn rumqttc_v5_pub_sub_qos_0_1_2() {
    use rumqttc::v5::Event;
    use rumqttc::v5::mqttbytes::v5::{Packet, SubscribeReasonCode};
    let node = TestNode::start().await;
    let (sc, mut sel) = v5::client(&node, "rq5-sub", true, None);
    assert!(!v5::connack(&mut sel).await.session_present);
    sc.subscribe("rq5/#", v5::qos(2)).await.expect("subscribe");
    assert_eq!(v5::suback(&mut sel).await, vec![SubscribeReasonCode::Success(v5::qos(2))]);

    let (pc, mut pel) = v5::client(&node, "rq5-pub", true, None);
    v5::connack(&mut pel).await;
    for q in 0..3u8 {
        pc.publish(format!("rq5/{q}"), v5::qos(q), false, format!("p{q}")).await.expect("publish");
    }
    let pubs = tokio::spawn(async move {
        let (mut acks, mut comps) = (0, 0);
        v5::until(&mut pel, |e| {
            match e {
                Event::Incoming(Packet::PubAck(_)) => acks += 1,
                Event::Incoming(Packet::PubComp(_)) => comps += 1,
                _ => {}
            }
            (acks == 1 && comps == 1).then_some(())
        })
        .await;
    });
    for q in 0..3u8 {
        let p = v5::publish(&mut sel).await;
        assert_eq!(&p.topic[..], format!("rq5/{q}").as_bytes());
        assert_eq!(&p.payload[..], format!("p{q}").as_bytes());
        assert_eq!(p.qos, v5::qos(q));
    }
    pubs.await.expect("publisher saw PUBACK and PUBCOMP");
}

/// Publish `n` QoS 1 messages `m0..` on `topic` with a 3.1.1 rumqttc client, waiting for every
/// PUBACK.
async fn publish_v4(node: &TestNode, topic: &str, n: usize) {
    use rumqttc::{Event, Packet};
    let (pc, mut pel) = v4::client(node, "rq-publisher", true);
    v4::connack(&mut pel).await;
    for i in 0..n {
        pc.publish(topic, v4::qos(1), false, format!("m{i}")).await.expect("publish");
    }
    let mut acks = 0;
    v4::until(&mut pel, |e| {
        if let Event::Incoming(Packet::PubAck(_)) = e {
            acks += 1;
        }
        (acks == n).then_some(())
    })
    .await;
    v4::bye(&pc, &mut pel).await;
}

async fn v4_resume(restart: bool) {
    let mut node = TestNode::start().await;
    {
        let (c, mut el) = v4::client(&node, "rq4-durable", false);
        v4::connack(&mut el).await;
        c.subscribe("rq4d/t", v4::qos(1)).await.expect("subscribe");
        v4::suback(&mut el).await;
        v4::bye(&c, &mut el).await;
    }
    wait_idle(&node).await;
    publish_v4(&node, "rq4d/t", 5).await;
    if restart {
        wait_idle(&node).await;
        node.restart().await;
    }
    // A new client instance with the same id and clean session 0.
    let (_c, mut el) = v4::client(&node, "rq4-durable", false);
    assert!(v4::connack(&mut el).await.session_present, "session present");
    for i in 0..5 {
        let p = v4::publish(&mut el).await;
        assert_eq!(p.topic, "rq4d/t");
        assert_eq!(&p.payload[..], format!("m{i}").as_bytes(), "in order");
        assert_eq!(p.qos, v4::qos(1));
    }
}

#[tokio::test]
async fn rumqttc_v4_persistent_session_resume() {
    v4_resume(false).await;
}

#[tokio::test]
async fn rumqttc_v4_persistent_session_resume_after_restart() {
    v4_resume(true).await;
}

async fn v5_resume(restart: bool) {
    let mut node = TestNode::start().await;
    {
        let (c, mut el) = v5::client(&node, "rq5-durable", true, Some(3600));
        v5::connack(&mut el).await;
        c.subscribe("rq5d/t", v5::qos(1)).await.expect("subscribe");
        v5::suback(&mut el).await;
        v5::bye(&c, &mut el).await;
    }
    wait_idle(&node).await;
    publish_v4(&node, "rq5d/t", 5).await;
    if restart {
        wait_idle(&node).await;
        node.restart().await;
    }
    let (_c, mut el) = v5::client(&node, "rq5-durable", false, Some(3600));
    let ack = v5::connack(&mut el).await;
    assert!(ack.session_present, "session present");
    for i in 0..5 {
        let p = v5::publish(&mut el).await;
        assert_eq!(&p.topic[..], b"rq5d/t");
        assert_eq!(&p.payload[..], format!("m{i}").as_bytes(), "in order");
        assert_eq!(p.qos, v5::qos(1));
    }
}

#[tokio::test]
async fn rumqttc_v5_persistent_session_resume() {
    v5_resume(false).await;
}

#[tokio::test]
async fn rumqttc_v5_persistent_session_resume_after_restart() {
    v5_resume(true).await;
}
