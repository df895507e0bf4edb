//! The admin HTTP listener against clients that hold connections: a half-sent request or an
//! idle keep-alive connection is closed after `admin.idle_timeout`, and no more than
//! `admin.max_connections` connections are served at once (issue 13, item 5).

use std::time::Duration;

use hyper::http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::admin_util::*;
use crate::harness::TestNode;

/// Reads until EOF or an error; true when the server closed the connection within `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn admin_half_sent_request_is_closed_after_the_idle_timeout() {
    let node = TestNode::start_with(|c| c.admin.idle_timeout = Duration::from_millis(500)).await;
    let a = admin_addr(&node);
    let mut s = TcpStream::connect(a).await.expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHo").await.expect("write");
    assert!(closed_within(&mut s, Duration::from_secs(5)).await, "a half-sent request is held open");
    // An idle connection that never sent a byte goes the same way.
    let mut idle = TcpStream::connect(a).await.expect("connect");
    assert!(closed_within(&mut idle, Duration::from_secs(5)).await, "an idle connection is held open");
    // Requests that arrive in time are still served.
    assert_eq!(request(a, Method::GET, "/healthz", None).await.status, 200);
}

#[tokio::test]
async fn admin_connections_beyond_the_cap_wait_for_a_free_slot() {
    let node = TestNode::start_with(|c| {
        c.admin.max_connections = 2;
        c.admin.idle_timeout = Duration::from_secs(30);
    })
    .await;
    let a = admin_addr(&node);
    let hold1 = TcpStream::connect(a).await.expect("connect");
    let hold2 = TcpStream::connect(a).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Both slots are taken by clients that send nothing: a third is not served meanwhile.
    let third = tokio::time::timeout(Duration::from_millis(700), request(a, Method::GET, "/healthz", None)).await;
    assert!(third.is_err(), "a third connection was served beyond admin.max_connections = 2");
    drop(hold1);
    drop(hold2);
    let r = tokio::time::timeout(Duration::from_secs(5), request(a, Method::GET, "/healthz", None))
        .await
        .expect("served once a slot is free");
    assert_eq!(r.status, 200);
}
