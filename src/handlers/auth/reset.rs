//! Forgotten passwords: `/a/auth/forgot` sends a link, `/a/auth/reset` sets the new password.

use super::{CSRF_EXPIRED, continuation, pending_request, rate_limited, render, wait_message};
use crate::auth::codes::Sent;
use crate::auth::reset;
use crate::domain::{EmailAddress, NewPassword};
use crate::handlers::errors::PageError;
use crate::handlers::see_other;
use crate::state::AppState;
use crate::views::{self, auth::ForgotView, auth::ResetView, auth::carry};
use crate::web::{Csrf, client_ip, safe_return_path};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(forgot_page)
        .service(forgot_submit)
        .service(reset_page)
        .service(reset_submit);
}

#[derive(Deserialize)]
struct ForgotQuery {
    request: Option<String>,
    return_to: Option<String>,
}

#[allow(clippy::too_many_arguments)]
async fn render_forgot(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    email: &str,
    email_error: Option<&str>,
    error: Option<&str>,
    request_id: Option<&str>,
    return_to: Option<&str>,
) -> Result<HttpResponse, PageError> {
    render(req, state, status, |brand, csrf| {
        views::auth::forgot(&ForgotView {
            brand,
            csrf,
            email,
            email_error,
            error,
            request_id,
            return_to,
        })
    })
    .await
}

/// The "forgot your password" form. Public.
#[get("/a/auth/forgot")]
async fn forgot_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<ForgotQuery>,
) -> Result<HttpResponse, PageError> {
    let request = pending_request(&state, q.request.as_deref()).await?;
    let hint = request
        .as_ref()
        .and_then(|r| r.login_hint.clone())
        .unwrap_or_default();
    render_forgot(
        &req,
        &state,
        StatusCode::OK,
        &hint,
        None,
        None,
        request.as_ref().map(|r| r.id.as_str()),
        q.return_to.as_deref().and_then(safe_return_path),
    )
    .await
}

#[derive(Deserialize)]
struct ForgotSubmission {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    request: Option<String>,
    return_to: Option<String>,
}

/// Emails a reset link. Needs the form's CSRF token. The answer is the same for every address.
#[post("/a/auth/forgot")]
async fn forgot_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<ForgotSubmission>,
) -> Result<HttpResponse, PageError> {
    let request = pending_request(&state, form.request.as_deref()).await?;
    let request_id = request.as_ref().map(|r| r.id.as_str());
    let return_to = form.return_to.as_deref().and_then(safe_return_path);
    let again = |status, email_error: Option<String>, error: Option<String>| {
        let (req, state, email) = (&req, &state, form.email.as_str());
        async move {
            render_forgot(
                req,
                state,
                status,
                email,
                email_error.as_deref(),
                error.as_deref(),
                request_id,
                return_to,
            )
            .await
        }
    };
    if !Csrf::verify(&req, &state, &form.csrf) {
        return again(StatusCode::FORBIDDEN, None, Some(CSRF_EXPIRED.into())).await;
    }
    let email = match EmailAddress::parse(&form.email) {
        Ok(email) => email,
        Err(e) => return again(StatusCode::UNPROCESSABLE_ENTITY, Some(e.to_string()), None).await,
    };
    let next = continuation(request.as_ref(), return_to);
    let ip = client_ip(&req);
    match reset::send_link(&state, ip.as_deref(), &email, &next).await? {
        Sent::Sent => {
            let message = format!(
                "If {} has an account, we sent it a link to choose a new password. The link works for {} minutes.",
                email.as_str(),
                reset::RESET_TTL_MS / 60_000
            );
            let login = format!("/a/auth/login{}", carry(request_id, return_to));
            render(&req, &state, StatusCode::OK, |brand, _| {
                views::auth::notice(
                    brand,
                    "Check your email",
                    &message,
                    Some((&login, "Back to sign in")),
                    false,
                )
            })
            .await
        }
        Sent::Limited(limited) => {
            let message = wait_message("Too many reset links were requested.", limited);
            let res = again(StatusCode::TOO_MANY_REQUESTS, None, Some(message)).await?;
            Ok(rate_limited(res, limited))
        }
    }
}

async fn link_invalid(req: &HttpRequest, state: &AppState) -> Result<HttpResponse, PageError> {
    render(req, state, StatusCode::BAD_REQUEST, |brand, _| {
        views::auth::notice(
            brand,
            "This link no longer works",
            "Reset links work once, for thirty minutes. Ask for a new one.",
            Some(("/a/auth/forgot", "Send a new link")),
            true,
        )
    })
    .await
}

#[derive(Deserialize)]
struct ResetQuery {
    #[serde(default)]
    token: String,
}

/// The new-password form a reset link opens. Public; the link's token is the authorization.
#[get("/a/auth/reset")]
async fn reset_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<ResetQuery>,
) -> Result<HttpResponse, PageError> {
    let Some(link) = reset::find_link(&state, &q.token).await? else {
        return link_invalid(&req, &state).await;
    };
    render(&req, &state, StatusCode::OK, |brand, csrf| {
        views::auth::reset(&ResetView {
            brand,
            csrf,
            token: &q.token,
            email: &link.email,
            password_error: None,
            error: None,
        })
    })
    .await
}

#[derive(Deserialize)]
struct ResetSubmission {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

/// Sets the new password and signs the account out everywhere. Needs the form's CSRF token and a
/// live reset link.
#[post("/a/auth/reset")]
async fn reset_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<ResetSubmission>,
) -> Result<HttpResponse, PageError> {
    let Some(link) = reset::find_link(&state, &form.token).await? else {
        return link_invalid(&req, &state).await;
    };
    let again = |status, password_error: Option<String>, error: Option<&'static str>| {
        let (req, state, token, email) = (&req, &state, form.token.as_str(), link.email.as_str());
        async move {
            render(req, state, status, |brand, csrf| {
                views::auth::reset(&ResetView {
                    brand,
                    csrf,
                    token,
                    email,
                    password_error: password_error.as_deref(),
                    error,
                })
            })
            .await
        }
    };
    if !Csrf::verify(&req, &state, &form.csrf) {
        return again(StatusCode::FORBIDDEN, None, Some(CSRF_EXPIRED)).await;
    }
    let password = match NewPassword::parse(&form.password, &[&link.email]) {
        Ok(p) => p,
        Err(e) => return again(StatusCode::UNPROCESSABLE_ENTITY, Some(e.to_string()), None).await,
    };
    match reset::finish(&state, &link, password).await? {
        Some((_, next)) => {
            let q = carry(next.request.as_deref(), next.return_to.as_deref());
            let sep = if q.is_empty() { "?" } else { "&" };
            Ok(see_other(&format!("/a/auth/login{q}{sep}password_reset=1")))
        }
        None => link_invalid(&req, &state).await,
    }
}
