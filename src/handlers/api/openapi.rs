//! `/api/v1/openapi.json`: the OpenAPI 3.1 description of the management API, generated from the
//! route handlers' own annotations (`utoipa`) when the document is asked for, so it cannot drift
//! from the code. Public: it describes the API, it grants nothing.

use actix_web::{HttpResponse, get, web};
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

/// The error body every API error has.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorDoc {
    pub error: ErrorDetailDoc,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = ErrorDetail)]
pub struct ErrorDetailDoc {
    /// `invalid_request`, `unauthorized`, `forbidden`, `not_found`, `conflict` or `internal_error`.
    pub code: String,
    pub message: String,
    /// The request field at fault, for validation errors.
    pub field: Option<String>,
}

#[derive(OpenApi)]
#[openapi(info(
    title = "Portal management API",
    description = "Organizations, members, invites, roles, features, branding, domains and webhooks. \
Authenticate with `Authorization: Bearer <access token from the client_credentials grant>`. \
Lists are cursor-paginated: pass `next_cursor` as `after`."
))]
struct Root;

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = Root::openapi();
    doc.merge(super::Doc::openapi());
    doc.merge(super::orgs::Doc::openapi());
    doc.merge(super::invites::Doc::openapi());
    doc.merge(super::roles::Doc::openapi());
    doc.merge(super::domains::Doc::openapi());
    doc.merge(crate::handlers::webhooks::Doc::openapi());
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    doc
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(openapi_json);
}

/// The OpenAPI document. Public.
#[get("/api/v1/openapi.json")]
async fn openapi_json() -> Result<HttpResponse, super::ApiError> {
    let json = document()
        .to_json()
        .map_err(|e| super::ApiError::Internal(anyhow::anyhow!("openapi: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(json))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_describes_every_management_route() {
        let doc = super::document();
        let json = doc.to_json().expect("serializes");
        for path in [
            "/api/v1/organizations",
            "/api/v1/organizations/{org_id}",
            "/api/v1/organizations/{org_id}/features",
            "/api/v1/organizations/{org_id}/users/{user_id}",
            "/api/v1/organizations/{org_id}/invites/{invite_id}/resend",
            "/api/v1/roles/{name}",
            "/api/v1/users/{user_id}",
            "/api/v1/branding",
            "/api/v1/organizations/{org_id}/domains",
            "/api/v1/webhooks/{id}/replay",
        ] {
            assert!(doc.paths.paths.contains_key(path), "{path}");
        }
        for schema in [
            "OrganizationJson",
            "InviteJson",
            "RoleJson",
            "CreateRole",
            "Error",
        ] {
            assert!(json.contains(&format!("\"{schema}\"")), "{schema}");
        }
    }
}
