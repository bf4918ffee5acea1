//! `/healthz`: 200 once the server is up, which is after migrations have run.

use crate::state::AppState;
use actix_web::{HttpResponse, get, web};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz);
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
