//! `GET /api/v1/bridges` and the bridges' part of `/readyz`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::AdminState;
use crate::broker::Broker;

/// Every bridge of this node: connection, backlog, counters, and the node holding its lease
/// (docs/bridge.md).
pub(super) async fn list(State(s): State<AdminState>) -> Response {
    let mut bridges = s.broker.bridges.get().map(|b| b.snapshots()).unwrap_or_else(|| serde_json::json!([]));
    let members = s.cluster.status().await.members;
    for b in bridges.as_array_mut().into_iter().flatten() {
        let id = b.get("holder_id").and_then(|h| h.as_u64());
        let name = id.map(|id| members.iter().find(|m| m.id == id).map_or_else(|| id.to_string(), |m| m.name.clone()));
        if let Some(o) = b.as_object_mut() {
            o.insert("holder".into(), name.into());
        }
    }
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
