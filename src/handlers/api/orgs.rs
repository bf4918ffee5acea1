//! Organizations in the management API: create, get (by id or external id), update, delete, list;
//! their feature switches; their members. Every route needs a management-API bearer token.

use crate::actors::org::{DeleteOrganization, SetFeatures, UpdateSettings};
use crate::db::{self, orgs::OrganizationUpdate};
use crate::domain::{DisplayName, Feature, ImageUrl, parse_allowed_domains};
use crate::handlers::errors::ApiError;
use crate::manage::{self, NewOrganization};
use crate::principal::ApiClient;
use crate::state::AppState;
use crate::wire::{MembershipEvent, OrganizationJson, Page};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;
use std::collections::BTreeMap;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_organization)
        .service(get_organization)
        .service(update_organization)
        .service(delete_organization)
        .service(get_features)
        .service(set_features)
        .service(list_members);
}

/// An organization with its enabled features.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct OrganizationWithFeatures {
    #[serde(flatten)]
    pub organization: OrganizationJson,
    #[schema(value_type = BTreeMap<String, bool>)]
    pub features: BTreeMap<&'static str, bool>,
}

pub fn feature_map(enabled: &[Feature]) -> BTreeMap<&'static str, bool> {
    Feature::ALL
        .into_iter()
        .map(|f| (f.as_str(), enabled.contains(&f)))
        .collect()
}

async fn with_features(
    state: &AppState,
    org: &db::orgs::Organization,
) -> Result<OrganizationWithFeatures, ApiError> {
    let features = db::orgs::enabled_features(state.db.conn(), &org.id).await?;
    Ok(OrganizationWithFeatures {
        organization: OrganizationJson::from(org),
        features: feature_map(&features),
    })
}

fn parse_features(map: &BTreeMap<String, bool>) -> Result<Vec<(Feature, bool)>, ApiError> {
    map.iter()
        .map(|(k, v)| {
            Feature::parse(k)
                .map(|f| (f, *v))
                .map_err(|e| ApiError::field("features", e.to_string()))
        })
        .collect()
}

fn parse_max_users(v: Option<i64>) -> Result<Option<i32>, ApiError> {
    match v {
        None => Ok(None),
        Some(n) if (1..=1_000_000).contains(&n) => Ok(Some(n as i32)),
        Some(_) => Err(ApiError::field(
            "max_users",
            "max_users must be between 1 and 1000000, or null for no limit.",
        )),
    }
}

fn parse_external_id(v: &str) -> Result<String, ApiError> {
    let v = v.trim();
    if v.is_empty() || v.len() > 255 {
        return Err(ApiError::field(
            "external_id",
            "external_id must be 1 to 255 characters.",
        ));
    }
    Ok(v.to_string())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = CreateOrganization)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: Option<String>,
    external_id: Option<String>,
    max_users: Option<i64>,
    #[serde(default)]
    features: BTreeMap<String, bool>,
}

/// Creates an organization: 201. 409 when the external id is taken.
#[utoipa::path(
    post,
    path = "/api/v1/organizations",
    tag = "organizations",
    request_body = CreateBody,
    responses((status = 201, description = "Created", body = OrganizationWithFeatures), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[post("/api/v1/organizations")]
async fn create_organization(
    _client: ApiClient,
    state: web::Data<AppState>,
    body: web::Json<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = DisplayName::parse(body.name.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::field("name", e.to_string()))?;
    let external_id = body
        .external_id
        .as_deref()
        .map(parse_external_id)
        .transpose()?;
    let features = parse_features(&body.features)?
        .into_iter()
        .filter_map(|(f, on)| on.then_some(f))
        .collect();
    let org = manage::create_organization(
        &state,
        NewOrganization {
            name: name.into_string(),
            external_id,
            max_users: parse_max_users(body.max_users)?,
            features,
        },
    )
    .await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(with_features(&state, &org).await?))
}

/// An organization by id, or by external id with `external:<id>` (e.g. `external:acme`).
async fn find_org(state: &AppState, key: &str) -> Result<db::orgs::Organization, ApiError> {
    let conn = state.db.conn();
    let found = match key.strip_prefix("external:") {
        Some(ext) => db::orgs::find_by_external_id(conn, ext).await?,
        None => db::orgs::find(conn, key).await?,
    };
    found.ok_or(ApiError::NotFound("organization"))
}

