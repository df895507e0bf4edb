//! `/api/v1` handlers. Request data is never trusted: path and query rejections become
//! `400 {"error": ...}` instead of axum's plain-text defaults, topics and filters are validated
//! with the broker's own rules, and list endpoints are paged (`limit` 1..=1000, default 100) so
//! a large node cannot be asked for an unbounded answer.
//!
//! The shapes here are the contract described in `openapi.json`; the schemathesis test checks
//! every response against it, so change both together.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{AdminState, error};
use crate::auth::bans::{self, BanSource};
use crate::auth::password;
use crate::broker::BrokerError;
use crate::broker::inspect::{ClientQuery, ClientSummary, KickOutcome, Page};
use crate::broker::port::ClusterError;
use crate::broker::subs::SubOptions;
use crate::catalog::cmd::CatalogCmd;
use crate::catalog::cmd::{BanKind, BanRecord};
use crate::protocol::Message;
use crate::protocol::message::now_ms;
use crate::protocol::topic;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// As documented; deeper than any real listing, and it keeps `offset + limit` far from overflow.
const MAX_OFFSET: usize = 1_000_000_000;

const OPENAPI: &str = include_str!("openapi.json");

/// A refused request: its status and message (rendered as `{"error": ...}`).
pub(super) struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

type Reply = Result<Response, ApiError>;

fn fail(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError(status, msg.into())
}

fn bad_request(msg: impl Into<String>) -> ApiError {
    fail(StatusCode::BAD_REQUEST, msg)
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v).map_err(|e| bad_request(format!("invalid query: {}", e.body_text())))
}

fn path(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    p.map(|Path(v)| v).map_err(|e| bad_request(format!("invalid path: {}", e.body_text())))
}

fn paging(limit: Option<usize>, offset: Option<usize>) -> Result<(usize, usize), ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad_request(format!("limit must be between 1 and {MAX_LIMIT}")));
    }
    let offset = offset.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(bad_request(format!("offset must be at most {MAX_OFFSET}")));
    }
    Ok((limit, offset))
}

