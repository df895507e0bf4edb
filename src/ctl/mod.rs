//! `starling ctl`: operate a running node through its admin API (status, clients,
//! subscriptions, routes, retained messages, bans, users).
//!
//! Tables for people, `--json` (the API's own JSON, unchanged) for scripts. Where to connect:
//! with neither `--url` nor `--api-key` (nor `STARLING_ADMIN_URL`/`STARLING_API_KEY`), the
//! node's control socket in its data directory (`--data-dir`, else the local configuration's
//! `data_dir`), which needs no key — only the broker's user or root may open it. Otherwise, or
//! when that socket cannot be opened, over HTTP: `--url`/`--api-key`, else the local node's
//! configuration (`--config`, else /etc/starling/starling.toml when it
//! exists): its `admin.bind` (https when `admin.cert` is set) and the first of its API keys. So
//! on the broker's own host `starling ctl status` works with no flags for a user who may read
//! the key file. An https admin listener is verified against `--ca` (`STARLING_ADMIN_CA`), else
//! the system's CA certificates.

pub mod client;

/// `println!` that does not panic when stdout is gone (`starling ctl ... | head`): output to a
/// closed pipe is simply dropped.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// `print!` without the panic, see [`say!`].
macro_rules! say_raw {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}

use std::path::PathBuf;

use anyhow::{anyhow, bail};
use clap::{Args, Subcommand};
use hyper::http::{Method, StatusCode};
use serde_json::Value;

use crate::config::{self, Config};
use crate::observe::admin::ApiKeys;
use client::{Client, Reply, TlsOptions, encode};

const DEFAULT_URL: &str = "http://127.0.0.1:18083";

#[derive(Args, Debug)]
pub struct CtlArgs {
    /// Admin API of the node, http:// or https:// [default: from the configuration's admin.bind
    /// (https when admin.cert is set), else http://127.0.0.1:18083].
    #[arg(long, env = "STARLING_ADMIN_URL", value_name = "URL", global = true)]
    pub url: Option<String>,
    /// API key [default: the first key of the local configuration].
    #[arg(long, env = "STARLING_API_KEY", hide_env_values = true, value_name = "KEY", global = true)]
    pub api_key: Option<String>,
    /// CA bundle (PEM) to verify an https admin listener against [default: the system's CAs].
    #[arg(long, env = "STARLING_ADMIN_CA", value_name = "FILE", global = true)]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM) for an https admin listener that verifies clients (admin.verify).
    #[arg(long, env = "STARLING_ADMIN_CLIENT_CERT", value_name = "FILE", global = true, requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// Private key (PEM) of --client-cert.
    #[arg(long, env = "STARLING_ADMIN_CLIENT_KEY", value_name = "FILE", global = true, requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Configuration to take the URL and key from [default: /etc/starling/starling.toml when it exists].
    #[arg(long, short = 'c', value_name = "PATH", global = true)]
    pub config: Option<PathBuf>,
    /// Data directory of the local node, whose control socket is used (before --url and
    /// --api-key) [default: the configuration's data_dir, when neither --url nor --api-key is given].
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub cmd: CtlCmd,
}

