//! The organization picker: a user of several organizations chooses one before the sign-in
//! finishes (unless the request named it with `organization_id`).

use super::{CSRF_EXPIRED, pending_request, render};
use crate::db;
use crate::handlers::errors::PageError;
use crate::handlers::see_other;
use crate::oauth::authorize;
use crate::principal::Viewer;
use crate::state::AppState;
use crate::views::{self, auth::OrgChoice, auth::OrgPickerView, auth::carry};
use crate::web::{Csrf, safe_return_path, session_token};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(picker_page).service(picker_submit);
}

#[derive(Deserialize)]
struct PickerQuery {
    request: Option<String>,
    return_to: Option<String>,
}

/// The organizations `user_id` is an active member of, in membership order.
async fn choices(state: &AppState, user_id: &str) -> anyhow::Result<Vec<OrgChoice>> {
    let conn = state.db.conn();
    let mut out = Vec::new();
    for m in db::members::active_for_user(conn, user_id).await? {
        let Some(org) = db::orgs::find(conn, &m.organization_id).await? else {
            continue;
        };
        let role = db::roles::find(conn, &m.role_id)
            .await?
            .map(|r| r.display_name)
            .unwrap_or_default();
        out.push(OrgChoice {
            id: org.id,
            name: org.name,
            role,
        });
    }
    Ok(out)
}

async fn viewer(req: &HttpRequest, state: &AppState) -> anyhow::Result<Option<Viewer>> {
    match session_token(req, state) {
        Some(token) => Viewer::load(state, &token).await,
        None => Ok(None),
    }
}

#[allow(clippy::too_many_arguments)]
async fn render_picker(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    viewer: &Viewer,
    request_id: Option<&str>,
    return_to: Option<&str>,
    error: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let orgs = choices(state, &viewer.user.id).await?;
    render(req, state, status, |brand, csrf| {
        views::auth::org_picker(&OrgPickerView {
            brand,
            csrf,
            user_email: &viewer.user.email,
            orgs: &orgs,
            request_id,
            return_to,
            error,
        })
    })
    .await
}

/// Lists the user's organizations. Needs a session (else back to sign-in for the same request).
#[get("/a/auth/organization")]
async fn picker_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<PickerQuery>,
) -> Result<HttpResponse, PageError> {
    let request = pending_request(&state, q.request.as_deref()).await?;
    let request_id = request.as_ref().map(|r| r.id.as_str());
    let return_to = q.return_to.as_deref().and_then(safe_return_path);
    let Some(viewer) = viewer(&req, &state).await? else {
        // A pending request signs in on Portal's own screen; otherwise the environment decides where
        // sign-in starts (its initiate-login URI).
        let location = match request_id {
            Some(_) => format!("/a/auth/login{}", carry(request_id, return_to)),
            None => {
                let target = format!("/a/auth/organization{}", carry(None, return_to));
                crate::principal::login_location(&state, &target).await
            }
        };
        return Ok(see_other(&location));
    };
    render_picker(
        &req,
        &state,
        StatusCode::OK,
        &viewer,
        request_id,
        return_to,
        None,
    )
    .await
}

#[derive(Deserialize)]
struct PickerSubmission {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    organization_id: String,
    request: Option<String>,
    return_to: Option<String>,
}

/// Signs the session into the chosen organization and continues the sign-in. Needs the form's CSRF
/// token, a session, and an active membership of the organization.
#[post("/a/auth/organization")]
async fn picker_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<PickerSubmission>,
) -> Result<HttpResponse, PageError> {
    let request = pending_request(&state, form.request.as_deref()).await?;
    let request_id = request.as_ref().map(|r| r.id.as_str());
    let return_to = form.return_to.as_deref().and_then(safe_return_path);
    let Some(viewer) = viewer(&req, &state).await? else {
        return Ok(see_other(&format!(
            "/a/auth/login{}",
            carry(request_id, return_to)
        )));
    };
    if !Csrf::verify(&req, &state, &form.csrf) {
        return render_picker(
            &req,
            &state,
            StatusCode::FORBIDDEN,
            &viewer,
            request_id,
            return_to,
            Some(CSRF_EXPIRED),
        )
        .await;
    }
    let conn = state.db.conn();
    let member = db::members::find(conn, &form.organization_id, &viewer.user.id)
        .await?
        .filter(|m| m.status == db::members::ACTIVE);
    if member.is_none() {
        return render_picker(
            &req,
            &state,
            StatusCode::FORBIDDEN,
            &viewer,
            request_id,
            return_to,
            Some("You are not a member of that organization. Choose one from the list."),
        )
        .await;
    }
    crate::sessions::enter_org(conn, &viewer.session.id, &form.organization_id).await?;
    let mut session = viewer.session.clone();
    session.organization_id = Some(form.organization_id.clone());
    let location = match &request {
        Some(request) => authorize::complete(&state, request, &session).await?,
        None => return_to.unwrap_or("/ui/").to_string(),
    };
    Ok(see_other(&location))
}
