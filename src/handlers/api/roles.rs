//! Roles and their permissions (`/api/v1/roles`), users (`/api/v1/users/{user_id}`) and the
//! environment's branding (`/api/v1/branding`) in the management API.

use crate::db;
use crate::domain::{DisplayName, HexColor, ImageUrl, RoleName};
use crate::handlers::errors::ApiError;
use crate::manage::{self, BrandingUpdate, RoleUpdate};
use crate::principal::ApiClient;
use crate::state::AppState;
use crate::wire::roles::{BrandingJson, RoleJson};
use crate::wire::{Page, UserJson};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_roles)
        .service(create_role)
        .service(get_role)
        .service(update_role)
        .service(delete_role)
        .service(get_user)
        .service(update_user)
        .service(get_branding)
        .service(update_branding);
}

/// Every role with its permissions (one page: an environment has few roles).
#[utoipa::path(
    get,
    path = "/api/v1/roles",
    tag = "roles",
    responses((status = 200, description = "OK", body = Page<RoleJson>), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[get("/api/v1/roles")]
async fn list_roles(
    _client: ApiClient,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let conn = state.db.conn();
    let mut data = Vec::new();
    for role in db::roles::list(conn).await? {
        data.push(manage::role_json(conn, &role).await?);
    }
    Ok(HttpResponse::Ok().json(Page {
        data,
        next_cursor: None,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = CreateRole)]
#[serde(deny_unknown_fields)]
struct CreateRoleBody {
    name: Option<String>,
    display_name: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    permissions: Vec<String>,
}

fn display_name(v: &str) -> Result<String, ApiError> {
    DisplayName::parse(v)
        .map(DisplayName::into_string)
        .map_err(|e| ApiError::field("display_name", e.to_string()))
}

fn description(v: &str) -> Result<String, ApiError> {
    if v.chars().count() > 500 {
        return Err(ApiError::field(
            "description",
            "description must be at most 500 characters.",
        ));
    }
    Ok(v.trim().to_string())
}

/// Creates a custom role with any of the 12 permissions: 201. 409 when the name is taken.
#[utoipa::path(
    post,
    path = "/api/v1/roles",
    tag = "roles",
    request_body = CreateRoleBody,
    responses((status = 201, description = "Created", body = RoleJson), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[post("/api/v1/roles")]
async fn create_role(
    _client: ApiClient,
    state: web::Data<AppState>,
    body: web::Json<CreateRoleBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = RoleName::parse(body.name.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::field("name", e.to_string()))?;
    let display = display_name(body.display_name.as_deref().unwrap_or(name.as_str()))?;
    let permissions = manage::parse_permissions(&body.permissions)?;
    let role = manage::create_role(
        &state,
        name,
        display,
        description(&body.description)?,
        permissions,
    )
    .await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(role))
}

#[utoipa::path(
    get,
    path = "/api/v1/roles/{name}",
    tag = "roles",
    params(("name" = String, Path)),
    responses((status = 200, description = "OK", body = RoleJson), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[get("/api/v1/roles/{name}")]
async fn get_role(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let conn = state.db.conn();
    let role = db::roles::find_by_name(conn, &path)
        .await?
        .ok_or(ApiError::NotFound("role"))?;
    Ok(HttpResponse::Ok().json(manage::role_json(conn, &role).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = UpdateRole)]
#[serde(deny_unknown_fields)]
struct UpdateRoleBody {
    display_name: Option<String>,
    description: Option<String>,
    /// Replaces the role's permissions.
    permissions: Option<Vec<String>>,
}

/// Changes a role's display name, description or permissions (the admin role keeps all 12).
#[utoipa::path(
    patch,
    path = "/api/v1/roles/{name}",
    tag = "roles",
    params(("name" = String, Path)),
    request_body = UpdateRoleBody,
    responses((status = 200, description = "OK", body = RoleJson), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[patch("/api/v1/roles/{name}")]
async fn update_role(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<UpdateRoleBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let change = RoleUpdate {
        display_name: body.display_name.as_deref().map(display_name).transpose()?,
        description: body.description.as_deref().map(description).transpose()?,
        permissions: body
            .permissions
            .as_deref()
            .map(manage::parse_permissions)
            .transpose()?,
    };
    Ok(HttpResponse::Ok().json(manage::update_role(&state, &path, change).await?))
}

/// Deletes a custom role nobody has: 204. 409 for built-in roles and roles in use.
#[utoipa::path(
    delete,
    path = "/api/v1/roles/{name}",
    tag = "roles",
    params(("name" = String, Path)),
    responses((status = 204, description = "No content"), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[delete("/api/v1/roles/{name}")]
async fn delete_role(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    manage::delete_role(&state, &path).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    get,
    path = "/api/v1/users/{user_id}",
    tag = "roles",
    params(("user_id" = String, Path)),
    responses((status = 200, description = "OK", body = UserJson), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[get("/api/v1/users/{user_id}")]
async fn get_user(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = db::users::find(state.db.conn(), &path)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    Ok(HttpResponse::Ok().json(UserJson::from(&user)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = UpdateUser)]
#[serde(deny_unknown_fields)]
struct UpdateUserBody {
    name: Option<String>,
}

/// Changes a user's name.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{user_id}",
    tag = "roles",
    params(("user_id" = String, Path)),
    request_body = UpdateUserBody,
    responses((status = 200, description = "OK", body = UserJson), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[patch("/api/v1/users/{user_id}")]
async fn update_user(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<UpdateUserBody>,
) -> Result<HttpResponse, ApiError> {
    let name = DisplayName::parse(body.name.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::field("name", e.to_string()))?;
    let user = manage::rename_user(&state, &path, &name.into_string()).await?;
    Ok(HttpResponse::Ok().json(UserJson::from(&user)))
}

#[utoipa::path(
    get,
    path = "/api/v1/branding",
    tag = "roles",
    responses((status = 200, description = "OK", body = BrandingJson), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[get("/api/v1/branding")]
async fn get_branding(
    _client: ApiClient,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let env = db::environment::get(state.db.conn()).await?;
    Ok(HttpResponse::Ok().json(manage::branding_json(&env)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = UpdateBranding)]
#[serde(deny_unknown_fields)]
struct BrandingBody {
    name: Option<String>,
    #[serde(default, deserialize_with = "double")]
    logo_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "double")]
    favicon_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "double")]
    primary_color: Option<Option<String>>,
}

fn double<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn image(
    field: &'static str,
    v: Option<Option<String>>,
) -> Result<Option<Option<String>>, ApiError> {
    v.map(|o| {
        ImageUrl::parse_optional(o.as_deref().unwrap_or(""))
            .map(|u| u.map(ImageUrl::into_string))
            .map_err(|e| ApiError::field(field, e.to_string()))
    })
    .transpose()
}

/// Changes the environment's branding (shown on every hosted screen, widget and email):
/// `name`, `logo_url`, `favicon_url` (https), `primary_color` (`#rrggbb`); `null` clears one.
#[utoipa::path(
    patch,
    path = "/api/v1/branding",
    tag = "roles",
    request_body = BrandingBody,
    responses((status = 200, description = "OK", body = BrandingJson), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[patch("/api/v1/branding")]
async fn update_branding(
    _client: ApiClient,
    state: web::Data<AppState>,
    body: web::Json<BrandingBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let change = BrandingUpdate {
        name: body
            .name
            .as_deref()
            .map(|n| {
                DisplayName::parse(n)
                    .map(DisplayName::into_string)
                    .map_err(|e| ApiError::field("name", e.to_string()))
            })
            .transpose()?,
        logo_url: image("logo_url", body.logo_url)?,
        favicon_url: image("favicon_url", body.favicon_url)?,
        primary_color: body
            .primary_color
            .map(|o| {
                o.map(|c| {
                    HexColor::parse(&c)
                        .map(|h| h.as_str().to_string())
                        .map_err(|e| ApiError::field("primary_color", e.to_string()))
                })
                .transpose()
            })
            .transpose()?,
    };
    Ok(HttpResponse::Ok().json(manage::update_branding(&state, change).await?))
}

/// The OpenAPI description of this module's routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_roles,
    create_role,
    get_role,
    update_role,
    delete_role,
    get_user,
    update_user,
    get_branding,
    update_branding
))]
pub struct Doc;
