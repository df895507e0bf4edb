//! A cluster of in-process nodes, each on its own loopback address (127.X.Y.n, X.Y random per
//! cluster so parallel tests never collide) with the standard ports: MQTT 1883, admin 18083,
//! cluster link 4370. Cores discover each other through a static seed list.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use starling::config::{ClusterConfig, Config, Role};

use super::{TestNode, wait_for};

pub const SECRET: &str = "test-cluster-secret-0123456789";

pub struct TestCluster {
    pub nodes: Vec<TestNode>,
    pub base: [u8; 2],
}

/// The address of node `n` (1-based) of a cluster with `base`.
pub fn node_ip(base: [u8; 2], n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, base[0], base[1], n))
}

pub fn random_base() -> [u8; 2] {
    [rand::random::<u8>() % 200 + 20, rand::random::<u8>().max(1)]
}

/// The configuration of node `n`: name `core-n` or `replicant-n`.
pub fn node_config(cfg: &mut Config, base: [u8; 2], n: u8, role: Role, cores: u8) {
    let ip = node_ip(base, n);
    if let Some(l) = cfg.listeners.get_mut("tcp") {
        l.bind = Some(SocketAddr::new(ip, 1883));
        l.allow_anonymous = Some(true);
    }
    cfg.admin.bind = SocketAddr::new(ip, 18083);
    cfg.admin.api_keys = vec!["test-key".into()];
    cfg.node_name = match role {
        Role::Core => format!("core-{n}"),
        Role::Replicant => format!("replicant-{n}"),
    };
    let mut c = ClusterConfig {
        role,
        secret: Some(SECRET.into()),
        bind: SocketAddr::new(ip, 4370),
        advertise: Some(format!("{ip}:4370")),
        bootstrap_expect: usize::from(cores),
        heartbeat_interval: Duration::from_millis(100),
        election_timeout: Duration::from_millis(600),
        ..Default::default()
    };
    c.discovery.seeds = (1..=cores).map(|i| format!("{}:4370", node_ip(base, i))).collect();
    c.discovery.interval = Duration::from_millis(300);
    cfg.cluster = Some(c);
}

impl TestCluster {
    /// Start `cores` cores and `replicants` replicants and wait until every node has joined.
    pub async fn start(cores: u8, replicants: u8) -> TestCluster {
        Self::start_with(cores, replicants, |_, _| {}).await
    }

    /// A cluster whose nodes give up on an unreachable peer after 1 s (session takeover and
    /// forward confirmations): for tests that take a node away.
    pub async fn start_fast_failover(cores: u8, replicants: u8) -> TestCluster {
        Self::start_with(cores, replicants, |_, cfg| {
            if let Some(k) = cfg.cluster.as_mut() {
                k.takeover_timeout = Duration::from_secs(1);
                k.forward_timeout = Duration::from_secs(1);
            }
        })
        .await
    }

    pub async fn start_with(cores: u8, replicants: u8, tweak: impl Fn(u8, &mut Config)) -> TestCluster {
        let base = random_base();
        let mut starts = Vec::new();
        for n in 1..=cores + replicants {
            let role = if n <= cores { Role::Core } else { Role::Replicant };
            let tweak = &tweak;
            starts.push(async move {
                TestNode::start_with(|cfg| {
                    node_config(cfg, base, n, role, cores);
                    tweak(n, cfg);
                })
                .await
            });
        }
        let nodes = futures_join_all(starts).await;
        let c = TestCluster { nodes, base };
        c.wait_formed(Duration::from_secs(30)).await;
        c
    }

    /// Wait until every running node is ready (joined, a leader known, caught up) and sees
    /// every running node in the membership.
    pub async fn wait_formed(&self, timeout: Duration) {
        let want = self.nodes.iter().filter(|n| n.handle.is_some()).count();
        wait_for("cluster formed", timeout, || {
            self.nodes.iter().filter_map(|n| n.handle.as_ref()).all(|h| {
                let r = h.cluster.raft().expect("clustered");
                h.cluster.ready() && r.members >= want
            })
        })
        .await;
    }

    pub fn mqtt(&self, i: usize) -> SocketAddr {
        self.nodes[i].addr
    }

    /// Index of the current leader among the running nodes.
    pub fn leader(&self) -> Option<usize> {
        self.nodes.iter().position(|n| n.handle.as_ref().and_then(|h| h.cluster.raft()).is_some_and(|r| r.is_leader()))
    }

    /// Wait until every running node has applied at least `index`.
    pub async fn wait_applied(&self, timeout: Duration) {
        let target = self
            .nodes
            .iter()
            .filter_map(|n| n.handle.as_ref()?.cluster.raft().map(|r| r.last_log_index))
            .max()
            .unwrap_or(0);
        wait_for("catalog converged", timeout, || {
            self.nodes.iter().filter_map(|n| n.handle.as_ref()).all(|h| {
                h.cluster.raft().is_some_and(|r| r.last_applied >= target) && h.cluster.metrics().pending_writes == 0
            })
        })
        .await;
    }
}

async fn futures_join_all<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut out = Vec::new();
    let handles: Vec<_> = fs.into_iter().map(Box::pin).collect();
    // Start them all concurrently: cores wait for each other during bootstrap.
    let mut pinned: Vec<_> = handles.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if let Some(fut) = f {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        results[i] = Some(v);
                        *f = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    for r in results {
        out.push(r.expect("completed"));
    }
    out
}

/// Session properties of a persistent MQTT 5 session (expiry 300 s), for clients that move
/// between nodes.
pub fn persistent() -> Vec<mqtt_protocol_core::mqtt::packet::Property> {
    use mqtt_protocol_core::mqtt::packet::{Property, SessionExpiryInterval};
    vec![Property::SessionExpiryInterval(SessionExpiryInterval::new(300).expect("expiry"))]
}

/// Publish at QoS 1 (MQTT 5) and wait for a PUBACK that accepts it.
pub async fn publish_acked(p: &mut super::Probe, topic: &str, payload: &str, pid: u16) {
    use mqtt_protocol_core::mqtt::packet::Packet;
    p.publish_v5(topic, payload.as_bytes(), 1, false, Some(pid), vec![]).await;
    match p.expect().await {
        Packet::V5_0Puback(a) => {
            assert!(a.reason_code().is_none_or(|c| (c as u8) < 0x80), "publish {payload} refused: {a:?}")
        }
        other => panic!("expected PUBACK, got {other:?}"),
    }
}
