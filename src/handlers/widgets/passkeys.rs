//! Passkeys on the security page: add (JSON, for the page's script), rename and delete (forms).
//! Only the viewer's own passkeys are touched; adding one needs a confirmation from the last 10
//! minutes, like signing out every other session. Every write needs the CSRF token.

use super::security::recently_confirmed;
use crate::db;
use crate::handlers::auth::{csrf_header_ok, json_error, passkey_error};
use crate::handlers::errors::PageError;
use crate::handlers::see_other;
use crate::passkeys::{self, parse_name};
use crate::principal::Viewer;
use crate::state::AppState;
use crate::web::Csrf;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

const CONFIRM_FIRST: &str =
    "Confirm it is you first: adding a passkey needs a confirmation from the last 10 minutes.";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(register_start)
        .service(register_finish)
        .service(rename)
        .service(delete);
}

/// Options for `navigator.credentials.create`. Needs the CSRF token and a recent confirmation.
#[post("/ui/security/passkeys/register/start")]
async fn register_start(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    if !csrf_header_ok(&req, &state) {
        return Ok(json_error(
            StatusCode::FORBIDDEN,
            "This page expired. Reload it and try again.",
        ));
    }
    if !recently_confirmed(&viewer) {
        return Ok(json_error(StatusCode::FORBIDDEN, CONFIRM_FIRST));
    }
    match passkeys::start_registration(&state, &viewer.user).await {
        Ok((ceremony_id, options)) => Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({ "ceremony_id": ceremony_id, "options": options }))),
        Err(e) => passkey_error(e),
    }
}

#[derive(Deserialize)]
struct RegisterFinish {
    ceremony_id: String,
    #[serde(default)]
    name: String,
    credential: RegisterPublicKeyCredential,
}

/// Stores the new passkey under its name. Needs the CSRF token and a recent confirmation.
#[post("/ui/security/passkeys/register/finish")]
async fn register_finish(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    body: web::Json<RegisterFinish>,
) -> Result<HttpResponse, PageError> {
    if !csrf_header_ok(&req, &state) {
        return Ok(json_error(
            StatusCode::FORBIDDEN,
            "This page expired. Reload it and try again.",
        ));
    }
    if !recently_confirmed(&viewer) {
        return Ok(json_error(StatusCode::FORBIDDEN, CONFIRM_FIRST));
    }
    match passkeys::finish_registration(
        &state,
        &viewer.user,
        &body.ceremony_id,
        &body.name,
        &body.credential,
    )
    .await
    {
        Ok(p) => {
            Ok(HttpResponse::Created().json(serde_json::json!({ "id": p.id, "name": p.name })))
        }
        Err(e) => passkey_error(e),
    }
}

#[derive(Deserialize)]
struct RenameForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

/// Renames one of the viewer's passkeys. Needs the CSRF token.
#[post("/ui/security/passkeys/{id}/rename")]
async fn rename(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<String>,
    form: web::Form<RenameForm>,
) -> Result<HttpResponse, PageError> {
    if !Csrf::verify(&req, &state, &form.csrf) {
        return Err(PageError::BadRequest(
            "This form expired. Reload the page and try again.".into(),
        ));
    }
    let name = match parse_name(&form.name) {
        Ok(n) => n,
        Err(e) => return Err(PageError::BadRequest(e.to_string())),
    };
    if !db::passkeys::rename(state.db.conn(), &viewer.user.id, &path, &name).await? {
        return Err(PageError::NotFound);
    }
    Ok(see_other("/ui/security?done=renamed"))
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// Deletes one of the viewer's passkeys. Needs the CSRF token.
#[post("/ui/security/passkeys/{id}/delete")]
async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    if !Csrf::verify(&req, &state, &form.csrf) {
        return Err(PageError::BadRequest(
            "This form expired. Reload the page and try again.".into(),
        ));
    }
    if !db::passkeys::delete(state.db.conn(), &viewer.user.id, &path).await? {
        return Err(PageError::NotFound);
    }
    Ok(see_other("/ui/security?done=deleted"))
}
