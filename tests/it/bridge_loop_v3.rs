//! No loops over MQTT 3.1.1 bridges, whose subscriptions cannot ask for *no local*: the bridge
//! bit (protocol level 0x84) where the upstream takes it, echo suppression where it does not,
//! and Starling as the upstream honouring the bit. `in` and `out` rules overlap in both
//! directions (`shared/#` both ways), the case that loops or duplicates without these.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::{GenericPacketTrait, Packet, v3_1_1};
use mqtt_protocol_core::mqtt::result_code::ConnectReturnCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::bridge_util::*;
use crate::harness::probe::Read;
use crate::harness::{Probe, TestNode};
use crate::persist_util::*;
use starling::config::bridge::{BridgeConfig, BridgeProtocol};

const N: usize = 10;

/// What a stand-in for an upstream without the bridge bit does with a CONNECT carrying it.
#[derive(Clone, Copy)]
enum OnBridgeBit {
    /// CONNACK 1, unacceptable protocol version (what MQTT-3.1.2-2 asks of a server).
    Refuse,
    /// Close the connection without a CONNACK.
    Close,
}

/// A TCP proxy in front of `upstream` that turns away CONNECTs with the bridge bit and passes
/// every other connection through unchanged: an upstream that does not know the bit.
struct NoBridgeBit {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl NoBridgeBit {
    async fn start(upstream: SocketAddr, how: OnBridgeBit) -> NoBridgeBit {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            while let Ok((mut c, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let level = loop {
                        let mut b = [0u8; 256];
                        match c.read(&mut b).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&b[..n]),
                        }
                        // Fixed header, remaining length (1-4 bytes), "\0\x04MQTT", level.
                        if let Some(l) = head.iter().skip(1).take(4).position(|b| b & 0x80 == 0)
                            && let Some(level) = head.get(l + 2 + 6)
                        {
                            break *level;
                        }
                    };
                    if level & 0x80 != 0 {
                        if let OnBridgeBit::Refuse = how {
                            let _ = c.write_all(&[0x20, 0x02, 0x00, 0x01]).await;
                        }
                        return;
                    }
                    let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else { return };
                    if up.write_all(&head).await.is_ok() {
                        let _ = tokio::io::copy_bidirectional(&mut c, &mut up).await;
                    }
                });
            }
        });
        NoBridgeBit { addr, task }
    }
}

impl Drop for NoBridgeBit {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A 3.1.1 bridge carrying `shared/#` both ways, unmapped: everything it sends up matches what
/// it subscribes to.
fn overlapping(upstream: SocketAddr, client_id: &str) -> BridgeConfig {
    let mut b = bridge_to(upstream, BridgeProtocol::V311);
    b.client_id = client_id.into();
    b.out = vec![rule("shared/#", 1, "", "")];
    b.inbound = vec![rule("shared/#", 1, "", "")];
    b
}

async fn subscriber(addr: SocketAddr, id: &str) -> Probe {
    let (mut p, _) = Probe::connect_v5(addr, id, true, vec![]).await;
    assert_eq!(p.subscribe_v5(1, &[("shared/#", 1)], vec![]).await, vec![1]);
    p
}

/// Publish `N` QoS 1 messages on `topic` without waiting for the acknowledgements.
async fn publish(p: &mut Probe, topic: &str) {
    for i in 0..N {
        p.publish_v5(topic, &msg(i), 1, false, Some(u16::try_from(100 + i).expect("pid")), vec![]).await;
    }
}

/// Everything `p` receives until it has been quiet for a second (acknowledging each message):
/// how often each topic/payload arrived. A loop would never go quiet.
async fn received(p: &mut Probe) -> BTreeMap<(String, String), usize> {
    let mut got = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        assert!(tokio::time::Instant::now() < deadline, "still receiving after 20 s: a loop? {got:?}");
        match p.recv_within(Duration::from_secs(1)).await {
            Read::Timeout => return got,
            Read::Closed => panic!("connection closed"),
            Read::Packet(Packet::V5_0Publish(m)) => {
                let k = (m.topic_name().to_string(), String::from_utf8_lossy(m.payload().as_slice()).into_owned());
                *got.entry(k).or_default() += 1;
                if let Some(pid) = m.packet_id() {
                    puback_v5(p, pid).await;
                }
            }
            Read::Packet(_) => {}
        }
    }
}

/// Each of `topics` × the `N` messages exactly once, and nothing else.
fn once_each(got: &BTreeMap<(String, String), usize>, topics: &[&str], who: &str) {
    let want: BTreeMap<(String, String), usize> = topics
        .iter()
        .flat_map(|t| (0..N).map(move |i| ((t.to_string(), String::from_utf8_lossy(&msg(i)).into_owned()), 1)))
        .collect();
    assert_eq!(got, &want, "{who}: every message once, nothing else");
}

fn echoes(gw: &TestNode) -> u64 {
    snapshot(gw).dropped.get("echo").copied().unwrap_or(0)
}

