//! Command-line options of `starling-bench` (emqtt_bench-like short flags) and their validation
//! into typed plans.
//!
//! `-h` is the broker host, as in emqtt_bench, so each subcommand turns clap's `-h` help flag
//! off and offers `--help` only. Validation happens before any socket is opened, so a bad flag
//! costs nothing and the message names the flag.

use std::time::Duration;

use clap::{ArgAction, Args, value_parser};
use mqtt_protocol_core::mqtt::Version;
use mqtt_protocol_core::mqtt::packet::Qos;

use super::payload::STAMP_LEN;
use super::topic::{Template, TopicError};

/// Upper bound on any run's load phase: a forgotten benchmark must still stop by itself.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// Upper bound on payload size (16 MiB): the generator keeps per-client buffers of this size.
pub const MAX_PAYLOAD: usize = 16 * 1024 * 1024;
/// Upper bound on clients per run; file descriptors run out long before this anyway.
pub const MAX_CLIENTS: usize = 1_000_000;

/// How to reach the broker and how each client identifies itself.
#[derive(Debug, Clone, Args)]
pub struct ConnectOpts {
    /// Broker host name or IP address.
    #[arg(short = 'h', long, default_value = "127.0.0.1")]
    pub host: String,
    /// Broker TCP port.
    #[arg(short = 'p', long, default_value_t = 1883)]
    pub port: u16,
    /// MQTT version: 3 or 4 for 3.1.1, 5 for 5.0.
    #[arg(short = 'V', long = "protocol-version", default_value_t = 5,
          value_parser = value_parser!(u8).range(3..=5))]
    pub version: u8,
    /// Keep alive in seconds (0 turns PINGREQ off).
    #[arg(short = 'k', long = "keepalive", default_value_t = 300)]
    pub keep_alive: u16,
    /// User name for CONNECT.
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password for CONNECT.
    #[arg(short = 'P', long)]
    pub password: Option<String>,
    /// Client id prefix; ids are `<prefix>_<pub|sub|conn>_<n>` with n starting at 1.
    #[arg(long, default_value = "bench")]
    pub prefix: String,
    /// Clean session (3.1.1) / clean start (5.0); `--clean false` resumes sessions.
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true")]
    pub clean: bool,
    /// MQTT 5 session expiry interval in seconds.
    #[arg(long)]
    pub session_expiry: Option<u32>,
    /// Milliseconds between two connect starts (default: as fast as --max-connecting allows).
    #[arg(short = 'i', long = "interval", conflicts_with = "rate")]
    pub connect_interval_ms: Option<u64>,
    /// Connect starts per second across all clients (instead of -i).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Handshakes in progress at once. Kept near common listen backlogs (mosquitto uses 100):
    /// a larger burst overflows the SYN queue and measures TCP's 1 s retransmit, not the broker.
    #[arg(long, default_value_t = 100)]
    pub max_connecting: usize,
    /// Give up on one handshake (TCP connect + CONNACK, + SUBACK for subscribers) after this.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,
    /// Print help (`-h` is the host, as in emqtt_bench).
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
}

/// How long to run and how to report.
#[derive(Debug, Clone, Args)]
pub struct RunOpts {
    /// Length of the load phase (after the connect phase); every run is bounded.
    #[arg(short = 'd', long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Print the final result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Do not print the per-second progress line on stderr.
    #[arg(long)]
    pub no_progress: bool,
}

/// What publishers send.
#[derive(Debug, Clone, Args)]
pub struct PublishOpts {
    /// Topic; `%i` = publisher number, `%c` = client id.
    #[arg(short = 't', long, default_value = "bench/%i")]
    pub topic: String,
    /// QoS of the publishes.
    #[arg(short = 'q', long, default_value_t = 0, value_parser = value_parser!(u8).range(0..=2))]
    pub qos: u8,
    /// Payload size in bytes; the first 16 carry a send timestamp and sequence number.
    #[arg(short = 's', long = "size", default_value_t = 256)]
    pub size: usize,
    /// Milliseconds between two publishes of one client (0 or unset: as fast as possible).
    #[arg(short = 'I', long = "pub-interval", conflicts_with = "msg_rate")]
    pub pub_interval_ms: Option<u64>,
    /// Total publishes per second across all publishers (instead of -I).
    #[arg(short = 'r', long = "msg-rate")]
    pub msg_rate: Option<f64>,
    /// Total publishes across all publishers, then stop (split evenly).
    #[arg(short = 'L', long = "limit")]
    pub limit: Option<u64>,
    /// Unacknowledged QoS 1/2 publishes per client; a slow broker slows the publisher instead
    /// of growing memory.
    #[arg(long, default_value_t = 64)]
    pub inflight: u16,
    /// Set the retain flag.
    #[arg(long)]
    pub retain: bool,
}

