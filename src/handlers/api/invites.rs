//! Invites in the management API: `/api/v1/organizations/{org_id}/invites`. Creating one mails
//! it (through the invite mailer, retried while SMTP is down); resend mails a new link; revoke
//! withdraws it. An invite id of another organization answers 404.

use crate::db;
use crate::domain::{EmailAddress, RoleName};
use crate::handlers::errors::ApiError;
use crate::invites;
use crate::principal::ApiClient;
use crate::state::AppState;
use crate::wire::Page;
use crate::wire::invites::InviteJson;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, web};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_invites)
        .service(list_invites)
        .service(get_invite)
        .service(resend_invite)
        .service(revoke_invite);
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = CreateInvites)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    email: Option<String>,
    #[serde(default)]
    emails: Vec<String>,
    role: Option<String>,
    /// The id of the user who invites (shown in the email), if a person does.
    inviter_user_id: Option<String>,
}

/// Invites `email` (or each of `emails`) with `role` (default `member`): 201 with the invites.
/// Repeating it for an address with a pending invite answers that invite (no second mail). 409 for
/// an address that is already a member or a batch past the seat limit.
#[utoipa::path(
    post,
    path = "/api/v1/organizations/{org_id}/invites",
    tag = "invites",
    params(("org_id" = String, Path)),
    request_body = CreateBody,
    responses((status = 201, description = "Created", body = Page<InviteJson>), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[post("/api/v1/organizations/{org_id}/invites")]
async fn create_invites(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut raw = body.emails;
    raw.extend(body.email);
    if raw.is_empty() {
        return Err(ApiError::field("email", "email or emails is required."));
    }
    if raw.len() > invites::MAX_BATCH {
        return Err(ApiError::field(
            "emails",
            format!("Invite at most {} addresses at a time.", invites::MAX_BATCH),
        ));
    }
    let emails = raw
        .iter()
        .map(|e| {
            EmailAddress::parse(e).map_err(|err| ApiError::field("email", format!("{e}: {err}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let role = RoleName::parse(body.role.as_deref().unwrap_or(RoleName::MEMBER))
        .map_err(|e| ApiError::field("role", e.to_string()))?;
    if let Some(inviter) = &body.inviter_user_id
        && db::members::find(state.db.conn(), &path, inviter)
            .await?
            .is_none_or(|m| m.status != db::members::ACTIVE)
    {
        return Err(ApiError::field(
            "inviter_user_id",
            "The inviter must be an active member of the organization.",
        ));
    }
    let created = invites::create(&state, &path, emails, role, body.inviter_user_id).await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(Page {
        data: created,
        next_cursor: None,
    }))
}

#[derive(Deserialize)]
struct ListQuery {
    after: Option<String>,
    limit: Option<u64>,
}

async fn invite_json(
    state: &AppState,
    invite: &db::invites::Invite,
) -> Result<InviteJson, ApiError> {
    let role = db::roles::find(state.db.conn(), &invite.role_id)
        .await?
        .map_or_else(String::new, |r| r.name);
    Ok(InviteJson::new(invite, &role, db::now_ms()))
}

/// The organization's invites of every status, oldest first, cursor-paginated.
#[utoipa::path(
    get,
    path = "/api/v1/organizations/{org_id}/invites",
    tag = "invites",
    params(("org_id" = String, Path)),
    responses((status = 200, description = "OK", body = Page<InviteJson>), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{org_id}/invites")]
async fn list_invites(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    if db::orgs::find(state.db.conn(), &path).await?.is_none() {
        return Err(ApiError::NotFound("organization"));
    }
    let limit = super::page_limit(q.limit)?;
    let mut rows =
        db::invites::list_for_org(state.db.conn(), &path, q.after.as_deref(), limit + 1).await?;
    let next_cursor = super::next_cursor(&mut rows, limit, |i| i.id.clone());
    let mut data = Vec::with_capacity(rows.len());
    for i in &rows {
        data.push(invite_json(&state, i).await?);
    }
    Ok(HttpResponse::Ok().json(Page { data, next_cursor }))
}

#[utoipa::path(
    get,
    path = "/api/v1/organizations/{org_id}/invites/{invite_id}",
    tag = "invites",
    params(("org_id" = String, Path), ("invite_id" = String, Path)),
    responses((status = 200, description = "OK", body = InviteJson), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{org_id}/invites/{invite_id}")]
async fn get_invite(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (org_id, invite_id) = path.into_inner();
    let invite = db::invites::find_in_org(state.db.conn(), &org_id, &invite_id)
        .await?
        .ok_or(ApiError::NotFound("invite"))?;
    Ok(HttpResponse::Ok().json(invite_json(&state, &invite).await?))
}

/// Mails a pending (or expired) invite again with a new link and seven more days; the old link
/// stops working.
#[utoipa::path(
    post,
    path = "/api/v1/organizations/{org_id}/invites/{invite_id}/resend",
    tag = "invites",
    params(("org_id" = String, Path), ("invite_id" = String, Path)),
    responses((status = 200, description = "OK", body = InviteJson), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[post("/api/v1/organizations/{org_id}/invites/{invite_id}/resend")]
async fn resend_invite(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (org_id, invite_id) = path.into_inner();
    Ok(HttpResponse::Ok().json(invites::resend(&state, &org_id, &invite_id).await?))
}

/// Revokes a pending invite: 200 with it (`status: revoked`); its link stops working.
#[utoipa::path(
    delete,
    path = "/api/v1/organizations/{org_id}/invites/{invite_id}",
    tag = "invites",
    params(("org_id" = String, Path), ("invite_id" = String, Path)),
    responses((status = 200, description = "OK", body = InviteJson), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[delete("/api/v1/organizations/{org_id}/invites/{invite_id}")]
async fn revoke_invite(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (org_id, invite_id) = path.into_inner();
    Ok(HttpResponse::Ok().json(invites::revoke(&state, &org_id, &invite_id).await?))
}

/// The OpenAPI description of this module's routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create_invites, list_invites, get_invite, resend_invite, revoke_invite))]
pub struct Doc;