#[derive(Subcommand, Debug)]
pub enum CtlCmd {
    /// Node name, version, uptime and totals.
    Status,
    /// Client sessions.
    Clients {
        #[command(subcommand)]
        cmd: ClientsCmd,
    },
    /// Subscriptions, by client id then filter.
    Subscriptions {
        /// Only this client's subscriptions.
        #[arg(long, value_name = "ID")]
        client: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Bridges to upstream brokers: uplink, backlog, counters.
    Bridges,
    /// Topic filters routed to this node.
    Routes {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Retained messages.
    Retained {
        #[command(subcommand)]
        cmd: RetainedCmd,
    },
    /// Cluster membership.
    Cluster {
        #[command(subcommand)]
        cmd: ClusterCmd,
    },
    /// This node.
    Node {
        #[command(subcommand)]
        cmd: NodeCmd,
    },
    /// Banned client ids, usernames and networks.
    Bans {
        #[command(subcommand)]
        cmd: BansCmd,
    },
    /// Users of the password file (read-only here) and of the API user store.
    Users {
        #[command(subcommand)]
        cmd: UsersCmd,
    },
}

#[derive(Subcommand, Debug)]
pub enum NodeCmd {
    /// Refuse new connections and send clients to other nodes (DISCONNECT 0x9C, spread over the
    /// node's drain.window at most drain.rate per second); readiness turns false at once. The
    /// membership does not change: restart the node afterwards.
    Drain {
        /// Return once the clients are gone and other nodes took their sessions (or
        /// drain.takeover passed): for a preStop hook or a script that stops the node next.
        #[arg(long)]
        wait: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ClusterCmd {
    /// Every member's role, address, state, replicated index and lag, and the leader.
    Status,
    /// Join the cluster of the node with this cluster-link address (`host:port`).
    Join { addr: String },
    /// Take this node out of the cluster (it will not rejoin by itself).
    Leave,
    /// Remove another node from the membership (the only way a core is ever removed).
    Forget { node: String },
}

#[derive(Subcommand, Debug)]
pub enum BansCmd {
    /// List the bans in force (configuration, API and flapping).
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Ban a client id, username or network (on every node).
    Add {
        #[arg(value_parser = ["client_id", "username", "network"])]
        kind: String,
        /// Client id, username, or an address or CIDR network.
        value: String,
        /// Why (shown in listings).
        #[arg(long)]
        reason: Option<String>,
        /// How long, e.g. `30m`, `2h`, `7d` [default: until deleted].
        #[arg(long, value_parser = humantime::parse_duration)]
        duration: Option<std::time::Duration>,
    },
    /// Lift a ban added through the API (or a flapping ban).
    Delete {
        #[arg(value_parser = ["client_id", "username", "network"])]
        kind: String,
        value: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum UsersCmd {
    /// List users, by username.
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Add a user to the API user store, or change its password. The password is read from
    /// standard input when it is not a terminal, else asked for twice.
    Add { username: String },
    /// Delete a user of the API user store.
    Delete { username: String },
}

#[derive(Subcommand, Debug)]
pub enum ClientsCmd {
    /// List sessions, by client id.
    List {
        /// Only connected sessions.
        #[arg(long, conflicts_with = "disconnected")]
        connected: bool,
        /// Only disconnected (persistent) sessions.
        #[arg(long)]
        disconnected: bool,
        /// Only client ids starting with this.
        #[arg(long, value_name = "PREFIX")]
        prefix: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// One session in detail, with its subscriptions.
    Show { client_id: String },
    /// Disconnect a client (MQTT 5.0 clients get DISCONNECT 0x98); its session stays.
    Kick { client_id: String },
}

#[derive(Subcommand, Debug)]
pub enum RetainedCmd {
    /// List retained messages, by topic.
    List {
        /// Only topics matching this MQTT filter.
        #[arg(long, value_name = "FILTER")]
        filter: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// One retained message with its payload.
    Show { topic: String },
    /// Delete the retained message of a topic (on every node).
    Delete { topic: String },
}

#[derive(Args, Debug, Clone, Copy)]
pub struct PageArgs {
    /// Items per page (1..=1000).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Items to skip.
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
}

impl PageArgs {
    fn query(&self) -> String {
        format!("limit={}&offset={}", self.limit, self.offset)
    }
}

pub async fn run(args: CtlArgs) -> anyhow::Result<()> {
    let client = connect(&args)?;
    let out = Output { json: args.json };
    match args.cmd {
        CtlCmd::Status => out.status(&get(&client, "/api/v1/status").await?),
        CtlCmd::Clients { cmd: ClientsCmd::List { connected, disconnected, prefix, page } } => {
            let mut q = page.query();
            if connected || disconnected {
                q.push_str(&format!("&connected={connected}"));
            }
            if let Some(p) = prefix {
                q.push_str(&format!("&client_id_prefix={}", encode(&p)));
            }
            out.clients(&get(&client, &format!("/api/v1/clients?{q}")).await?)
        }
        CtlCmd::Clients { cmd: ClientsCmd::Show { client_id } } => {
            out.client(&get(&client, &format!("/api/v1/clients/{}", encode(&client_id))).await?)
        }
        CtlCmd::Clients { cmd: ClientsCmd::Kick { client_id } } => {
            delete(&client, &format!("/api/v1/clients/{}", encode(&client_id))).await?;
            out.done(serde_json::json!({ "client_id": client_id, "kicked": true }), &format!("kicked {client_id}"))
        }
        CtlCmd::Subscriptions { client: c, page } => {
            let mut q = page.query();
            if let Some(id) = c {
                q.push_str(&format!("&client_id={}", encode(&id)));
            }
            out.subscriptions(&get(&client, &format!("/api/v1/subscriptions?{q}")).await?)
        }
        CtlCmd::Bridges => out.bridges(&get(&client, "/api/v1/bridges").await?),
        CtlCmd::Routes { page } => out.routes(&get(&client, &format!("/api/v1/routes?{}", page.query())).await?),
        CtlCmd::Retained { cmd: RetainedCmd::List { filter, page } } => {
            let mut q = page.query();
            if let Some(f) = filter {
                q.push_str(&format!("&filter={}", encode(&f)));
            }
            out.retained(&get(&client, &format!("/api/v1/retained?{q}")).await?)
        }
        CtlCmd::Retained { cmd: RetainedCmd::Show { topic } } => {
            out.retained_one(&get(&client, &format!("/api/v1/retained/{}", encode(&topic))).await?)
        }
        CtlCmd::Node { cmd: NodeCmd::Drain { wait } } => {
            let path = if wait { "/api/v1/node/drain?wait=true" } else { "/api/v1/node/drain" };
            // The evacuation may take longer than an ordinary answer; the hook's own budget
            // (terminationGracePeriodSeconds, TimeoutStopSec) bounds it.
            let client = if wait { client.patient() } else { client };
            let r = client.request_json(Method::POST, path, &serde_json::json!({})).await?;
            check(&client, &r)?;
            let v = r.json()?;
            out.done(v.clone(), &s(&v["result"]))
        }
        CtlCmd::Cluster { cmd: ClusterCmd::Status } => out.cluster(&get(&client, "/api/v1/cluster").await?),
        CtlCmd::Cluster { cmd: ClusterCmd::Join { addr } } => {
            let r =
                client.request_json(Method::POST, "/api/v1/cluster/join", &serde_json::json!({ "addr": addr })).await?;
            check(&client, &r)?;
            let v = r.json()?;
            out.done(v.clone(), &s(&v["result"]))
        }
        CtlCmd::Cluster { cmd: ClusterCmd::Leave } => {
            let me = get(&client, "/api/v1/cluster").await?;
            let name = s(&me["name"]);
            let r = client.request(Method::DELETE, &format!("/api/v1/cluster/members/{}", encode(&name))).await?;
            check(&client, &r)?;
            let v = r.json()?;
            out.done(v.clone(), &s(&v["result"]))
        }
        CtlCmd::Cluster { cmd: ClusterCmd::Forget { node } } => {
            let r = client.request(Method::DELETE, &format!("/api/v1/cluster/members/{}", encode(&node))).await?;
            check(&client, &r)?;
            let v = r.json()?;
            out.done(v.clone(), &s(&v["result"]))
        }
        CtlCmd::Bans { cmd: BansCmd::List { page } } => {
            out.bans(&get(&client, &format!("/api/v1/bans?{}", page.query())).await?)
        }
        CtlCmd::Bans { cmd: BansCmd::Add { kind, value, reason, duration } } => {
            let mut body = serde_json::json!({ "kind": kind, "value": value });
            if let Some(r) = reason {
                body["reason"] = r.into();
            }
            if let Some(d) = duration {
                body["duration_seconds"] = d.as_secs().max(1).into();
            }
            let v = send(&client, Method::POST, "/api/v1/bans", &body).await?;
            let until = match v["expires_at"].as_u64() {
                Some(_) => format!(" until {}", unix_ms(&v["expires_at"])),
                None => String::new(),
            };
            let text = format!("banned {} {}{until}", s(&v["kind"]), s(&v["value"]));
            out.done(v, &text)
        }
        CtlCmd::Bans { cmd: BansCmd::Delete { kind, value } } => {
            delete(&client, &format!("/api/v1/bans/{}/{}", encode(&kind), encode(&value))).await?;
            out.done(
                serde_json::json!({ "kind": kind, "value": value, "deleted": true }),
                &format!("lifted the ban of {kind} {value}"),
            )
        }
        CtlCmd::Users { cmd: UsersCmd::List { page } } => {
            out.users(&get(&client, &format!("/api/v1/users?{}", page.query())).await?)
        }
        CtlCmd::Users { cmd: UsersCmd::Add { username } } => {
            let password = crate::auth::password::read_new_password(&username)?;
            let body = serde_json::json!({ "username": username, "password": password });
            let r = client.request_json(Method::POST, "/api/v1/users", &body).await?;
            check(&client, &r)?;
            let verb = if r.status == StatusCode::CREATED { "added" } else { "changed the password of" };
            out.done(r.json()?, &format!("{verb} {username}"))
        }
        CtlCmd::Users { cmd: UsersCmd::Delete { username } } => {
            delete(&client, &format!("/api/v1/users/{}", encode(&username))).await?;
            out.done(serde_json::json!({ "username": username, "deleted": true }), &format!("deleted {username}"))
        }
        CtlCmd::Retained { cmd: RetainedCmd::Delete { topic } } => {
            delete(&client, &format!("/api/v1/retained/{}", encode(&topic))).await?;
            out.done(
                serde_json::json!({ "topic": topic, "deleted": true }),
                &format!("deleted the retained message of {topic}"),
            )
        }
    }
}

/// The control socket when neither a URL nor a key is given and it can be opened; else resolve
/// URL and key: flags and environment first, then the local configuration.
fn connect(args: &CtlArgs) -> anyhow::Result<Client> {
    let cfg = if args.url.is_none() || args.api_key.is_none() { local_config(args)? } else { None };
    if args.data_dir.is_some() || (args.url.is_none() && args.api_key.is_none()) {
        let socket = local_socket(args, cfg.as_ref());
        // An explicit --data-dir means that node; otherwise a socket that is missing or not
        // open to this user leaves the HTTP listener and its keys.
        if args.data_dir.is_some() || std::os::unix::net::UnixStream::connect(&socket).is_ok() {
            return Ok(Client::local(&socket));
        }
    }
    let url = match (&args.url, &cfg) {
        (Some(u), _) => u.clone(),
        (None, Some(c)) => admin_url(c),
        (None, None) => DEFAULT_URL.to_string(),
    };
    let key = match (&args.api_key, &cfg) {
        (Some(k), _) => Some(k.clone()),
        // A key file the user may not read just means "no key from there".
        (None, Some(c)) => ApiKeys::load(&c.admin).ok().and_then(|k| k.first().map(str::to_string)),
        (None, None) => None,
    };
    let tls = TlsOptions { ca: args.ca.clone(), cert: args.client_cert.clone(), key: args.client_key.clone() };
    Client::new(&url, key, &tls)
}

/// Where the local node's control socket is: `--data-dir`, else the configuration's `data_dir`
/// (the file's, else the environment's and the default, as `serve` would use).
fn local_socket(args: &CtlArgs, cfg: Option<&Config>) -> PathBuf {
    let data_dir = match (&args.data_dir, cfg) {
        (Some(d), _) => d.clone(),
        (None, Some(c)) => c.data_dir.clone(),
        (None, None) => Config::load_unchecked(None).map(|c| c.data_dir).unwrap_or_else(|_| Config::default().data_dir),
    };
    crate::observe::admin::control::socket_path(&data_dir)
}

/// The configuration ctl may borrow from: an explicit `--config` must load; the default file is
/// used only if it loads (it may well be unreadable to the operator).
fn local_config(args: &CtlArgs) -> anyhow::Result<Option<Config>> {
    match &args.config {
        Some(p) => Config::load_unchecked(Some(p))
            .map(Some)
            .map_err(|e| anyhow!("cannot use the configuration {}: {e}", p.display())),
        None => Ok(config::config_file(None).and_then(|p| Config::load_unchecked(Some(&p)).ok())),
    }
}

/// `admin.bind` as a URL to connect to: a wildcard address means this host; https when the
/// admin listener has TLS (its certificate must then list that address, or pass `--url`).
fn admin_url(c: &Config) -> String {
    let mut addr = c.admin.bind;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    let scheme = if c.admin.tls() { "https" } else { "http" };
    format!("{scheme}://{addr}")
}

async fn get(client: &Client, path: &str) -> anyhow::Result<Value> {
    let r = client.request(Method::GET, path).await?;
    check(client, &r)?;
    r.json()
}

async fn send(client: &Client, method: Method, path: &str, body: &Value) -> anyhow::Result<Value> {
    let r = client.request_json(method, path, body).await?;
    check(client, &r)?;
    r.json()
}

async fn delete(client: &Client, path: &str) -> anyhow::Result<()> {
    let r = client.request(Method::DELETE, path).await?;
    check(client, &r)
}

/// Turn an error status into a message a person can act on.
fn check(client: &Client, r: &Reply) -> anyhow::Result<()> {
    if r.status.is_success() {
        return Ok(());
    }
    let msg = r.error_message();
    if r.status == StatusCode::UNAUTHORIZED {
        if !client.has_key() {
            bail!(
                "the admin API at {} needs an API key: run ctl as the broker's user (or root) on its host, which \
                 uses the node's control socket, or pass --api-key KEY or set STARLING_API_KEY",
                client.url()
            );
        }
        if msg.contains("no API keys are configured") {
            bail!("the API key was refused: {msg}");
        }
        bail!("the API key was refused");
    }
    bail!("{msg} (HTTP {})", r.status.as_u16())
}

struct Output {
    json: bool,
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        other => other.to_string(),
    }
}

fn expiry(v: &Value) -> String {
    match v.as_u64() {
        Some(4_294_967_295) => "never".into(),
        Some(n) => humantime::format_duration(std::time::Duration::from_secs(n)).to_string(),
        None => "-".into(),
    }
}

fn unix_ms(v: &Value) -> String {
    match v.as_u64() {
        Some(ms) => {
            humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)).to_string()
        }
        None => "-".into(),
    }
}

/// Aligned columns, header first.
fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(&width).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}  "));
            }
        }
        l.trim_end().to_string() + "\n"
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for r in rows {
        out.push_str(&line(r));
    }
    out
}

fn fields(pairs: &[(&str, String)]) -> String {
    let w = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs.iter().map(|(k, v)| format!("{k:<w$}  {v}\n")).collect()
}

fn sub_options(v: &Value) -> String {
    let mut o = Vec::new();
    if v["no_local"].as_bool() == Some(true) {
        o.push("no-local".to_string());
    }
    if v["retain_as_published"].as_bool() == Some(true) {
        o.push("retain-as-published".to_string());
    }
    if let Some(rh) = v["retain_handling"].as_u64().filter(|rh| *rh != 0) {
        o.push(format!("retain-handling={rh}"));
    }
    if let Some(id) = v["subscription_identifier"].as_u64() {
        o.push(format!("id={id}"));
    }
    if o.is_empty() { "-".into() } else { o.join(",") }
}

impl Output {
    fn print_json(&self, v: &Value) -> anyhow::Result<()> {
        say!("{}", serde_json::to_string_pretty(v)?);
        Ok(())
    }

