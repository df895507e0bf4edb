//! A Starling gateway bridged to Mosquitto (MQTT 5 and 3.1.1): out and in mapping, QoS cap.

use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::{Packet, Qos};

use crate::bridge_util::*;
use crate::harness::Probe;
use crate::persist_util::*;
use starling::config::bridge::BridgeProtocol;

/// A Mosquitto broker on a free loopback port, killed when dropped.
struct Mosquitto {
    child: tokio::process::Child,
    addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    async fn start() -> Mosquitto {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(&conf, format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"))
            .expect("write conf");
        let child = tokio::process::Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .kill_on_drop(true)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("mosquitto is installed");
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "mosquitto did not start on {addr}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Mosquitto { child, addr, _dir: dir }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn round_trip(protocol: BridgeProtocol) {
    let mosq = Mosquitto::start().await;
    let gw = gateway(bridge_to(mosq.addr, protocol)).await;
    wait_connected(&gw, true).await;

    let (mut cloud, _) = Probe::connect_v5(mosq.addr, "cloud-sub", true, vec![]).await;
    assert_eq!(cloud.subscribe_v5(1, &[("site/gw-1/#", 2)], vec![]).await, vec![2]);
    let (mut dev, _) = Probe::connect_v5(gw.addr, "dev", true, vec![]).await;
    assert_eq!(dev.subscribe_v5(1, &[("cmd/#", 2)], vec![]).await, vec![2]);

    for i in 0..20 {
        dev.publish_v5("sensors/t", &msg(i), 2, false, Some(u16::try_from(i + 1).expect("pid")), vec![]).await;
        assert!(matches!(dev.expect().await, Packet::V5_0Pubrec(_)));
    }
    for i in 0..20 {
        let m = cloud.expect_publish_v5().await;
        assert_eq!(m.topic_name(), "site/gw-1/sensors/t");
        assert_eq!(m.payload().as_slice(), msg(i).as_slice(), "message {i} in order");
        assert_eq!(m.qos(), Qos::AtLeastOnce, "capped by the out rule");
        puback_v5(&mut cloud, m.packet_id().expect("pid")).await;
    }

    cloud.publish_v5("site/gw-1/cmd/open", b"now", 1, false, Some(50), vec![]).await;
    let m = dev.expect_publish_v5().await;
    assert_eq!(m.topic_name(), "cmd/open");
    assert_eq!(m.payload().as_slice(), b"now");
    wait_backlog_empty(&gw).await;
}

#[tokio::test]
async fn bridge_to_mosquitto_v5_round_trip() {
    round_trip(BridgeProtocol::V5).await;
}

#[tokio::test]
async fn bridge_to_mosquitto_v311_round_trip() {
    round_trip(BridgeProtocol::V311).await;
}

/// Over 3.1.1 with `in` and `out` overlapping (`shared/#` both ways): Mosquitto takes the
/// bridge bit (protocol level 0x84) and sends nothing back, so the device gets its own message
/// once and the gateway has no echo to drop.
#[tokio::test]
async fn bridge_to_mosquitto_v311_bridge_bit_no_echo() {
    let mosq = Mosquitto::start().await;
    let mut b = bridge_to(mosq.addr, BridgeProtocol::V311);
    b.out = vec![rule("shared/#", 1, "", "")];
    b.inbound = vec![rule("shared/#", 1, "", "")];
    let gw = gateway(b).await;
    wait_connected(&gw, true).await;
    let (mut cloud, _) = Probe::connect_v5(mosq.addr, "cloud-sub", true, vec![]).await;
    assert_eq!(cloud.subscribe_v5(1, &[("shared/#", 1)], vec![]).await, vec![1]);
    let (mut dev, _) = Probe::connect_v5(gw.addr, "dev", true, vec![]).await;
    assert_eq!(dev.subscribe_v5(1, &[("shared/#", 1)], vec![]).await, vec![1]);

    dev.publish_v5("shared/up", b"from-dev", 1, false, Some(7), vec![]).await;
    cloud.publish_v5("shared/down", b"from-cloud", 1, false, Some(8), vec![]).await;
    let mut dev_got = Vec::new();
    let mut cloud_got = Vec::new();
    for (p, got) in [(&mut dev, &mut dev_got), (&mut cloud, &mut cloud_got)] {
        loop {
            match p.recv_within(Duration::from_secs(1)).await {
                crate::harness::probe::Read::Packet(Packet::V5_0Publish(m)) => {
                    got.push(m.topic_name().to_string());
                    if let Some(pid) = m.packet_id() {
                        puback_v5(p, pid).await;
                    }
                }
                crate::harness::probe::Read::Packet(_) => {}
                _ => break,
            }
        }
        got.sort();
    }
    assert_eq!(dev_got, ["shared/down", "shared/up"], "the device: each once");
    assert_eq!(cloud_got, ["shared/down", "shared/up"], "the cloud client: each once");
    assert_eq!(snapshot(&gw).dropped.get("echo").copied(), Some(0), "Mosquitto sent nothing back");
}
