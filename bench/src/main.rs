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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn help(path: &[&str]) -> String {
        let mut cmd = Cli::command();
        let mut at = &mut cmd;
        for p in path {
            at = at.find_subcommand_mut(p).unwrap_or_else(|| panic!("no subcommand {p}"));
        }
        at.render_long_help().to_string()
    }

    #[test]
    fn help_lists_the_scenarios_and_their_flags() {
        let top = help(&[]);
        for sub in ["conn", "pub", "sub", "pubsub"] {
            assert!(top.contains(sub), "--help lists {sub}:\n{top}");
        }
        assert!(help(&["pub"]).contains("--qos"));
    }
}