/// A catalog write that did not go through: no leader is a temporary condition (503), anything
/// else is the node's fault (500).
fn broker_error(e: BrokerError) -> ApiError {
    match e {
        BrokerError::Cluster(ClusterError::NoLeader) => fail(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        other => fail(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

#[derive(Serialize)]
struct Listing<T> {
    data: Vec<T>,
    meta: Meta,
}

#[derive(Serialize)]
struct Meta {
    total: usize,
    limit: usize,
    offset: usize,
}

fn listing<T, U: Serialize>(page: Page<T>, limit: usize, offset: usize, f: impl Fn(T) -> U) -> Response {
    Json(Listing { data: page.items.into_iter().map(f).collect(), meta: Meta { total: page.total, limit, offset } })
        .into_response()
}

// ------------------------------------------------------------------------------- status

#[derive(Serialize)]
struct Status {
    node: String,
    version: &'static str,
    uptime_seconds: u64,
    connections: u64,
    sessions: usize,
    persistent_sessions: usize,
    subscriptions: usize,
    routes: usize,
    retained: usize,
    queued: usize,
    inflight: usize,
    messages: MessageCounters,
    bytes: ByteCounters,
}

#[derive(Serialize)]
struct MessageCounters {
    received: u64,
    sent: u64,
    dropped: u64,
}

#[derive(Serialize)]
struct ByteCounters {
    received: u64,
    sent: u64,
}

pub(super) async fn status(State(s): State<AdminState>) -> Response {
    let b = s.broker.clone();
    let t = match tokio::task::spawn_blocking(move || b.totals()).await {
        Ok(t) => t,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, format!("status collection failed: {e}")),
    };
    Json(Status {
        node: s.broker.node_name.clone(),
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: s.broker.uptime().as_secs(),
        connections: t.connections,
        sessions: t.sessions,
        persistent_sessions: t.persistent_sessions,
        subscriptions: t.subscriptions,
        routes: t.routes,
        retained: t.retained,
        queued: t.queued,
        inflight: t.inflight,
        messages: MessageCounters { received: t.messages_received, sent: t.messages_sent, dropped: t.messages_dropped },
        bytes: ByteCounters { received: t.bytes_received, sent: t.bytes_sent },
    })
    .into_response()
}

// ------------------------------------------------------------------------------- clients

#[derive(Deserialize)]
pub(super) struct ClientParams {
    limit: Option<usize>,
    offset: Option<usize>,
    connected: Option<bool>,
    client_id_prefix: Option<String>,
}

#[derive(Serialize)]
struct ClientJson {
    client_id: String,
    connected: bool,
    /// `ip:port` of the connected client (the PROXY protocol source address behind a load
    /// balancer); null when not connected.
    peer: Option<String>,
    persistent: bool,
    /// Seconds; 4294967295 means the session never expires (as in MQTT).
    session_expiry_interval: u32,
    subscription_count: usize,
    queued: usize,
    inflight: usize,
}

impl From<ClientSummary> for ClientJson {
    fn from(c: ClientSummary) -> Self {
        ClientJson {
            client_id: c.client_id.to_string(),
            connected: c.connected,
            peer: c.peer.map(|p| p.to_string()),
            persistent: c.persistent,
            session_expiry_interval: c.expiry,
            subscription_count: c.subscriptions,
            queued: c.queued,
            inflight: c.inflight,
        }
    }
}

pub(super) async fn clients(State(s): State<AdminState>, q: Result<Query<ClientParams>, QueryRejection>) -> Reply {
    let p = query(q)?;
    let (limit, offset) = paging(p.limit, p.offset)?;
    let cq = ClientQuery { client_id_prefix: p.client_id_prefix, connected: p.connected, offset, limit };
    let b = s.broker.clone();
    let page = tokio::task::spawn_blocking(move || b.clients(&cq))
        .await
        .map_err(|e| fail(StatusCode::INTERNAL_SERVER_ERROR, format!("listing failed: {e}")))?;
    Ok(listing(page, limit, offset, ClientJson::from))
}

#[derive(Serialize)]
struct SubscriptionOptionsJson {
    qos: u8,
    no_local: bool,
    retain_as_published: bool,
    retain_handling: u8,
    subscription_identifier: Option<u32>,
}

impl From<SubOptions> for SubscriptionOptionsJson {
    fn from(o: SubOptions) -> Self {
        SubscriptionOptionsJson {
            qos: o.qos,
            no_local: o.no_local,
            retain_as_published: o.retain_as_published,
            retain_handling: o.retain_handling,
            subscription_identifier: o.sub_id,
        }
    }
}

#[derive(Serialize)]
struct ClientFilterJson {
    filter: String,
    #[serde(flatten)]
    options: SubscriptionOptionsJson,
}

#[derive(Serialize)]
struct ClientDetailJson {
    #[serde(flatten)]
    summary: ClientJson,
    node: String,
    /// Unix ms when a persistent session's connection ended; null while connected.
    disconnected_at: Option<u64>,
    /// Unix ms when a disconnected persistent session will expire; null if it will not.
    expires_at: Option<u64>,
    will_pending: bool,
    subscriptions: Vec<ClientFilterJson>,
}

pub(super) async fn client(State(s): State<AdminState>, id: Result<Path<String>, PathRejection>) -> Reply {
    let id = path(id)?;
    let Some(d) = s.broker.client(&id) else {
        return Err(fail(StatusCode::NOT_FOUND, format!("no session for client id {id:?}")));
    };
    let expires_at = match (d.disconnected_at_ms, d.summary.expiry) {
        (Some(at), e) if e != u32::MAX => Some(at + u64::from(e) * 1000),
        _ => None,
    };
    Ok(Json(ClientDetailJson {
        node: s.broker.node_name.clone(),
        disconnected_at: d.disconnected_at_ms,
        expires_at,
        will_pending: d.will_pending,
        subscriptions: d
            .subscriptions
            .into_iter()
            .map(|(filter, o)| ClientFilterJson { filter, options: o.into() })
            .collect(),
        summary: d.summary.into(),
    })
    .into_response())
}

/// Kick: the connection gets DISCONNECT 0x98 (5.0) and closes; the session stays as after any
/// disconnect.
pub(super) async fn kick(State(s): State<AdminState>, id: Result<Path<String>, PathRejection>) -> Reply {
    let id = path(id)?;
    match s.broker.kick_client(&id) {
        KickOutcome::Kicked => {
            tracing::info!(client = %id, "client kicked through the admin API");
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        KickOutcome::NotConnected => Err(fail(
            StatusCode::CONFLICT,
            format!("client {id:?} is not connected (its session is kept until it expires)"),
        )),
        KickOutcome::NoSuchClient => Err(fail(StatusCode::NOT_FOUND, format!("no session for client id {id:?}"))),
    }
}

// ------------------------------------------------------------------------------- subscriptions, routes

#[derive(Deserialize)]
pub(super) struct SubscriptionParams {
    limit: Option<usize>,
    offset: Option<usize>,
    client_id: Option<String>,
}

#[derive(Serialize)]
struct SubscriptionJson {
    client_id: String,
    filter: String,
    #[serde(flatten)]
    options: SubscriptionOptionsJson,
}

pub(super) async fn subscriptions(
    State(s): State<AdminState>,
    q: Result<Query<SubscriptionParams>, QueryRejection>,
) -> Reply {
    let p = query(q)?;
    let (limit, offset) = paging(p.limit, p.offset)?;
    let b = s.broker.clone();
    let page = tokio::task::spawn_blocking(move || b.subscriptions(p.client_id.as_deref(), offset, limit))
        .await
        .map_err(|e| fail(StatusCode::INTERNAL_SERVER_ERROR, format!("listing failed: {e}")))?;
    Ok(listing(page, limit, offset, |e| SubscriptionJson {
        client_id: e.client_id.to_string(),
        filter: e.filter,
        options: e.options.into(),
    }))
}

#[derive(Deserialize)]
pub(super) struct PageParams {
    limit: Option<usize>,
    offset: Option<usize>,
}

#[derive(Serialize)]
struct RouteJson {
    filter: String,
    node: String,
    local_subscriptions: usize,
}

pub(super) async fn routes(State(s): State<AdminState>, q: Result<Query<PageParams>, QueryRejection>) -> Reply {
    let p = query(q)?;
    let (limit, offset) = paging(p.limit, p.offset)?;
    let all = s.broker.local_routes();
    let page = Page { total: all.len(), items: all.into_iter().skip(offset).take(limit).collect() };
    let node = s.broker.node_name.clone();
    Ok(listing(page, limit, offset, |(filter, n)| RouteJson { filter, node: node.clone(), local_subscriptions: n }))
}

// ------------------------------------------------------------------------------- retained

#[derive(Deserialize)]
pub(super) struct RetainedParams {
    limit: Option<usize>,
    offset: Option<usize>,
    filter: Option<String>,
}

#[derive(Serialize)]
struct RetainedJson {
    topic: String,
    qos: u8,
    payload_size: usize,
    /// Client id of the publisher.
    publisher: String,
    /// Unix ms when the message expires (Message Expiry Interval); null if it does not.
    expires_at: Option<u64>,
}

impl From<&Message> for RetainedJson {
    fn from(m: &Message) -> Self {
        RetainedJson {
            topic: m.topic.to_string(),
            qos: m.qos,
            payload_size: m.payload.len(),
            publisher: m.origin.to_string(),
            expires_at: m.expires_at_ms,
        }
    }
}

#[derive(Serialize)]
struct UserPropertyJson {
    key: String,
    value: String,
}

#[derive(Serialize)]
struct RetainedDetailJson {
    #[serde(flatten)]
    summary: RetainedJson,
    payload_base64: String,
    /// The payload as text when it is valid UTF-8, else null.
    payload_text: Option<String>,
    content_type: Option<String>,
    response_topic: Option<String>,
    user_properties: Vec<UserPropertyJson>,
}

pub(super) async fn retained_list(
    State(s): State<AdminState>,
    q: Result<Query<RetainedParams>, QueryRejection>,
) -> Reply {
    let p = query(q)?;
    let (limit, offset) = paging(p.limit, p.offset)?;
    let filter = p.filter.unwrap_or_else(|| "#".into());
    topic::validate_filter(&filter, s.broker.settings.topic_limits)
        .map_err(|e| bad_request(format!("filter {filter:?}: {e}")))?;
    let all = s.broker.retained_messages(&filter);
    let page = Page { total: all.len(), items: all.into_iter().skip(offset).take(limit).collect() };
    Ok(listing(page, limit, offset, |m| RetainedJson::from(&*m)))
}

fn topic_param(s: &AdminState, p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let t = path(p)?;
    topic::validate_topic_name(&t, s.broker.settings.topic_limits)
        .map_err(|e| bad_request(format!("topic {t:?}: {e}")))?;
    Ok(t)
}

pub(super) async fn retained_get(State(s): State<AdminState>, t: Result<Path<String>, PathRejection>) -> Reply {
    let t = topic_param(&s, t)?;
    let now = now_ms();
    let Some(m) = s.broker.retained_message(&t).filter(|m| !m.expired(now)) else {
        return Err(fail(StatusCode::NOT_FOUND, format!("no retained message on topic {t:?}")));
    };
    let bytes = m.payload.as_slice();
    Ok(Json(RetainedDetailJson {
        summary: RetainedJson::from(&*m),
        payload_base64: base64(bytes),
        payload_text: std::str::from_utf8(bytes).ok().map(str::to_string),
        content_type: m.props.content_type.clone(),
        response_topic: m.props.response_topic.clone(),
        user_properties: m
            .props
            .user_properties
            .iter()
            .map(|(k, v)| UserPropertyJson { key: k.clone(), value: v.clone() })
            .collect(),
    })
    .into_response())
}

pub(super) async fn retained_delete(State(s): State<AdminState>, t: Result<Path<String>, PathRejection>) -> Reply {
    let t = topic_param(&s, t)?;
    match s.broker.delete_retained(&t).await {
        Ok(true) => {
            tracing::info!(topic = %t, "retained message deleted through the admin API");
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Ok(false) => Err(fail(StatusCode::NOT_FOUND, format!("no retained message on topic {t:?}"))),
        Err(e) => Err(broker_error(e)),
    }
}

// ------------------------------------------------------------------------------- bans

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(v)| v).map_err(|e| bad_request(format!("invalid request body: {}", e.body_text())))
}

/// Longest ban the API accepts (ten years); longer is "until deleted" (no duration).
const MAX_BAN_SECONDS: u64 = 315_360_000;
const MAX_REASON: usize = 1024;

#[derive(Serialize)]
struct BanJson {
    kind: &'static str,
    value: String,
    source: BanSource,
    reason: Option<String>,
    /// Unix ms; null for bans from the configuration.
    created_at: Option<u64>,
    /// Unix ms; null = until deleted.
    expires_at: Option<u64>,
}

fn ban_json(kind: BanKind, value: String, source: BanSource, r: BanRecord) -> BanJson {
    BanJson {
        kind: kind.as_str(),
        value,
        source,
        reason: r.reason,
        created_at: (source != BanSource::Config).then_some(r.created_ms),
        expires_at: r.until_ms,
    }
}

pub(super) async fn bans_list(State(s): State<AdminState>, q: Result<Query<PageParams>, QueryRejection>) -> Reply {
    let p = query(q)?;
    let (limit, offset) = paging(p.limit, p.offset)?;
    let all = s.broker.auth.bans.list(&s.broker.catalog);
    let page = Page { total: all.len(), items: all.into_iter().skip(offset).take(limit).collect() };
    Ok(listing(page, limit, offset, |b| ban_json(b.kind, b.value, b.source, b.record)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewBan {
    kind: String,
    value: String,
    reason: Option<String>,
    /// Seconds from now; absent = until deleted.
    duration_seconds: Option<u64>,
}

/// Add (or replace) a ban through the catalog. A banned client id that is connected is
/// disconnected at once; other bans apply from the next CONNECT (or accept, for networks).
pub(super) async fn bans_add(State(s): State<AdminState>, b: Result<Json<NewBan>, JsonRejection>) -> Reply {
    let b = body(b)?;
    let kind = BanKind::parse(&b.kind)
        .ok_or_else(|| bad_request(format!("kind {:?}: expected client_id, username or network", b.kind)))?;
    let value = bans::normalize(kind, &b.value).map_err(|e| bad_request(format!("value: {e}")))?;
    if b.reason.as_ref().is_some_and(|r| r.len() > MAX_REASON) {
        return Err(bad_request(format!("reason is longer than {MAX_REASON} bytes")));
    }
    let now = now_ms();
    let until_ms = match b.duration_seconds {
        None => None,
        Some(d) if (1..=MAX_BAN_SECONDS).contains(&d) => Some(now + d * 1000),
        Some(_) => return Err(bad_request(format!("duration_seconds must be between 1 and {MAX_BAN_SECONDS}"))),
    };
    let record = BanRecord { reason: b.reason, created_ms: now, until_ms };
    // Housekeeping with the write: expired bans leave the catalog.
    for (k, v, r) in s.broker.catalog.bans() {
        if !r.active(now) {
            let _ = s.broker.cluster.propose(CatalogCmd::SetBan { kind: k, value: v, ban: None }).await;
        }
    }
    let cmd = CatalogCmd::SetBan { kind, value: value.clone(), ban: Some(record.clone()) };
    s.broker.cluster.propose(cmd).await.map_err(|e| broker_error(e.into()))?;
    tracing::info!(kind = kind.as_str(), %value, "ban added through the admin API");
    if kind == BanKind::ClientId {
        let _ = s.broker.kick_client(&value);
    }
    Ok((StatusCode::CREATED, Json(ban_json(kind, value, BanSource::Api, record))).into_response())
}

pub(super) async fn bans_delete(
    State(s): State<AdminState>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Reply {
    let (kind, value) = p.map(|Path(v)| v).map_err(|e| bad_request(format!("invalid path: {}", e.body_text())))?;
    let kind = BanKind::parse(&kind)
        .ok_or_else(|| bad_request(format!("kind {kind:?}: expected client_id, username or network")))?;
    // A value that is not a valid ban value (a malformed network) is simply not banned: 404.
    let value = bans::normalize(kind, &value).unwrap_or(value);
    let auth = &s.broker.auth;
    let in_catalog = s.broker.catalog.ban(kind, &value).is_some();
    let temporary = auth.bans.remove_temporary(kind, &value);
    if in_catalog {
        let cmd = CatalogCmd::SetBan { kind, value: value.clone(), ban: None };
        s.broker.cluster.propose(cmd).await.map_err(|e| broker_error(e.into()))?;
    }
    if in_catalog || temporary {
        tracing::info!(kind = kind.as_str(), %value, "ban deleted through the admin API");
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    if auth.bans.in_config(kind, &value) {
        return Err(fail(
            StatusCode::CONFLICT,
            format!("the ban of {} {value:?} is in the configuration ([bans]); remove it there", kind.as_str()),
        ));
    }
    Err(fail(StatusCode::NOT_FOUND, format!("no ban of {} {value:?}", kind.as_str())))
}

// ------------------------------------------------------------------------------- users

#[derive(Serialize)]
struct UserJson {
    username: String,
    /// `file` (the password file, read-only here) or `api`.
    source: &'static str,
    writable: bool,
}

pub(super) async fn users_list(State(s): State<AdminState>, q: Result<Query<PageParams>, QueryRejection>) -> Reply {
    let p = query(q)?;
    let (limit, offset) = paging(p.limit, p.offset)?;
    let all = s.broker.auth.users();
    let page = Page { total: all.len(), items: all.into_iter().skip(offset).take(limit).collect() };
    Ok(listing(page, limit, offset, |(username, source, writable)| UserJson { username, source, writable }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewUser {
    username: String,
    password: String,
}

const MAX_PASSWORD: usize = 65535;

/// Add a user to the API store or change its password. Only the hash is stored (and
/// replicated); the password is not logged.
pub(super) async fn users_add(State(s): State<AdminState>, b: Result<Json<NewUser>, JsonRejection>) -> Reply {
    let u = body(b)?;
    if !password::valid_username(&u.username) || u.username.len() > 65535 {
        return Err(bad_request(
            "username must be 1..=65535 bytes, not start with '#' or a blank, and contain no ':' or control characters",
        ));
    }
    if u.password.is_empty() || u.password.len() > MAX_PASSWORD {
        return Err(bad_request(format!("password must be 1..={MAX_PASSWORD} bytes")));
    }
    let auth = &s.broker.auth;
    if auth.file_user(&u.username) {
        return Err(fail(
            StatusCode::CONFLICT,
            format!(
                "user {:?} is in the password file, which the API does not change (use starling passwd)",
                u.username
            ),
        ));
    }
    let existed = auth.api_user(&u.username);
    let hash =
        auth.hash_password(u.password).await.map_err(|e| fail(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let cmd = CatalogCmd::SetUser { username: u.username.clone(), hash: Some(hash) };
    s.broker.cluster.propose(cmd).await.map_err(|e| broker_error(e.into()))?;
    tracing::info!(username = %u.username, "user {} through the admin API", if existed { "updated" } else { "added" });
    let status = if existed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(UserJson { username: u.username, source: "api", writable: true })).into_response())
}

pub(super) async fn users_delete(State(s): State<AdminState>, p: Result<Path<String>, PathRejection>) -> Reply {
    let name = path(p)?;
    let auth = &s.broker.auth;
    if auth.api_user(&name) {
        let cmd = CatalogCmd::SetUser { username: name.clone(), hash: None };
        s.broker.cluster.propose(cmd).await.map_err(|e| broker_error(e.into()))?;
        tracing::info!(username = %name, "user deleted through the admin API");
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    if auth.file_user(&name) {
        return Err(fail(
            StatusCode::CONFLICT,
            format!("user {name:?} is in the password file, which the API does not change (use starling passwd)"),
        ));
    }
    Err(fail(StatusCode::NOT_FOUND, format!("no user {name:?}")))
}

pub(super) async fn openapi() -> Response {
    let doc = OPENAPI
        .replace("\"version\": \"CARGO_PKG_VERSION\"", &format!("\"version\": \"{}\"", env!("CARGO_PKG_VERSION")));
    ([(header::CONTENT_TYPE, "application/json")], doc).into_response()
}

/// Standard base64 with padding (RFC 4648 §4); payloads are binary, JSON is not.
fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn openapi_document_is_json_with_every_path() {
        let v: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json parses");
        let paths = v["paths"].as_object().expect("paths");
        for p in [
            "status",
            "clients",
            "clients/{client_id}",
            "subscriptions",
            "routes",
            "retained",
            "retained/{topic}",
            "bans",
            "users",
        ] {
            assert!(paths.contains_key(&format!("/api/v1/{p}")), "{p} missing");
        }
        for p in ["/metrics", "/healthz", "/readyz", "/api/v1/openapi.json"] {
            assert!(paths.contains_key(p), "{p} missing");
        }
    }
}
