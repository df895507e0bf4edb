//! `GET /api/v1/bridges` and the bridges' part of `/readyz`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::AdminState;
use crate::broker::Broker;

/// Every bridge of this node: connection, backlog, counters (docs/bridge.md).
pub(super) async fn list(State(s): State<AdminState>) -> Response {
    let bridges = s.broker.bridges.get().map(|b| b.snapshots()).unwrap_or_else(|| serde_json::json!([]));
    axum::Json(serde_json::json!({ "bridges": bridges })).into_response()
}

/// `{"<name>": "connected" | "disconnected"}`; never part of the readiness verdict.
pub(super) fn readiness(broker: &Arc<Broker>) -> serde_json::Value {
    let Some(b) = broker.bridges.get() else { return serde_json::json!({}) };
    let mut out = serde_json::Map::new();
    for s in b.snapshots().as_array().into_iter().flatten() {
        let name = s.get("name").and_then(|n| n.as_str()).unwrap_or("").to_string();
        let up = s.get("connected").and_then(|c| c.as_bool()).unwrap_or(false);
        out.insert(name, (if up { "connected" } else { "disconnected" }).into());
    }
    serde_json::Value::Object(out)
}
