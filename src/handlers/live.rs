//! `/ui/live`: the widget pages' WebSocket.

use super::errors::PageError;
use crate::actors::widget_socket::WidgetSocket;
use crate::live::{Audience, Widget};
use crate::principal::Viewer;
use crate::state::AppState;
use crate::{access, web as portal_web};
use actix_web::{HttpRequest, HttpResponse, get, web};
use actix_web_actors::ws;
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(live);
}

#[derive(Deserialize)]
struct LiveQuery {
    widget: String,
    after: Option<i64>,
}

/// Whether the handshake comes from a page of ours. Browsers always send `Origin` on WebSocket
/// handshakes; checking it stops another site from opening a socket with the user's cookie
/// (cross-site WebSocket hijacking).
fn same_origin(req: &HttpRequest, state: &AppState) -> bool {
    let Some(origin) = req.headers().get("origin").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    origin == state.public_url.origin().ascii_serialization()
}

/// Opens a live socket for one widget. Needs a session whose user may open that widget.
#[get("/ui/live")]
async fn live(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
    q: web::Query<LiveQuery>,
) -> Result<HttpResponse, actix_web::Error> {
    if !same_origin(&req, &state) {
        return Ok(HttpResponse::Forbidden().body("cross-origin WebSocket refused"));
    }
    let Some(widget) = Widget::parse(&q.widget) else {
        return Ok(HttpResponse::BadRequest().body("unknown widget"));
    };
    // Read before the membership is loaded: every membership change above it reaches the socket
    // (from the hub, or its replay), whether or not the load below saw it.
    let as_of = crate::db::events::last_seq(state.db.conn())
        .await
        .map_err(PageError::Internal)?;
    let viewer = match portal_web::session_token(&req, &state) {
        Some(token) => Viewer::load(&state, &token)
            .await
            .map_err(PageError::Internal)?,
        None => None,
    };
    let Some(viewer) = viewer else {
        return Ok(HttpResponse::Unauthorized().body("sign in first"));
    };
    let Some(org) = viewer.org.as_ref() else {
        return Ok(HttpResponse::Forbidden().body("no organization"));
    };
    if !access::can_open(widget, viewer.permissions, &viewer.features) {
        return Ok(HttpResponse::Forbidden().body("not allowed"));
    }
    let audience = Audience {
        org_id: org.id.clone(),
        user_id: viewer.user.id.clone(),
        session_id: viewer.session.id.clone(),
        permissions: viewer.permissions,
        widget,
        as_of,
    };
    ws::start(
        WidgetSocket::new(audience, state.hub.clone(), state.db.clone(), q.after),
        &req,
        stream,
    )
}
