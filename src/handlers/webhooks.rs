//! `/api/v1/webhooks`: webhook endpoints, their deliveries and replays, for the integrator's
//! backend (bearer token from `client_credentials`, [`ApiClient`]); and the delivery log page the
//! integrator opens from a signed link (`/webhooks/{id}/log`), with its live stream.

use super::errors::{ApiError, PageError};
use super::{brand, html};
use crate::db::webhooks::{self as store, FAILED, PENDING, SUCCEEDED};
use crate::db::{events::rfc3339, now_ms};
use crate::principal::{ApiClient, urlencode};
use crate::state::AppState;
use crate::views::{self, webhooks::DeliveryRowView};
use crate::webhooks::manage::{
    self, EndpointInput, EndpointPatch, IdempotencyKey, MAX_OVERLAP, Replay, WebhookError,
};
use crate::webhooks::{EventTypeFilter, WebhookUrl, log_link};
use crate::wire::Page;
use crate::wire::webhooks::{
    CreatedEndpointJson, DeliveryJson, LogLinkJson, ReplayedJson, RotatedSecretJson,
    WebhookEndpointJson,
};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::Duration;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_endpoint)
        .service(list_endpoints)
        .service(get_endpoint)
        .service(update_endpoint)
        .service(delete_endpoint)
        .service(rotate_secret)
        .service(list_deliveries)
        .service(replay)
        .service(create_log_link)
        .service(log_page)
        .service(log_stream)
        .service(log_js);
}

impl From<WebhookError> for ApiError {
    fn from(err: WebhookError) -> Self {
        match err {
            WebhookError::NotFound => ApiError::NotFound("webhook endpoint"),
            WebhookError::DeliveryNotFound => ApiError::NotFound("webhook delivery"),
            WebhookError::Conflict(why) => ApiError::Conflict(why),
            WebhookError::Internal(e) => ApiError::Internal(e),
        }
    }
}

const MAX_DESCRIPTION: usize = 500;

fn parse_url(state: &AppState, raw: &str) -> Result<WebhookUrl, ApiError> {
    WebhookUrl::parse(raw, &state.webhooks.allow).map_err(|e| ApiError::field("url", e.to_string()))
}

fn parse_filter(types: &[String]) -> Result<EventTypeFilter, ApiError> {
    EventTypeFilter::parse(types).map_err(|e| ApiError::field("event_types", e.to_string()))
}

fn parse_description(d: String) -> Result<String, ApiError> {
    let d = d.trim().to_string();
    if d.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::field(
            "description",
            format!("description must be at most {MAX_DESCRIPTION} characters."),
        ));
    }
    Ok(d)
}

fn page_limit(limit: Option<u64>) -> Result<u64, ApiError> {
    let limit = limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::field("limit", "limit must be between 1 and 100."));
    }
    Ok(limit)
}

/// `data` with at most `limit` items, and the cursor of the last one if there were more.
fn paginate<T, J>(
    mut rows: Vec<T>,
    limit: u64,
    cursor: impl Fn(&T) -> String,
    json: impl Fn(&T) -> J,
) -> Page<J> {
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(&cursor)
    } else {
        None
    };
    Page {
        data: rows.iter().map(json).collect(),
        next_cursor,
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = WebhookEndpoint)]
#[serde(deny_unknown_fields)]
struct EndpointBody {
    url: Option<String>,
    description: Option<String>,
    event_types: Option<Vec<String>>,
    enabled: Option<bool>,
}

/// Creates an endpoint and returns it with its secret (shown this once). Any management client.
/// With an `Idempotency-Key` header, repeating the same request returns the same endpoint (200)
/// instead of creating another (201); reusing a key for a different request is a 409.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks",
    tag = "webhooks",
    request_body = EndpointBody,
    responses((status = 201, description = "Created"), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[post("/api/v1/webhooks")]
async fn create_endpoint(
    _client: ApiClient,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<EndpointBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let url = parse_url(
        &state,
        body.url
            .as_deref()
            .ok_or_else(|| ApiError::field("url", "url is required."))?,
    )?;
    let event_types = parse_filter(
        body.event_types
            .as_deref()
            .ok_or_else(|| ApiError::field("event_types", "event_types is required."))?,
    )?;
    let description = parse_description(body.description.unwrap_or_default())?;
    let idempotency = match req.headers().get("idempotency-key") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(IdempotencyKey::parse)
                .ok_or_else(|| {
                    ApiError::invalid("Idempotency-Key must be 1 to 255 visible ASCII characters.")
                })?,
        ),
    };
    let input = EndpointInput {
        url,
        description,
        event_types,
        enabled: body.enabled.unwrap_or(true),
    };
    let created = manage::create(&state.db, &state.webhooks, input, idempotency).await?;
    let status = if created.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(CreatedEndpointJson {
            endpoint: WebhookEndpointJson::from(&created.endpoint),
            secret: created.secret.reveal(),
        }))
}

