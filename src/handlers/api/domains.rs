//! `/api/v1/organizations/{org_id}/domains` and the domain-join policy, for the integrator's
//! backend (bearer token from `client_credentials`). A domain id of another organization answers
//! 404, as an unknown one does.

use crate::db;
use crate::domain::{DomainJoinPolicy, DomainName};
use crate::domains::manage::{self, VerifyMethod};
use crate::handlers::errors::ApiError;
use crate::principal::ApiClient;
use crate::state::AppState;
use crate::wire::Page;
use crate::wire::domains::{DomainJoinPolicyJson, DomainJson};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_domain)
        .service(list_domains)
        .service(get_domain)
        .service(delete_domain)
        .service(verify_domain)
        .service(set_join_policy);
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = CreateDomain)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    domain: Option<String>,
    #[serde(default)]
    include_subdomains: bool,
}

/// Adds a domain to verify and returns it with the TXT record to publish (`txt_record.name`,
/// `txt_record.value`): 201, or 200 when the organization already had it. 422 for a name that is
/// not a domain or is a public mail provider; 409 when another organization has it verified.
#[utoipa::path(
    post,
    path = "/api/v1/organizations/{org_id}/domains",
    tag = "domains",
    params(("org_id" = String, Path)),
    request_body = CreateBody,
    responses((status = 201, description = "Created", body = DomainJson), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[post("/api/v1/organizations/{org_id}/domains")]
async fn create_domain(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let domain = body
        .domain
        .as_deref()
        .ok_or_else(|| ApiError::field("domain", "domain is required."))
        .and_then(|d| DomainName::parse(d).map_err(|e| ApiError::field("domain", e.to_string())))?;
    if domain.is_public_mail_provider() {
        return Err(ApiError::field(
            "domain",
            format!("{domain} is a public email provider; an organization cannot own it."),
        ));
    }
    let added = manage::add(&state, &path, domain, body.include_subdomains).await?;
    let status = if added.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(DomainJson::from(&added.domain)))
}

/// The organization's domains, in the order they were added (one page: an organization has few).
#[utoipa::path(
    get,
    path = "/api/v1/organizations/{org_id}/domains",
    tag = "domains",
    params(("org_id" = String, Path)),
    responses((status = 200, description = "OK", body = Page<DomainJson>), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{org_id}/domains")]
async fn list_domains(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let conn = state.db.conn();
    if db::orgs::find(conn, &path).await?.is_none() {
        return Err(ApiError::NotFound("organization"));
    }
    let rows = db::domains::list_for_org(conn, &path).await?;
    Ok(HttpResponse::Ok().json(Page {
        data: rows.iter().map(DomainJson::from).collect(),
        next_cursor: None,
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/organizations/{org_id}/domains/{domain_id}",
    tag = "domains",
    params(("org_id" = String, Path), ("domain_id" = String, Path)),
    responses((status = 200, description = "OK", body = DomainJson), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[get("/api/v1/organizations/{org_id}/domains/{domain_id}")]
async fn get_domain(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (org_id, domain_id) = path.into_inner();
    let domain = db::domains::find_in_org(state.db.conn(), &org_id, &domain_id)
        .await?
        .ok_or(ApiError::NotFound("domain"))?;
    Ok(HttpResponse::Ok().json(DomainJson::from(&domain)))
}

/// Deletes a domain: 204.
#[utoipa::path(
    delete,
    path = "/api/v1/organizations/{org_id}/domains/{domain_id}",
    tag = "domains",
    params(("org_id" = String, Path), ("domain_id" = String, Path)),
    responses((status = 204, description = "No content"), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[delete("/api/v1/organizations/{org_id}/domains/{domain_id}")]
async fn delete_domain(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (org_id, domain_id) = path.into_inner();
    manage::delete(&state, &org_id, &domain_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    method: Option<String>,
}

/// Checks the TXT record now and answers with the domain as it stands afterwards (200 whatever
/// DNS said; the status and `last_check` tell). With `{"method": "admin"}` the integrator vouches
/// for the domain: verified at once, without DNS, `verification_method: admin`. 409 when another
/// organization has it verified, or the verification expired.
#[utoipa::path(
    post,
    path = "/api/v1/organizations/{org_id}/domains/{domain_id}/verify",
    tag = "domains",
    params(("org_id" = String, Path), ("domain_id" = String, Path)),
    responses((status = 200, description = "OK", body = DomainJson), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[post("/api/v1/organizations/{org_id}/domains/{domain_id}/verify")]
async fn verify_domain(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (org_id, domain_id) = path.into_inner();
    // The body is optional: an empty one means a DNS check.
    let body: VerifyBody = if body.iter().all(u8::is_ascii_whitespace) {
        VerifyBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::invalid(format!("The request body is not valid JSON: {e}")))?
    };
    let method = match body.method.as_deref() {
        None | Some("dns") => VerifyMethod::Dns,
        Some("admin") => VerifyMethod::Admin,
        Some(_) => {
            return Err(ApiError::field(
                "method",
                "method must be \"dns\" or \"admin\".",
            ));
        }
    };
    let domain = manage::verify(&state, &org_id, &domain_id, method).await?;
    Ok(HttpResponse::Ok().json(DomainJson::from(&domain)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = DomainJoinPolicy)]
#[serde(deny_unknown_fields)]
struct PolicyBody {
    policy: Option<String>,
}

/// Sets what sign-ups on the organization's verified domains do: `off`, `suggest` (offer to join
/// after sign-up) or `auto` (join as a member at once).
#[utoipa::path(
    put,
    path = "/api/v1/organizations/{org_id}/domain-join-policy",
    tag = "domains",
    params(("org_id" = String, Path)),
    request_body = PolicyBody,
    responses((status = 200, description = "OK", body = DomainJoinPolicyJson), (status = 401, description = "Missing or invalid bearer token", body = crate::handlers::api::openapi::ErrorDoc), (status = 404, description = "Not found", body = crate::handlers::api::openapi::ErrorDoc), (status = 409, description = "Conflict", body = crate::handlers::api::openapi::ErrorDoc), (status = 422, description = "Invalid input", body = crate::handlers::api::openapi::ErrorDoc)),
    security(("bearer" = []))
)]
#[put("/api/v1/organizations/{org_id}/domain-join-policy")]
async fn set_join_policy(
    _client: ApiClient,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<PolicyBody>,
) -> Result<HttpResponse, ApiError> {
    let policy = body
        .policy
        .as_deref()
        .ok_or_else(|| ApiError::field("policy", "policy is required."))
        .and_then(|p| {
            DomainJoinPolicy::parse(p).map_err(|e| ApiError::field("policy", e.to_string()))
        })?;
    let org = manage::set_join_policy(&state, &path, policy).await?;
    Ok(HttpResponse::Ok().json(DomainJoinPolicyJson {
        organization_id: org.id,
        domain_join_policy: org.domain_join_policy,
    }))
}

/// The OpenAPI description of this module's routes.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_domain,
    list_domains,
    get_domain,
    delete_domain,
    verify_domain,
    set_join_policy
))]
pub struct Doc;
