//! `/a/auth/join`: after confirming an address on a verified domain of an organization whose
//! domain-join policy is `suggest`, the new user is offered to join it as a member. They may
//! decline; either way the sign-in then continues where it was going.

use super::{CSRF_EXPIRED, pending_request, render};
use crate::auth::{Continuation, domain_join};
use crate::db::{self, oauth::AuthRequest, sessions::Session};
use crate::handlers::errors::PageError;
use crate::handlers::see_other;
use crate::oauth::authorize;
use crate::principal::Viewer;
use crate::state::AppState;
use crate::views::{self, auth::carry, join::JoinView};
use crate::web::{Csrf, safe_return_path, session_token};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(join_page).service(join_submit);
}

/// Where a finished sign-up goes: through the join page first when an organization suggests
/// joining by the user's domain, else straight to `next`.
pub async fn via_suggestion(
    state: &AppState,
    user: &db::users::User,
    next: Continuation,
) -> Result<Continuation, PageError> {
    if domain_join::suggestion_for(state, user).await?.is_none() {
        return Ok(next);
    }
    let page = format!(
        "/a/auth/join{}",
        carry(next.request.as_deref(), next.return_to.as_deref())
    );
    Ok(Continuation {
        request: None,
        return_to: Some(page),
    })
}

#[derive(Deserialize)]
struct JoinQuery {
    request: Option<String>,
    return_to: Option<String>,
}

async fn viewer(req: &HttpRequest, state: &AppState) -> anyhow::Result<Option<Viewer>> {
    match session_token(req, state) {
        Some(token) => Viewer::load(state, &token).await,
        None => Ok(None),
    }
}

/// Where the sign-in goes after the suggestion: back to the client, or the return path.
async fn onward(
    state: &AppState,
    request: Option<&AuthRequest>,
    return_to: Option<&str>,
    session_id: &str,
) -> Result<HttpResponse, PageError> {
    let session: Session = db::sessions::find(state.db.conn(), session_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("session {session_id} vanished"))?;
    let location = match request {
        Some(request) => authorize::proceed(state, request, &session).await?,
        None => authorize::after_direct_sign_in(state, &session, return_to).await?,
    };
    Ok(see_other(&location))
}

#[allow(clippy::too_many_arguments)]
async fn render_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    viewer: &Viewer,
    offer: &domain_join::JoinOffer,
    request_id: Option<&str>,
    return_to: Option<&str>,
    error: Option<&str>,
) -> Result<HttpResponse, PageError> {
    render(req, state, status, |brand, csrf| {
        views::join::join_suggestion(&JoinView {
            brand,
            csrf,
            email: &viewer.user.email,
            domain: &offer.domain,
            org_id: &offer.org.id,
            org_name: &offer.org.name,
            request_id,
            return_to,
            error,
        })
    })
    .await
}

/// The suggestion. Needs a session; without a standing suggestion it just continues.
#[get("/a/auth/join")]
async fn join_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<JoinQuery>,
) -> Result<HttpResponse, PageError> {
    let request = pending_request(&state, q.request.as_deref()).await?;
    let request_id = request.as_ref().map(|r| r.id.as_str());
    let return_to = q.return_to.as_deref().and_then(safe_return_path);
    let Some(viewer) = viewer(&req, &state).await? else {
        return Ok(see_other(&format!(
            "/a/auth/login{}",
            carry(request_id, return_to)
        )));
    };
    match domain_join::suggestion_for(&state, &viewer.user).await? {
        Some(offer) => {
            let status = StatusCode::OK;
            render_page(
                &req, &state, status, &viewer, &offer, request_id, return_to, None,
            )
            .await
        }
        None => onward(&state, request.as_ref(), return_to, &viewer.session.id).await,
    }
}

#[derive(Deserialize)]
struct JoinSubmission {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    organization_id: String,
    #[serde(default)]
    choice: String,
    request: Option<String>,
    return_to: Option<String>,
}

/// Joins the suggested organization as a member (`choice=join`) or declines, then continues.
/// Needs a session and the form's CSRF token; joining checks the suggestion again, so only the
/// organization that owns the user's verified domain can be joined this way.
#[post("/a/auth/join")]
async fn join_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<JoinSubmission>,
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
        return match domain_join::suggestion_for(&state, &viewer.user).await? {
            Some(offer) => {
                let status = StatusCode::FORBIDDEN;
                let error = Some(CSRF_EXPIRED);
                render_page(
                    &req, &state, status, &viewer, &offer, request_id, return_to, error,
                )
                .await
            }
            None => Err(PageError::BadRequest(CSRF_EXPIRED.into())),
        };
    }
    if form.choice == "join"
        && !domain_join::accept(
            &state,
            &viewer.user,
            &viewer.session.id,
            &form.organization_id,
        )
        .await?
    {
        return Err(PageError::BadRequest(
            "That organization does not offer joining by your email domain (any more). Continue without joining, or ask its administrator for an invitation.".into(),
        ));
    }
    onward(&state, request.as_ref(), return_to, &viewer.session.id).await
}
