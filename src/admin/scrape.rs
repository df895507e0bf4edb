//! `/metrics`: the broker's registry (`metrics::Metrics`) plus values computed at scrape time —
//! totals that are cheaper to count when asked than to track on the data path (queues, routes),
//! storage (data-dir size, free space on its filesystem) and the `process_*` family that
//! Prometheus' own client libraries export (read from `/proc/self`, Linux only; on other systems
//! those lines are left out rather than reported as zero).

use std::path::Path;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::{AdminState, error};
use crate::broker::Broker;
use crate::cluster::admin::ClusterAdmin;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const EOF: &str = "# EOF\n";

pub(super) async fn metrics(State(s): State<AdminState>) -> Response {
    // Counting queues locks every session briefly: keep it off the async workers.
    match tokio::task::spawn_blocking(move || render(&s.broker, &*s.cluster)).await {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("metrics collection failed: {e}")),
    }
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The whole exposition: the broker's registry (its trailing `# EOF` removed), then the
/// scrape-time registry.
pub fn render(broker: &Arc<Broker>, cluster: &dyn ClusterAdmin) -> String {
    let t = broker.totals();
    // Gauges the data path does not maintain (or only approximately): set them from the source
    // of truth right before encoding.
    let m = &broker.metrics;
    m.queued.set(clamp(t.queued as u64));
    m.inflight.set(clamp(t.inflight as u64));
    m.retained.set(clamp(t.retained as u64));
    m.subscriptions.set(clamp(t.subscriptions as u64));
    let mut out = m.encode();
    if out.ends_with(EOF) {
        out.truncate(out.len() - EOF.len());
    }

    let mut reg = Registry::default();
    {
        let s = reg.sub_registry_with_prefix("starling");
        s.register(
            "routes",
            "Topic filters this node routes to local subscribers",
            ConstGauge::new(clamp(t.routes as u64)),
        );
        s.register("sessions", "Sessions on this node, connected or not", ConstGauge::new(clamp(t.sessions as u64)));
        cluster_metrics(s, &cluster.metrics());
        let dir = broker.store.data_dir();
        s.register(
            "data_dir_bytes",
            "Bytes the database occupies in the data directory",
            ConstGauge::new(clamp(broker.store.disk_space())),
        );
        if let Some(free) = disk_free(dir) {
            s.register(
                "disk_free_bytes",
                "Bytes available to the broker on the data directory's filesystem",
                ConstGauge::new(clamp(free)),
            );
        }
    }
    if let Some(b) = broker.bridges.get() {
        b.register_metrics(&mut reg);
    }
    process_metrics(&mut reg);
    if prometheus_client::encoding::text::encode(&mut out, &reg).is_err() {
        out.push_str(EOF);
    }
    out
}

/// The cluster as this node sees it (a standalone node is a cluster of one core).
fn cluster_metrics(s: &mut Registry, c: &crate::cluster::admin::ClusterMetrics) {
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    let nodes = Family::<Vec<(String, String)>, Gauge>::default();
    for (role, state, n) in &c.nodes {
        nodes.get_or_create(&vec![("role".into(), role.clone()), ("state".into(), state.clone())]).set(clamp(*n));
    }
    s.register("cluster_nodes", "Members of the cluster by role and state, as this node sees them", nodes);
    s.register("raft_is_leader", "1 when this node is the Raft leader", ConstGauge::new(i64::from(c.is_leader)));
    s.register("raft_term", "Current Raft term", ConstGauge::new(clamp(c.term)));
    s.register("raft_leader_changes", "Leader changes seen by this node", ConstCounter::new(c.leader_changes));
    s.register(
        "raft_last_log_index",
        "Index of the last entry in this node's Raft log",
        ConstGauge::new(clamp(c.last_log_index)),
    );
    s.register(
        "raft_applied_index",
        "Index of the last catalog entry applied on this node",
        ConstGauge::new(clamp(c.applied_index)),
    );
    s.register(
        "raft_replication_lag_entries",
        "Catalog log entries this node's applied state is behind the leader's log",
        ConstGauge::new(clamp(c.replication_lag_entries)),
    );
    s.register(
        "raft_replication_lag_seconds",
        "How long this node has been more than a few entries behind the leader",
        ConstGauge::new(c.replication_lag_seconds),
    );
    s.register(
        "cluster_outbox_messages",
        "QoS 1/2 messages kept on this node for peers that did not confirm them",
        ConstGauge::new(clamp(c.outbox_messages)),
    );
    s.register(
        "raft_pending_writes",
        "Catalog writes submitted on this node and not yet committed",
        ConstGauge::new(clamp(c.pending_writes)),
    );
    {
        use prometheus_client::metrics::counter::Counter;
        let msgs = Family::<Vec<(String, String)>, Counter>::default();
        let bytes = Family::<Vec<(String, String)>, Counter>::default();
        for (peer, n, b) in &c.forwarded {
            msgs.get_or_create(&vec![("peer".into(), peer.clone())]).inc_by(*n);
            bytes.get_or_create(&vec![("peer".into(), peer.clone())]).inc_by(*b);
        }
        s.register("cluster_forwarded_messages", "Publishes forwarded to other nodes, by peer", msgs);
        s.register("cluster_forwarded_bytes", "Bytes of publishes forwarded to other nodes, by peer", bytes);
    }
    s.register(
        "cluster_received_messages",
        "Publishes received from other nodes",
        ConstCounter::new(c.received_messages),
    );
    s.register(
        "cluster_link_publish_frames_sent",
        "Cluster link frames sent that carried forwarded publishes (one or a batch)",
        ConstCounter::new(c.publish_frames_sent),
    );
    s.register(
        "cluster_link_writes",
        "Socket writes (flushes) of the cluster link's outgoing connections",
        ConstCounter::new(c.link_writes),
    );
    s.register(
        "cluster_link_publish_frames_received",
        "Cluster link frames received that carried forwarded publishes (one or a batch)",
        ConstCounter::new(c.publish_frames_received),
    );
    s.register(
        "cluster_link_reads",
        "Socket reads of the cluster link's incoming connections",
        ConstCounter::new(c.link_reads),
    );
    s.register(
        "cluster_link_congested_reads",
        "Cluster link reads after which the reader yielded because a subscriber it fed has a backlog",
        ConstCounter::new(c.link_congested_reads),
    );
    s.register(
        "cluster_link_deferred_messages",
        "Forwarded publishes delivered by the link's delivering task, behind one that had to wait",
        ConstCounter::new(c.link_deferred_messages),
    );
    s.register(
        "cluster_link_errors",
        "Cluster link connections that failed or broke",
        ConstCounter::new(c.link_errors),
    );
    s.register(
        "cluster_refused_peers",
        "Cluster peers refused (wrong secret, cluster name or version)",
        ConstCounter::new(c.refused_peers),
    );
}

