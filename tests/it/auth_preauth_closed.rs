//! A client that sends CONNECT and closes at once costs no password hash (issue 13, item 5):
//! its check, still waiting for a slot, is dropped when the socket closes.

use std::time::Duration;

use crate::auth_util::*;
use crate::harness::{Probe, TestNode};

fn hashes(node: &TestNode) -> u64 {
    metric(node, "starling_password_checks_total")
}

async fn hashes_reach(node: &TestNode, n: u64) {
    for _ in 0..200 {
        if hashes(node) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{} password checks, expected {n}", hashes(node));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_preauth_closed_connection_is_not_hashed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = password_file(dir.path(), &[("alice", "alice-pw")]);
    // A user whose hash takes long to check (PBKDF2 with 300,000 rounds; nobody knows its
    // password): logins as "slow" keep every check slot busy while the quitters arrive.
    let salt = "c2FsdHNhbHRzYWx0c2FsdA";
    let slow = format!("slow:$pbkdf2-sha256$i=300000,l=32${salt}${}\n", "A".repeat(43));
    let mut text = std::fs::read_to_string(&f).expect("read");
    text.push_str(&slow);
    std::fs::write(&f, text).expect("write");
    let node = TestNode::start_with(|c| {
        no_anonymous(c);
        c.auth.password_file = Some(f.clone());
    })
    .await;
    let slots = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) as u64;
    let addr = node.addr;
    let holders: Vec<_> = (0..slots)
        .map(|i| tokio::spawn(async move { login5(addr, &format!("h{i}"), Some("slow"), Some("x"), None).await.1 }))
        .collect();
    hashes_reach(&node, slots).await;
    // Five clients send a CONNECT with alice's right password and close before it is checked.
    for i in 0..5 {
        let mut p = Probe::tcp(addr, true).await;
        p.send(connect5_with(&format!("q{i}"), "alice", "alice-pw")).await;
        drop(p);
    }
    for h in holders {
        assert_eq!(h.await.expect("join"), 0x86);
    }
    // Once the slots are free, a queued check would start at once; give it time to show.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hashes(&node), slots, "a closed connection's password was checked");
    // A client that waits for its answer is checked (and let in).
    assert_eq!(login5(addr, "alice-1", Some("alice"), Some("alice-pw"), None).await.1, 0);
    assert_eq!(hashes(&node), slots + 1);
}