/// A device on the gateway and a client upstream publish into the overlapping rules: each gets
/// every message once. Returns the gateway for the echo count.
async fn both_ways(upstream: &TestNode, bridge_addr: SocketAddr) -> TestNode {
    let gw = gateway(overlapping(bridge_addr, "gw-1")).await;
    wait_connected(&gw, true).await;
    let mut cloud = subscriber(upstream.addr, "cloud").await;
    let mut dev = subscriber(gw.addr, "dev").await;
    publish(&mut dev, "shared/dev").await;
    publish(&mut cloud, "shared/cloud").await;
    once_each(&received(&mut dev).await, &["shared/dev", "shared/cloud"], "the device");
    once_each(&received(&mut cloud).await, &["shared/dev", "shared/cloud"], "the cloud client");
    gw
}

#[tokio::test]
async fn bridge_v311_with_the_bridge_bit_does_not_loop() {
    let upstream = TestNode::start().await;
    let gw = both_ways(&upstream, upstream.addr).await;
    assert_eq!(echoes(&gw), 0, "the upstream took the bridge bit: nothing came back to drop");
}

#[tokio::test]
async fn bridge_v311_without_the_bridge_bit_drops_the_echoes() {
    let upstream = TestNode::start().await;
    let proxy = NoBridgeBit::start(upstream.addr, OnBridgeBit::Refuse).await;
    let gw = both_ways(&upstream, proxy.addr).await;
    assert_eq!(echoes(&gw), N as u64, "each message the gateway sent came back once and was dropped");
}

#[tokio::test]
async fn bridge_v311_falls_back_when_the_bridge_bit_is_answered_by_a_close() {
    let upstream = TestNode::start().await;
    let proxy = NoBridgeBit::start(upstream.addr, OnBridgeBit::Close).await;
    let gw = both_ways(&upstream, proxy.addr).await;
    assert_eq!(echoes(&gw), N as u64);
}

/// Two gateways bridged to one upstream with the same overlapping rules: what a device on one
/// publishes reaches the other's devices, the upstream and its own devices once each.
async fn two_gateways(upstream: &TestNode, bridge_addr: SocketAddr) -> (TestNode, TestNode) {
    let gw1 = gateway(overlapping(bridge_addr, "gw-1")).await;
    let gw2 = gateway(overlapping(bridge_addr, "gw-2")).await;
    wait_connected(&gw1, true).await;
    wait_connected(&gw2, true).await;
    let mut cloud = subscriber(upstream.addr, "cloud").await;
    let mut dev1 = subscriber(gw1.addr, "dev-1").await;
    let mut dev2 = subscriber(gw2.addr, "dev-2").await;
    publish(&mut dev1, "shared/one").await;
    publish(&mut dev2, "shared/two").await;
    for (p, who) in [(&mut dev1, "device 1"), (&mut dev2, "device 2"), (&mut cloud, "the cloud client")] {
        once_each(&received(p).await, &["shared/one", "shared/two"], who);
    }
    (gw1, gw2)
}

#[tokio::test]
async fn bridge_v311_two_gateways_with_the_bridge_bit_do_not_loop() {
    let upstream = TestNode::start().await;
    let (gw1, gw2) = two_gateways(&upstream, upstream.addr).await;
    assert_eq!((echoes(&gw1), echoes(&gw2)), (0, 0));
}

#[tokio::test]
async fn bridge_v311_two_gateways_without_the_bridge_bit_do_not_loop() {
    let upstream = TestNode::start().await;
    let proxy = NoBridgeBit::start(upstream.addr, OnBridgeBit::Refuse).await;
    let (gw1, gw2) = two_gateways(&upstream, proxy.addr).await;
    assert_eq!((echoes(&gw1), echoes(&gw2)), (N as u64, N as u64), "each gateway dropped only its own echoes");
}

/// The server side: a 3.1.1 client whose CONNECT has the bridge bit is accepted and gets no
/// local on its subscriptions (and retain as published); a plain one gets its own messages.
#[tokio::test]
async fn a_client_with_the_bridge_bit_gets_no_local() {
    let node = TestNode::start().await;
    let mut bridge = Probe::tcp(node.addr, false).await;
    let connect = v3_1_1::Connect::builder().client_id("other-bridge").expect("id").keep_alive(60).build();
    let mut bytes = Packet::from(connect.expect("connect")).to_continuous_buffer();
    assert_eq!(bytes[8], 4, "the protocol level of a short CONNECT");
    bytes[8] = 0x84;
    bridge.send_raw(&bytes).await;
    match bridge.expect().await {
        Packet::V3_1_1Connack(a) => assert_eq!(a.return_code(), ConnectReturnCode::Accepted),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    assert_eq!(bridge.subscribe_v3(1, &[("t/#", 1)]).await, vec![1]);
    let (mut plain, _) = Probe::connect_v3(node.addr, "plain", true).await;
    assert_eq!(plain.subscribe_v3(1, &[("t/#", 1)]).await, vec![1]);

    bridge.publish_v3("t/from-bridge", b"x", 0, false, None).await;
    // Processed before the next one.
    barrier_v3(&mut bridge).await;
    plain.publish_v3("t/from-plain", b"y", 0, true, None).await;
    for name in ["t/from-bridge", "t/from-plain"] {
        let m = plain.expect_publish_v3().await;
        assert_eq!(m.topic_name(), name, "the plain client gets both, its own too");
    }
    let m = bridge.expect_publish_v3().await;
    assert_eq!(m.topic_name(), "t/from-plain", "the bridge gets only the other's");
    assert!(m.retain(), "retain as published");
    bridge.expect_silence(Duration::from_millis(300)).await;
    bye_v3(bridge).await;
    bye_v3(plain).await;
}