/// Space available to unprivileged users (what the broker can still write), via statvfs.
fn disk_free(dir: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// The standard `process_*` metrics, from `/proc/self`.
fn process_metrics(reg: &mut Registry) {
    let Some(p) = ProcStat::read() else { return };
    let ticks = rustix::param::clock_ticks_per_second().max(1) as f64;
    let page = rustix::param::page_size() as u64;
    reg.register(
        "process_cpu_seconds",
        "Total user and system CPU time spent in seconds",
        ConstCounter::new((p.utime + p.stime) as f64 / ticks),
    );
    reg.register(
        "process_resident_memory_bytes",
        "Resident memory size in bytes",
        ConstGauge::new(clamp(p.rss_pages.saturating_mul(page))),
    );
    reg.register("process_virtual_memory_bytes", "Virtual memory size in bytes", ConstGauge::new(clamp(p.vsize)));
    reg.register("process_threads", "Number of OS threads in the process", ConstGauge::new(clamp(p.threads)));
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        reg.register("process_open_fds", "Number of open file descriptors", ConstGauge::new(clamp(fds.count() as u64)));
    }
    if let Some(max) = max_fds() {
        reg.register("process_max_fds", "Maximum number of open file descriptors", ConstGauge::new(clamp(max)));
    }
    if let Some(btime) = boot_time() {
        reg.register(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            ConstGauge::new(btime as f64 + p.starttime as f64 / ticks),
        );
    }
}

/// The fields of `/proc/self/stat` we export (see proc(5)).
struct ProcStat {
    utime: u64,
    stime: u64,
    threads: u64,
    starttime: u64,
    vsize: u64,
    rss_pages: u64,
}

impl ProcStat {
    fn read() -> Option<ProcStat> {
        let text = std::fs::read_to_string("/proc/self/stat").ok()?;
        ProcStat::parse(&text)
    }

    fn parse(text: &str) -> Option<ProcStat> {
        // The command name is in parentheses and may contain spaces or ')': split after the last.
        let rest = &text[text.rfind(')')? + 1..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        // `f[0]` is field 3 of proc(5) (state), so field n is `f[n - 3]`.
        let n = |field: usize| f.get(field - 3).and_then(|v| v.parse::<u64>().ok());
        Some(ProcStat {
            utime: n(14)?,
            stime: n(15)?,
            threads: n(20)?,
            starttime: n(22)?,
            vsize: n(23)?,
            rss_pages: n(24)?,
        })
    }
}

fn max_fds() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn boot_time() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    text.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_parses_a_command_with_spaces_and_parens() {
        let line = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 123456 \
                    987654321 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
        let p = ProcStat::parse(line).expect("parses");
        assert_eq!(
            (p.utime, p.stime, p.threads, p.starttime, p.vsize, p.rss_pages),
            (250, 50, 7, 123456, 987654321, 2048)
        );
    }

    #[test]
    fn this_process_has_stats() {
        assert!(ProcStat::read().is_some());
        assert!(max_fds().is_some_and(|m| m > 0));
        assert!(boot_time().is_some_and(|b| b > 1_000_000_000));
        assert!(disk_free(Path::new("/")).is_some());
    }
}
