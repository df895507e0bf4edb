//! A bridge configured on every node of a cluster runs on exactly one of them (the lease in
//! the replicated catalog), and moves with its backlog when that node drains, or when it is
//! killed (-9, separate processes) once the lease time has passed.

use std::collections::BTreeSet;
use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::Packet;
use starling::bridge::status::BridgeSnapshot;
use starling::config::bridge::BridgeProtocol;

use crate::bridge_util::*;
use crate::harness::cluster::TestCluster;
use crate::harness::{Probe, TestNode, wait_for};
use crate::persist_util::*;

/// An upstream with a persistent subscriber "cloud-sub" to what the bridge sends.
async fn upstream() -> TestNode {
    let upstream = TestNode::start().await;
    let (mut sub, _) = Probe::connect_v5(upstream.addr, "cloud-sub", true, expiry(3600)).await;
    assert_eq!(sub.subscribe_v5(1, &[("site/gw-1/sensors/#", 1)], vec![]).await, vec![1]);
    bye_v5(sub).await;
    wait_idle(&upstream).await;
    upstream
}

fn snapshots(c: &TestCluster) -> Vec<Option<BridgeSnapshot>> {
    c.nodes.iter().map(|n| n.handle.as_ref().map(|_| snapshot(n))).collect()
}

/// Index of the one node that holds the lease and is connected upstream, once every running
/// node's catalog agrees on it.
fn holder(c: &TestCluster) -> Option<usize> {
    let snaps = snapshots(c);
    let holding: Vec<usize> =
        snaps.iter().enumerate().filter(|(_, s)| s.as_ref().is_some_and(|s| s.holding)).map(|(i, _)| i).collect();
    let [h] = holding[..] else { return None };
    let id = c.nodes[h].broker().cluster.node_id();
    let agreed = snaps.iter().flatten().all(|s| s.holder_id == Some(id));
    (agreed && snaps[h].as_ref().is_some_and(|s| s.connected)).then_some(h)
}

/// How many nodes run the bridge (hold the lease or are connected upstream) right now.
fn running(c: &TestCluster) -> usize {
    snapshots(c).iter().flatten().filter(|s| s.holding || s.connected).count()
}

/// Publish QoS 1 messages `<tag>-0..n` on `sensors/<tag>` through node `via`, each acknowledged.
async fn publish(c: &TestCluster, via: usize, tag: &str, n: usize) -> BTreeSet<String> {
    let (mut p, _) = Probe::connect_v5(c.mqtt(via), &format!("pub-{tag}"), true, vec![]).await;
    let mut sent = BTreeSet::new();
    for i in 0..n {
        let payload = format!("{tag}-{i}");
        let pid = u16::try_from(i + 1).expect("pid");
        p.publish_v5(&format!("sensors/{tag}"), payload.as_bytes(), 1, false, Some(pid), vec![]).await;
        match p.expect().await {
            Packet::V5_0Puback(a) => assert!(a.reason_code().is_none_or(|r| (r as u8) < 0x80), "{payload}: {a:?}"),
            other => panic!("expected PUBACK, got {other:?}"),
        }
        sent.insert(payload);
    }
    bye_v5(p).await;
    sent
}

