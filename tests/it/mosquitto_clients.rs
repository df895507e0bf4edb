//! Debian's `mosquitto_pub` / `mosquitto_sub` (mosquitto-clients) against the broker, with
//! `-V mqttv311` and `-V mqttv5`: QoS 0/1/2, retained messages, wills and persistent sessions.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::harness::{TestNode, run_tool, wait_for};
use crate::persist_util::wait_idle;

const FMT: &str = "%t|%q|%r|%p";
const T: Duration = Duration::from_secs(10);

fn base(node: &TestNode, v: &str) -> Vec<String> {
    vec!["-h".into(), "127.0.0.1".into(), "-p".into(), node.port().to_string(), "-V".into(), v.into()]
}

/// Start `mosquitto_sub` in the background (stdout captured).
fn spawn_sub(node: &TestNode, v: &str, args: &[&str]) -> Child {
    let mut a = base(node, v);
    a.extend(args.iter().map(|s| s.to_string()));
    Command::new("mosquitto_sub")
        .args(&a)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("mosquitto_sub (install mosquitto-clients)")
}

/// Wait until the broker holds `n` subscriptions (the background subscriber is ready).
async fn subscribed(node: &TestNode, n: usize) {
    let b = node.broker().clone();
    wait_for("mosquitto_sub's subscription", T, || b.subscription_count() >= n).await;
}

