//! The hosted sign-in screens under `/a/auth/`.

use super::errors::PageError;
use super::{brand, html, see_other};
use crate::auth;
use crate::db::{self, oauth::AuthRequest};
use crate::domain::EmailAddress;
use crate::oauth::authorize;
use crate::principal::urlencode;
use crate::state::AppState;
use crate::views::{self, auth::LoginView};
use crate::web::{Csrf, safe_return_path};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(login_page)
        .service(login_submit)
        .service(signup_page);
}

#[derive(Deserialize)]
struct LoginQuery {
    request: Option<String>,
    return_to: Option<String>,
    signed_out: Option<String>,
}

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

/// What a re-rendered login form keeps and says.
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
    let brand = brand(state).await?;
    let csrf = Csrf::for_request(req, state);
    let markup = views::auth::login(&LoginView {
        brand: &brand,
        csrf: &csrf.token,
        email: form.email,
        error: form.error,
        email_error: form.email_error,
        password_error: form.password_error,
        request_id: form.request_id,
        return_to: form.return_to,
        notice: form.notice,
    });
    let mut res = html(markup);
    *res.status_mut() = status;
    if let Some(cookie) = csrf.new_cookie {
        res.add_cookie(&cookie)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(res)
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
    let return_to = q.return_to.as_deref().and_then(safe_return_path);
    render_login(
        &req,
        &state,
        StatusCode::OK,
        LoginForm {
            email: &hint,
            error: None,
            email_error: None,
            password_error: None,
            request_id: request.as_ref().map(|r| r.id.as_str()),
            return_to,
            notice: q.signed_out.as_ref().map(|_| "You have signed out."),
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

/// Why a sign-in attempt was refused, as the form shows it.
struct Refusal {
    status: StatusCode,
    error: Option<&'static str>,
    email_error: Option<String>,
    password_error: Option<&'static str>,
}

impl Refusal {
    fn form(message: &'static str, status: StatusCode) -> Self {
        Self {
            status,
            error: Some(message),
            email_error: None,
            password_error: None,
        }
    }
}

/// Checks a submitted sign-in form and returns the user it proves.
async fn check_submission(
    req: &HttpRequest,
    state: &AppState,
    form: &LoginSubmission,
) -> Result<Result<crate::db::users::User, Refusal>, PageError> {
    if !Csrf::verify(req, state, &form.csrf) {
        return Ok(Err(Refusal::form(
            "This form expired before it was sent. Please sign in again.",
            StatusCode::FORBIDDEN,
        )));
    }
    let email = match EmailAddress::parse(&form.email) {
        Ok(email) => email,
        Err(e) => {
            return Ok(Err(Refusal {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                error: None,
                email_error: Some(e.to_string()),
                password_error: None,
            }));
        }
    };
    if form.password.is_empty() {
        return Ok(Err(Refusal {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            error: None,
            email_error: None,
            password_error: Some("Enter your password."),
        }));
    }
    Ok(auth::check_password(state, &email, &form.password)
        .await?
        .ok_or_else(|| Refusal::form("Incorrect email or password.", StatusCode::UNAUTHORIZED)))
}

/// Signs in with email and password. Needs the form's CSRF token. A wrong email or password gets one
/// generic message, so the form never tells whether an account exists.
#[post("/a/auth/login")]
async fn login_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginSubmission>,
) -> Result<HttpResponse, PageError> {
    let request = pending_request(&state, form.request.as_deref()).await?;
    let return_to = form.return_to.as_deref().and_then(safe_return_path);
    let user = match check_submission(&req, &state, &form).await? {
        Ok(user) => user,
        Err(refusal) => {
            return render_login(
                &req,
                &state,
                refusal.status,
                LoginForm {
                    email: &form.email,
                    error: refusal.error,
                    email_error: refusal.email_error.as_deref(),
                    password_error: refusal.password_error,
                    request_id: request.as_ref().map(|r| r.id.as_str()),
                    return_to,
                    notice: None,
                },
            )
            .await;
        }
    };
    let (session, cookie) = auth::start_session(&state, &req, &user, "password").await?;
    let location = match &request {
        Some(request) => authorize::complete(&state, request, &session).await?,
        None => return_to.unwrap_or("/ui/").to_string(),
    };
    let mut res = see_other(&location);
    res.add_cookie(&cookie)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(res)
}

#[derive(Deserialize)]
struct SignupQuery {
    request: Option<String>,
}

/// The sign-up screen. Public.
#[get("/a/auth/signup")]
async fn signup_page(
    state: web::Data<AppState>,
    q: web::Query<SignupQuery>,
) -> Result<HttpResponse, PageError> {
    let request = pending_request(&state, q.request.as_deref()).await?;
    let brand = brand(&state).await?;
    let login_href = match &request {
        Some(r) => format!("/a/auth/login?request={}", urlencode(&r.id)),
        None => "/a/auth/login".into(),
    };
    Ok(html(views::auth::signup_unavailable(
        &views::auth::SignupView {
            brand: &brand,
            login_href: &login_href,
        },
    )))
}