/// "cloud-sub" receives every message of `want` (duplicates allowed: QoS 1).
async fn expect_upstream(upstream: &TestNode, want: &BTreeSet<String>) {
    let (mut sub, ack) = Probe::connect_v5(upstream.addr, "cloud-sub", false, expiry(3600)).await;
    assert!(ack.session_present());
    let mut got = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !want.is_subset(&got) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(!left.is_zero(), "never arrived upstream: {:?}", want.difference(&got).collect::<Vec<_>>());
        match sub.recv_within(left).await {
            crate::harness::probe::Read::Packet(Packet::V5_0Publish(m)) => {
                got.insert(String::from_utf8_lossy(m.payload().as_slice()).into_owned());
                if let Some(pid) = m.packet_id() {
                    puback_v5(&mut sub, pid).await;
                }
            }
            crate::harness::probe::Read::Packet(_) => {}
            other => panic!("{other:?}; missing {:?}", want.difference(&got).collect::<Vec<_>>()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_runs_its_bridge_on_one_node_and_a_drained_holder_hands_it_over() {
    let up = upstream().await;
    let c = TestCluster::start_with(3, 0, |_, cfg| {
        cfg.bridges.insert("cloud".into(), bridge_to(up.addr, BridgeProtocol::V5));
        if let Some(k) = cfg.cluster.as_mut() {
            k.bridge_lease = Duration::from_secs(1);
        }
    })
    .await;
    wait_for("one node to run the bridge", Duration::from_secs(20), || holder(&c).is_some()).await;
    let first = holder(&c).expect("holder");
    // Several lease times: renewals keep it where it is, and nobody else ever runs it.
    for _ in 0..150 {
        assert!(running(&c) <= 1, "the bridge runs on more than one node: {:?}", snapshots(&c));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(holder(&c), Some(first), "a renewed lease stays with its holder");
    let epoch = snapshot(&c.nodes[first]).lease_epoch;
    let via = (first + 1) % 3;
    let mut want = publish(&c, via, "before", 30).await;

    // The holder drains: it stops the link, gives the lease up, and the next node takes the
    // bridge's session (and what is queued in it) over the link.
    let url = format!("http://{}", c.nodes[first].handle.as_ref().and_then(|h| h.admin_addr()).expect("admin"));
    let out = crate::harness::run_tool(
        env!("CARGO_BIN_EXE_starling"),
        &["ctl", "--url", &url, "--api-key", "test-key", "node", "drain"],
        Duration::from_secs(20),
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_for("another node to run the bridge", Duration::from_secs(20), || holder(&c).is_some_and(|h| h != first))
        .await;
    let next = holder(&c).expect("holder");
    assert!(snapshot(&c.nodes[next]).lease_epoch > epoch, "a new holder gets a new epoch");
    assert!(snapshot(&c.nodes[next]).lease_changes >= 1);
    wait_for("the drained node to give up the bridge's session", Duration::from_secs(20), || {
        c.nodes[first].broker().session_count() == 0
    })
    .await;
    let via = (0..3).find(|i| *i != first && *i != next).expect("third node");
    want.extend(publish(&c, via, "after", 30).await);
    expect_upstream(&up, &want).await;
}

/// A node of [`processes`]: a real `starling serve` process, so it can be killed (-9).
struct Proc {
    child: tokio::process::Child,
    cmd_args: (std::path::PathBuf, std::path::PathBuf),
    data: std::path::PathBuf,
    mqtt: std::net::SocketAddr,
}

impl Proc {
    fn spawn(cfg: &std::path::Path, dir: &std::path::Path, n: u8) -> tokio::process::Child {
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(dir.join(format!("core-{n}.log"))).expect("log");
        let mut c = crate::cli_util::starling(dir);
        c.arg("serve").arg("--config").arg(cfg);
        c.stdin(std::process::Stdio::null()).stdout(log.try_clone().expect("log")).stderr(log);
        c.spawn().expect("spawn starling serve")
    }

    /// This node's view of the bridge through its control socket (`ctl bridges --json`).
    async fn bridge(&self) -> Option<serde_json::Value> {
        let mut c = crate::cli_util::starling(&self.cmd_args.1);
        c.args(["ctl", "--json", "--data-dir"]).arg(&self.data).arg("bridges");
        c.stdin(std::process::Stdio::null());
        let out = tokio::time::timeout(Duration::from_secs(10), c.output()).await.ok()?.ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v["bridges"].as_array()?.first().cloned()
    }
}

/// Three cores as separate processes on 127.X.Y.1–3, the same bridge to `upstream` on each,
/// a lease of 2 s.
fn processes(upstream: std::net::SocketAddr, dir: &std::path::Path) -> Vec<Proc> {
    let base = crate::harness::cluster::random_base();
    let ip = |n: u8| crate::harness::cluster::node_ip(base, n);
    let seeds: Vec<String> = (1..=3).map(|n| format!("\"{}:4370\"", ip(n))).collect();
    (1..=3u8)
        .map(|n| {
            let data = dir.join(format!("data-{n}"));
            let cfg = dir.join(format!("core-{n}.toml"));
            let toml = format!(
                r#"node_name = "core-{n}"
data_dir = "{data}"
[log]
level = "info"
[listeners.tcp]
bind = "{ip}:1883"
allow_anonymous = true
[admin]
enabled = false
[cluster]
secret = "{secret}"
bind = "{ip}:4370"
advertise = "{ip}:4370"
bootstrap_expect = 3
heartbeat_interval = "100ms"
election_timeout = "600ms"
takeover_timeout = "1s"
forward_timeout = "1s"
bridge_lease = "2s"
[cluster.discovery]
seeds = [{seeds}]
interval = "300ms"
[bridges.cloud]
addresses = ["{upstream}"]
client_id = "gw-1"
reconnect_min = "50ms"
reconnect_max = "300ms"
[[bridges.cloud.out]]
topic = "sensors/#"
qos = 1
remote_prefix = "site/gw-1/"
"#,
                data = data.display(),
                ip = ip(n),
                secret = crate::harness::cluster::SECRET,
                seeds = seeds.join(", "),
            );
            std::fs::write(&cfg, toml).expect("config");
            let child = Proc::spawn(&cfg, dir, n);
            Proc { child, cmd_args: (cfg, dir.to_path_buf()), data, mqtt: std::net::SocketAddr::new(ip(n), 1883) }
        })
        .collect()
}

/// Index of the process whose view says it holds the bridge and is connected, once every
/// other live process names the same holder.
async fn proc_holder(ps: &[Proc], dead: Option<usize>) -> Option<usize> {
    let mut views = Vec::new();
    for (i, p) in ps.iter().enumerate() {
        if Some(i) != dead {
            views.push((i, p.bridge().await?));
        }
    }
    let holding: Vec<&(usize, serde_json::Value)> =
        views.iter().filter(|(_, v)| v["holding"] == true && v["connected"] == true).collect();
    let [(h, hv)] = holding[..] else { return None };
    views.iter().all(|(_, v)| v["holder_id"] == hv["holder_id"]).then_some(*h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_holder_is_replaced_after_the_lease_and_its_backlog_follows_when_it_returns() {
    let up = upstream().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ps = processes(up.addr, dir.path());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let first = loop {
        if let Some(h) = proc_holder(&ps, None).await {
            break h;
        }
        assert!(tokio::time::Instant::now() < deadline, "no single node ran the bridge within 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Acknowledged messages, some of them still in the holder's session when it is killed.
    let via = (first + 1) % 3;
    let (mut p, _) = Probe::connect_v5(ps[via].mqtt, "pub-kill", true, vec![]).await;
    let mut want = BTreeSet::new();
    for i in 0..100usize {
        let payload = format!("k-{i}");
        p.publish_v5("sensors/k", payload.as_bytes(), 1, false, Some(u16::try_from(i + 1).expect("pid")), vec![]).await;
        want.insert(payload);
    }
    for _ in 0..100 {
        match p.expect().await {
            Packet::V5_0Puback(a) => assert!(a.reason_code().is_none_or(|r| (r as u8) < 0x80), "{a:?}"),
            other => panic!("expected PUBACK, got {other:?}"),
        }
    }
    ps[first].child.start_kill().expect("kill -9");
    let _ = ps[first].child.wait().await;
    let killed = tokio::time::Instant::now();
    // Published while nobody runs the bridge: kept for the dead node, acknowledged all the same.
    for i in 100..120usize {
        let payload = format!("k-{i}");
        p.publish_v5("sensors/k", payload.as_bytes(), 1, false, Some(u16::try_from(i + 1).expect("pid")), vec![]).await;
        match p.expect().await {
            Packet::V5_0Puback(a) => assert!(a.reason_code().is_none_or(|r| (r as u8) < 0x80), "{a:?}"),
            other => panic!("expected PUBACK, got {other:?}"),
        }
        want.insert(payload);
    }
    let next = loop {
        if let Some(h) = proc_holder(&ps, Some(first)).await {
            break h;
        }
        assert!(killed.elapsed() < Duration::from_secs(30), "no other node took the bridge over within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_ne!(next, first);
    assert!(killed.elapsed() >= Duration::from_secs(1), "taken over before the lease could have expired");
    // The killed node comes back on its data dir: it stands by, and hands the bridge's session
    // (what it had queued) to the new holder.
    let (cfg, d) = ps[first].cmd_args.clone();
    ps[first].child = Proc::spawn(&cfg, &d, u8::try_from(first + 1).expect("n"));
    expect_upstream(&up, &want).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let after = loop {
        if let Some(h) = proc_holder(&ps, None).await {
            break h;
        }
        assert!(tokio::time::Instant::now() < deadline, "the nodes do not agree on a holder after the return");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(after, next, "the returning node does not take the bridge back");
    for p in &mut ps {
        let _ = p.child.start_kill();
        let _ = p.child.wait().await;
    }
}
