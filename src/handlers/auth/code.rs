//! Sign-in by emailed code or magic link.

use super::{
    CSRF_EXPIRED, LoginForm, continuation, pending_request, rate_limited, render, render_login,
    signed_in, wait_message,
};
use crate::auth::codes::{self, CodeCheck, Sent, SignIn};
use crate::domain::EmailAddress;
use crate::handlers::errors::PageError;
use crate::state::AppState;
use crate::views::{self, auth::CodeEntryView, auth::carry};
use crate::web::{Csrf, client_ip, safe_return_path};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(request_code)
        .service(verify_code)
        .service(link_page)
        .service(link_submit);
}

#[derive(Deserialize)]
struct CodeRequest {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    request: Option<String>,
    return_to: Option<String>,
}

/// The "enter your code" page after a code was (maybe) sent.
#[allow(clippy::too_many_arguments)]
async fn code_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    email: &str,
    request_id: Option<&str>,
    return_to: Option<&str>,
    code_error: Option<&str>,
    error: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let intro = format!(
        "If {email} has an account, we sent it a 6-digit code and a sign-in link. They work for {} minutes.",
        codes::CODE_TTL_MS / 60_000
    );
    let back = format!("/a/auth/login{}", carry(request_id, return_to));
    render(req, state, status, |brand, csrf| {
        views::auth::code_entry(&CodeEntryView {
            brand,
            csrf,
            title: "Check your email",
            intro: &intro,
            action: "/a/auth/code/verify",
            email,
            request_id,
            return_to,
            code_error,
            error,
            resend_action: Some("/a/auth/code"),
            back_href: &back,
            back_label: "Sign in with a password instead",
        })
    })
    .await
}

/// Emails a sign-in code and link. Needs the form's CSRF token. The answer is the same for every
/// address, with or without an account.
#[post("/a/auth/code")]
async fn request_code(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CodeRequest>,
) -> Result<HttpResponse, PageError> {
    let request = pending_request(&state, form.request.as_deref()).await?;
    let request_id = request.as_ref().map(|r| r.id.as_str());
    let return_to = form.return_to.as_deref().and_then(safe_return_path);
    let login = |status, error: Option<String>, email_error: Option<String>| {
        let (req, state, email) = (&req, &state, form.email.as_str());
        async move {
            render_login(
                req,
                state,
                status,
                LoginForm {
                    email,
                    error: error.as_deref(),
                    email_error: email_error.as_deref(),
                    request_id,
                    return_to,
                    ..LoginForm::default()
                },
            )
            .await
        }
    };
    if !Csrf::verify(&req, &state, &form.csrf) {
        return login(StatusCode::FORBIDDEN, Some(CSRF_EXPIRED.into()), None).await;
    }
    let email = match EmailAddress::parse(&form.email) {
        Ok(email) => email,
        Err(e) => return login(StatusCode::UNPROCESSABLE_ENTITY, None, Some(e.to_string())).await,
    };
    let next = continuation(request.as_ref(), return_to);
    let ip = client_ip(&req);
    match codes::send_sign_in_code(&state, ip.as_deref(), &email, &next).await? {
        Sent::Sent => {
            code_page(
                &req,
                &state,
                StatusCode::OK,
                email.as_str(),
                request_id,
                return_to,
                None,
                None,
            )
            .await
        }
        Sent::Limited(limited) => {
            let message = wait_message("Too many sign-in codes were requested.", limited);
            let res = login(StatusCode::TOO_MANY_REQUESTS, Some(message), None).await?;
            Ok(rate_limited(res, limited))
        }
    }
}

#[derive(Deserialize)]
struct CodeSubmission {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    code: String,
    request: Option<String>,
    return_to: Option<String>,
}

