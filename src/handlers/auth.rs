//! The hosted sign-in screens under `/a/auth/`: sign-in by password (here) or emailed code
//! (`code`), sign-up (`signup`), password reset (`reset`) and the organization picker
//! (`organization`). Each handler checks the CSRF token, parses the form into domain types, makes one
//! call into `auth` and renders; what the user typed is kept when a form comes back with errors.

mod code;
pub(crate) use passkey::{csrf_header_ok, json_error, passkey_error};
mod invite;
mod join;
mod organization;
mod passkey;
mod reset;
mod signup;

use super::errors::PageError;
use super::{brand, html, see_other};
use crate::auth::{self, Continuation, PasswordCheck, limits::Limited};
use crate::db::{self, oauth::AuthRequest, users::User};
use crate::domain::EmailAddress;
use crate::oauth::authorize;
use crate::state::AppState;
use crate::views::{self, Brand, auth::LoginView};
use crate::web::{Csrf, client_ip, safe_return_path, session_token};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(login_page)
        .service(login_submit)
        .configure(code::configure)
        .configure(signup::configure)
        .configure(reset::configure)
        .configure(organization::configure)
        .configure(join::configure)
        .configure(passkey::configure)
        .configure(invite::configure);
}

/// The message of a form refused for a missing or wrong CSRF token.
const CSRF_EXPIRED: &str = "This form expired before it was sent. Please try again.";

/// The pending request named by a sign-in screen, or a page saying the link is stale.
async fn pending_request(
    state: &AppState,
    id: Option<&str>,
) -> Result<Option<AuthRequest>, PageError> {
    match id.filter(|i| !i.is_empty()) {
        None => Ok(None),
        Some(id) => db::oauth::find_request(state.db.conn(), id).await?.map(Some).ok_or_else(|| {
            PageError::BadRequest(
                "This sign-in page has expired. Go back to the application and start signing in again.".into(),
            )
        }),
    }
}

/// Renders a page with a fresh CSRF token (setting its cookie when the browser had none).
async fn render(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    view: impl FnOnce(&Brand, &str) -> maud::Markup,
) -> Result<HttpResponse, PageError> {
    let brand = brand(state).await?;
    let csrf = Csrf::for_request(req, state);
    let mut res = html(view(&brand, &csrf.token));
    *res.status_mut() = status;
    if let Some(cookie) = csrf.new_cookie {
        res.add_cookie(&cookie)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(res)
}

/// Marks a response as rate limited: 429 with `Retry-After` (RFC 6585 §4).
fn rate_limited(mut res: HttpResponse, limited: Limited) -> HttpResponse {
    *res.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    if let Ok(value) = header::HeaderValue::from_str(&limited.retry_after_secs.to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, value);
    }
    res
}

/// "Try again in 3 minutes" for a refused attempt.
fn wait_message(what: &str, limited: Limited) -> String {
    let minutes = limited.retry_after_secs.div_ceil(60);
    let when = if limited.retry_after_secs < 60 {
        format!("{} seconds", limited.retry_after_secs)
    } else if minutes == 1 {
        "a minute".into()
    } else {
        format!("{minutes} minutes")
    };
    format!("{what} Please wait {when} before trying again.")
}

/// The continuation a form carries, with the return path checked.
fn continuation(request: Option<&AuthRequest>, return_to: Option<&str>) -> Continuation {
    Continuation {
        request: request.map(|r| r.id.clone()),
        return_to: return_to.and_then(safe_return_path).map(str::to_string),
    }
}

/// Signs `user` in: replaces any session this browser had, starts a new one, and sends the browser
/// on (to the client with a code, the org picker, or the return path).
async fn signed_in(
    req: &HttpRequest,
    state: &AppState,
    user: &User,
    method: &str,
    next: &Continuation,
) -> Result<HttpResponse, PageError> {
    if let Some(token) = session_token(req, state) {
        auth::end_session_of_token(state, &token, crate::sessions::EndReason::Replaced).await?;
    }
    let (session, cookie) = auth::start_session(state, req, user, method).await?;
    // An address on a verified domain of an SSO organization signs into that organization.
    let session = auth::home_realm::enter(state, session, user).await?;
    let request = match next.request.as_deref() {
        Some(id) => db::oauth::find_request(state.db.conn(), id).await?,
        None => None,
    };
    let location = match &request {
        Some(request) => authorize::proceed(state, request, &session).await?,
        None => authorize::after_direct_sign_in(state, &session, next.return_to.as_deref()).await?,
    };
    let mut res = see_other(&location);
    res.add_cookie(&cookie)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(res)
}

