//! DNS discovery against a real DNS server shaped like a Kubernetes headless Service: SRV records
//! `_cluster._tcp.starling-headless.mqtt.svc.cluster.local` pointing at per-pod A records.

use std::time::Duration;

use crate::harness::cluster::{TestCluster, node_ip, random_base};
use crate::harness::dns::TestDns;
use crate::harness::{Probe, TestNode, wait_for};
use starling::config::{DiscoveryKind, Role};

const ZONE: &str = "mqtt.svc.cluster.local.";
const SERVICE: &str = "starling-headless.mqtt.svc.cluster.local.";
const SRV: &str = "_cluster._tcp.starling-headless.mqtt.svc.cluster.local.";

fn pod(n: u8) -> String {
    format!("core-{n}.{SERVICE}")
}

/// Cores start before their DNS records exist (pods not registered yet), keep retrying, and form
/// the cluster once the records appear; a replicant finds them through the A records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_from_srv_records_that_appear_late() {
    let dns = TestDns::start(ZONE).await;
    let base = random_base();
    let mut nodes = Vec::new();
    for n in 1..=3u8 {
        let ns = dns.addr;
        nodes.push(
            TestNode::start_with(|cfg| {
                crate::harness::cluster::node_config(cfg, base, n, Role::Core, 3);
                let c = cfg.cluster.as_mut().expect("cluster");
                c.discovery.kind = DiscoveryKind::DnsSrv;
                c.discovery.seeds.clear();
                c.discovery.name = SRV.into();
                c.discovery.nameserver = Some(ns);
            })
            .await,
        );
    }
    // No records yet: nobody may initialise a cluster on a partial view.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for n in &nodes {
        assert!(!n.cluster().ready(), "no cluster before discovery sees 3 cores");
    }
    for n in 1..=3u8 {
        dns.add_addr(&pod(n), node_ip(base, n)).await;
        dns.add_addr(SERVICE, node_ip(base, n)).await;
        dns.add_srv(SRV, 4370, &pod(n)).await;
    }
    wait_for("cluster formed from DNS", Duration::from_secs(30), || nodes.iter().all(|n| n.cluster().ready())).await;
    let admin = nodes[0].cluster().clone();
    wait_for("three voters", Duration::from_secs(10), || admin.raft().is_some_and(|r| r.voters == 3)).await;
    // A replicant discovering through A records of the headless Service plus the port.
    let ns = dns.addr;
    let replicant = TestNode::start_with(|cfg| {
        crate::harness::cluster::node_config(cfg, base, 4, Role::Replicant, 3);
        let c = cfg.cluster.as_mut().expect("cluster");
        c.discovery.kind = DiscoveryKind::DnsA;
        c.discovery.seeds.clear();
        c.discovery.name = SERVICE.into();
        c.discovery.port = 4370;
        c.discovery.nameserver = Some(ns);
    })
    .await;
    wait_for("replicant joined", Duration::from_secs(30), || replicant.cluster().ready()).await;
    // And it routes: subscribe on the replicant, publish on a core.
    let (mut s, _) = Probe::connect_v5(replicant.addr, "dns-sub", true, vec![]).await;
    s.subscribe_v5(1, &[("dns/#", 1)], vec![]).await;
    wait_for("route replicated", Duration::from_secs(10), || {
        nodes[0].broker().cluster.routes_for("dns/x").nodes.len() == 1
    })
    .await;
    let (mut p, _) = Probe::connect_v5(nodes[0].addr, "dns-pub", true, vec![]).await;
    p.publish_v5("dns/x", b"found you", 1, false, Some(1), vec![]).await;
    let m = s.expect_publish_v5().await;
    assert_eq!(m.payload().as_slice(), b"found you");
}

/// Static discovery still works next to DNS: a sanity check of the harness's defaults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_core_cluster_is_ready_alone() {
    let c = TestCluster::start(1, 0).await;
    assert!(c.nodes[0].cluster().ready());
}
