//! Operating a cluster: `starling ctl cluster status|forget|leave|join`, `/readyz` and the cluster
//! metrics, through the real binary and HTTP.

use std::time::Duration;

use crate::harness::cluster::TestCluster;
use crate::harness::{run_tool, wait_for};

fn admin(c: &TestCluster, i: usize) -> String {
    format!("http://{}", c.nodes[i].handle.as_ref().and_then(|h| h.admin_addr()).expect("admin"))
}

async fn ctl(c: &TestCluster, i: usize, args: &[&str]) -> std::process::Output {
    let url = admin(c, i);
    let mut all = vec!["ctl", "--url", &url, "--api-key", "test-key"];
    all.extend_from_slice(args);
    run_tool(env!("CARGO_BIN_EXE_starling"), &all, Duration::from_secs(30)).await
}

fn text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_cluster_status_lists_every_member_with_role_state_and_lag() {
    let c = TestCluster::start(3, 1).await;
    c.wait_applied(Duration::from_secs(10)).await;
    let leader = c.leader().expect("a leader");
    let out = ctl(&c, leader, &["cluster", "status"]).await;
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for name in ["core-1", "core-2", "core-3", "replicant-4"] {
        assert!(t.contains(name), "{name} missing:\n{t}");
    }
    assert!(t.contains("leader") && t.contains("follower") && t.contains("learner"), "{t}");
    // JSON from a non-leader includes lag figures fetched from the leader's view of itself.
    let other = (leader + 1) % 3;
    let out = ctl(&c, other, &["--json", "cluster", "status"]).await;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["mode"], "raft");
    assert_eq!(v["members"].as_array().map(|m| m.len()), Some(4));
    assert_eq!(v["members"].as_array().map(|m| m.iter().filter(|x| x["voter"] == true).count()), Some(3));
    assert!(v["warnings"].as_array().is_some_and(|w| w.is_empty()), "{v}");
}

/// A core (a voter) can be forgotten too, e.g. after its machine is gone for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_removes_a_stopped_core() {
    let mut c = TestCluster::start(3, 0).await;
    c.wait_applied(Duration::from_secs(10)).await;
    let leader = c.leader().expect("a leader");
    let gone = (leader + 1) % 3;
    let name = c.nodes[gone].cfg.node_name.clone();
    c.nodes[gone].stop().await;
    let out = ctl(&c, leader, &["cluster", "forget", &name]).await;
    assert!(out.status.success(), "{}", text(&out));
    let voters = |i: usize| c.nodes[i].handle.as_ref().and_then(|h| h.cluster.raft()).map_or(0, |r| r.voters);
    wait_for("two voters left", Duration::from_secs(10), || voters(leader) == 2).await;
    let out = ctl(&c, leader, &["cluster", "status"]).await;
    assert!(!text(&out).contains(&name), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_removes_a_node_for_good_and_join_brings_it_back() {
    let c = TestCluster::start(3, 1).await;
    let out = ctl(&c, 0, &["cluster", "forget", "replicant-4"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let members = |i: usize| c.nodes[i].handle.as_ref().and_then(|h| h.cluster.raft()).map_or(0, |r| r.members);
    wait_for("membership shrinks", Duration::from_secs(10), || members(0) == 3).await;
    // A removed node does not rejoin by itself (discovery keeps finding the cores).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(members(0), 3, "the forgotten replicant stayed out");
    assert!(!c.nodes[3].cluster().ready());
    let ready = reqwest_like_status(&admin(&c, 3), "/readyz").await;
    assert_eq!(ready, 503, "a node outside the cluster is not ready");
    // Forgetting an unknown node is a clear error.
    let out = ctl(&c, 0, &["cluster", "forget", "no-such-node"]).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("no member named no-such-node"), "{}", text(&out));
    // An explicit join brings it back.
    let core = format!("{}:4370", crate::harness::cluster::node_ip(c.base, 1));
    let out = ctl(&c, 3, &["cluster", "join", &core]).await;
    assert!(out.status.success(), "{}", text(&out));
    wait_for("rejoined", Duration::from_secs(20), || members(0) == 4 && c.nodes[3].cluster().ready()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_metrics_report_members_leader_and_forwarding() {
    let c = TestCluster::start(3, 0).await;
    let leader = c.leader().expect("leader");
    let body = http_get(&admin(&c, leader), "/metrics").await;
    assert!(body.contains("starling_raft_is_leader 1"), "{body}");
    assert!(body.contains("starling_cluster_nodes{role=\"core\",state=\"up\"} 3"), "{body}");
    assert!(body.contains("starling_raft_replication_lag_entries 0"), "{body}");
    let follower = (leader + 1) % 3;
    let body = http_get(&admin(&c, follower), "/metrics").await;
    assert!(body.contains("starling_raft_is_leader 0"), "{body}");
    assert!(body.contains("starling_raft_term "), "{body}");
    // Forwarded publishes are counted per peer, by node name.
    let (mut s, _) = crate::harness::Probe::connect_v5(c.mqtt(follower), "m-sub", true, vec![]).await;
    s.subscribe_v5(1, &[("m/#", 0)], vec![]).await;
    wait_for("route", Duration::from_secs(10), || c.nodes[leader].broker().cluster.routes_for("m/x").nodes.len() == 1)
        .await;
    let (mut p, _) = crate::harness::Probe::connect_v5(c.mqtt(leader), "m-pub", true, vec![]).await;
    p.publish_v5("m/x", b"counted", 0, false, None, vec![]).await;
    s.expect_publish_v5().await;
    let peer = format!("core-{}", follower + 1);
    let body = http_get(&admin(&c, leader), "/metrics").await;
    assert!(body.contains(&format!("starling_cluster_forwarded_messages_total{{peer=\"{peer}\"}} 1")), "{body}");
}

async fn http_get(base: &str, path: &str) -> String {
    let out = run_tool("curl", &["-s", &format!("{base}{path}")], Duration::from_secs(10)).await;
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn reqwest_like_status(base: &str, path: &str) -> u16 {
    let out = run_tool(
        "curl",
        &["-s", "-o", "/dev/null", "-w", "%{http_code}", &format!("{base}{path}")],
        Duration::from_secs(10),
    )
    .await;
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
}

/// A replicant gone longer than `cluster.replicant_timeout` is removed from the membership (and
/// its routes with it); cores never are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replicant_gone_too_long_is_removed_but_a_core_is_not() {
    let mut c = TestCluster::start_with(3, 1, |_, cfg| {
        if let Some(k) = cfg.cluster.as_mut() {
            k.replicant_timeout = std::time::Duration::from_secs(2);
        }
    })
    .await;
    let leader = c.leader().expect("leader");
    let core = (0..3).find(|i| *i != leader).expect("a follower core");
    c.nodes[3].stop().await;
    c.nodes[core].stop().await;
    let members = |i: usize| c.nodes[i].handle.as_ref().and_then(|h| h.cluster.raft()).map_or(0, |r| r.members);
    wait_for("replicant removed", Duration::from_secs(20), || members(leader) == 3).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(members(leader), 3, "the stopped core stays a member");
}
