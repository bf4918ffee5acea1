//! The security widget at `/ui/security`, for every signed-in user: their sessions, signing out
//! one or all others, and confirming it is them. Only the viewer's own sessions are listed or
//! touched (checked on the server for every write); every form carries the CSRF token. Signing
//! out all other sessions needs a confirmation (password, or a fresh sign-in by password, code or
//! passkey) from the last [`REAUTH_WINDOW_MS`].

use super::shell;
use crate::auth::{self, PasswordCheck};
use crate::db;
use crate::domain::EmailAddress;
use crate::handlers::errors::PageError;
use crate::handlers::see_other;
use crate::live::Widget;
use crate::principal::Viewer;
use crate::sessions::EndReason;
use crate::state::AppState;
use crate::views::security::{PasskeyRow, SecurityPage, SessionRow, page};
use crate::web::{Csrf, clear_session_cookie, client_ip};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

const PAGE: &str = "/ui/security";
const CSRF_EXPIRED: &str = "This form expired before it was sent. Please try again.";
/// How recent a confirmation must be for the sensitive actions.
pub const REAUTH_WINDOW_MS: i64 = 10 * 60_000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(security_page)
        .service(revoke_one)
        .service(revoke_others)
        .service(confirm);
}

/// Whether the viewer confirmed who they are within the window.
pub fn recently_confirmed(viewer: &Viewer) -> bool {
    db::now_ms() - viewer.session.reauth_at < REAUTH_WINDOW_MS
}

