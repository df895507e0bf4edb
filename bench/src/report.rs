//! The final result of a run: one serialisable struct (for `--json` and the comparison
//! scripts) and its human-readable rendering.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use serde::Serialize;

use super::stats::LatencySummary;

/// Clients and handshakes.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ClientsReport {
    pub requested: u64,
    /// Reached CONNACK (and SUBACK for subscribers) in time for the load phase.
    pub ready: u64,
    pub failed: u64,
    /// Successful CONNACKs per second, from the first connect start to the last CONNACK.
    pub connect_rate_per_s: f64,
    /// TCP connect start → CONNACK, per client.
    pub handshake_us: Option<LatencySummary>,
    /// Time from the first connect start until every client was ready or had failed.
    pub connect_phase_s: f64,
}

/// Message counts.
#[derive(Debug, Default, Clone, Serialize)]
pub struct MessagesReport {
    /// PUBLISH packets handed to the socket.
    pub sent: u64,
    /// QoS 1/2 publishes acknowledged by the broker.
    pub acked: u64,
    /// Deliveries the subscriptions should have produced (pubsub only).
    pub expected: Option<u64>,
    /// PUBLISH packets received by subscribers, duplicates included.
    pub received: u64,
    /// Distinct (publisher, sequence) deliveries per subscriber (pubsub only).
    pub unique: Option<u64>,
    pub duplicates: Option<u64>,
    /// Deliveries that arrived after a later message of the same publisher.
    pub out_of_order: Option<u64>,
    /// `expected - unique` (pubsub only); QoS 0 may legitimately lose messages under overload.
    pub lost: Option<u64>,
    /// Received messages without a valid stamp of this run.
    pub foreign: Option<u64>,
}

/// Throughput. Medians are over one-second samples taken while the load ran; `None` when the
/// run was too short to have a full one-second sample.
#[derive(Debug, Default, Clone, Serialize)]
pub struct RatesReport {
    pub sent_median_per_s: Option<f64>,
    pub sent_overall_per_s: f64,
    pub recv_median_per_s: Option<f64>,
    pub recv_overall_per_s: f64,
}

/// How many clients failed for one reason, and one full message as an example.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ErrorCount {
    pub count: u64,
    pub example: String,
}

/// The result of one `starling-bench` run.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub target: String,
    /// Where the subscribers connected (`pubsub --sub-host/--sub-port`), when not `target`.
    pub sub_target: Option<String>,
    pub protocol: String,
    pub qos: Option<u8>,
    pub payload_bytes: Option<usize>,
    pub publishers: Option<u64>,
    pub subscribers: Option<u64>,
    pub clients: ClientsReport,
    /// Length of the load phase actually run (hold time for `conn`).
    pub load_s: f64,
    pub messages: Option<MessagesReport>,
    pub rates: Option<RatesReport>,
    /// End-to-end latency publish → delivery, pubsub only.
    pub latency_us: Option<LatencySummary>,
    pub errors: BTreeMap<String, ErrorCount>,
    /// Stopped early by Ctrl-C.
    pub interrupted: bool,
}

/// `1234567.8` → `1,234,568`.
pub fn thousands(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let n = v.round().abs() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if v < -0.5 { format!("-{out}") } else { out }
}

fn opt_rate(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |r| format!("{}/s", thousands(r)))
}

