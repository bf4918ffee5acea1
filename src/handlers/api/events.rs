//! The integrator's view of the outbox: `GET /api/v1/events` (pull, paginated) and
//! `GET /api/v1/events/stream` (WebSocket, live). Both need a bearer token from
//! `client_credentials`, filter by `organization_id` and `types` (comma-separated: exact names,
//! `prefix.*` or `*`), resume after `after_seq`, and carry the events as the outbox holds them.

use crate::actors::event_stream::EventStream;
use crate::db::events;
use crate::handlers::errors::ApiError;
use crate::live::stream::StreamFilter;
use crate::principal::ApiClient;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, get, web};
use actix_web_actors::ws;
use serde::{Deserialize, Serialize};

pub fn configure(cfg: &mut web::ServiceConfig) {
    // The stream first: `/api/v1/events/stream` must not be taken for anything else.
    cfg.service(stream).service(list);
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    after_seq: Option<i64>,
    limit: Option<u64>,
    organization_id: Option<String>,
    types: Option<String>,
}

impl EventsQuery {
    fn filter(&self) -> Result<StreamFilter, ApiError> {
        StreamFilter::parse(self.organization_id.as_deref(), self.types.as_deref())
            .map_err(|e| ApiError::field("types", e.to_string()))
    }

    fn after(&self) -> Result<i64, ApiError> {
        match self.after_seq {
            Some(n) if n < 0 => Err(ApiError::field("after_seq", "after_seq must be 0 or more.")),
            Some(n) => Ok(n),
            None => Ok(0),
        }
    }
}

#[derive(Serialize)]
struct EventsPage {
    data: Vec<events::Event>,
    /// Pass as `after_seq` for the next page (the last sequence looked at, which may be past the
    /// last event returned when filters left some out).
    next_after_seq: i64,
    /// Whether more events may follow right away; when false, poll again later with
    /// `next_after_seq`.
    has_more: bool,
}

/// Events after `after_seq` (default 0), oldest first, at most `limit` (1–1000, default 100) looked
/// at per page. 410 when `after_seq` is older than what retention kept.
#[get("/api/v1/events")]
async fn list(
    _client: ApiClient,
    state: web::Data<AppState>,
    q: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = q.filter()?;
    let after = q.after()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::field(
            "limit",
            "limit must be between 1 and 1000.",
        ));
    }
    let conn = state.db.conn();
    let scanned =
        events::after_in_org(conn, after, filter.organization_id.as_deref(), limit).await?;
    // Checked after the read, so events pruned meanwhile cannot go missing unnoticed.
    let floor = events::retained_after(conn).await?;
    if after < floor {
        return Err(ApiError::Gone(format!(
            "Events up to seq {floor} are no longer kept; resume with after_seq={floor} or later."
        )));
    }
    let has_more = scanned.len() as u64 == limit;
    let next_after_seq = match scanned.last() {
        Some(e) => e.seq,
        None => after,
    };
    let data = scanned.into_iter().filter(|e| filter.matches(e)).collect();
    Ok(HttpResponse::Ok().json(EventsPage {
        data,
        next_after_seq,
        has_more,
    }))
}

/// A WebSocket of events after `after_seq` (default: from now on), then live.
#[get("/api/v1/events/stream")]
async fn stream(
    _client: ApiClient,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    q: web::Query<EventsQuery>,
) -> Result<HttpResponse, actix_web::Error> {
    let filter = q.filter()?;
    if q.limit.is_some() {
        return Err(ApiError::field("limit", "The stream takes no limit.").into());
    }
    let after = match q.after_seq {
        Some(_) => q.after()?,
        None => events::last_seq(state.db.conn())
            .await
            .map_err(ApiError::Internal)?,
    };
    ws::start(
        EventStream::new(filter, state.hub.clone(), state.db.clone(), after),
        &req,
        payload,
    )
}
