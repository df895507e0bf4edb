//! Helpers for the admin API tests: a node with an API key, and a minimal HTTP/1.1 client that
//! returns status, headers and body (independent of `starling ctl`'s client, which it tests).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::http::{HeaderMap, Method, Request};
use hyper_util::rt::TokioIo;

use crate::harness::TestNode;

pub const KEY: &str = "test-key-0123456789abcdef";

/// A node whose admin API accepts [`KEY`].
pub async fn node_with_key() -> TestNode {
    TestNode::start_with(|c| c.admin.api_keys = vec![KEY.into()]).await
}

pub fn admin_addr(node: &TestNode) -> SocketAddr {
    node.handle.as_ref().and_then(|h| h.admin_addr()).expect("admin listener running")
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
    }

    /// The `error` of an error body.
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_else(|| panic!("no error field: {}", self.text())).to_string()
    }
}

/// One request; `key` is sent as a bearer token. `auth` overrides the whole header when set.
pub async fn request(addr: SocketAddr, method: Method, path: &str, key: Option<&str>) -> Resp {
    request_with(addr, method, path, key.map(|k| format!("Bearer {k}"))).await
}

pub async fn request_with(addr: SocketAddr, method: Method, path: &str, authorization: Option<String>) -> Resp {
    send(addr, method, path, authorization, None).await
}

/// POST a JSON body with [`KEY`].
pub async fn post_json(node: &TestNode, path: &str, body: &serde_json::Value) -> Resp {
    let a = admin_addr(node);
    send(a, Method::POST, path, Some(format!("Bearer {KEY}")), Some(body.to_string())).await
}

async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    authorization: Option<String>,
    body: Option<String>,
) -> Resp {
    let fut = async {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect to the admin listener");
        let (mut tx, conn) =
            hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await.expect("handshake");
        tokio::spawn(conn);
        let mut req = Request::builder().method(method).uri(path).header("host", addr.to_string());
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let body = Full::new(Bytes::from(body.unwrap_or_default()));
        let resp = tx.send_request(req.body(body).expect("request")).await.expect("response");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        Resp { status, headers, body }
    };
    tokio::time::timeout(Duration::from_secs(10), fut).await.expect("admin API answered within 10 s")
}

/// GET with [`KEY`].
pub async fn get(node: &TestNode, path: &str) -> Resp {
    request(admin_addr(node), Method::GET, path, Some(KEY)).await
}

/// DELETE with [`KEY`].
pub async fn delete(node: &TestNode, path: &str) -> Resp {
    request(admin_addr(node), Method::DELETE, path, Some(KEY)).await
}

/// GET that must answer 200; returns the JSON.
pub async fn get_ok(node: &TestNode, path: &str) -> serde_json::Value {
    let r = get(node, path).await;
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    r.json()
}
