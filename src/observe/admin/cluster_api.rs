//! `/api/v1/cluster`: the membership as this node sees it, and the operator's membership changes
//! (`starling ctl cluster status|join|leave|forget`).

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{AdminState, error};
use crate::broker::cluster::MembershipOp;

/// GET: [`crate::broker::cluster::ClusterStatus`] (a standalone node reports itself alone).
pub(super) async fn status(State(s): State<AdminState>) -> Response {
    Json(s.broker.cluster.status().await).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JoinBody {
    /// Cluster-link address (`host:port`) of any member.
    addr: String,
}

/// POST: join the cluster of the node at `addr`.
pub(super) async fn join(State(s): State<AdminState>, body: Result<Json<JoinBody>, JsonRejection>) -> Response {
    let Json(b) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid body: {}", e.body_text())),
    };
    // No stricter than the document's pattern (a port after the last colon); a host that cannot
    // be reached is answered by the join attempt itself.
    let well_formed = b
        .addr
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
    if !well_formed {
        return error(StatusCode::BAD_REQUEST, "addr must be host:port");
    }
    outcome(s.broker.cluster.membership(MembershipOp::Join(b.addr)).await)
}

/// DELETE: remove the named member (this node's own name: leave).
pub(super) async fn remove(State(s): State<AdminState>, name: Result<Path<String>, PathRejection>) -> Response {
    let name = match name {
        Ok(Path(n)) => n,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid path: {}", e.body_text())),
    };
    outcome(s.broker.cluster.membership(MembershipOp::Remove(name)).await)
}

fn outcome(r: Result<String, String>) -> Response {
    match r {
        Ok(msg) => Json(serde_json::json!({ "result": msg })).into_response(),
        // The request was understood but cannot be carried out in the cluster's present state
        // (not clustered, no such member, no leader).
        Err(e) => error(StatusCode::CONFLICT, e),
    }
}

/// POST: drain this node — refuse new connections, send clients to other nodes (0x9C), report
/// not ready. The membership is unchanged; a restart brings the node back.
pub(super) async fn drain(State(s): State<AdminState>) -> Response {
    s.ready.store(false, std::sync::atomic::Ordering::Release);
    s.broker.drain();
    Json(serde_json::json!({ "result": "draining: new connections are refused, clients are sent to other nodes" }))
        .into_response()
}