/// `starling-bench conn`: connect clients and hold them idle.
#[derive(Debug, Clone, Args)]
pub struct ConnArgs {
    /// Number of clients.
    #[arg(short = 'c', long, default_value_t = 100)]
    pub count: usize,
    #[command(flatten)]
    pub connect: ConnectOpts,
    #[command(flatten)]
    pub run: RunOpts,
}

/// `starling-bench pub`: publishers only.
#[derive(Debug, Clone, Args)]
pub struct PubArgs {
    /// Number of publishing clients.
    #[arg(short = 'c', long, default_value_t = 1)]
    pub count: usize,
    #[command(flatten)]
    pub publish: PublishOpts,
    #[command(flatten)]
    pub connect: ConnectOpts,
    #[command(flatten)]
    pub run: RunOpts,
}

/// `starling-bench sub`: subscribers only.
#[derive(Debug, Clone, Args)]
pub struct SubArgs {
    /// Number of subscribing clients.
    #[arg(short = 'c', long, default_value_t = 1)]
    pub count: usize,
    /// Topic filter; `%i` = subscriber number, `%c` = client id.
    #[arg(short = 't', long, default_value = "bench/#")]
    pub topic: String,
    /// Maximum QoS requested in SUBSCRIBE.
    #[arg(short = 'q', long, default_value_t = 0, value_parser = value_parser!(u8).range(0..=2))]
    pub qos: u8,
    #[command(flatten)]
    pub connect: ConnectOpts,
    #[command(flatten)]
    pub run: RunOpts,
}

/// `starling-bench pubsub`: publishers and subscribers in one process, so end-to-end latency,
/// losses and duplicates can be measured exactly.
#[derive(Debug, Clone, Args)]
pub struct PubSubArgs {
    /// Number of publishing clients.
    #[arg(long, default_value_t = 1)]
    pub publishers: usize,
    /// Number of subscribing clients.
    #[arg(long, default_value_t = 1)]
    pub subscribers: usize,
    /// Subscription filter; `%i` = subscriber number, `%c` = client id.
    #[arg(long, default_value = "bench/#")]
    pub sub_topic: String,
    /// Maximum QoS requested in SUBSCRIBE (default: the publish QoS).
    #[arg(long, value_parser = value_parser!(u8).range(0..=2))]
    pub sub_qos: Option<u8>,
    /// After publishers stop, wait at most this long for in-flight deliveries.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub drain: Duration,
    /// Host the subscribers connect to (default: -h), e.g. another node of the same cluster,
    /// so cross-node delivery is measured with one latency clock.
    #[arg(long)]
    pub sub_host: Option<String>,
    /// Port the subscribers connect to (default: -p).
    #[arg(long)]
    pub sub_port: Option<u16>,
    /// Wait this long after the last SUBACK before publishing: in a cluster a new route
    /// reaches the publishers' node only once committed, and earlier messages would not be
    /// forwarded.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub settle: Duration,
    #[command(flatten)]
    pub publish: PublishOpts,
    #[command(flatten)]
    pub connect: ConnectOpts,
    #[command(flatten)]
    pub run: RunOpts,
}

/// A refused option, with the flag named in the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Topic(#[from] TopicError),
}

fn invalid<T>(msg: impl Into<String>) -> Result<T, ArgError> {
    Err(ArgError::Invalid(msg.into()))
}

/// Validated connection settings shared by every client of a run.
#[derive(Debug, Clone)]
pub struct SessionPlan {
    pub host: String,
    pub port: u16,
    pub version: Version,
    pub keep_alive: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub prefix: String,
    pub clean: bool,
    pub session_expiry: Option<u32>,
    /// Delay between connect starts; `None` = no pacing beyond `max_connecting`.
    pub connect_interval: Option<Duration>,
    pub max_connecting: usize,
    pub connect_timeout: Duration,
}

impl SessionPlan {
    /// The client id of the `n`-th (1-based) client of `role`.
    pub fn client_id(&self, role: &str, n: usize) -> String {
        if self.prefix.is_empty() { format!("{role}_{n}") } else { format!("{}_{role}_{n}", self.prefix) }
    }
}

