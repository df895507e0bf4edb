//! The `starling` binary: parse the command line, load the configuration, start the node, wait
//! for a signal. All the work is in the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use starling::admin::systemd;
use starling::config::{self, Config, Overrides};
use starling::node::Node;

/// glibc's allocator serialises the runtime's worker threads on its arena locks once messages
/// are allocated on one thread and freed on another (every forwarded or delivered message is):
/// profiles of cross-node delivery spent about a third of the brokers' CPU in malloc, free and
/// the futex calls behind them. mimalloc's thread-local heaps free such blocks without a lock.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "starling", version, about = "A clustered MQTT 3.1.1/5.0 broker")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the broker. With no configuration it listens on 127.0.0.1:1883 and keeps its data in
    /// ./starling-data.
    Serve {
        /// TOML configuration file (default: /etc/starling/starling.toml when it exists).
        #[arg(long, short = 'c', value_name = "PATH")]
        config: Option<PathBuf>,
        /// Directory for sessions, queues and the catalog (overrides `data_dir`).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Address of the plain MQTT/TCP listener (overrides `listeners.tcp.bind`).
        #[arg(long, value_name = "ADDR:PORT")]
        bind: Option<SocketAddr>,
        /// Seconds to wait for connections to close on SIGTERM/SIGINT.
        #[arg(long, default_value_t = 10, value_name = "SECS")]
        grace: u64,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        cmd: ConfigCmd,
    },
    /// Operate a running node through its admin API: status, clients, subscriptions, retained,
    /// bans, users.
    Ctl(Box<starling::ctl::CtlArgs>),
    /// Add, change or delete a user of a password file (`auth.password_file`), like
    /// mosquitto_passwd. The password is read from standard input when it is not a terminal,
    /// else asked for twice. The file is created if missing and written atomically, mode 0600;
    /// send the broker SIGHUP to load it.
    Passwd {
        /// The password file.
        file: PathBuf,
        username: String,
        /// Delete the user instead.
        #[arg(long, short = 'D')]
        delete: bool,
        /// Hash algorithm for the new hash.
        #[arg(long, value_enum, default_value = "argon2id")]
        hash: HashArg,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum HashArg {
    Argon2id,
    Pbkdf2Sha256,
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Validate a configuration (file, environment and defaults) and print the effective result.
    Check {
        /// File to check (default: /etc/starling/starling.toml when it exists).
        path: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Cmd::Serve { config, data_dir, bind, grace } => {
            let file = config::config_file(config.as_deref());
            let cfg = Config::load(file.as_deref(), &Overrides { data_dir, bind })?;
            starling::admin::log::init(&cfg.log);
            serve(cfg, Duration::from_secs(grace)).await
        }
        Cmd::Config { cmd: ConfigCmd::Check { path } } => {
            let file = config::config_file(path.as_deref());
            let cfg = Config::load(file.as_deref(), &Overrides::default())?;
            match &file {
                Some(f) => println!("# {} is valid; effective configuration:", f.display()),
                None => println!("# no configuration file; effective configuration (defaults and environment):"),
            }
            print!("{}", cfg.to_toml());
            Ok(())
        }
        Cmd::Ctl(args) => starling::ctl::run(*args).await,
        Cmd::Passwd { file, username, delete, hash } => {
            use starling::auth::password::{self, HashAlgorithm};
            let alg = match hash {
                HashArg::Argon2id => HashAlgorithm::Argon2id,
                HashArg::Pbkdf2Sha256 => HashAlgorithm::Pbkdf2Sha256,
            };
            let pw = if delete { None } else { Some(password::read_new_password(&username)?) };
            let done = password::set_user(&file, &username, pw.as_deref().map(str::as_bytes), alg)?;
            eprintln!("{}: {done}", file.display());
            Ok(())
        }
    }
}

async fn serve(cfg: Config, grace: Duration) -> anyhow::Result<()> {
    // Handlers first: a signal that arrives right after the listener lines are printed must
    // already mean "shut down gracefully" (or "reload"), not the default "die".
    let mut signals = Signals::install()?;
    let data_dir = cfg.data_dir.clone();
    // SIGHUP re-reads the files this configuration names (the file itself is not re-read).
    let reload_cfg = cfg.clone();
    systemd::status("starting");
    let node = match Node::start(cfg).await {
        Ok(n) => n,
        Err(e) => {
            systemd::status(&format!("failed to start: {e}"));
            return Err(e).with_context(|| format!("cannot start (data dir {})", data_dir.display()));
        }
    };
    for l in &node.listeners {
        println!("starling: listener {} ({}) on {}", l.name, l.kind, l.addr);
    }
    tracing::info!(node = %node.broker.node_name, data_dir = %data_dir.display(), "started");
    // Every listener is bound and storage is open: tell systemd (Type=notify).
    systemd::ready(node.listeners.len());
    let watchdog = systemd::spawn_watchdog();
    while signals.next().await == Sig::Reload {
        reload(&node, &reload_cfg);
    }
    tracing::info!("shutting down");
    systemd::stopping();
    let shutdown = node.shutdown(grace);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            sig = signals.next() => {
                if sig == Sig::Stop {
                    tracing::warn!("second signal: exiting at once");
                    std::process::exit(1);
                }
                tracing::info!("SIGHUP while shutting down: ignored");
            }
        }
    }
    if let Some(w) = watchdog {
        w.abort();
    }
    systemd::stopped();
    Ok(())
}

/// SIGHUP: reload what can be reloaded, log each item; errors keep the old state.
fn reload(node: &starling::node::NodeHandle, cfg: &Config) {
    tracing::info!("SIGHUP: reloading");
    systemd::reloading();
    let items = node.reload(cfg);
    if items.is_empty() {
        tracing::info!("SIGHUP: nothing to reload");
    }
    for r in items {
        match r.outcome {
            Ok(summary) => tracing::info!(what = r.what, "reloaded: {summary}"),
            Err(e) => tracing::error!(what = r.what, "reload failed: {e}"),
        }
    }
    systemd::reloaded(node.listeners.len());
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sig {
    /// SIGTERM or SIGINT.
    Stop,
    /// SIGHUP.
    Reload,
}

/// SIGTERM, SIGINT and SIGHUP.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            hup: signal(SignalKind::hangup()).context("installing the SIGHUP handler")?,
        })
    }

    async fn next(&mut self) -> Sig {
        tokio::select! {
            _ = self.term.recv() => Sig::Stop,
            _ = self.int.recv() => Sig::Stop,
            _ = self.hup.recv() => Sig::Reload,
        }
    }
}
