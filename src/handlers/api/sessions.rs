//! Sessions in the management API: an organization's session policy, a user's sessions, revoking a
//! session, and a client's back-channel logout URI. Every route needs a management token.

use crate::actors::org::SetSessionPolicy;
use crate::db;
use crate::domain::OrgSessionPolicy;
use crate::domain::session_policy::PolicyInput;
use crate::handlers::errors::ApiError;
use crate::principal::ApiClient;
use crate::sessions::{self, EndReason};
use crate::state::AppState;
use crate::webhooks::WebhookUrl;
use crate::wire::sessions::{SessionJson, SessionPolicyJson};
use actix_web::{HttpResponse, get, patch, post, put, web};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_policy)
        .service(put_policy)
        .service(list_sessions)
        .service(revoke_session)
        .service(patch_client);
}

/// The application default, the organization's override and the effective policy.
#[utoipa::path(
    get,
    path = "/api/v1/organizations/{org_id}/session-policy",
    tag = "sessions",
    params(("org_id" = String, Path)),
    responses((status = 200, description = "`{organization_id, app_default, override, effective}`"), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{org_id}/session-policy")]
async fn get_policy(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let conn = state.db.conn();
    let org = db::orgs::find(conn, &path)
        .await?
        .ok_or(ApiError::NotFound("organization"))?;
    let app = sessions::app_policy(conn).await?;
    let own = sessions::org_override(conn, &org.id).await?;
    Ok(HttpResponse::Ok().json(SessionPolicyJson::new(&org.id, &app, &own)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = SessionPolicyOverride)]
#[serde(deny_unknown_fields)]
struct PolicyBody {
    absolute_timeout_minutes: Option<i64>,
    idle_timeout_enabled: Option<bool>,
    idle_timeout_minutes: Option<i64>,
}

/// Replaces the organization's override (`null` or absent fields follow the application default).
/// A stricter policy shortens the organization's running sessions. 422 names the refused field.
#[utoipa::path(
    put,
    path = "/api/v1/organizations/{org_id}/session-policy",
    tag = "sessions",
    params(("org_id" = String, Path)),
    request_body = PolicyBody,
    responses((status = 200, description = "The policy, with `sessions_shortened` and `sessions_ended`"), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input, with the field", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[put("/api/v1/organizations/{org_id}/session-policy")]
async fn put_policy(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<PolicyBody>,
) -> Result<HttpResponse, ApiError> {
    let org_id = path.into_inner();
    let conn = state.db.conn();
    if db::orgs::find(conn, &org_id).await?.is_none() {
        return Err(ApiError::NotFound("organization"));
    }
    let input = PolicyInput {
        absolute_minutes: body.absolute_timeout_minutes.map(|m| m.to_string()),
        idle_enabled: body.idle_timeout_enabled,
        idle_minutes: body.idle_timeout_minutes.map(|m| m.to_string()),
    };
    let app = sessions::app_policy(conn).await?;
    let policy = OrgSessionPolicy::parse(&input, &app).map_err(|errors| {
        let first = &errors[0];
        ApiError::field(first.field, first.message.clone())
    })?;
    let changed = state.ask_org(&org_id, SetSessionPolicy { policy }).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "organization_id": changed.policy.organization_id,
        "app_default": changed.policy.app_default,
        "override": changed.policy.org_override,
        "effective": changed.policy.effective,
        "sessions_shortened": changed.sessions_shortened,
        "sessions_ended": changed.sessions_ended,
    })))
}

/// A user's live sessions, most recently active first.
#[utoipa::path(
    get,
    path = "/api/v1/users/{user_id}/sessions",
    tag = "sessions",
    params(("user_id" = String, Path)),
    responses((status = 200, description = "`{data: [session]}`"), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[get("/api/v1/users/{user_id}/sessions")]
async fn list_sessions(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let conn = state.db.conn();
    let user = db::users::find(conn, &path)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    let live = db::sessions::live_for_user(conn, &user.id, db::now_ms()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "data": live.iter().map(SessionJson::from).collect::<Vec<_>>(),
    })))
}

/// Ends a session: its refresh tokens are revoked, its pages signed out, back-channel logout sent
/// and `user.logout` published. Revoking an ended session answers 200 with it, unchanged.
#[utoipa::path(
    post,
    path = "/api/v1/sessions/{session_id}/revoke",
    tag = "sessions",
    params(("session_id" = String, Path)),
    responses((status = 200, description = "The ended session"), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[post("/api/v1/sessions/{session_id}/revoke")]
async fn revoke_session(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let conn = state.db.conn();
    let session = db::sessions::find(conn, &path)
        .await?
        .ok_or(ApiError::NotFound("session"))?;
    state.sessions.end(&[session], EndReason::Revoked).await?;
    let session = db::sessions::find(conn, &path)
        .await?
        .ok_or(ApiError::NotFound("session"))?;
    Ok(HttpResponse::Ok().json(SessionJson::from(&session)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = ClientPatch)]
#[serde(deny_unknown_fields)]
struct ClientPatch {
    /// `null` clears it; absent leaves it.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    backchannel_logout_uri: Option<Option<String>>,
}

/// Tells "absent" (`None`) from `null` (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

/// Changes a client's registration. So far: `backchannel_logout_uri` (https, or http for hosts in
/// `PORTAL_WEBHOOK_ALLOW_HOSTS`; the webhook SSRF rule applies).
#[utoipa::path(
    patch,
    path = "/api/v1/clients/{client_id}",
    tag = "clients",
    params(("client_id" = String, Path)),
    request_body = ClientPatch,
    responses((status = 200, description = "The client's registration"), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input, with the field", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[patch("/api/v1/clients/{client_id}")]
async fn patch_client(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<ClientPatch>,
) -> Result<HttpResponse, ApiError> {
    let conn = state.db.conn();
    let client_id = path.into_inner();
    if db::clients::find(conn, &client_id).await?.is_none() {
        return Err(ApiError::NotFound("client"));
    }
    if let Some(uri) = &body.backchannel_logout_uri {
        let checked = match uri.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            Some(raw) => Some(
                WebhookUrl::parse(raw, &state.webhooks.allow)
                    .map_err(|e| {
                        ApiError::field(
                            "backchannel_logout_uri",
                            e.to_string().replacen("url", "backchannel_logout_uri", 1),
                        )
                    })?
                    .as_str()
                    .to_string(),
            ),
            None => None,
        };
        db::clients::set_backchannel_logout_uri(conn, &client_id, checked.as_deref()).await?;
    }
    let client = db::clients::find(conn, &client_id)
        .await?
        .ok_or(ApiError::NotFound("client"))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "client_id": client.id,
        "name": client.name,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "backchannel_logout_session_required": true,
    })))
}

/// The OpenAPI description of this module's routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(get_policy, put_policy, list_sessions, revoke_session, patch_client))]
pub struct Doc;