async fn render(
    req: &HttpRequest,
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    notice: Option<(&str, String)>,
    reauth_error: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let conn = state.db.conn();
    let seq = db::events::last_seq(conn).await?;
    let rows: Vec<SessionRow> = db::sessions::live_for_user(conn, &viewer.user.id, db::now_ms())
        .await?
        .iter()
        .map(|s| SessionRow::new(s, &viewer.session.id))
        .collect();
    let passkeys: Vec<PasskeyRow> = db::passkeys::list_for_user(conn, &viewer.user.id)
        .await?
        .into_iter()
        .map(|p| PasskeyRow {
            id: p.id,
            name: p.name,
            created_at: p.created_at,
            last_used_at: p.last_used_at,
        })
        .collect();
    let csrf = Csrf::for_request(req, state);
    let content = page(&SecurityPage {
        csrf: &csrf.token,
        rows: &rows,
        passkeys: &passkeys,
        passkeys_available: state.webauthn.is_some(),
        recently_confirmed: recently_confirmed(viewer),
        has_password: viewer.user.password_hash.is_some(),
        notice,
        reauth_error,
    });
    // Pages outside an organization have no live socket (sockets are scoped to one).
    let live = viewer.org.as_ref().map(|_| seq);
    let mut res = shell(
        state,
        viewer,
        Some(Widget::Security),
        live,
        "Security",
        content,
    )
    .await?;
    *res.status_mut() = status;
    if let Some(cookie) = csrf.new_cookie {
        res.add_cookie(&cookie)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(res)
}

#[derive(Deserialize)]
struct Notice {
    done: Option<String>,
}

/// The widget. Needs a session.
#[get("/ui/security")]
async fn security_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    q: web::Query<Notice>,
) -> Result<HttpResponse, PageError> {
    let notice = match q.done.as_deref() {
        Some("revoked") => Some(("ok", "That session is signed out.".to_string())),
        Some("others") => Some(("ok", "Every other session is signed out.".to_string())),
        Some("confirmed") => Some((
            "ok",
            "Confirmed. For the next 10 minutes you can sign out other sessions and add passkeys."
                .to_string(),
        )),
        Some("passkey") => Some(("ok", "The passkey was added.".to_string())),
        Some("renamed") => Some(("ok", "The passkey was renamed.".to_string())),
        Some("deleted") => Some(("ok", "The passkey was deleted.".to_string())),
        _ => None,
    };
    render(&req, &state, &viewer, StatusCode::OK, notice, None).await
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// Signs out one of the viewer's own sessions (their current one signs them out here too). Needs
/// the CSRF token; another user's session id answers 404.
#[post("/ui/security/sessions/{session_id}/revoke")]
async fn revoke_one(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    if !Csrf::verify(&req, &state, &form.csrf) {
        let notice = ("error", CSRF_EXPIRED.to_string());
        return render(
            &req,
            &state,
            &viewer,
            StatusCode::FORBIDDEN,
            Some(notice),
            None,
        )
        .await;
    }
    let session = db::sessions::find(state.db.conn(), &path)
        .await?
        .filter(|s| s.user_id == viewer.user.id)
        .ok_or(PageError::NotFound)?;
    let current = session.id == viewer.session.id;
    state.sessions.end(&[session], EndReason::Revoked).await?;
    if current {
        let mut res = see_other("/a/auth/login?signed_out=1");
        res.add_cookie(&clear_session_cookie(&state))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        return Ok(res);
    }
    Ok(see_other(&format!("{PAGE}?done=revoked")))
}

/// Signs out every session of the viewer but this one. Needs the CSRF token and a confirmation
/// within the last 10 minutes.
#[post("/ui/security/sessions/revoke-others")]
async fn revoke_others(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    if !Csrf::verify(&req, &state, &form.csrf) {
        let notice = ("error", CSRF_EXPIRED.to_string());
        return render(
            &req,
            &state,
            &viewer,
            StatusCode::FORBIDDEN,
            Some(notice),
            None,
        )
        .await;
    }
    if !recently_confirmed(&viewer) {
        let notice = (
            "error",
            "Confirm it is you first: signing out every other session needs a confirmation from the last 10 minutes.".to_string(),
        );
        return render(
            &req,
            &state,
            &viewer,
            StatusCode::FORBIDDEN,
            Some(notice),
            None,
        )
        .await;
    }
    state
        .sessions
        .end_all_for_user(
            &viewer.user.id,
            Some(&viewer.session.id),
            EndReason::Revoked,
        )
        .await?;
    Ok(see_other(&format!("{PAGE}?done=others")))
}

#[derive(Deserialize)]
struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

/// Confirms it is the viewer by password (rate limited like sign-in). Needs the CSRF token.
#[post("/ui/security/confirm")]
async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    form: web::Form<ConfirmForm>,
) -> Result<HttpResponse, PageError> {
    if !Csrf::verify(&req, &state, &form.csrf) {
        let notice = ("error", CSRF_EXPIRED.to_string());
        return render(
            &req,
            &state,
            &viewer,
            StatusCode::FORBIDDEN,
            Some(notice),
            None,
        )
        .await;
    }
    if form.password.is_empty() {
        return render(
            &req,
            &state,
            &viewer,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some("Enter your password."),
        )
        .await;
    }
    let email = EmailAddress::parse(&viewer.user.email)
        .map_err(|e| anyhow::anyhow!("stored email is invalid: {e}"))?;
    let ip = client_ip(&req);
    match auth::sign_in_with_password(&state, ip.as_deref(), &email, &form.password).await? {
        PasswordCheck::Valid(user) if user.id == viewer.user.id => {
            db::sessions::mark_reauthenticated(state.db.conn(), &viewer.session.id, db::now_ms())
                .await?;
            Ok(see_other(&format!("{PAGE}?done=confirmed")))
        }
        PasswordCheck::Limited(_) => {
            render(
                &req,
                &state,
                &viewer,
                StatusCode::TOO_MANY_REQUESTS,
                None,
                Some("Too many attempts. Please wait a few minutes before trying again."),
            )
            .await
        }
        _ => {
            render(
                &req,
                &state,
                &viewer,
                StatusCode::UNAUTHORIZED,
                None,
                Some("That is not your password."),
            )
            .await
        }
    }
}
