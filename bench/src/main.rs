//! `starling-bench`: the load generator as a command (see the library's map).

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "starling-bench", version, about = "MQTT load generator (in the spirit of emqtt_bench)")]
struct Cli {
    #[command(flatten)]
    args: starling_bench::BenchArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("starling-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(starling_bench::run(cli.args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("starling-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