/// What a refused code says, and with which status.
pub(super) fn refusal(check: &CodeCheck) -> (StatusCode, String) {
    match check {
        CodeCheck::Malformed => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter the 6-digit code from the email.".into(),
        ),
        CodeCheck::Wrong | CodeCheck::Valid(_) => (
            StatusCode::UNAUTHORIZED,
            "That code is not right, or it has expired. Check the latest email, or send a new code."
                .into(),
        ),
        CodeCheck::Exhausted => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many wrong tries for this code. Send yourself a new one.".into(),
        ),
        CodeCheck::Limited(limited) => (
            StatusCode::TOO_MANY_REQUESTS,
            wait_message("Too many wrong codes.", *limited),
        ),
    }
}

/// Signs in with the emailed code. Needs the form's CSRF token; five guesses per code.
#[post("/a/auth/code/verify")]
async fn verify_code(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CodeSubmission>,
) -> Result<HttpResponse, PageError> {
    let request = pending_request(&state, form.request.as_deref()).await?;
    let request_id = request.as_ref().map(|r| r.id.as_str());
    let return_to = form.return_to.as_deref().and_then(safe_return_path);
    let again = |status, code_error: Option<String>, error: Option<&str>| {
        let (req, state, email) = (&req, &state, form.email.as_str());
        let error = error.map(str::to_string);
        async move {
            code_page(
                req,
                state,
                status,
                email,
                request_id,
                return_to,
                code_error.as_deref(),
                error.as_deref(),
            )
            .await
        }
    };
    if !Csrf::verify(&req, &state, &form.csrf) {
        return again(StatusCode::FORBIDDEN, None, Some(CSRF_EXPIRED)).await;
    }
    let email = EmailAddress::parse(&form.email)
        .map_err(|e| PageError::BadRequest(format!("The sign-in form was altered: {e}")))?;
    let ip = client_ip(&req);
    match codes::redeem_code(&state, ip.as_deref(), &email, &form.code).await? {
        SignIn::Valid(user, _) => {
            let next = continuation(request.as_ref(), return_to);
            signed_in(&req, &state, &user, "code", &next).await
        }
        SignIn::Refused(check) => {
            let (status, message) = refusal(&check);
            let res = again(status, Some(message), None).await?;
            Ok(match check {
                CodeCheck::Limited(limited) => rate_limited(res, limited),
                _ => res,
            })
        }
    }
}

#[derive(Deserialize)]
struct LinkQuery {
    #[serde(default)]
    token: String,
}

async fn link_invalid(req: &HttpRequest, state: &AppState) -> Result<HttpResponse, PageError> {
    render(req, state, StatusCode::BAD_REQUEST, |brand, _| {
        views::auth::notice(
            brand,
            "This link no longer works",
            "Sign-in links work once, for ten minutes. Request a new one from the sign-in page.",
            Some(("/a/auth/login", "Go to sign in")),
            true,
        )
    })
    .await
}

/// The magic link's landing page: asks for one click, so link scanners sign nobody in. Public.
#[get("/a/auth/code/link")]
async fn link_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<LinkQuery>,
) -> Result<HttpResponse, PageError> {
    match codes::peek_link(&state, &q.token).await? {
        Some(email) => {
            render(&req, &state, StatusCode::OK, |brand, csrf| {
                views::auth::magic_link_confirm(brand, csrf, &q.token, &email)
            })
            .await
        }
        None => link_invalid(&req, &state).await,
    }
}

#[derive(Deserialize)]
struct LinkSubmission {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

/// Signs in with a magic link. Needs the form's CSRF token.
#[post("/a/auth/code/link")]
async fn link_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LinkSubmission>,
) -> Result<HttpResponse, PageError> {
    if !Csrf::verify(&req, &state, &form.csrf) {
        return render(&req, &state, StatusCode::FORBIDDEN, |brand, csrf| {
            views::auth::magic_link_confirm(brand, csrf, &form.token, "your account")
        })
        .await;
    }
    match codes::redeem_link(&state, &form.token).await? {
        Some((user, next)) => signed_in(&req, &state, &user, "magic_link", &next).await,
        None => link_invalid(&req, &state).await,
    }
}
