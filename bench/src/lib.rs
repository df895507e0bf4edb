//! `starling-bench`: an MQTT load generator in the spirit of emqtt_bench.
//!
//! It exists so Starling can be measured against other brokers with one client whose costs are
//! known (see `docs/benchmarks.md` and `scripts/bench/run.sh`). Map:
//!
//! - [`args`]: clap options (emqtt_bench-like short flags) and their validation into plans.
//! - `client`: one MQTT client = mqtt-protocol-core's Sans-I/O `Connection<role::Client>`
//!   driven over a tokio `TcpStream`, with writes buffered and flushed once per loop turn.
//! - `runner`: scenarios (`conn`, `pub`, `sub`, `pubsub`), phases, the progress line.
//! - `stats`, `payload`, `topic`, `report`: pure parts — counters and percentile math, the
//!   16-byte latency stamp, topic templates/matching, the final report.
//!
//! Every run is bounded: `-d` (default 30 s) limits the load phase, handshakes time out
//! (`--connect-timeout`), and the `pubsub` drain is bounded by `--drain`; Ctrl-C stops early
//! and still prints the report.

pub mod args;
mod client;
mod payload;
mod report;
mod runner;
mod stats;
mod topic;

pub use args::{ConnArgs, PubArgs, PubSubArgs, SubArgs};
pub use report::Report;

/// `starling-bench ...`
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub cmd: BenchCmd,
}

/// The benchmark scenarios. `-h` is the broker host in all of them; use `--help` for help.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum BenchCmd {
    /// Connect clients and hold them idle: connect rate, handshake latency, broker memory.
    #[command(disable_help_flag = true, disable_version_flag = true)]
    Conn(ConnArgs),
    /// Publish from N clients (QoS 0/1/2, fixed rate or flood).
    #[command(disable_help_flag = true, disable_version_flag = true)]
    Pub(PubArgs),
    /// Subscribe N clients and count what arrives.
    #[command(disable_help_flag = true, disable_version_flag = true)]
    Sub(SubArgs),
    /// Publishers and subscribers in one process: delivered/lost/duplicate counts and
    /// end-to-end latency percentiles (fan-in, fan-out, 1:1).
    #[command(disable_help_flag = true, disable_version_flag = true)]
    Pubsub(PubSubArgs),
}

/// Runs one benchmark and prints its report (human-readable, or JSON with `--json`) on stdout;
/// progress goes to stderr. Fails when the arguments are invalid, the broker cannot be reached,
/// or no client got ready.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    // Fix the latency epoch before any client starts.
    let _ = payload::epoch();
    let (report, json) = match args.cmd {
        BenchCmd::Conn(a) => {
            let plan = a.validate()?;
            (runner::run_conn(plan.clone()).await?, plan.run.json)
        }
        BenchCmd::Pub(a) => {
            let plan = a.validate()?;
            (runner::run_pub(plan.clone()).await?, plan.run.json)
        }
        BenchCmd::Sub(a) => {
            let plan = a.validate()?;
            (runner::run_sub(plan.clone()).await?, plan.run.json)
        }
        BenchCmd::Pubsub(a) => {
            let plan = a.validate()?;
            (runner::run_pubsub(plan.clone()).await?, plan.run.json)
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    if report.clients.ready == 0 {
        let why =
            report.errors.values().next().map_or_else(|| "no error was reported".to_owned(), |e| e.example.clone());
        anyhow::bail!("no client became ready against {}: {why}", report.target);
    }
    Ok(())
}
