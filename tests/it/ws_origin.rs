//! Cross-origin WebSocket (issue 13, item 4): any web page can make the browser open a
//! WebSocket to a loopback `ws` listener. By default a listener that admits anonymous clients
//! refuses (403) an upgrade whose Origin is not its own host; `allowed_origins` lists the
//! accepted ones; clients that send no Origin are not affected.

use std::net::SocketAddr;

use starling::config::{ListenerConfig, ListenerKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::TestNode;

fn web(tweak: impl FnOnce(&mut ListenerConfig)) -> ListenerConfig {
    let mut l = ListenerConfig {
        kind: Some(ListenerKind::Ws),
        bind: Some("127.0.0.1:0".parse().expect("addr")),
        ..Default::default()
    };
    tweak(&mut l);
    l
}

async fn start(l: ListenerConfig) -> (TestNode, SocketAddr) {
    let node = TestNode::start_with(move |c| {
        c.listeners.insert("web".into(), l);
    })
    .await;
    let addr = node.handle.as_ref().expect("running").listeners.iter().find(|l| l.name == "web").expect("web").addr;
    (node, addr)
}

/// The HTTP status line of an MQTT upgrade with `origin` (and `host`).
async fn upgrade_status(addr: SocketAddr, origin: Option<&str>, host: &str) -> String {
    let origin = origin.map(|o| format!("Origin: {o}\r\n")).unwrap_or_default();
    let req = format!(
        "GET /mqtt HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: mqtt\r\n{origin}\r\n"
    );
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("answer in time")
        .expect("read");
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    text.lines().next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn ws_origin_foreign_page_refused_on_anonymous_loopback_listener() {
    let (node, addr) = start(web(|_| {})).await;
    let host = addr.to_string();
    assert!(upgrade_status(addr, Some("http://evil.example"), &host).await.contains("403"));
    // DNS rebinding: the page's name points at 127.0.0.1, but it is not the listener's host.
    let rebound = format!("evil.example:{}", addr.port());
    assert!(upgrade_status(addr, Some(&format!("http://{rebound}")), &rebound).await.contains("403"));
    assert!(upgrade_status(addr, Some("null"), &host).await.contains("403"));
    // The listener's own host, and clients that send no Origin, are served.
    assert!(upgrade_status(addr, Some(&format!("http://{host}")), &host).await.contains("101"));
    assert!(upgrade_status(addr, Some("http://localhost:3000"), &host).await.contains("101"));
    assert!(upgrade_status(addr, None, &host).await.contains("101"));
    let line = "starling_websocket_upgrade_failures_total{listener=\"web\",reason=\"origin\"} 3";
    assert!(node.broker().metrics.encode().contains(line), "{}", node.broker().metrics.encode());
}

#[tokio::test]
async fn ws_origin_allowed_origins_list_decides() {
    let (_node, addr) = start(web(|l| l.allowed_origins = vec!["https://app.example.com".into()])).await;
    let host = addr.to_string();
    assert!(upgrade_status(addr, Some("https://app.example.com"), &host).await.contains("101"));
    assert!(upgrade_status(addr, Some("http://localhost"), &host).await.contains("403"));
    assert!(upgrade_status(addr, None, &host).await.contains("101"));
}

/// A listener that needs credentials is not a target: the default does not check Origins.
#[tokio::test]
async fn ws_origin_not_checked_by_default_when_credentials_are_required() {
    let (_node, addr) = start(web(|l| l.allow_anonymous = Some(false))).await;
    assert!(upgrade_status(addr, Some("http://evil.example"), &addr.to_string()).await.contains("101"));
}
