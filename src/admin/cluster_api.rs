//! `/api/v1/cluster`: the membership as this node sees it, and the operator's membership changes
//! (`starling ctl cluster status|join|leave|forget`).

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{AdminState, error};
use crate::cluster::admin::{MembershipError, MembershipOp};

/// GET: [`crate::broker::port::ClusterStatus`] (a standalone node reports itself alone).
pub(super) async fn status(State(s): State<AdminState>) -> Response {
    Json(s.cluster.status().await).into_response()
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
    outcome(s.cluster.membership(MembershipOp::Join(b.addr)).await)
}

/// DELETE: remove the named member (this node's own name: leave).
pub(super) async fn remove(State(s): State<AdminState>, name: Result<Path<String>, PathRejection>) -> Response {
    let name = match name {
        Ok(Path(n)) => n,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid path: {}", e.body_text())),
    };
    outcome(s.cluster.membership(MembershipOp::Remove(name)).await)
}

fn outcome(r: Result<String, MembershipError>) -> Response {
    match r {
        Ok(msg) => Json(serde_json::json!({ "result": msg })).into_response(),
        // The request was understood but cannot be carried out in the cluster's present state
        // (not clustered, no such member, no leader).
        Err(e) => error(StatusCode::CONFLICT, e.to_string()),
    }
}

/// `?wait=true`: answer once the evacuation is over.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DrainQuery {
    #[serde(default)]
    wait: bool,
}

/// POST: drain this node — refuse new connections and report not ready at once, send clients
/// to other nodes (0x9C) spread over `drain.window` at most `drain.rate` per second. With
/// `wait=true` the answer comes when they are gone and their sessions were taken (or
/// `drain.takeover` passed). The membership is unchanged; a restart brings the node back.
pub(super) async fn drain(State(s): State<AdminState>, q: Result<Query<DrainQuery>, QueryRejection>) -> Response {
    let Query(q) = match q {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid query: {}", e.body_text())),
    };
    s.ready.store(false, std::sync::atomic::Ordering::Release);
    s.evacuation.start(None);
    if !q.wait {
        return Json(serde_json::json!({
            "result": "draining: new connections are refused, clients are being sent to other nodes"
        }))
        .into_response();
    }
    let (empty, taken) = s.evacuation.wait_finished().await;
    let result = match (empty, taken) {
        (true, true) => "drained: no client is connected and other nodes took every session".to_string(),
        (true, false) => format!(
            "drained: no client is connected; {} sessions were not taken and stay here",
            s.broker.session_count()
        ),
        (false, _) => format!(
            "draining: {} clients still connected when the window ended",
            s.broker.connections.load(std::sync::atomic::Ordering::Acquire)
        ),
    };
    let connections = s.broker.connections.load(std::sync::atomic::Ordering::Acquire);
    Json(serde_json::json!({ "result": result, "connections": connections, "sessions": s.broker.session_count() }))
        .into_response()
}