#[derive(Deserialize)]
struct LoginQuery {
    request: Option<String>,
    return_to: Option<String>,
    signed_out: Option<String>,
    password_reset: Option<String>,
}

/// What a re-rendered login form keeps and says.
#[derive(Default)]
struct LoginForm<'a> {
    email: &'a str,
    error: Option<&'a str>,
    email_error: Option<&'a str>,
    password_error: Option<&'a str>,
    request_id: Option<&'a str>,
    return_to: Option<&'a str>,
    notice: Option<&'a str>,
}

async fn render_login(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    form: LoginForm<'_>,
) -> Result<HttpResponse, PageError> {
    render(req, state, status, |brand, csrf| {
        views::auth::login(&LoginView {
            brand,
            csrf,
            email: form.email,
            error: form.error,
            email_error: form.email_error,
            password_error: form.password_error,
            request_id: form.request_id,
            return_to: form.return_to,
            notice: form.notice,
            passkeys: state.webauthn.is_some(),
        })
    })
    .await
}

/// The sign-in form. Public.
#[get("/a/auth/login")]
async fn login_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<LoginQuery>,
) -> Result<HttpResponse, PageError> {
    let request = pending_request(&state, q.request.as_deref()).await?;
    let hint = request
        .as_ref()
        .and_then(|r| r.login_hint.clone())
        .unwrap_or_default();
    let notice = if q.password_reset.is_some() {
        Some(
            "Your password was changed and every session signed out. Sign in with the new password.",
        )
    } else {
        q.signed_out.as_ref().map(|_| "You have signed out.")
    };
    render_login(
        &req,
        &state,
        StatusCode::OK,
        LoginForm {
            email: &hint,
            request_id: request.as_ref().map(|r| r.id.as_str()),
            return_to: q.return_to.as_deref().and_then(safe_return_path),
            notice,
            ..LoginForm::default()
        },
    )
    .await
}

#[derive(Deserialize)]
struct LoginSubmission {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    request: Option<String>,
    return_to: Option<String>,
}

/// Signs in with email and password. Needs the form's CSRF token. A wrong email or password gets one
/// generic message, so the form never tells whether an account exists; repeated failures per IP and
/// per account are refused for a while (429).
#[post("/a/auth/login")]
async fn login_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginSubmission>,
) -> Result<HttpResponse, PageError> {
    let request = pending_request(&state, form.request.as_deref()).await?;
    let return_to = form.return_to.as_deref().and_then(safe_return_path);
    let again = |status, error: Option<&str>, email_error: Option<&str>, password_error| {
        let req = &req;
        let state = &state;
        let request_id = request.as_ref().map(|r| r.id.as_str());
        let email = form.email.as_str();
        let error = error.map(str::to_string);
        let email_error = email_error.map(str::to_string);
        async move {
            render_login(
                req,
                state,
                status,
                LoginForm {
                    email,
                    error: error.as_deref(),
                    email_error: email_error.as_deref(),
                    password_error,
                    request_id,
                    return_to,
                    notice: None,
                },
            )
            .await
        }
    };
    if !Csrf::verify(&req, &state, &form.csrf) {
        return again(StatusCode::FORBIDDEN, Some(CSRF_EXPIRED), None, None).await;
    }
    let email = match EmailAddress::parse(&form.email) {
        Ok(email) => email,
        Err(e) => {
            let message = e.to_string();
            return again(StatusCode::UNPROCESSABLE_ENTITY, None, Some(&message), None).await;
        }
    };
    if form.password.is_empty() {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            None,
            Some("Enter your password."),
        )
        .await;
    }
    let ip = client_ip(&req);
    match auth::sign_in_with_password(&state, ip.as_deref(), &email, &form.password).await? {
        PasswordCheck::Valid(user) => {
            let next = continuation(request.as_ref(), return_to);
            signed_in(&req, &state, &user, "password", &next).await
        }
        PasswordCheck::Wrong => {
            again(
                StatusCode::UNAUTHORIZED,
                Some("Incorrect email or password."),
                None,
                None,
            )
            .await
        }
        PasswordCheck::Limited(limited) => {
            let message = wait_message("Too many sign-in attempts.", limited);
            let res = again(StatusCode::TOO_MANY_REQUESTS, Some(&message), None, None).await?;
            Ok(rate_limited(res, limited))
        }
    }
}