fn latency_line(l: &LatencySummary, unit_div: f64, unit: &str) -> String {
    let f = |v: f64| {
        let v = v / unit_div;
        if v >= 100.0 { thousands(v) } else { format!("{v:.1}") }
    };
    format!(
        "p50 {} p90 {} p99 {} p99.9 {} max {} {unit} (n = {})",
        f(l.p50_us),
        f(l.p90_us),
        f(l.p99_us),
        f(l.p999_us),
        f(l.max_us),
        thousands(l.count as f64)
    )
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut head = format!("== {} against {}", self.scenario, self.target);
        if let Some(t) = &self.sub_target {
            let _ = write!(head, ", subscribers on {t}");
        }
        let _ = write!(head, " (MQTT {}", self.protocol);
        if let Some(q) = self.qos {
            let _ = write!(head, ", QoS {q}");
        }
        if let Some(s) = self.payload_bytes {
            let _ = write!(head, ", {s} B payload");
        }
        let _ = write!(head, ", load {:.1} s)", self.load_s);
        if self.interrupted {
            head.push_str(" [interrupted]");
        }
        writeln!(f, "{head}")?;

        let c = &self.clients;
        write!(
            f,
            "clients    {}/{} ready, {} failed; {} connects/s; connect phase {:.2} s",
            c.ready,
            c.requested,
            c.failed,
            thousands(c.connect_rate_per_s),
            c.connect_phase_s
        )?;
        if let (Some(p), Some(s)) = (self.publishers, self.subscribers) {
            write!(f, " ({p} publishers, {s} subscribers)")?;
        }
        writeln!(f)?;
        if let Some(h) = &c.handshake_us {
            writeln!(f, "handshake  {}", latency_line(h, 1000.0, "ms"))?;
        }

        // `pub` has no subscribers and `sub` no publishers: print only the side that ran.
        let (has_pub, has_sub) = (self.publishers.is_some(), self.subscribers.is_some());
        if let Some(m) = &self.messages {
            if has_pub {
                write!(f, "published  {}", thousands(m.sent as f64))?;
                if m.acked > 0 {
                    write!(f, " (acked {})", thousands(m.acked as f64))?;
                }
                writeln!(f)?;
            }
            if has_sub {
                write!(f, "received   {}", thousands(m.received as f64))?;
                if let Some(e) = m.expected {
                    write!(f, " of {} expected", thousands(e as f64))?;
                }
                if let (Some(u), Some(d), Some(o), Some(l)) = (m.unique, m.duplicates, m.out_of_order, m.lost) {
                    write!(
                        f,
                        "; unique {}, lost {}, duplicates {}, out of order {}",
                        thousands(u as f64),
                        thousands(l as f64),
                        thousands(d as f64),
                        thousands(o as f64)
                    )?;
                }
                if let Some(x) = m.foreign.filter(|x| *x > 0) {
                    write!(f, ", unstamped {}", thousands(x as f64))?;
                }
                writeln!(f)?;
            }
        }
        if let Some(r) = &self.rates {
            let sent =
                format!("sent median {} overall {}/s", opt_rate(r.sent_median_per_s), thousands(r.sent_overall_per_s));
            let recv = format!(
                "received median {} overall {}/s",
                opt_rate(r.recv_median_per_s),
                thousands(r.recv_overall_per_s)
            );
            match (has_pub, has_sub) {
                (true, true) => writeln!(f, "msgs/s     {sent}; {recv}")?,
                (true, false) => writeln!(f, "msgs/s     {sent}")?,
                (false, true) => writeln!(f, "msgs/s     {recv}")?,
                (false, false) => {}
            }
        }
        if let Some(l) = &self.latency_us {
            writeln!(f, "latency    {}", latency_line(l, 1.0, "µs"))?;
        }
        if self.errors.is_empty() {
            writeln!(f, "errors     none")?;
        } else {
            for (kind, e) in &self.errors {
                writeln!(f, "errors     {} × {kind}: {}", e.count, e.example)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
        assert_eq!(thousands(-1234.0), "-1,234");
        assert_eq!(thousands(f64::NAN), "n/a");
    }

    #[test]
    fn renders_and_serialises() {
        let mut r = Report {
            scenario: "pubsub".into(),
            target: "127.0.0.1:1883".into(),
            protocol: "3.1.1".into(),
            qos: Some(1),
            publishers: Some(1),
            subscribers: Some(1),
            messages: Some(MessagesReport { sent: 10, received: 9, expected: Some(10), ..Default::default() }),
            rates: Some(RatesReport::default()),
            ..Default::default()
        };
        r.errors.insert("refused".into(), ErrorCount { count: 2, example: "connection refused by x".into() });
        let text = r.to_string();
        assert!(text.contains("QoS 1"), "{text}");
        assert!(text.contains("9 of 10 expected"), "{text}");
        assert!(text.contains("sent median n/a"), "{text}");
        assert!(text.contains("2 × refused"), "{text}");
        let json = serde_json::to_value(&r).expect("serialises");
        assert!(json["sub_target"].is_null());
        r.sub_target = Some("127.0.0.3:1883".into());
        let text = r.to_string();
        assert!(text.contains("against 127.0.0.1:1883, subscribers on 127.0.0.3:1883 (MQTT 3.1.1"), "{text}");
        r.subscribers = None; // a `pub` run: no receive side to print
        let text = r.to_string();
        assert!(text.contains("published  10"), "{text}");
        assert!(!text.contains("received"), "{text}");
        assert_eq!(json["messages"]["expected"], 10);
        assert!(json["rates"]["sent_median_per_s"].is_null());
    }
}