/// One organization with its features. `{org_id}` may be `external:<external id>`.
#[utoipa::path(
    get,
    path = "/api/v1/organizations/{org_id}",
    tag = "organizations",
    params(("org_id" = String, Path)),
    responses((status = 200, description = "OK", body = OrganizationWithFeatures), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{org_id}")]
async fn get_organization(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = find_org(&state, &path).await?;
    Ok(HttpResponse::Ok().json(with_features(&state, &org).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = UpdateOrganization)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    name: Option<String>,
    /// `null` clears it.
    #[serde(default, with = "double_option")]
    external_id: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    logo_url: Option<Option<String>>,
    allowed_email_domains: Option<Vec<String>>,
    #[serde(default, with = "double_option")]
    max_users: Option<Option<i64>>,
}

/// `absent` → None, `null` → Some(None), value → Some(Some(v)).
mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// Changes an organization's name, external id, logo, allowed email domains or seat limit.
#[utoipa::path(
    patch,
    path = "/api/v1/organizations/{org_id}",
    tag = "organizations",
    params(("org_id" = String, Path)),
    request_body = UpdateBody,
    responses((status = 200, description = "OK", body = OrganizationWithFeatures), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[patch("/api/v1/organizations/{org_id}")]
async fn update_organization(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<UpdateBody>,
) -> Result<HttpResponse, ApiError> {
    let org = find_org(&state, &path).await?;
    let body = body.into_inner();
    let change = OrganizationUpdate {
        name: body
            .name
            .as_deref()
            .map(DisplayName::parse)
            .transpose()
            .map_err(|e| ApiError::field("name", e.to_string()))?
            .map(DisplayName::into_string),
        external_id: body
            .external_id
            .map(|o| o.as_deref().map(parse_external_id).transpose())
            .transpose()?,
        logo_url: body
            .logo_url
            .map(|o| {
                ImageUrl::parse_optional(o.as_deref().unwrap_or(""))
                    .map(|u| u.map(ImageUrl::into_string))
            })
            .transpose()
            .map_err(|e| ApiError::field("logo_url", e.to_string()))?,
        allowed_email_domains: body
            .allowed_email_domains
            .map(|list| parse_allowed_domains(&list.join("\n")))
            .transpose()
            .map_err(|e| ApiError::field("allowed_email_domains", e.to_string()))?,
        max_users: body.max_users.map(parse_max_users).transpose()?,
    };
    let org = state.ask_org(&org.id, UpdateSettings { change }).await?;
    Ok(HttpResponse::Ok().json(with_features(&state, &org).await?))
}

/// Deletes an organization with its memberships, invites and domains: 204.
#[utoipa::path(
    delete,
    path = "/api/v1/organizations/{org_id}",
    tag = "organizations",
    params(("org_id" = String, Path)),
    responses((status = 204, description = "No content"), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[delete("/api/v1/organizations/{org_id}")]
async fn delete_organization(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = find_org(&state, &path).await?;
    state.ask_org(&org.id, DeleteOrganization).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The organization's features: `{"sso": false, "dir_sync": false, …}`.
#[utoipa::path(
    get,
    path = "/api/v1/organizations/{org_id}/features",
    tag = "organizations",
    params(("org_id" = String, Path)),
    responses((status = 200, description = "OK", body = BTreeMap<String, bool>), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{org_id}/features")]
async fn get_features(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = find_org(&state, &path).await?;
    let features = db::orgs::enabled_features(state.db.conn(), &org.id).await?;
    Ok(HttpResponse::Ok().json(feature_map(&features)))
}

/// Switches features: `{"sso": true, "session_policy": false}`; features not named keep their
/// state. Answers all features as they now stand.
#[utoipa::path(
    patch,
    path = "/api/v1/organizations/{org_id}/features",
    tag = "organizations",
    params(("org_id" = String, Path)),
    request_body = BTreeMap<String, bool>,
    responses((status = 200, description = "OK", body = BTreeMap<String, bool>), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[patch("/api/v1/organizations/{org_id}/features")]
async fn set_features(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<BTreeMap<String, bool>>,
) -> Result<HttpResponse, ApiError> {
    let org = find_org(&state, &path).await?;
    let features = parse_features(&body)?;
    let enabled = state.ask_org(&org.id, SetFeatures { features }).await?;
    Ok(HttpResponse::Ok().json(feature_map(&enabled)))
}

#[derive(Deserialize)]
struct MembersQuery {
    after: Option<String>,
    limit: Option<u64>,
    q: Option<String>,
}

/// The organization's members (active and invited), oldest first, cursor-paginated; `q` searches
/// names and addresses.
#[utoipa::path(
    get,
    path = "/api/v1/organizations/{org_id}/users",
    tag = "organizations",
    params(("org_id" = String, Path)),
    responses((status = 200, description = "OK", body = Page<MembershipEvent>), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{org_id}/users")]
async fn list_members(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<MembersQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = find_org(&state, &path).await?;
    let limit = super::page_limit(q.limit)?;
    let conn = state.db.conn();
    let mut rows =
        db::members::list(conn, &org.id, q.q.as_deref(), q.after.as_deref(), limit + 1).await?;
    let next_cursor = super::next_cursor(&mut rows, limit, |r| r.membership_id.clone());
    let mut data = Vec::with_capacity(rows.len());
    let mut cache: BTreeMap<String, crate::domain::PermissionSet> = BTreeMap::new();
    for r in &rows {
        let perms = match cache.get(&r.role_id) {
            Some(p) => *p,
            None => {
                let p = db::roles::permissions_of(conn, &r.role_id).await?;
                cache.insert(r.role_id.clone(), p);
                p
            }
        };
        data.push(MembershipEvent::new(r, perms));
    }
    Ok(HttpResponse::Ok().json(Page { data, next_cursor }))
}

/// The OpenAPI description of this module's routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_organization,
    get_organization,
    update_organization,
    delete_organization,
    get_features,
    set_features,
    list_members
))]
pub struct Doc;
