//! Usernameless sign-in with a passkey from the login page: `start` hands out the WebAuthn
//! options, `finish` checks the browser's answer and signs the user in like any other method. Both
//! are JSON (the page's small script calls them) and need the page's CSRF token in
//! `X-CSRF-Token`.

use super::{continuation, pending_request, signed_in};
use crate::handlers::errors::PageError;
use crate::passkeys::{self, PasskeyError};
use crate::state::AppState;
use crate::web::Csrf;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use webauthn_rs::prelude::PublicKeyCredential;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(start).service(finish);
}

/// A JSON error the script shows as it is.
pub fn json_error(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({ "error": message.into() }))
}

pub fn passkey_error(err: PasskeyError) -> Result<HttpResponse, PageError> {
    let status = match &err {
        PasskeyError::Internal(_) => return Err(PageError::Internal(anyhow::anyhow!("{err}"))),
        PasskeyError::Unavailable => StatusCode::NOT_FOUND,
        PasskeyError::AlreadyRegistered => StatusCode::CONFLICT,
        PasskeyError::InvalidName(_) => StatusCode::UNPROCESSABLE_ENTITY,
        PasskeyError::CeremonyGone | PasskeyError::Rejected | PasskeyError::UnknownCredential => {
            StatusCode::BAD_REQUEST
        }
    };
    Ok(json_error(status, err.to_string()))
}

/// Whether the request carries this browser's CSRF token in `X-CSRF-Token`.
pub fn csrf_header_ok(req: &HttpRequest, state: &AppState) -> bool {
    req.headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| Csrf::verify(req, state, t))
}

/// Options for `navigator.credentials.get`, with no allowed list (the browser offers what it
/// holds). Public; needs the CSRF token.
#[post("/a/auth/passkey/start")]
async fn start(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    if !csrf_header_ok(&req, &state) {
        return Ok(json_error(StatusCode::FORBIDDEN, super::CSRF_EXPIRED));
    }
    match passkeys::start_sign_in(&state).await {
        Ok((ceremony_id, options)) => Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({ "ceremony_id": ceremony_id, "options": options }))),
        Err(e) => passkey_error(e),
    }
}

#[derive(Deserialize)]
struct Finish {
    ceremony_id: String,
    credential: PublicKeyCredential,
    request: Option<String>,
    return_to: Option<String>,
}

/// Checks the assertion and signs in (a new session, `auth_method` `passkey`). Answers
/// `{"location": …}` with the session cookie; the script goes there. Needs the CSRF token.
#[post("/a/auth/passkey/finish")]
async fn finish(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Finish>,
) -> Result<HttpResponse, PageError> {
    if !csrf_header_ok(&req, &state) {
        return Ok(json_error(StatusCode::FORBIDDEN, super::CSRF_EXPIRED));
    }
    let body = body.into_inner();
    let request = pending_request(&state, body.request.as_deref()).await?;
    let user = match passkeys::finish_sign_in(&state, &body.ceremony_id, &body.credential).await {
        Ok(user) => user,
        Err(e) => return passkey_error(e),
    };
    let next = continuation(request.as_ref(), body.return_to.as_deref());
    let redirect = signed_in(&req, &state, &user, "passkey", &next).await?;
    let location = redirect
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("/ui/")
        .to_string();
    let mut res = HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({ "location": location }));
    for cookie in redirect.cookies() {
        res.add_cookie(&cookie.into_owned())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(res)
}
