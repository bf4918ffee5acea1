//! The OAuth/OIDC endpoints: discovery, JWKS, authorize, token, userinfo, logout.

use super::errors::{OAuthError, PageError};
use super::{brand, html, see_other};
use crate::db;
use crate::oauth::authorize::{self, AuthorizeError, AuthorizeParams};
use crate::oauth::claims::{ACCESS_TOKEN_TYP, AccessClaims};
use crate::oauth::logout::{self, LogoutParams};
use crate::oauth::token::{self, TokenForm};
use crate::oauth::{SUPPORTED_SCOPES, has_scope};
use crate::principal::{Viewer, urlencode};
use crate::state::AppState;
use crate::views;
use crate::web::{Csrf, clear_session_cookie, session_token};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(discovery)
        .service(jwks)
        .service(authorize_endpoint)
        .service(token_endpoint)
        .service(
            web::resource("/oauth/userinfo")
                .route(web::get().to(userinfo))
                .route(web::post().to(userinfo)),
        )
        .service(logout_page)
        .service(logout_submit);
}

/// OpenID Provider metadata (OIDC Discovery 1.0 §3). Public.
#[get("/.well-known/openid-configuration")]
async fn discovery(state: web::Data<AppState>) -> HttpResponse {
    let issuer = state.issuer();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/oauth/authorize"),
            "token_endpoint": format!("{issuer}/oauth/token"),
            "userinfo_endpoint": format!("{issuer}/oauth/userinfo"),
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "end_session_endpoint": format!("{issuer}/oidc/logout"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": SUPPORTED_SCOPES,
            "claims_supported": [
                "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid", "email", "email_verified",
                "name", "given_name", "family_name", "oid", "roles", "permissions"
            ],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "prompt_values_supported": ["none", "login", "create"],
            "authorization_response_iss_parameter_supported": true,
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
            "frontchannel_logout_supported": false,
        }))
}

/// The public signing keys. Public.
#[get("/.well-known/jwks.json")]
async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(state.keys.jwks())
}

fn found(location: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// Starts a sign-in for a registered client. Public; the client and redirect URI are checked first.
#[get("/oauth/authorize")]
async fn authorize_endpoint(
    req: HttpRequest,
    state: web::Data<AppState>,
    params: web::Query<AuthorizeParams>,
) -> Result<HttpResponse, PageError> {
    let validated = match authorize::validate(&state, params.into_inner()).await {
        Ok(v) => v,
        Err(AuthorizeError::Page(err)) => return Err(err),
        Err(AuthorizeError::Redirect(url)) => return Ok(found(&url)),
    };
    let request = validated.request;
    let viewer = match session_token(&req, &state) {
        Some(token) => Viewer::load(&state, &token).await?,
        None => None,
    };
    if let Some(viewer) = &viewer
        && authorize::session_satisfies(&request, &viewer.session)
    {
        if authorize::prompt_has(&request, "none")
            && authorize::needs_org_choice(
                &state,
                request.organization_id.as_deref(),
                &viewer.session,
            )
            .await?
        {
            db::oauth::delete_request(state.db.conn(), &request.id).await?;
            return Ok(found(&authorize::interaction_required(&state, &request)));
        }
        let url = authorize::proceed(&state, &request, &viewer.session).await?;
        return Ok(found(&url));
    }
    if authorize::prompt_has(&request, "none") {
        db::oauth::delete_request(state.db.conn(), &request.id).await?;
        return Ok(found(&authorize::login_required(&state, &request)));
    }
    let screen = if authorize::prompt_has(&request, "create") {
        "/a/auth/signup"
    } else {
        "/a/auth/login"
    };
    Ok(found(&format!(
        "{screen}?request={}",
        urlencode(&request.id)
    )))
}

/// Exchanges a grant for tokens. Client authentication: Basic, form secret, or PKCE for public clients.
#[post("/oauth/token")]
async fn token_endpoint(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(OAuthError::invalid_request(
            "Send the request as application/x-www-form-urlencoded.",
        ));
    }
    let form: TokenForm = serde_urlencoded::from_bytes(&body)
        .map_err(|_| OAuthError::invalid_request("The request body is not a valid form."))?;
    let basic = token::basic_credentials(
        req.headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    )?;
    let response = token::exchange(&state, basic, form).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(response))
}