    /// Listing pages: the table, then how much more there is.
    fn page(&self, v: &Value, what: &str, header: &[&str], row: impl Fn(&Value) -> Vec<String>) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(v);
        }
        let items = v["data"].as_array().cloned().unwrap_or_default();
        let total = v["meta"]["total"].as_u64().unwrap_or(items.len() as u64);
        let offset = v["meta"]["offset"].as_u64().unwrap_or(0);
        if items.is_empty() {
            say!("no {what}{}", if total > 0 { format!(" at offset {offset} (of {total})") } else { String::new() });
            return Ok(());
        }
        say_raw!("{}", table(header, items.iter().map(row).collect()));
        let shown = items.len() as u64;
        if offset > 0 || shown < total {
            say!("({}-{} of {total} {what}; --offset/--limit for more)", offset + 1, offset + shown);
        }
        Ok(())
    }

    fn done(&self, v: Value, text: &str) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(&v);
        }
        say!("{text}");
        Ok(())
    }

    fn status(&self, v: &Value) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(v);
        }
        let uptime = v["uptime_seconds"]
            .as_u64()
            .map(|n| humantime::format_duration(std::time::Duration::from_secs(n)).to_string())
            .unwrap_or_else(|| "-".into());
        let m = &v["messages"];
        let b = &v["bytes"];
        say_raw!(
            "{}",
            fields(&[
                ("node", s(&v["node"])),
                ("version", s(&v["version"])),
                ("uptime", uptime),
                ("connections", s(&v["connections"])),
                ("sessions", format!("{} ({} persistent)", s(&v["sessions"]), s(&v["persistent_sessions"]))),
                ("subscriptions", s(&v["subscriptions"])),
                ("routes", s(&v["routes"])),
                ("retained", s(&v["retained"])),
                ("queued", s(&v["queued"])),
                ("inflight", s(&v["inflight"])),
                (
                    "messages",
                    format!("{} received, {} sent, {} dropped", s(&m["received"]), s(&m["sent"]), s(&m["dropped"])),
                ),
                ("bytes", format!("{} received, {} sent", s(&b["received"]), s(&b["sent"]))),
            ])
        );
        Ok(())
    }

    fn clients(&self, v: &Value) -> anyhow::Result<()> {
        self.page(v, "clients", &["CLIENT ID", "CONNECTED", "EXPIRY", "SUBS", "QUEUED", "INFLIGHT"], |c| {
            vec![
                s(&c["client_id"]),
                s(&c["connected"]),
                expiry(&c["session_expiry_interval"]),
                s(&c["subscription_count"]),
                s(&c["queued"]),
                s(&c["inflight"]),
            ]
        })
    }

    fn client(&self, v: &Value) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(v);
        }
        say_raw!(
            "{}",
            fields(&[
                ("client id", s(&v["client_id"])),
                ("node", s(&v["node"])),
                ("connected", s(&v["connected"])),
                ("persistent", s(&v["persistent"])),
                ("session expiry", expiry(&v["session_expiry_interval"])),
                ("disconnected at", unix_ms(&v["disconnected_at"])),
                ("expires at", unix_ms(&v["expires_at"])),
                ("will pending", s(&v["will_pending"])),
                ("queued", s(&v["queued"])),
                ("inflight", s(&v["inflight"])),
            ])
        );
        let subs = v["subscriptions"].as_array().cloned().unwrap_or_default();
        if subs.is_empty() {
            say!("no subscriptions");
        } else {
            say!();
            say_raw!(
                "{}",
                table(
                    &["FILTER", "QOS", "OPTIONS"],
                    subs.iter().map(|x| vec![s(&x["filter"]), s(&x["qos"]), sub_options(x)]).collect()
                )
            );
        }
        Ok(())
    }

    fn subscriptions(&self, v: &Value) -> anyhow::Result<()> {
        self.page(v, "subscriptions", &["CLIENT ID", "FILTER", "QOS", "OPTIONS"], |x| {
            vec![s(&x["client_id"]), s(&x["filter"]), s(&x["qos"]), sub_options(x)]
        })
    }

    fn bridges(&self, v: &Value) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(v);
        }
        let list = v["bridges"].as_array().cloned().unwrap_or_default();
        if list.is_empty() {
            say!("no bridges configured");
            return Ok(());
        }
        let dropped = |x: &Value| {
            let d: u64 = x["dropped"].as_object().map(|m| m.values().filter_map(Value::as_u64).sum()).unwrap_or(0);
            d.to_string()
        };
        let rows = list
            .iter()
            .map(|x| {
                let state =
                    if x["connected"] == true { s(&x["upstream"]) } else { format!("down: {}", s(&x["last_error"])) };
                vec![
                    s(&x["name"]),
                    state,
                    s(&x["backlog_messages"]),
                    s(&x["backlog_inflight"]),
                    s(&x["forwarded_out"]),
                    s(&x["forwarded_in"]),
                    dropped(x),
                    s(&x["reconnects"]),
                ]
            })
            .collect();
        say_raw!("{}", table(&["BRIDGE", "UPLINK", "BACKLOG", "INFLIGHT", "OUT", "IN", "DROPPED", "RECONNECTS"], rows));
        Ok(())
    }

    fn routes(&self, v: &Value) -> anyhow::Result<()> {
        self.page(v, "routes", &["FILTER", "NODE", "SUBSCRIPTIONS"], |x| {
            vec![s(&x["filter"]), s(&x["node"]), s(&x["local_subscriptions"])]
        })
    }

    fn cluster(&self, v: &Value) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(v);
        }
        let leader = v["leader"].as_u64();
        let leader_name = v["members"]
            .as_array()
            .and_then(|m| m.iter().find(|x| x["id"].as_u64() == leader))
            .map(|x| s(&x["name"]))
            .unwrap_or_else(|| if v["mode"] == "standalone" { s(&v["name"]) } else { "none".into() });
        say!(
            "node {} ({}, {}), leader {}, term {}, applied {}",
            s(&v["name"]),
            s(&v["role"]),
            s(&v["mode"]),
            leader_name,
            s(&v["term"]),
            s(&v["applied"])
        );
        let rows: Vec<Vec<String>> = v["members"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|x| {
                        vec![
                            s(&x["name"]),
                            s(&x["role"]),
                            s(&x["addr"]),
                            s(&x["state"]),
                            s(&x["voter"]),
                            s(&x["matched"]),
                            s(&x["lag"]),
                        ]
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !rows.is_empty() {
            say_raw!("{}", table(&["NODE", "ROLE", "ADDRESS", "STATE", "VOTER", "APPLIED", "LAG"], rows));
        }
        for w in v["warnings"].as_array().into_iter().flatten() {
            say!("warning: {}", s(w));
        }
        Ok(())
    }

    fn retained(&self, v: &Value) -> anyhow::Result<()> {
        self.page(v, "retained messages", &["TOPIC", "QOS", "BYTES", "PUBLISHER", "EXPIRES"], |x| {
            vec![s(&x["topic"]), s(&x["qos"]), s(&x["payload_size"]), s(&x["publisher"]), unix_ms(&x["expires_at"])]
        })
    }

    fn bans(&self, v: &Value) -> anyhow::Result<()> {
        self.page(v, "bans", &["KIND", "VALUE", "SOURCE", "EXPIRES", "REASON"], |x| {
            let expires = if x["expires_at"].is_null() { "never".into() } else { unix_ms(&x["expires_at"]) };
            vec![s(&x["kind"]), s(&x["value"]), s(&x["source"]), expires, s(&x["reason"])]
        })
    }

    fn users(&self, v: &Value) -> anyhow::Result<()> {
        self.page(v, "users", &["USERNAME", "SOURCE", "WRITABLE"], |x| {
            vec![s(&x["username"]), s(&x["source"]), s(&x["writable"])]
        })
    }

    fn retained_one(&self, v: &Value) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(v);
        }
        let payload = match v["payload_text"].as_str() {
            Some(t) => t.to_string(),
            None => format!("(binary, base64) {}", s(&v["payload_base64"])),
        };
        say_raw!(
            "{}",
            fields(&[
                ("topic", s(&v["topic"])),
                ("qos", s(&v["qos"])),
                ("bytes", s(&v["payload_size"])),
                ("publisher", s(&v["publisher"])),
                ("expires at", unix_ms(&v["expires_at"])),
                ("content type", s(&v["content_type"])),
                ("payload", payload),
            ])
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The broker's environment layer leaves out exactly the variables ctl reads.
    #[test]
    fn client_variables_match_ctl_flags() {
        #[derive(clap::Parser)]
        struct Wrap {
            #[command(flatten)]
            args: CtlArgs,
        }
        let mut read: Vec<String> = <Wrap as clap::CommandFactory>::command()
            .get_arguments()
            .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
            .collect();
        read.sort();
        let mut ignored: Vec<String> = crate::config::env::CLIENT_VARIABLES.iter().map(|s| s.to_string()).collect();
        ignored.sort();
        assert_eq!(read, ignored);
    }

    #[test]
    fn table_aligns_columns() {
        let t = table(&["A", "LONG HEADER"], vec![vec!["wide cell".into(), "x".into()]]);
        assert_eq!(t, "A          LONG HEADER\nwide cell  x\n");
    }

    #[test]
    fn wildcard_bind_becomes_loopback() {
        let mut c = Config::default();
        c.admin.bind = "0.0.0.0:18083".parse().expect("addr");
        assert_eq!(admin_url(&c), "http://127.0.0.1:18083");
        c.admin.bind = "[::]:9".parse().expect("addr");
        assert_eq!(admin_url(&c), "http://[::1]:9");
    }
}
