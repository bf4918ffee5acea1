//! The management API under `/api/v1`, for the integrator's backend. Every route needs a bearer token
//! from the `client_credentials` grant ([`ApiClient`]). Domains are in `domains`, the event pull
//! API and stream in `events`.

mod domains;
mod events;
mod invites;
pub mod openapi;
mod orgs;
mod roles;
mod sessions;

use super::errors::ApiError;
use crate::actors::org::{AddMember, ChangeRole, RemoveMember};
use crate::db;
use crate::domain::{EmailAddress, RoleName};
use crate::principal::ApiClient;
use crate::state::AppState;
use crate::wire::{MembershipEvent, OrganizationJson, Page};
use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_organizations)
        .service(add_user)
        .service(update_user)
        .service(remove_user)
        .configure(domains::configure)
        .configure(events::configure)
        .configure(sessions::configure)
        .configure(orgs::configure)
        .configure(invites::configure)
        .configure(roles::configure)
        .configure(openapi::configure);
}

#[derive(Deserialize)]
struct ListQuery {
    after: Option<String>,
    limit: Option<u64>,
    external_id: Option<String>,
}

/// The `limit` of a list: 50 unless asked, at most 100.
fn page_limit(limit: Option<u64>) -> Result<u64, ApiError> {
    let limit = limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::field("limit", "limit must be between 1 and 100."));
    }
    Ok(limit)
}

/// Trims a page fetched with `limit + 1` rows and returns the cursor of the next one.
fn next_cursor<T>(rows: &mut Vec<T>, limit: u64, key: impl Fn(&T) -> String) -> Option<String> {
    if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(key)
    } else {
        None
    }
}

/// Lists organizations, oldest first, with cursor pagination; `?external_id=` finds one by the
/// integrator's own id.
#[utoipa::path(
    get,
    path = "/api/v1/organizations",
    tag = "organizations",
    responses((status = 200, description = "OK", body = Page<OrganizationJson>), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations")]
async fn list_organizations(
    _client: ApiClient,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(q.limit)?;
    if let Some(ext) = &q.external_id {
        let found = db::orgs::find_by_external_id(state.db.conn(), ext).await?;
        return Ok(HttpResponse::Ok().json(Page {
            data: found.iter().map(OrganizationJson::from).collect(),
            next_cursor: None,
        }));
    }
    let mut orgs = db::orgs::list(state.db.conn(), q.after.as_deref(), limit + 1).await?;
    let next_cursor = next_cursor(&mut orgs, limit, |o| o.id.clone());
    Ok(HttpResponse::Ok().json(Page {
        data: orgs.iter().map(OrganizationJson::from).collect(),
        next_cursor,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = AddMember)]
#[serde(deny_unknown_fields)]
struct AddUserBody {
    email: Option<String>,
    name: Option<String>,
    role: Option<String>,
}

/// Adds a user (created if new) to an organization as an active member. `role` defaults to `member`.
/// Answers 201 with the membership, 200 if the user was already an active member (idempotent), or
/// 409 if they are a member with another role than the one asked for.
#[utoipa::path(
    post,
    path = "/api/v1/organizations/{org_id}/users",
    tag = "organizations",
    params(("org_id" = String, Path)),
    request_body = AddUserBody,
    responses((status = 201, description = "Created", body = MembershipEvent), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[post("/api/v1/organizations/{org_id}/users")]
async fn add_user(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<AddUserBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let email = body
        .email
        .as_deref()
        .ok_or_else(|| ApiError::field("email", "email is required."))
        .and_then(|e| {
            EmailAddress::parse(e).map_err(|err| ApiError::field("email", err.to_string()))
        })?;
    let name = body.name.unwrap_or_default();
    if name.chars().count() > 200 {
        return Err(ApiError::field(
            "name",
            "name must be at most 200 characters.",
        ));
    }
    let role = body
        .role
        .as_deref()
        .map(RoleName::parse)
        .transpose()
        .map_err(|e| ApiError::field("role", e.to_string()))?;
    let added = state
        .ask_org(&path.into_inner(), AddMember { email, name, role })
        .await?;
    let status = if added.created {
        actix_web::http::StatusCode::CREATED
    } else {
        actix_web::http::StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(added.member))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = ChangeMemberRole)]
#[serde(deny_unknown_fields)]
struct UpdateUserBody {
    role: Option<String>,
}

/// Changes a member's role: `{"role": "admin"}`. 200 with the membership as it now stands (also
/// when it already had that role); 404 for a user who is not a member; 409 when it would leave the
/// organization without an active admin; 422 for a missing or unknown role.
#[utoipa::path(
    patch,
    path = "/api/v1/organizations/{org_id}/users/{user_id}",
    tag = "organizations",
    params(("org_id" = String, Path), ("user_id" = String, Path)),
    request_body = UpdateUserBody,
    responses((status = 200, description = "OK", body = MembershipEvent), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[patch("/api/v1/organizations/{org_id}/users/{user_id}")]
async fn update_user(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<UpdateUserBody>,
) -> Result<HttpResponse, ApiError> {
    let (org_id, user_id) = path.into_inner();
    let role = body
        .role
        .as_deref()
        .ok_or_else(|| ApiError::field("role", "role is required."))
        .and_then(|r| RoleName::parse(r).map_err(|e| ApiError::field("role", e.to_string())))?;
    let changed = state.ask_org(&org_id, ChangeRole { user_id, role }).await?;
    Ok(HttpResponse::Ok().json(changed.member))
}

/// Removes a member from the organization: 204. 404 for a user who is not a member (so a retry
/// after success answers 404); 409 for the last active admin.
#[utoipa::path(
    delete,
    path = "/api/v1/organizations/{org_id}/users/{user_id}",
    tag = "organizations",
    params(("org_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204, description = "No content"), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[delete("/api/v1/organizations/{org_id}/users/{user_id}")]
async fn remove_user(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (org_id, user_id) = path.into_inner();
    state.ask_org(&org_id, RemoveMember { user_id }).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The OpenAPI description of this module's routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_organizations, add_user, update_user, remove_user))]
pub struct Doc;
