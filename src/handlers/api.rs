//! The management API under `/api/v1`, for the integrator's backend. Every route needs a bearer token
//! from the `client_credentials` grant ([`ApiClient`]). Domains are in `domains`, the event pull
//! API and stream in `events`.

mod domains;
mod events;
mod sessions;

use super::errors::ApiError;
use crate::actors::org::{AddMember, ChangeRole, RemoveMember};
use crate::actors::org_registry::Lookup;
use crate::db;
use crate::domain::{EmailAddress, RoleName};
use crate::principal::ApiClient;
use crate::state::AppState;
use crate::wire::{OrganizationJson, Page};
use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_organizations)
        .service(add_user)
        .service(update_user)
        .service(remove_user)
        .configure(domains::configure)
        .configure(events::configure)
        .configure(sessions::configure);
}

#[derive(Deserialize)]
struct ListQuery {
    after: Option<String>,
    limit: Option<u64>,
}

/// Lists organizations, oldest first, with cursor pagination.
#[get("/api/v1/organizations")]
async fn list_organizations(
    _client: ApiClient,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::field("limit", "limit must be between 1 and 100."));
    }
    let mut orgs = db::orgs::list(state.db.conn(), q.after.as_deref(), limit + 1).await?;
    let next_cursor = if orgs.len() as u64 > limit {
        orgs.truncate(limit as usize);
        orgs.last().map(|o| o.id.clone())
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(Page {
        data: orgs.iter().map(OrganizationJson::from).collect(),
        next_cursor,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddUserBody {
    email: Option<String>,
    name: Option<String>,
    role: Option<String>,
}

/// Adds a user (created if new) to an organization as an active member. `role` defaults to `member`.
/// Answers 201 with the membership, 200 if the user was already an active member (idempotent), or
/// 409 if they are a member with another role than the one asked for.
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
    let org = state
        .orgs
        .send(Lookup {
            org_id: path.into_inner(),
        })
        .await?;
    let added = org.send(AddMember { email, name, role }).await??;
    let status = if added.created {
        actix_web::http::StatusCode::CREATED
    } else {
        actix_web::http::StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(added.member))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateUserBody {
    role: Option<String>,
}

/// Changes a member's role: `{"role": "admin"}`. 200 with the membership as it now stands (also
/// when it already had that role); 404 for a user who is not a member; 409 when it would leave the
/// organization without an active admin; 422 for a missing or unknown role.
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
    let org = state.orgs.send(Lookup { org_id }).await?;
    let changed = org.send(ChangeRole { user_id, role }).await??;
    Ok(HttpResponse::Ok().json(changed.member))
}

/// Removes a member from the organization: 204. 404 for a user who is not a member (so a retry
/// after success answers 404); 409 for the last active admin.
#[delete("/api/v1/organizations/{org_id}/users/{user_id}")]
async fn remove_user(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (org_id, user_id) = path.into_inner();
    let org = state.orgs.send(Lookup { org_id }).await?;
    org.send(RemoveMember { user_id }).await??;
    Ok(HttpResponse::NoContent().finish())
}
