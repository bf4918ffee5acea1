//! The principal of a request, built once: a signed-in [`Viewer`] (session cookie) for the hosted
//! screens and widgets, or an [`ApiClient`] (bearer token from `client_credentials`) for the
//! management API. Authorization then reads as words: `viewer.require(Permission::OrgUsersRead)?`.

use crate::db::{self, orgs::Organization, sessions::Session, users::User};
use crate::domain::{Feature, Permission, PermissionSet};
use crate::handlers::errors::{ApiError, PageError};
use crate::live::Widget;
use crate::state::AppState;
use crate::{access, web};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web::Data};
use futures_util::future::LocalBoxFuture;

/// A signed-in user, in the organization their session is for.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub session: Session,
    pub user: User,
    /// The session's organization, if the user is still an active member of it.
    pub org: Option<Organization>,
    pub role_name: Option<String>,
    pub permissions: PermissionSet,
    pub features: Vec<Feature>,
}

impl Viewer {
    pub fn has(&self, permission: Permission) -> bool {
        self.permissions.contains(permission)
    }

    /// The organization, or a friendly 403 when the user belongs to none.
    pub fn org(&self) -> Result<&Organization, PageError> {
        self.org.as_ref().ok_or(PageError::Forbidden(
            "You are not a member of an organization yet.",
        ))
    }

    /// Refuses unless the user may open `widget` (its read permission and the org's feature).
    pub fn require_widget(&self, widget: Widget) -> Result<&Organization, PageError> {
        let org = self.org()?;
        if access::can_open(widget, self.permissions, &self.features) {
            Ok(org)
        } else {
            Err(PageError::Forbidden(
                "Your role does not include this page, or your organization has not enabled it. Ask an administrator if you need it.",
            ))
        }
    }

    /// Refuses a write without `permission`.
    pub fn require(&self, permission: Permission) -> Result<&Organization, PageError> {
        let org = self.org()?;
        if self.has(permission) {
            Ok(org)
        } else {
            Err(PageError::Forbidden(
                "Your role does not allow this change.",
            ))
        }
    }

    /// Loads the viewer for a session token, or `None` when the session is missing, revoked or expired.
    pub async fn load(state: &AppState, token: &str) -> anyhow::Result<Option<Self>> {
        let conn = state.db.conn();
        let Some(session) =
            db::sessions::find_live_by_token_hash(conn, &crate::crypto::token_hash(token)).await?
        else {
            return Ok(None);
        };
        let Some(user) = db::users::find(conn, &session.user_id)
            .await?
            .filter(|u| !u.disabled)
        else {
            return Ok(None);
        };
        // Activity keeps an idle session alive (written at most once a minute).
        db::sessions::touch(conn, &session, db::now_ms()).await?;
        let mut viewer = Viewer {
            session,
            user,
            org: None,
            role_name: None,
            permissions: PermissionSet::default(),
            features: Vec::new(),
        };
        if let Some(org_id) = viewer.session.organization_id.clone()
            && let Some(membership) = db::members::find(conn, &org_id, &viewer.user.id).await?
            && membership.status == db::members::ACTIVE
        {
            viewer.org = db::orgs::find(conn, &org_id).await?;
            viewer.permissions = db::roles::permissions_of(conn, &membership.role_id).await?;
            viewer.role_name = db::roles::find(conn, &membership.role_id)
                .await?
                .map(|r| r.name);
            viewer.features = db::orgs::enabled_features(conn, &org_id).await?;
        }
        Ok(Some(viewer))
    }
}

/// Where to send a browser that needs to sign in before it can see `target` (a local path):
/// the environment's initiate-login URI (OIDC third-party-initiated login, with `iss` and
/// `target_link_uri`), or Portal's own sign-in page.
pub async fn login_location(state: &AppState, target: &str) -> String {
    let env = db::environment::get(state.db.conn()).await.ok();
    match env.and_then(|e| e.initiate_login_uri) {
        Some(uri) => {
            let mut url = match url::Url::parse(&uri) {
                Ok(url) => url,
                Err(_) => return own_login(target),
            };
            url.query_pairs_mut()
                .append_pair("iss", state.issuer())
                .append_pair("target_link_uri", &state.url(target));
            url.to_string()
        }
        None => own_login(target),
    }
}

fn own_login(target: &str) -> String {
    format!("/a/auth/login?return_to={}", urlencode(target))
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn app_state(req: &HttpRequest) -> Result<Data<AppState>, anyhow::Error> {
    req.app_data::<Data<AppState>>()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("application state is not configured"))
}

impl FromRequest for Viewer {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = app_state(&req)?;
            let target = req
                .uri()
                .path_and_query()
                .map(|pq| pq.as_str().to_string())
                .unwrap_or_else(|| "/ui/".into());
            let target = web::safe_return_path(&target).unwrap_or("/ui/").to_string();
            let viewer = match web::session_token(&req, &state) {
                Some(token) => Viewer::load(&state, &token).await?,
                None => None,
            };
            match viewer {
                // A user of several organizations who has not picked one yet picks first.
                Some(viewer)
                    if viewer.session.organization_id.is_none()
                        && crate::oauth::authorize::needs_org_choice(
                            &state,
                            None,
                            &viewer.session,
                        )
                        .await? =>
                {
                    Err(PageError::LoginRequired {
                        location: format!("/a/auth/organization?return_to={}", urlencode(&target)),
                    })
                }
                Some(viewer) => Ok(viewer),
                None => Err(PageError::LoginRequired {
                    location: login_location(&state, &target).await,
                }),
            }
        })
    }
}

/// The audience of management-API access tokens.
pub fn management_audience(state: &AppState) -> String {
    state.url("/api/v1")
}

/// An integrator's backend, authenticated by an access token from the `client_credentials` grant.
#[derive(Debug, Clone)]
pub struct ApiClient {
    pub client_id: String,
}

impl FromRequest for ApiClient {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = app_state(&req)?;
            let token = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .map(str::trim)
                .ok_or(ApiError::Unauthorized(
                    "Send an access token from the client_credentials grant as a Bearer token.",
                ))?;
            let claims = state
                .keys
                .verify_jwt(token, crate::oauth::claims::ACCESS_TOKEN_TYP)
                .map_err(|_| ApiError::Unauthorized("The access token is invalid."))?;
            let claims: crate::oauth::claims::AccessClaims = serde_json::from_value(claims)
                .map_err(|_| ApiError::Unauthorized("The access token is invalid."))?;
            if claims.exp <= chrono::Utc::now().timestamp() {
                return Err(ApiError::Unauthorized("The access token has expired."));
            }
            if claims.iss != state.issuer()
                || claims.aud != management_audience(&state)
                || claims.sid.is_some()
            {
                return Err(ApiError::Unauthorized(
                    "This token is not for the management API.",
                ));
            }
            let client = db::clients::find(state.db.conn(), &claims.client_id)
                .await?
                .filter(|c| c.allows_grant("client_credentials"))
                .ok_or(ApiError::Unauthorized(
                    "The client of this token no longer exists.",
                ))?;
            Ok(ApiClient {
                client_id: client.id,
            })
        })
    }
}