async fn tool(node: &TestNode, cmd: &str, v: &str, args: &[&str]) -> std::process::Output {
    let mut a = base(node, v);
    a.extend(args.iter().map(|s| s.to_string()));
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let out = run_tool(cmd, &a, T).await;
    assert!(out.status.success(), "{cmd} {a:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

async fn pub_(node: &TestNode, v: &str, args: &[&str]) {
    tool(node, "mosquitto_pub", v, args).await;
}

/// Wait for a background `mosquitto_sub` to finish and return its output lines.
async fn lines(child: Child) -> Vec<String> {
    let out = match tokio::time::timeout(T, child.wait_with_output()).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => panic!("mosquitto_sub: {e}"),
        Err(_) => panic!("mosquitto_sub did not finish"),
    };
    assert!(out.status.success(), "mosquitto_sub failed ({:?}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

async fn qos_roundtrip(v: &str, q: u8) {
    let node = TestNode::start().await;
    let topic = format!("mq/{v}/q{q}");
    let qs = q.to_string();
    let sub = spawn_sub(&node, v, &["-t", &topic, "-q", &qs, "-C", "1", "-W", "8", "-F", FMT]);
    subscribed(&node, 1).await;
    pub_(&node, v, &["-t", &topic, "-q", &qs, "-m", "hello"]).await;
    assert_eq!(lines(sub).await, vec![format!("{topic}|{q}|0|hello")]);
}

#[tokio::test]
async fn mosquitto_v311_qos0() {
    qos_roundtrip("mqttv311", 0).await;
}

#[tokio::test]
async fn mosquitto_v311_qos1() {
    qos_roundtrip("mqttv311", 1).await;
}

#[tokio::test]
async fn mosquitto_v311_qos2() {
    qos_roundtrip("mqttv311", 2).await;
}

#[tokio::test]
async fn mosquitto_v5_qos0() {
    qos_roundtrip("mqttv5", 0).await;
}

#[tokio::test]
async fn mosquitto_v5_qos1() {
    qos_roundtrip("mqttv5", 1).await;
}

#[tokio::test]
async fn mosquitto_v5_qos2() {
    qos_roundtrip("mqttv5", 2).await;
}

/// A message published at QoS 2 to a QoS 1 subscription arrives at QoS 1 (min of the two).
#[tokio::test]
async fn mosquitto_v5_qos_downgraded_to_subscription() {
    let node = TestNode::start().await;
    let sub = spawn_sub(&node, "mqttv5", &["-t", "dg/t", "-q", "1", "-C", "1", "-W", "8", "-F", FMT]);
    subscribed(&node, 1).await;
    pub_(&node, "mqttv5", &["-t", "dg/t", "-q", "2", "-m", "x"]).await;
    assert_eq!(lines(sub).await, vec!["dg/t|1|0|x".to_string()]);
}

async fn retained(v: &str) {
    let node = TestNode::start().await;
    pub_(&node, v, &["-t", "ret/a", "-q", "1", "-r", "-m", "kept"]).await;
    // A late subscriber gets it with the retain flag.
    let out = tool(&node, "mosquitto_sub", v, &["-t", "ret/#", "-q", "1", "-C", "1", "-W", "5", "-F", FMT]).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), "ret/a|1|1|kept");
    // An empty retained message clears it.
    pub_(&node, v, &["-t", "ret/a", "-r", "-n"]).await;
    let b = node.broker().clone();
    wait_for("the first subscriber to be gone", T, || b.subscription_count() == 0).await;
    let sub = spawn_sub(&node, v, &["-t", "ret/#", "-C", "1", "-W", "5", "-F", FMT]);
    subscribed(&node, 1).await;
    pub_(&node, v, &["-t", "ret/b", "-m", "live"]).await;
    assert_eq!(lines(sub).await, vec!["ret/b|0|0|live".to_string()], "nothing retained is left on ret/a");
}

#[tokio::test]
async fn mosquitto_v311_retained() {
    retained("mqttv311").await;
}

#[tokio::test]
async fn mosquitto_v5_retained() {
    retained("mqttv5").await;
}

/// A client killed without DISCONNECT: its will goes out.
async fn will(v: &str) {
    let node = TestNode::start().await;
    let watcher = spawn_sub(&node, v, &["-t", "will/#", "-q", "1", "-C", "1", "-W", "8", "-F", FMT]);
    subscribed(&node, 1).await;
    let mut victim = spawn_sub(
        &node,
        v,
        &[
            "-t",
            "victim/in",
            "-i",
            "victim",
            "--will-topic",
            "will/victim",
            "--will-payload",
            "gone",
            "--will-qos",
            "1",
        ],
    );
    subscribed(&node, 2).await;
    victim.kill().await.expect("kill mosquitto_sub");
    assert_eq!(lines(watcher).await, vec!["will/victim|1|0|gone".to_string()]);
}

#[tokio::test]
async fn mosquitto_v311_will_on_kill() {
    will("mqttv311").await;
}

#[tokio::test]
async fn mosquitto_v5_will_on_kill() {
    will("mqttv5").await;
}

/// A clean disconnect (`-C 1` exit) discards the will.
#[tokio::test]
async fn mosquitto_v5_will_not_sent_on_clean_disconnect() {
    let node = TestNode::start().await;
    let watcher = spawn_sub(&node, "mqttv5", &["-t", "will/#", "-C", "1", "-W", "8", "-F", FMT]);
    subscribed(&node, 1).await;
    let polite = spawn_sub(
        &node,
        "mqttv5",
        &["-t", "polite/in", "-C", "1", "--will-topic", "will/polite", "--will-payload", "gone"],
    );
    subscribed(&node, 2).await;
    pub_(&node, "mqttv5", &["-t", "polite/in", "-m", "bye"]).await;
    lines(polite).await;
    // The watcher's next message must be this marker, not the will.
    pub_(&node, "mqttv5", &["-t", "will/marker", "-m", "m"]).await;
    assert_eq!(lines(watcher).await, vec!["will/marker|0|0|m".to_string()]);
}

/// `-c -i ID`: subscribe, go away, messages are published meanwhile, come back: they arrive,
/// in order.
async fn persistent(v: &str, restart: bool) {
    let mut node = TestNode::start().await;
    let id = format!("mosq-{v}");
    let mut persist: Vec<&str> = vec!["-c", "-i", &id];
    if v == "mqttv5" {
        persist.extend(["-x", "3600"]);
    }
    let mut first = persist.clone();
    first.extend(["-t", "ps/t", "-q", "1", "-E"]);
    tool(&node, "mosquitto_sub", v, &first).await;
    wait_idle(&node).await;
    for m in ["one", "two", "three"] {
        pub_(&node, v, &["-t", "ps/t", "-q", "1", "-m", m]).await;
    }
    if restart {
        node.restart().await;
    }
    let mut again = persist.clone();
    again.extend(["-t", "ps/t", "-q", "1", "-C", "3", "-W", "8", "-F", FMT]);
    let out = tool(&node, "mosquitto_sub", v, &again).await;
    let got: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    assert_eq!(got, vec!["ps/t|1|0|one", "ps/t|1|0|two", "ps/t|1|0|three"]);
}

#[tokio::test]
async fn mosquitto_v311_persistent_session() {
    persistent("mqttv311", false).await;
}

#[tokio::test]
async fn mosquitto_v5_persistent_session() {
    persistent("mqttv5", false).await;
}

#[tokio::test]
async fn mosquitto_v311_persistent_session_survives_restart() {
    persistent("mqttv311", true).await;
}

#[tokio::test]
async fn mosquitto_v5_persistent_session_survives_restart() {
    persistent("mqttv5", true).await;
}
