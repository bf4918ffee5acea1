//! `/healthz`: 200 once the server is up, which is after migrations have run. `/metrics`: this
//! node's counters in the Prometheus text format. `/` sends a person to the widgets (which send
//! them to sign in first).

use crate::state::AppState;
use actix_web::{HttpResponse, get, web};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(metrics).service(root);
}

/// No permission needed: the widgets decide what to show.
#[get("/")]
async fn root() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, "/ui/"))
        .finish()
}

/// No permission needed. Checks that the database answers.
#[get("/healthz")]
async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    match crate::db::events::last_seq(state.db.conn()).await {
        Ok(seq) => HttpResponse::Ok().json(serde_json::json!({ "status": "ok", "event_seq": seq })),
        Err(err) => {
            tracing::warn!(error = %err, "health check failed");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({ "status": "database unavailable" }))
        }
    }
}

/// No permission needed (it tells counts only, never ids or names); keep it off the public
/// network with the proxy if that matters.
#[get("/metrics")]
async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(crate::metrics::render())
}
