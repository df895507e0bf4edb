//! Cluster formation and cross-node routing through real sockets: 3 cores + 2 replicants on
//! 127.x.y.z addresses, static discovery, raw MQTT clients on every node.

use std::time::Duration;

use mqtt_protocol_core::mqtt::packet::Packet;

use crate::harness::cluster::{TestCluster, node_config, random_base};
use crate::harness::{Probe, TestNode, wait_for};
use starling::config::Role;

/// Subscribe on node `sub`, publish on node `publ`, expect delivery, for every ordered pair and
/// every QoS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_sub_between_every_pair_of_nodes() {
    let c = TestCluster::start(3, 2).await;
    let n = c.nodes.len();
    // One subscriber per node, subscribed to its own topic at every QoS.
    let mut subs = Vec::new();
    for j in 0..n {
        let (mut p, ack) = Probe::connect_v5(c.mqtt(j), &format!("sub-{j}"), true, vec![]).await;
        assert!(crate::harness::probe::connack_ok(&ack));
        let codes = p
            .subscribe_v5(
                1,
                &[(&format!("to/{j}/q0"), 0), (&format!("to/{j}/q1"), 1), (&format!("to/{j}/q2"), 2)],
                vec![],
            )
            .await;
        assert_eq!(codes, vec![0, 1, 2]);
        subs.push(p);
    }
    // Routes are local-first: wait until every node's catalog has every route.
    c.wait_applied(Duration::from_secs(10)).await;
    for (i, node) in c.nodes.iter().enumerate() {
        wait_for("routes replicated", Duration::from_secs(10), || {
            node.broker().cluster.routes_for("to/0/q0").nodes.len() == usize::from(i != 0)
        })
        .await;
    }
    let mut pubs = Vec::new();
    for i in 0..n {
        let (p, _) = Probe::connect_v5(c.mqtt(i), &format!("pub-{i}"), true, vec![]).await;
        pubs.push(p);
    }
    let mut pid = 1u16;
    for i in 0..n {
        for j in 0..n {
            if i == j {
                continue;
            }
            for q in 0..3u8 {
                let topic = format!("to/{j}/q{q}");
                let payload = format!("from {i} to {j} qos {q}");
                pubs[i].publish_v5(&topic, payload.as_bytes(), q, false, (q > 0).then_some(pid), vec![]).await;
                if q == 1 {
                    match pubs[i].expect().await {
                        Packet::V5_0Puback(a) => {
                            assert_eq!(a.reason_code().map_or(0, |c| c as u8), 0, "PUBACK after remote queued")
                        }
                        other => panic!("expected PUBACK, got {other:?}"),
                    }
                } else if q == 2 {
                    match pubs[i].expect().await {
                        Packet::V5_0Pubrec(r) => assert_eq!(r.reason_code().map_or(0, |c| c as u8), 0),
                        other => panic!("expected PUBREC, got {other:?}"),
                    }
                    pubs[i]
                        .send(
                            mqtt_protocol_core::mqtt::packet::v5_0::Pubrel::builder()
                                .packet_id(pid)
                                .build()
                                .expect("pubrel"),
                        )
                        .await;
                    match pubs[i].expect().await {
                        Packet::V5_0Pubcomp(_) => {}
                        other => panic!("expected PUBCOMP, got {other:?}"),
                    }
                }
                pid += 1;
                let got = subs[j].expect_publish_v5().await;
                assert_eq!(got.topic_name(), topic);
                assert_eq!(got.payload().as_slice(), payload.as_bytes());
                if q == 2 {
                    let p = got.packet_id().expect("pid");
                    subs[j]
                        .send(
                            mqtt_protocol_core::mqtt::packet::v5_0::Pubrec::builder()
                                .packet_id(p)
                                .build()
                                .expect("pubrec"),
                        )
                        .await;
                    match subs[j].expect().await {
                        Packet::V5_0Pubrel(_) => {}
                        other => panic!("expected PUBREL, got {other:?}"),
                    }
                    subs[j]
                        .send(
                            mqtt_protocol_core::mqtt::packet::v5_0::Pubcomp::builder()
                                .packet_id(p)
                                .build()
                                .expect("pubcomp"),
                        )
                        .await;
                } else if q == 1 {
                    let p = got.packet_id().expect("pid");
                    subs[j]
                        .send(
                            mqtt_protocol_core::mqtt::packet::v5_0::Puback::builder()
                                .packet_id(p)
                                .build()
                                .expect("puback"),
                        )
                        .await;
                }
            }
        }
    }
    // Exactly once: nothing more arrives anywhere.
    for s in &mut subs {
        s.expect_silence(Duration::from_millis(300)).await;
    }
    let voters = c.nodes[0].handle.as_ref().and_then(|h| h.cluster.raft()).map(|r| r.voters);
    assert_eq!(voters, Some(3), "cores vote, replicants stay learners");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_message_set_on_one_node_is_read_on_another() {
    let c = TestCluster::start(3, 1).await;
    let (mut p, _) = Probe::connect_v5(c.mqtt(3), "retainer", true, vec![]).await;
    p.publish_v5("state/lamp", b"on", 1, true, Some(1), vec![]).await;
    let _ = p.expect().await;
    c.wait_applied(Duration::from_secs(10)).await;
    for i in 0..3 {
        let (mut s, _) = Probe::connect_v5(c.mqtt(i), &format!("reader-{i}"), true, vec![]).await;
        s.subscribe_v5(1, &[("state/+", 0)], vec![]).await;
        let m = s.expect_publish_v5().await;
        assert_eq!(m.payload().as_slice(), b"on");
        assert!(m.retain());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_with_wrong_secret_is_refused() {
    let base = random_base();
    let good = TestNode::start_with(|cfg| node_config(cfg, base, 1, Role::Core, 1)).await;
    let bad = TestNode::start_with(|cfg| {
        node_config(cfg, base, 2, Role::Replicant, 1);
        if let Some(c) = cfg.cluster.as_mut() {
            c.secret = Some("a-completely-different-secret".into());
        }
    })
    .await;
    wait_for("refusal counted", Duration::from_secs(10), || good.cluster().metrics().refused_peers > 0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!bad.cluster().ready(), "a node with the wrong secret never joins");
    let members = good.handle.as_ref().and_then(|h| h.cluster.raft()).map(|r| r.members);
    assert_eq!(members, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_replicant_receives_the_catalog_by_snapshot() {
    let base = random_base();
    let tweak = |cfg: &mut starling::config::Config| {
        if let Some(c) = cfg.cluster.as_mut() {
            c.snapshot_every = 100;
        }
    };
    let core = TestNode::start_with(|cfg| {
        node_config(cfg, base, 1, Role::Core, 1);
        tweak(cfg);
    })
    .await;
    wait_for("core ready", Duration::from_secs(10), || core.cluster().ready()).await;
    let (mut p, _) = Probe::connect_v5(core.addr, "many", true, vec![]).await;
    // One committed entry per subscription (waiting for each), so the log outgrows
    // `snapshot_every` and the catalog is snapshotted and the log purged.
    for k in 0..300u16 {
        p.subscribe_v5(k + 1, &[(&format!("many/{k}/+"), 0)], vec![]).await;
        wait_for("route committed", Duration::from_secs(5), || core.cluster().metrics().pending_writes == 0).await;
    }
    p.publish_v5("kept/one", b"1", 0, true, None, vec![]).await;
    let r = core.cluster().clone();
    wait_for("snapshot taken", Duration::from_secs(20), || {
        r.raft().and_then(|v| v.snapshot_index).is_some_and(|i| i >= 200)
    })
    .await;
    let late = TestNode::start_with(|cfg| {
        node_config(cfg, base, 2, Role::Replicant, 1);
        tweak(cfg);
    })
    .await;
    wait_for("replicant joined", Duration::from_secs(20), || late.cluster().ready()).await;
    wait_for("routes on the replicant", Duration::from_secs(10), || {
        late.broker().cluster.routes_for("many/299/x").nodes.len() == 1
    })
    .await;
    assert_eq!(late.broker().catalog.retained_count(), 1);
    let lr = late.cluster().raft().expect("raft");
    assert!(lr.snapshot_index.is_some(), "the replicant installed a snapshot");
}

/// `$SYS/brokers/<node>/...` of every node reaches a subscriber on any node; `$SYS/broker/...`
/// stays the local node's own view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sys_topics_of_every_node_are_seen_from_one() {
    let c = TestCluster::start_with(3, 0, |_, cfg| {
        cfg.sys.enabled = true;
        cfg.sys.interval = Duration::from_secs(1);
    })
    .await;
    let (mut s, _) = Probe::connect_v5(c.mqtt(0), "sys-watcher", true, vec![]).await;
    s.subscribe_v5(1, &[("$SYS/brokers/+/uptime", 0)], vec![]).await;
    let mut seen = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while seen.len() < 3 && tokio::time::Instant::now() < deadline {
        let m = s.expect_publish_v5().await;
        seen.insert(m.topic_name().to_string());
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        vec!["$SYS/brokers/core-1/uptime", "$SYS/brokers/core-2/uptime", "$SYS/brokers/core-3/uptime"]
    );
}

/// A `$share` group with a member on every node gets each message once, cluster-wide, and
/// spreads the messages over the nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_subscription_members_spread_over_nodes_get_each_message_once() {
    let c = TestCluster::start(3, 0).await;
    let mut members = Vec::new();
    for i in 0..3 {
        let (mut p, _) = Probe::connect_v5(c.mqtt(i), &format!("worker-{i}"), true, vec![]).await;
        p.subscribe_v5(1, &[("$share/workers/jobs/+", 1)], vec![]).await;
        members.push(p);
    }
    c.wait_applied(Duration::from_secs(10)).await;
    wait_for("group routes on node 0", Duration::from_secs(10), || {
        c.nodes[0].broker().cluster.routes_for("jobs/x").shared.first().is_some_and(|(_, _, n)| n.len() == 3)
    })
    .await;
    let (mut publ, _) = Probe::connect_v5(c.mqtt(0), "dispatcher", true, vec![]).await;
    let total = 30u16;
    for k in 1..=total {
        publ.publish_v5("jobs/x", format!("job-{k}").as_bytes(), 1, false, Some(k), vec![]).await;
        match publ.expect().await {
            Packet::V5_0Puback(_) => {}
            other => panic!("expected PUBACK, got {other:?}"),
        }
    }
    let mut seen = std::collections::BTreeMap::new();
    let mut per_member = vec![0usize; 3];
    for (i, m) in members.iter_mut().enumerate() {
        loop {
            match m.recv_within(Duration::from_millis(700)).await {
                crate::harness::probe::Read::Packet(Packet::V5_0Publish(p)) => {
                    *seen.entry(String::from_utf8_lossy(p.payload().as_slice()).into_owned()).or_insert(0) += 1;
                    per_member[i] += 1;
                    if let Some(pid) = p.packet_id() {
                        m.send(
                            mqtt_protocol_core::mqtt::packet::v5_0::Puback::builder()
                                .packet_id(pid)
                                .build()
                                .expect("puback"),
                        )
                        .await;
                    }
                }
                crate::harness::probe::Read::Packet(_) => {}
                _ => break,
            }
        }
    }
    assert_eq!(seen.len(), usize::from(total), "every job delivered: {seen:?}");
    assert!(seen.values().all(|n| *n == 1), "each job exactly once in the group: {seen:?}");
    assert!(per_member.iter().filter(|n| **n > 0).count() >= 2, "spread over nodes: {per_member:?}");
}

/// A user added through the API of one node can log in on every node, and a ban added on one
/// node is enforced on all: users and bans live in the replicated catalog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_bans_added_on_one_node_hold_on_all() {
    let c = TestCluster::start_with(3, 1, |_, cfg| {
        cfg.admin.api_keys = vec![crate::admin_util::KEY.into()];
        if let Some(l) = cfg.listeners.get_mut("tcp") {
            l.allow_anonymous = Some(false);
        }
    })
    .await;
    let r = crate::admin_util::post_json(
        &c.nodes[3],
        "/api/v1/users",
        &serde_json::json!({"username": "fleet", "password": "s3cret-pw"}),
    )
    .await;
    assert!(r.status == 200 || r.status == 201, "user added through the replicant: {}", r.status);
    let r = crate::admin_util::post_json(
        &c.nodes[0],
        "/api/v1/bans",
        &serde_json::json!({"kind": "client_id", "value": "rogue"}),
    )
    .await;
    assert!(r.status == 200 || r.status == 201, "ban added: {}", r.status);
    c.wait_applied(Duration::from_secs(10)).await;
    for i in 0..4 {
        let (_p, rc) =
            crate::auth_util::login5(c.mqtt(i), &format!("fleet-{i}"), Some("fleet"), Some("s3cret-pw"), None).await;
        assert_eq!(rc, 0, "the API user logs in on node {i}");
        let (_p, rc) = crate::auth_util::login5(c.mqtt(i), "intruder", Some("fleet"), Some("wrong"), None).await;
        assert_eq!(rc, 0x86, "a wrong password is refused on node {i}");
        let (_p, rc) = crate::auth_util::login5(c.mqtt(i), "rogue", Some("fleet"), Some("s3cret-pw"), None).await;
        assert_eq!(rc, 0x8A, "the banned client id is refused on node {i}");
    }
}

/// A publisher with many QoS 1 and 2 messages in flight to a subscriber on another node (the
/// connection keeps reading while that node confirms): every PUBACK and PUBREC comes back in
/// the order of the PUBLISH packets (MQTT-4.6.0-2/3), and the subscriber gets every message,
/// in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_acknowledgements_keep_their_order() {
    let c = TestCluster::start(2, 0).await;
    let (mut sub, _) = Probe::connect_v5(c.mqtt(1), "pipe-sub", true, vec![]).await;
    assert_eq!(sub.subscribe_v5(1, &[("pipe/#", 2)], vec![]).await, vec![2]);
    wait_for("route replicated", Duration::from_secs(10), || {
        c.nodes[0].broker().cluster.routes_for("pipe/x").nodes.len() == 1
    })
    .await;
    let (mut publ, _) = Probe::connect_v5(c.mqtt(0), "pipe-pub", true, vec![]).await;
    // 100 publishes sent back to back, none waiting for its acknowledgement (the broker's
    // receive maximum is 128).
    let n: u16 = 100;
    for i in 1..=n {
        let q = if i % 3 == 0 { 2 } else { 1 };
        publ.publish_v5("pipe/x", format!("m{i}").as_bytes(), q, false, Some(i), vec![]).await;
    }
    let mut acked = Vec::new();
    while acked.len() < usize::from(n) {
        match publ.expect().await {
            Packet::V5_0Puback(a) => {
                assert_eq!(a.reason_code().map_or(0, |c| c as u8), 0);
                acked.push(a.packet_id());
            }
            Packet::V5_0Pubrec(r) => {
                assert_eq!(r.reason_code().map_or(0, |c| c as u8), 0);
                acked.push(r.packet_id());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(acked, (1..=n).collect::<Vec<_>>(), "acknowledged in the order sent");
    let mut got = Vec::new();
    while got.len() < usize::from(n) {
        use mqtt_protocol_core::mqtt::packet::v5_0;
        let ack: Packet = match sub.expect().await {
            Packet::V5_0Publish(p) => {
                got.push(String::from_utf8_lossy(p.payload().as_slice()).to_string());
                let Some(pid) = p.packet_id() else { continue };
                if p.qos() == crate::harness::probe::qos(1) {
                    v5_0::Puback::builder().packet_id(pid).build().expect("puback").into()
                } else {
                    v5_0::Pubrec::builder().packet_id(pid).build().expect("pubrec").into()
                }
            }
            Packet::V5_0Pubrel(r) => v5_0::Pubcomp::builder().packet_id(r.packet_id()).build().expect("pubcomp").into(),
            other => panic!("unexpected {other:?}"),
        };
        sub.send(ack).await;
    }
    assert_eq!(got, (1..=n).map(|i| format!("m{i}")).collect::<Vec<_>>(), "delivered once each, in order");
}
