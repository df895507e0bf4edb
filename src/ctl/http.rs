//! The admin API calls behind the commands: GET, send, DELETE, and turning an error reply into
//! a message that says what to fix.

use anyhow::bail;
use hyper::http::{Method, StatusCode};
use serde_json::Value;

use super::client::{Client, Reply};

pub(super) async fn get(client: &Client, path: &str) -> anyhow::Result<Value> {
    let r = client.request(Method::GET, path).await?;
    check(client, &r)?;
    r.json()
}

pub(super) async fn send(client: &Client, method: Method, path: &str, body: &Value) -> anyhow::Result<Value> {
    let r = client.request_json(method, path, body).await?;
    check(client, &r)?;
    r.json()
}

pub(super) async fn delete(client: &Client, path: &str) -> anyhow::Result<()> {
    let r = client.request(Method::DELETE, path).await?;
    check(client, &r)
}

/// Turn an error status into a message a person can act on.
pub(super) fn check(client: &Client, r: &Reply) -> anyhow::Result<()> {
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