/// Claims about the user behind an access token (OIDC Core §5.3). Needs a user access token whose
/// session is still live.
async fn userinfo(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let unauthorized = |error: &str| {
        HttpResponse::Unauthorized()
            .insert_header((
                header::WWW_AUTHENTICATE,
                format!("Bearer error=\"{error}\""),
            ))
            .finish()
    };
    let Some(token) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return unauthorized("invalid_request");
    };
    let Ok(claims) = state.keys.verify_jwt(token.trim(), ACCESS_TOKEN_TYP) else {
        return unauthorized("invalid_token");
    };
    let Ok(claims) = serde_json::from_value::<AccessClaims>(claims) else {
        return unauthorized("invalid_token");
    };
    if claims.exp <= chrono::Utc::now().timestamp() || claims.iss != state.issuer() {
        return unauthorized("invalid_token");
    }
    let Some(sid) = &claims.sid else {
        return unauthorized("invalid_token");
    };
    let conn = state.db.conn();
    let live = match db::sessions::find(conn, sid).await {
        Ok(Some(s)) => db::sessions::is_live(&s, db::now_ms()),
        Ok(None) => false,
        Err(err) => {
            tracing::error!(error = %err, "userinfo lookup failed");
            return HttpResponse::InternalServerError().finish();
        }
    };
    let user = match db::users::find(conn, &claims.sub).await {
        Ok(Some(u)) if live && !u.disabled => u,
        Ok(_) => return unauthorized("invalid_token"),
        Err(err) => {
            tracing::error!(error = %err, "userinfo lookup failed");
            return HttpResponse::InternalServerError().finish();
        }
    };
    let mut body = serde_json::json!({ "sub": user.id });
    if has_scope(&claims.scope, "email") {
        body["email"] = user.email.into();
        body["email_verified"] = user.email_verified.into();
    }
    if has_scope(&claims.scope, "profile") {
        body["name"] = user.name.into();
        body["given_name"] = user.given_name.into();
        body["family_name"] = user.family_name.into();
    }
    if let Some(oid) = claims.oid {
        body["oid"] = oid.into();
        body["roles"] = claims.roles.into();
        body["permissions"] = claims.permissions.into();
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

/// RP-initiated logout (OIDC RP-Initiated Logout 1.0). With a valid `id_token_hint` it signs out at
/// once and returns to the client's registered `post_logout_redirect_uri`; otherwise it asks first, so
/// a link on another site cannot sign anyone out. Public.
#[get("/oidc/logout")]
async fn logout_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<LogoutParams>,
) -> Result<HttpResponse, PageError> {
    let request = logout::validate(&state, q.into_inner()).await?;
    let viewer = match session_token(&req, &state) {
        Some(token) => Viewer::load(&state, &token).await?,
        None => None,
    };
    if let Some(hint) = &request.hint {
        logout::end_hinted_session(&state, hint).await?;
        let mut res = found(&request.destination());
        if let Some(viewer) = viewer.filter(|v| v.user.id == hint.sub) {
            state
                .sessions
                .end(&[viewer.session], crate::sessions::EndReason::Logout)
                .await?;
            res.add_cookie(&clear_session_cookie(&state))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        return Ok(res);
    }
    let brand = brand(&state).await?;
    let csrf = Csrf::for_request(&req, &state);
    let mut res = html(views::auth::logout_confirm(&views::auth::LogoutView {
        brand: &brand,
        csrf: &csrf.token,
        signed_in: viewer.is_some(),
        client_id: request.client_id.as_deref(),
        post_logout_redirect_uri: request.post_logout_redirect_uri.as_deref(),
        state: request.state.as_deref(),
        return_href: request
            .post_logout_redirect_uri
            .as_ref()
            .map(|_| request.destination()),
    }));
    if let Some(cookie) = csrf.new_cookie {
        res.add_cookie(&cookie)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(res)
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

/// Ends the current session from the confirmation form. Needs the form's CSRF token.
#[post("/oidc/logout")]
async fn logout_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LogoutForm>,
) -> Result<HttpResponse, PageError> {
    if !Csrf::verify(&req, &state, &form.csrf) {
        return Err(PageError::BadRequest(
            "This sign-out form has expired. Go back, reload the page and try again.".into(),
        ));
    }
    let form = form.into_inner();
    let request = logout::validate(
        &state,
        LogoutParams {
            id_token_hint: None,
            post_logout_redirect_uri: form.post_logout_redirect_uri,
            state: form.state,
            client_id: form.client_id,
        },
    )
    .await?;
    if let Some(token) = session_token(&req, &state)
        && let Some(viewer) = Viewer::load(&state, &token).await?
    {
        state
            .sessions
            .end(&[viewer.session], crate::sessions::EndReason::Logout)
            .await?;
    }
    let mut res = see_other(&request.destination());
    res.add_cookie(&clear_session_cookie(&state))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(res)
}