/// Validated reporting/duration settings.
#[derive(Debug, Clone, Copy)]
pub struct RunPlan {
    pub duration: Duration,
    pub json: bool,
    pub progress: bool,
}

/// Validated publisher settings.
#[derive(Debug, Clone)]
pub struct PublishPlan {
    pub topic: Template,
    pub qos: Qos,
    pub size: usize,
    /// Gap between two publishes of one client; `None` = flood.
    pub interval: Option<Duration>,
    /// Total publishes across all publishers.
    pub limit: Option<u64>,
    pub inflight: u16,
    pub retain: bool,
}

impl PublishPlan {
    /// Publishes allowed to publisher `idx` (0-based) of `count` when a total limit is split.
    pub fn limit_for(&self, idx: usize, count: usize) -> Option<u64> {
        let total = self.limit?;
        let count = count.max(1) as u64;
        let idx = idx as u64;
        Some(total / count + u64::from(idx < total % count))
    }
}

/// Validated subscriber settings.
#[derive(Debug, Clone)]
pub struct SubscribePlan {
    pub filter: Template,
    pub qos: Qos,
}

fn qos(q: u8) -> Result<Qos, ArgError> {
    match q {
        0 => Ok(Qos::AtMostOnce),
        1 => Ok(Qos::AtLeastOnce),
        2 => Ok(Qos::ExactlyOnce),
        _ => invalid(format!("-q {q}: QoS must be 0, 1 or 2")),
    }
}

fn check_count(flag: &str, count: usize) -> Result<usize, ArgError> {
    if count == 0 || count > MAX_CLIENTS {
        return invalid(format!("{flag} {count}: must be between 1 and {MAX_CLIENTS}"));
    }
    Ok(count)
}

fn positive_rate(flag: &str, rate: f64) -> Result<f64, ArgError> {
    if !(rate.is_finite() && rate > 0.0) {
        return invalid(format!("{flag} {rate}: must be a positive number"));
    }
    Ok(rate)
}

impl ConnectOpts {
    /// Checks the options; `clients` is how many clients the run will start (for `--rate`).
    pub fn validate(&self) -> Result<SessionPlan, ArgError> {
        let version = match self.version {
            3 | 4 => Version::V3_1_1,
            5 => Version::V5_0,
            v => {
                return invalid(format!("-V {v}: use 3 (or 4) for MQTT 3.1.1, 5 for MQTT 5.0"));
            }
        };
        if self.host.is_empty() {
            return invalid("-h: host must not be empty");
        }
        if self.port == 0 {
            return invalid("-p 0: port must be 1..65535");
        }
        if self.session_expiry.is_some() && version != Version::V5_0 {
            return invalid("--session-expiry needs MQTT 5 (-V 5)");
        }
        if self.max_connecting == 0 {
            return invalid("--max-connecting must be at least 1");
        }
        if self.connect_timeout.is_zero() {
            return invalid("--connect-timeout must be positive");
        }
        if self.password.is_some() && self.username.is_none() && version == Version::V3_1_1 {
            return invalid("-P without -u is not allowed in MQTT 3.1.1");
        }
        let connect_interval = match (self.connect_interval_ms, self.rate) {
            (Some(_), Some(_)) => return invalid("-i and --rate are alternatives; give one"),
            (Some(0), None) | (None, None) => None,
            (Some(ms), None) if ms > 3_600_000 => {
                return invalid(format!("-i {ms}: at most one hour between connects"));
            }
            (Some(ms), None) => Some(Duration::from_millis(ms)),
            (None, Some(r)) => Some(Duration::from_secs_f64(1.0 / positive_rate("--rate", r)?)),
        };
        Ok(SessionPlan {
            host: self.host.clone(),
            port: self.port,
            version,
            keep_alive: self.keep_alive,
            username: self.username.clone(),
            password: self.password.clone(),
            prefix: self.prefix.clone(),
            clean: self.clean,
            session_expiry: self.session_expiry,
            connect_interval,
            max_connecting: self.max_connecting,
            connect_timeout: self.connect_timeout,
        })
    }
}

impl RunOpts {
    pub fn validate(&self) -> Result<RunPlan, ArgError> {
        if self.duration.is_zero() || self.duration > MAX_DURATION {
            return invalid(format!(
                "-d {}: duration must be positive and at most 24h",
                humantime::format_duration(self.duration)
            ));
        }
        Ok(RunPlan { duration: self.duration, json: self.json, progress: !self.no_progress })
    }
}

