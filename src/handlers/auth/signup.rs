//! Self-service sign-up at `/a/auth/signup` and its email verification.

use super::code::refusal;
use super::{
    CSRF_EXPIRED, continuation, pending_request, rate_limited, render, signed_in, wait_message,
};
use crate::auth::codes::{CodeCheck, Sent};
use crate::auth::signup::{self, Finished, Signup};
use crate::domain::{EmailAddress, NewPassword};
use crate::handlers::errors::PageError;
use crate::state::AppState;
use crate::views::{self, auth::CodeEntryView, auth::SignupView, auth::carry};
use crate::web::{Csrf, client_ip, safe_return_path};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(signup_page)
        .service(signup_submit)
        .service(verify_submit);
}

/// Longest display name accepted.
const MAX_NAME_CHARS: usize = 100;

#[derive(Deserialize)]
struct SignupQuery {
    request: Option<String>,
    return_to: Option<String>,
}

#[derive(Default)]
struct SignupForm<'a> {
    name: &'a str,
    email: &'a str,
    name_error: Option<String>,
    email_error: Option<String>,
    password_error: Option<String>,
    error: Option<String>,
    request_id: Option<&'a str>,
    return_to: Option<&'a str>,
}

async fn render_signup(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    f: SignupForm<'_>,
) -> Result<HttpResponse, PageError> {
    render(req, state, status, |brand, csrf| {
        views::auth::signup(&SignupView {
            brand,
            csrf,
            name: f.name,
            email: f.email,
            name_error: f.name_error.as_deref(),
            email_error: f.email_error.as_deref(),
            password_error: f.password_error.as_deref(),
            error: f.error.as_deref(),
            request_id: f.request_id,
            return_to: f.return_to,
        })
    })
    .await
}

/// The sign-up form (`prompt=create` lands here). Public.
#[get("/a/auth/signup")]
async fn signup_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<SignupQuery>,
) -> Result<HttpResponse, PageError> {
    let request = pending_request(&state, q.request.as_deref()).await?;
    let hint = request
        .as_ref()
        .and_then(|r| r.login_hint.clone())
        .unwrap_or_default();
    render_signup(
        &req,
        &state,
        StatusCode::OK,
        SignupForm {
            email: &hint,
            request_id: request.as_ref().map(|r| r.id.as_str()),
            return_to: q.return_to.as_deref().and_then(safe_return_path),
            ..SignupForm::default()
        },
    )
    .await
}

#[derive(Deserialize)]
struct SignupSubmission {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    request: Option<String>,
    return_to: Option<String>,
}

/// The "check your email" page of a sign-up.
#[allow(clippy::too_many_arguments)]
async fn verify_page(
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
        "We sent a message to {email}. Enter the 6-digit code from it to finish creating your account."
    );
    let back = format!("/a/auth/signup{}", carry(request_id, return_to));
    render(req, state, status, |brand, csrf| {
        views::auth::code_entry(&CodeEntryView {
            brand,
            csrf,
            title: "Check your email",
            intro: &intro,
            action: "/a/auth/signup/verify",
            email,
            request_id,
            return_to,
            code_error,
            error,
            resend_action: None,
            back_href: &back,
            back_label: "Start again",
        })
    })
    .await
}