#[derive(Deserialize)]
struct ListQuery {
    after: Option<String>,
    limit: Option<u64>,
}

/// Lists endpoints, oldest first, with cursor pagination. Any management client.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks",
    tag = "webhooks",
    responses((status = 200, description = "OK"), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[get("/api/v1/webhooks")]
async fn list_endpoints(
    _client: ApiClient,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(q.limit)?;
    let rows = store::list_endpoints(state.db.conn(), q.after.as_deref(), limit + 1).await?;
    Ok(HttpResponse::Ok().json(paginate(
        rows,
        limit,
        |e| e.id.clone(),
        |e| WebhookEndpointJson::from(e),
    )))
}

/// One endpoint (never its secret). Any management client.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path)),
    responses((status = 200, description = "OK"), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[get("/api/v1/webhooks/{id}")]
async fn get_endpoint(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = store::find_endpoint(state.db.conn(), &path)
        .await?
        .ok_or(ApiError::NotFound("webhook endpoint"))?;
    Ok(HttpResponse::Ok().json(WebhookEndpointJson::from(&endpoint)))
}

/// Changes the URL, description, event types or enabled flag. Any management client.
#[utoipa::path(
    patch,
    path = "/api/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path)),
    request_body = EndpointBody,
    responses((status = 200, description = "OK"), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[patch("/api/v1/webhooks/{id}")]
async fn update_endpoint(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<EndpointBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let patch = EndpointPatch {
        url: body
            .url
            .as_deref()
            .map(|u| parse_url(&state, u))
            .transpose()?,
        description: body.description.map(parse_description).transpose()?,
        event_types: body.event_types.as_deref().map(parse_filter).transpose()?,
        enabled: body.enabled,
    };
    let endpoint = manage::update(&state.db, &state.webhooks, &path, patch).await?;
    Ok(HttpResponse::Ok().json(WebhookEndpointJson::from(&endpoint)))
}

/// Deletes an endpoint with its delivery log. Any management client.
#[utoipa::path(
    delete,
    path = "/api/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path)),
    responses((status = 204, description = "No content"), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[delete("/api/v1/webhooks/{id}")]
async fn delete_endpoint(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    manage::delete(&state.db, &path).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    /// How long the previous secret keeps signing; default from settings.
    overlap_seconds: Option<u64>,
}

/// Replaces the signing secret and returns the new one (shown this once). The previous secret
/// keeps signing for the overlap window. The body is optional. Any management client.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/rotate-secret",
    tag = "webhooks",
    params(("id" = String, Path)),
    responses((status = 200, description = "OK"), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[post("/api/v1/webhooks/{id}/rotate-secret")]
async fn rotate_secret(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: RotateBody = if body.iter().all(u8::is_ascii_whitespace) {
        RotateBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::invalid(format!("The request body is not valid JSON: {e}")))?
    };
    let overlap = match body.overlap_seconds {
        Some(secs) if Duration::from_secs(secs) > MAX_OVERLAP => {
            return Err(ApiError::field(
                "overlap_seconds",
                format!(
                    "overlap_seconds must be at most {} (7 days).",
                    MAX_OVERLAP.as_secs()
                ),
            ));
        }
        Some(secs) => Duration::from_secs(secs),
        None => state.webhooks.secret_overlap,
    };
    let rotated = manage::rotate_secret(&state.db, &state.webhooks, &path, overlap).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(RotatedSecretJson {
            secret: rotated.secret.reveal(),
            previous_secret_expires_at: rotated.previous_expires_at.map(rfc3339),
        }))
}

#[derive(Deserialize)]
struct DeliveriesQuery {
    after: Option<String>,
    limit: Option<u64>,
    status: Option<String>,
}

/// The endpoint's deliveries, newest first, each with its attempts (status, latency, response
/// snippet, error); `status` filters. Any management client.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}/deliveries",
    tag = "webhooks",
    params(("id" = String, Path)),
    responses((status = 200, description = "OK"), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[get("/api/v1/webhooks/{id}/deliveries")]
async fn list_deliveries(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<DeliveriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(q.limit)?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s @ (PENDING | SUCCEEDED | FAILED)) => Some(s),
        Some(_) => {
            return Err(ApiError::field(
                "status",
                "status must be pending, succeeded or failed.",
            ));
        }
    };
    let rows = store::delivery_page(
        state.db.conn(),
        &path,
        q.after.as_deref(),
        status,
        limit + 1,
    )
    .await?
    .ok_or(ApiError::NotFound("webhook endpoint"))?;
    Ok(HttpResponse::Ok().json(paginate(
        rows,
        limit,
        |(d, _)| d.id.clone(),
        |(d, attempts)| DeliveryJson::new(d, attempts),
    )))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = ReplayDeliveries)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    delivery_id: Option<String>,
    since: Option<String>,
    status: Option<String>,
}

/// Sends deliveries again with the same `webhook-id`: one (`{"delivery_id"}`), or every delivery
/// that gave up since a time (`{"since": RFC 3339, "status": "failed"}`). Answers 202 with the
/// count. Any management client.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/replay",
    tag = "webhooks",
    params(("id" = String, Path)),
    request_body = ReplayBody,
    responses((status = 200, description = "OK"), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[post("/api/v1/webhooks/{id}/replay")]
async fn replay(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<ReplayBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let what = match (body.delivery_id, body.since) {
        (Some(id), None) if body.status.is_none() => Replay::One { delivery_id: id },
        (None, Some(since)) => {
            if body.status.as_deref().is_some_and(|s| s != FAILED) {
                return Err(ApiError::field(
                    "status",
                    "Only failed deliveries can be replayed by time; status must be \"failed\".",
                ));
            }
            let since = chrono::DateTime::parse_from_rfc3339(&since).map_err(|_| {
                ApiError::field(
                    "since",
                    "since must be an RFC 3339 time such as 2026-12-03T10:00:00Z.",
                )
            })?;
            Replay::FailedSince(since.timestamp_millis())
        }
        _ => {
            return Err(ApiError::invalid(
                "Send either {\"delivery_id\": …} or {\"since\": …, \"status\": \"failed\"}.",
            ));
        }
    };
    let replayed = manage::replay(&state.db, &state.webhooks, &path, what).await?;
    Ok(HttpResponse::Accepted().json(ReplayedJson { replayed }))
}

/// A short-lived signed link to the endpoint's delivery log page, for the integrator to open or
/// link from its own admin pages. Any management client.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/log-link",
    tag = "webhooks",
    params(("id" = String, Path)),
    responses((status = 200, description = "OK"), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[post("/api/v1/webhooks/{id}/log-link")]
async fn create_log_link(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    store::find_endpoint(state.db.conn(), &path)
        .await?
        .ok_or(ApiError::NotFound("webhook endpoint"))?;
    let (token, expires_at) = log_link::issue(&state.cookie_key, &path, now_ms() / 1000);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(LogLinkJson {
            url: state.url(&format!(
                "/webhooks/{}/log?token={}",
                &*path,
                urlencode(&token)
            )),
            expires_at: rfc3339(expires_at * 1000),
        }))
}

#[derive(Deserialize)]
struct LogQuery {
    token: String,
    /// Stream only: changes from this time (ms) on.
    since: Option<i64>,
}

fn check_link(state: &AppState, endpoint_id: &str, token: &str) -> Result<i64, PageError> {
    log_link::verify(&state.cookie_key, endpoint_id, token, now_ms() / 1000).map_err(|e| {
        PageError::Forbidden(match e {
            log_link::LinkError::Invalid => "This link is not valid for this webhook endpoint.",
            log_link::LinkError::Expired => {
                "This link has expired. Ask for a new one through the management API."
            }
        })
    })
}

/// Rows the log page shows at first.
const LOG_ROWS: u64 = 50;

/// The delivery log page. Needs a signed link from `POST /api/v1/webhooks/{id}/log-link`.
#[get("/webhooks/{id}/log")]
async fn log_page(
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<LogQuery>,
) -> Result<HttpResponse, PageError> {
    let expires_at = check_link(&state, &path, &q.token)?;
    let opened_at = now_ms();
    let (endpoint, deliveries) = store::endpoint_log(state.db.conn(), &path, LOG_ROWS)
        .await?
        .ok_or(PageError::NotFound)?;
    let rows: Vec<DeliveryRowView> = deliveries.iter().map(DeliveryRowView::from).collect();
    let stream_url = format!(
        "/webhooks/{}/log/stream?token={}&since={opened_at}",
        &*path,
        urlencode(&q.token)
    );
    Ok(html(views::webhooks::log_page(
        &views::webhooks::LogPageView {
            brand: &brand(&state).await?,
            endpoint_id: &endpoint.id,
            url: &endpoint.url,
            enabled: endpoint.enabled,
            disabled_reason: endpoint.disabled_reason.as_deref(),
            rows: &rows,
            stream_url: &stream_url,
            expires_at: &rfc3339(expires_at * 1000),
        },
    )))
}

/// How often the stream looks at the database without a hint (attempts on other nodes), and
/// how often it proves the client is still there.
const STREAM_POLL: Duration = Duration::from_secs(2);
const STREAM_PING: Duration = Duration::from_secs(15);
/// Changes are re-read from this far back, so a write landing in the same millisecond as the last
/// read (or from a node whose clock is a little behind) is not missed; rows already sent are not
/// sent again.
const STREAM_LOOKBACK_MS: i64 = 1000;

/// The live feed of the log page: server-sent events, each an `upsert` frame for a delivery row
/// (the shapes of `live.js`), and `expired` when the link runs out. Needs the page's signed link.
#[get("/webhooks/{id}/log/stream")]
async fn log_stream(
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<LogQuery>,
) -> Result<HttpResponse, PageError> {
    let expires_at = check_link(&state, &path, &q.token)?;
    store::find_endpoint(state.db.conn(), &path)
        .await?
        .ok_or(PageError::NotFound)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<web::Bytes>(32);
    let endpoint_id = path.into_inner();
    let since = q.since.unwrap_or_else(now_ms);
    // A runtime task, not a worker-local one: it holds database connections (see `off_actor`).
    tokio::spawn(follow_deliveries(
        state.into_inner(),
        endpoint_id,
        since,
        expires_at,
        tx,
    ));
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, actix_web::Error>(chunk), rx))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // Compression would hold frames back until a buffer fills.
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

/// Feeds one log stream until the client goes away or the link expires.
async fn follow_deliveries(
    state: std::sync::Arc<AppState>,
    endpoint_id: String,
    mut since: i64,
    expires_at: i64,
    tx: tokio::sync::mpsc::Sender<web::Bytes>,
) {
    let mut hints = state.webhooks.feed.subscribe();
    let mut sent: HashMap<String, i64> = HashMap::new();
    let mut last_ping = tokio::time::Instant::now();
    if tx
        .send(web::Bytes::from_static(b"retry: 3000\n\n"))
        .await
        .is_err()
    {
        return;
    }
    loop {
        if now_ms() / 1000 >= expires_at {
            let _ = tx
                .send(web::Bytes::from_static(b"event: expired\ndata: {}\n\n"))
                .await;
            return;
        }
        loop {
            let changed = match store::deliveries_changed_since(
                state.db.conn(),
                &endpoint_id,
                since - STREAM_LOOKBACK_MS,
                200,
            )
            .await
            {
                Ok(rows) => rows,
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), "delivery log stream read failed");
                    Vec::new()
                }
            };
            let full = changed.len() == 200;
            for d in &changed {
                since = since.max(d.updated_at);
                if sent.get(&d.id) == Some(&d.updated_at) {
                    continue;
                }
                sent.insert(d.id.clone(), d.updated_at);
                let frame = serde_json::json!({
                    "op": "upsert",
                    "list": "deliveries",
                    "target": views::webhooks::delivery_dom_id(&d.id),
                    "html": views::webhooks::delivery_row(&DeliveryRowView::from(d)).into_string(),
                });
                if tx
                    .send(web::Bytes::from(format!("data: {frame}\n\n")))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            sent.retain(|_, at| *at >= since - STREAM_LOOKBACK_MS);
            if !full {
                break;
            }
        }
        if last_ping.elapsed() >= STREAM_PING {
            last_ping = tokio::time::Instant::now();
            if tx
                .send(web::Bytes::from_static(b": ping\n\n"))
                .await
                .is_err()
            {
                return;
            }
        }
        // Wait for a hint about this endpoint, or the poll.
        let deadline = tokio::time::Instant::now() + STREAM_POLL;
        loop {
            match tokio::time::timeout_at(deadline, hints.recv()).await {
                Ok(Ok(hint)) if hint.endpoint_id == endpoint_id => break,
                Ok(Ok(_)) => continue,
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => break,
                Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) | Err(_) => break,
            }
        }
        if tx.is_closed() {
            return;
        }
    }
}

#[get("/static/webhook-log.js")]
async fn log_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(views::WEBHOOK_LOG_JS)
}

/// The OpenAPI description of this module's routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_endpoint,
    list_endpoints,
    get_endpoint,
    update_endpoint,
    delete_endpoint,
    rotate_secret,
    list_deliveries,
    replay,
    create_log_link
))]
pub struct Doc;