impl PublishOpts {
    /// `publishers` is the number of publishing clients (for splitting `-r`).
    pub fn validate(&self, publishers: usize) -> Result<PublishPlan, ArgError> {
        let topic = Template::parse(&self.topic)?;
        topic.check_publishable()?;
        if self.size > MAX_PAYLOAD {
            return invalid(format!("-s {}: payload at most {MAX_PAYLOAD} bytes", self.size));
        }
        if self.inflight == 0 {
            return invalid("--inflight must be at least 1");
        }
        if self.limit == Some(0) {
            return invalid("-L 0: limit must be at least 1 (omit -L for no limit)");
        }
        let interval = match (self.pub_interval_ms, self.msg_rate) {
            (Some(_), Some(_)) => return invalid("-I and -r are alternatives; give one"),
            (Some(0), None) | (None, None) => None,
            (Some(ms), None) if ms > 3_600_000 => {
                return invalid(format!("-I {ms}: at most one hour between publishes"));
            }
            (Some(ms), None) => Some(Duration::from_millis(ms)),
            (None, Some(r)) => {
                let r = positive_rate("-r", r)?;
                Some(Duration::from_secs_f64(publishers.max(1) as f64 / r))
            }
        };
        Ok(PublishPlan {
            topic,
            qos: qos(self.qos)?,
            size: self.size,
            interval,
            limit: self.limit,
            inflight: self.inflight,
            retain: self.retain,
        })
    }
}

fn subscribe_plan(filter: &str, q: u8) -> Result<SubscribePlan, ArgError> {
    let filter = Template::parse(filter)?;
    filter.check_filter()?;
    Ok(SubscribePlan { filter, qos: qos(q)? })
}

/// Everything a `conn` run needs.
#[derive(Debug, Clone)]
pub struct ConnPlan {
    pub count: usize,
    pub session: SessionPlan,
    pub run: RunPlan,
}

/// Everything a `pub` run needs.
#[derive(Debug, Clone)]
pub struct PubPlan {
    pub count: usize,
    pub session: SessionPlan,
    pub publish: PublishPlan,
    pub run: RunPlan,
}

/// Everything a `sub` run needs.
#[derive(Debug, Clone)]
pub struct SubPlan {
    pub count: usize,
    pub session: SessionPlan,
    pub subscribe: SubscribePlan,
    pub run: RunPlan,
}

/// Everything a `pubsub` run needs.
#[derive(Debug, Clone)]
pub struct PubSubPlan {
    pub publishers: usize,
    pub subscribers: usize,
    /// Publishers' connection settings.
    pub session: SessionPlan,
    /// Subscribers' connection settings: `session` with `--sub-host`/`--sub-port` applied.
    pub sub_session: SessionPlan,
    pub publish: PublishPlan,
    pub subscribe: SubscribePlan,
    /// Pause between the last SUBACK and the first publish.
    pub settle: Duration,
    pub drain: Duration,
    pub run: RunPlan,
}

impl ConnArgs {
    pub fn validate(&self) -> Result<ConnPlan, ArgError> {
        Ok(ConnPlan {
            count: check_count("-c", self.count)?,
            session: self.connect.validate()?,
            run: self.run.validate()?,
        })
    }
}

impl PubArgs {
    pub fn validate(&self) -> Result<PubPlan, ArgError> {
        let count = check_count("-c", self.count)?;
        Ok(PubPlan {
            count,
            session: self.connect.validate()?,
            publish: self.publish.validate(count)?,
            run: self.run.validate()?,
        })
    }
}

impl SubArgs {
    pub fn validate(&self) -> Result<SubPlan, ArgError> {
        Ok(SubPlan {
            count: check_count("-c", self.count)?,
            session: self.connect.validate()?,
            subscribe: subscribe_plan(&self.topic, self.qos)?,
            run: self.run.validate()?,
        })
    }
}