/// Starts a sign-up: checks the form and emails a verification code. Needs the form's CSRF token.
/// The page that follows is the same whether or not the address already has an account.
#[post("/a/auth/signup")]
async fn signup_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SignupSubmission>,
) -> Result<HttpResponse, PageError> {
    let request = pending_request(&state, form.request.as_deref()).await?;
    let request_id = request.as_ref().map(|r| r.id.as_str());
    let return_to = form.return_to.as_deref().and_then(safe_return_path);
    let base = SignupForm {
        name: &form.name,
        email: &form.email,
        request_id,
        return_to,
        ..SignupForm::default()
    };
    if !Csrf::verify(&req, &state, &form.csrf) {
        let f = SignupForm {
            error: Some(CSRF_EXPIRED.into()),
            ..base
        };
        return render_signup(&req, &state, StatusCode::FORBIDDEN, f).await;
    }
    let name = form.name.trim();
    let name_error = if name.is_empty() {
        Some("Enter your name.".to_string())
    } else if name.chars().count() > MAX_NAME_CHARS {
        Some(format!("Use at most {MAX_NAME_CHARS} characters."))
    } else {
        None
    };
    let email = EmailAddress::parse(&form.email);
    let password = NewPassword::parse(&form.password, &[name, &form.email]);
    let (email, password) = match (name_error, email, password) {
        (None, Ok(email), Ok(password)) => (email, password),
        (name_error, email, password) => {
            let f = SignupForm {
                name_error,
                email_error: email.err().map(|e| e.to_string()),
                password_error: password.err().map(|e| e.to_string()),
                ..base
            };
            return render_signup(&req, &state, StatusCode::UNPROCESSABLE_ENTITY, f).await;
        }
    };
    let next = continuation(request.as_ref(), return_to);
    let ip = client_ip(&req);
    let signup = Signup {
        name: name.to_string(),
        email: email.clone(),
        password,
    };
    match signup::start(&state, ip.as_deref(), signup, &next).await? {
        Sent::Sent => {
            verify_page(
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
            let f = SignupForm {
                error: Some(wait_message("Too many sign-ups from here.", limited)),
                ..base
            };
            let res = render_signup(&req, &state, StatusCode::TOO_MANY_REQUESTS, f).await?;
            Ok(rate_limited(res, limited))
        }
    }
}

#[derive(Deserialize)]
struct VerifySubmission {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    code: String,
    request: Option<String>,
    return_to: Option<String>,
}

/// Finishes a sign-up with the emailed code: creates the account and signs in. Needs the form's
/// CSRF token; five guesses per code.
#[post("/a/auth/signup/verify")]
async fn verify_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<VerifySubmission>,
) -> Result<HttpResponse, PageError> {
    let request = pending_request(&state, form.request.as_deref()).await?;
    let request_id = request.as_ref().map(|r| r.id.as_str());
    let return_to = form.return_to.as_deref().and_then(safe_return_path);
    if !Csrf::verify(&req, &state, &form.csrf) {
        return verify_page(
            &req,
            &state,
            StatusCode::FORBIDDEN,
            &form.email,
            request_id,
            return_to,
            None,
            Some(CSRF_EXPIRED),
        )
        .await;
    }
    let email = EmailAddress::parse(&form.email)
        .map_err(|e| PageError::BadRequest(format!("The sign-up form was altered: {e}")))?;
    let ip = client_ip(&req);
    match signup::finish(&state, ip.as_deref(), &email, &form.code).await? {
        Finished::Created(user, _) => {
            let next = continuation(request.as_ref(), return_to);
            // An organization that suggests joining by domain asks first (`join`).
            let next = super::join::via_suggestion(&state, &user, next).await?;
            signed_in(&req, &state, &user, "code", &next).await
        }
        Finished::AlreadyRegistered => {
            let login = format!("/a/auth/login{}", carry(request_id, return_to));
            render(&req, &state, StatusCode::CONFLICT, |brand, _| {
                views::auth::notice(
                    brand,
                    "You already have an account",
                    "This email address has an account. Sign in instead.",
                    Some((&login, "Go to sign in")),
                    false,
                )
            })
            .await
        }
        Finished::Refused(check) => {
            let (status, message) = refusal(&check);
            let res = verify_page(
                &req,
                &state,
                status,
                email.as_str(),
                request_id,
                return_to,
                Some(&message),
                None,
            )
            .await?;
            Ok(match check {
                CodeCheck::Limited(limited) => rate_limited(res, limited),
                _ => res,
            })
        }
    }
}