impl PubSubArgs {
    pub fn validate(&self) -> Result<PubSubPlan, ArgError> {
        let publishers = check_count("--publishers", self.publishers)?;
        let subscribers = check_count("--subscribers", self.subscribers)?;
        if self.publish.size < STAMP_LEN {
            return invalid(format!(
                "-s {}: pubsub needs at least {STAMP_LEN} bytes of payload for the latency stamp",
                self.publish.size
            ));
        }
        if self.drain > MAX_DURATION {
            return invalid("--drain must be at most 24h");
        }
        if self.settle > MAX_DURATION {
            return invalid("--settle must be at most 24h");
        }
        let publish = self.publish.validate(publishers)?;
        let subscribe = subscribe_plan(&self.sub_topic, self.sub_qos.unwrap_or(self.publish.qos))?;
        let session = self.connect.validate()?;
        let mut sub_session = session.clone();
        if let Some(host) = &self.sub_host {
            if host.is_empty() {
                return invalid("--sub-host: host must not be empty");
            }
            sub_session.host = host.clone();
        }
        if let Some(port) = self.sub_port {
            if port == 0 {
                return invalid("--sub-port 0: port must be 1..65535");
            }
            sub_session.port = port;
        }
        Ok(PubSubPlan {
            publishers,
            subscribers,
            session,
            sub_session,
            publish,
            subscribe,
            settle: self.settle,
            drain: self.drain,
            run: self.run.validate()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{BenchArgs, BenchCmd};
    use super::*;
    use clap::Parser;

    /// A stand-in for the real `starling` binary's parser.
    #[derive(Debug, Parser)]
    #[command(name = "starling-bench-test")]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    fn parse(args: &[&str]) -> Result<BenchCmd, clap::Error> {
        let mut v = vec!["starling-bench-test"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).map(|c| c.bench.cmd)
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn emqtt_bench_style_short_flags() {
        let cmd = parse(&[
            "pub",
            "-h",
            "localhost",
            "-p",
            "1884",
            "-c",
            "8",
            "-t",
            "t/%i",
            "-q",
            "1",
            "-s",
            "64",
            "-I",
            "10",
            "-L",
            "1000",
            "-V",
            "3",
            "-k",
            "30",
            "-u",
            "u",
            "-P",
            "pw",
            "-d",
            "5s",
        ])
        .expect("parses");
        let BenchCmd::Pub(args) = cmd else { panic!("wrong subcommand") };
        let plan = args.validate().expect("valid");
        assert_eq!(plan.session.host, "localhost");
        assert_eq!(plan.session.port, 1884);
        assert_eq!(plan.session.version, Version::V3_1_1);
        assert_eq!(plan.session.keep_alive, 30);
        assert_eq!(plan.count, 8);
        assert_eq!(plan.publish.qos, Qos::AtLeastOnce);
        assert_eq!(plan.publish.interval, Some(Duration::from_millis(10)));
        assert_eq!(plan.run.duration, Duration::from_secs(5));
        assert_eq!(plan.publish.topic.render(3, "c"), "t/3");
    }

    #[test]
    fn total_rate_is_split_across_publishers() {
        let cmd = parse(&["pub", "-c", "4", "-r", "1000"]).expect("parses");
        let BenchCmd::Pub(args) = cmd else { panic!("wrong subcommand") };
        let plan = args.validate().expect("valid");
        assert_eq!(plan.publish.interval, Some(Duration::from_millis(4)));
    }

    #[test]
    fn limit_is_split_without_losing_a_message() {
        let cmd = parse(&["pub", "-c", "3", "-L", "10"]).expect("parses");
        let BenchCmd::Pub(args) = cmd else { panic!("wrong subcommand") };
        let plan = args.validate().expect("valid");
        let parts: Vec<u64> = (0..3).filter_map(|i| plan.publish.limit_for(i, 3)).collect();
        assert_eq!(parts, vec![4, 3, 3]);
        assert_eq!(parts.iter().sum::<u64>(), 10);
    }

    #[test]
    fn conflicting_and_bad_values_are_refused() {
        assert!(parse(&["pub", "-I", "5", "-r", "100"]).is_err());
        assert!(parse(&["conn", "-i", "5", "--rate", "100"]).is_err());
        assert!(parse(&["pub", "-q", "3"]).is_err());
        assert!(parse(&["conn", "-V", "6"]).is_err());

        let bad = |args: &[&str]| -> String {
            match parse(args).expect("parses") {
                BenchCmd::Conn(a) => a.validate().map(|_| ()),
                BenchCmd::Pub(a) => a.validate().map(|_| ()),
                BenchCmd::Sub(a) => a.validate().map(|_| ()),
                BenchCmd::Pubsub(a) => a.validate().map(|_| ()),
            }
            .expect_err("must be refused")
            .to_string()
        };
        assert!(bad(&["conn", "-c", "0"]).contains("-c 0"));
        assert!(bad(&["conn", "-d", "0s"]).contains("-d"));
        assert!(bad(&["conn", "-d", "25h"]).contains("24h"));
        assert!(bad(&["conn", "-V", "3", "--session-expiry", "60"]).contains("MQTT 5"));
        assert!(bad(&["conn", "--rate", "0"]).contains("--rate"));
        assert!(bad(&["pub", "-t", "a/#"]).contains("wildcard"));
        assert!(bad(&["pub", "-t", "a/%z"]).contains("%z"));
        assert!(bad(&["pub", "--inflight", "0"]).contains("--inflight"));
        assert!(bad(&["pub", "-L", "0"]).contains("-L 0"));
        assert!(bad(&["sub", "-t", "a/#/b"]).contains("invalid"));
        assert!(bad(&["pubsub", "-s", "8"]).contains("16 bytes"));
    }

    #[test]
    fn pubsub_defaults() {
        let cmd = parse(&["pubsub", "--publishers", "8", "--sub-topic", "#", "-q", "1"]).expect("parses");
        let BenchCmd::Pubsub(args) = cmd else { panic!("wrong subcommand") };
        let plan = args.validate().expect("valid");
        assert_eq!(plan.publishers, 8);
        assert_eq!(plan.subscribers, 1);
        assert_eq!(plan.subscribe.qos, Qos::AtLeastOnce); // follows -q
        assert_eq!(plan.publish.interval, None); // flood
        assert_eq!(plan.run.duration, Duration::from_secs(30)); // bounded by default
        assert!(plan.run.progress);
        assert!(plan.session.clean);
    }

    #[test]
    fn pubsub_subscribers_can_use_another_node() {
        let plan = |args: &[&str]| {
            let BenchCmd::Pubsub(a) = parse(args).expect("parses") else { panic!("wrong subcommand") };
            a.validate()
        };
        // Default: subscribers go where publishers go.
        let p = plan(&["pubsub", "-h", "127.0.0.2", "-p", "1884"]).expect("valid");
        assert_eq!((p.sub_session.host.as_str(), p.sub_session.port), ("127.0.0.2", 1884));
        assert_eq!(p.settle, Duration::ZERO);
        let p = plan(&["pubsub", "--sub-host", "127.0.0.3", "--settle", "500ms"]).expect("valid");
        assert_eq!(p.settle, Duration::from_millis(500));
        assert!(plan(&["pubsub", "--settle", "25h"]).expect_err("too long").to_string().contains("--settle"));
        // Both moved; everything else (version, prefix, ...) is shared.
        let p = plan(&["pubsub", "-h", "127.0.0.2", "-V", "3", "--sub-host", "127.0.0.3", "--sub-port", "1885"])
            .expect("valid");
        assert_eq!((p.session.host.as_str(), p.session.port), ("127.0.0.2", 1883));
        assert_eq!((p.sub_session.host.as_str(), p.sub_session.port), ("127.0.0.3", 1885));
        assert_eq!(p.sub_session.version, Version::V3_1_1);
        // Only the port moved: the host stays -h.
        let p = plan(&["pubsub", "-h", "node-a", "--sub-port", "2883"]).expect("valid");
        assert_eq!((p.sub_session.host.as_str(), p.sub_session.port), ("node-a", 2883));
        // Refused with the flag named.
        assert!(plan(&["pubsub", "--sub-host", ""]).expect_err("empty host").to_string().contains("--sub-host"));
        assert!(plan(&["pubsub", "--sub-port", "0"]).expect_err("port 0").to_string().contains("--sub-port 0"));
        assert!(parse(&["pubsub", "--sub-port", "70000"]).is_err());
        // Only pubsub has subscribers on another node.
        assert!(parse(&["sub", "--sub-host", "x"]).is_err());
    }

    #[test]
    fn clean_flag_takes_an_optional_value() {
        let BenchCmd::Conn(a) = parse(&["conn", "--clean", "false"]).expect("parses") else {
            panic!("wrong subcommand")
        };
        assert!(!a.connect.clean);
        let BenchCmd::Conn(a) = parse(&["conn", "--clean"]).expect("parses") else { panic!("wrong subcommand") };
        assert!(a.connect.clean);
    }

    #[test]
    fn client_ids() {
        let BenchCmd::Conn(a) = parse(&["conn", "--prefix", "x"]).expect("parses") else { panic!("wrong subcommand") };
        let plan = a.validate().expect("valid");
        assert_eq!(plan.session.client_id("conn", 1), "x_conn_1");
    }
}
