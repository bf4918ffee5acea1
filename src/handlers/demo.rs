//! The demo integrator app at `/demo/`: a real OpenID Connect relying party of Portal, talking to it
//! over HTTP as any integrator would (authorization code with PKCE, client_secret_basic, ID token
//! verified against the JWKS).

use super::errors::PageError;
use super::{brand, html};
use crate::crypto;
use crate::demo::CLIENT_ID;
use crate::oauth::claims::PortalIdToken;
use crate::principal::urlencode;
use crate::state::AppState;
use crate::views;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeySet};
use openidconnect::{ClientId, ClientSecret, IdTokenVerifier, IssuerUrl, Nonce};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// What the demo app needs to talk to Portal.
pub struct DemoApp {
    pub client_secret: String,
    pub http: reqwest::Client,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::redirect("/demo", "/demo/"))
        .service(home)
        .service(login)
        .service(callback);
}

const FLOW_COOKIE: &str = "portal_demo_flow";

/// The demo app's own memory of a sign-in in progress, signed so the browser cannot alter it.
#[derive(Serialize, Deserialize)]
struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    target: Option<String>,
}

fn seal(state: &AppState, flow: &Flow) -> String {
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(flow).unwrap_or_default());
    let tag = URL_SAFE_NO_PAD.encode(state.cookie_key.sign(format!("demo:{body}").as_bytes()));
    format!("{body}.{tag}")
}

fn unseal(state: &AppState, value: &str) -> Option<Flow> {
    let (body, tag) = value.split_once('.')?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    if !state
        .cookie_key
        .verify(format!("demo:{body}").as_bytes(), &tag)
    {
        return None;
    }
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()
}

/// The demo app's landing page. Public.
#[get("/demo/")]
async fn home(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let brand = brand(&state).await?;
    Ok(html(views::demo::home(&brand, "/demo/login")))
}

#[derive(Deserialize)]
struct LoginQuery {
    target_link_uri: Option<String>,
}

/// Starts the authorization code flow; also the environment's initiate-login URI. Public.
#[get("/demo/login")]
async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<LoginQuery>,
) -> HttpResponse {
    let _ = req;
    // Only targets on Portal itself: the demo app must not become an open redirector.
    let target = q
        .target_link_uri
        .clone()
        .filter(|t| t.starts_with(&format!("{}/", state.issuer())));
    let flow = Flow {
        state: crypto::random_token(16),
        nonce: crypto::random_token(16),
        verifier: crypto::random_token(32),
        target,
    };
    let challenge = URL_SAFE_NO_PAD.encode(crypto::sha256(flow.verifier.as_bytes()));
    let location = format!(
        "/oauth/authorize?response_type=code&client_id={CLIENT_ID}&redirect_uri={}&scope={}&state={}&nonce={}&code_challenge={challenge}&code_challenge_method=S256",
        urlencode(&state.url("/demo/callback")),
        urlencode("openid profile email"),
        urlencode(&flow.state),
        urlencode(&flow.nonce),
    );
    let cookie = Cookie::build(FLOW_COOKIE, seal(&state, &flow))
        .path("/demo")
        .http_only(true)
        .secure(state.secure_cookies())
        .same_site(SameSite::Lax)
        .finish();
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .cookie(cookie)
        .finish()
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct Tokens {
    id_token: String,
}

/// Receives the code, exchanges it and shows the verified ID token claims. Public.
#[get("/demo/callback")]
async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    demo: web::Data<DemoApp>,
    q: web::Query<CallbackQuery>,
) -> Result<HttpResponse, PageError> {
    let brand = brand(&state).await?;
    let fail = |message: String| Ok(html(views::demo::failed(&brand, &message)));
    if let Some(error) = &q.error {
        return fail(format!(
            "Portal answered {error}: {}",
            q.error_description.as_deref().unwrap_or("")
        ));
    }
    let Some(flow) = req
        .cookie(FLOW_COOKIE)
        .and_then(|c| unseal(&state, c.value()))
    else {
        return fail("This sign-in did not start here (or took too long). Start again.".into());
    };
    if q.state.as_deref() != Some(flow.state.as_str()) {
        return fail(
            "The state parameter does not match; the response was not for this browser.".into(),
        );
    }
    let Some(code) = &q.code else {
        return fail("No authorization code came back.".into());
    };
    let tokens = match exchange(&state, &demo, code, &flow.verifier).await {
        Ok(t) => t,
        Err(err) => return fail(format!("The token exchange failed: {err:#}")),
    };
    let claims = match verify(&state, &demo, &tokens.id_token, &flow.nonce).await {
        Ok(c) => c,
        Err(err) => return fail(format!("The ID token did not verify: {err:#}")),
    };
    let mut clear = Cookie::build(FLOW_COOKIE, "").path("/demo").finish();
    clear.make_removal();
    if let Some(target) = flow.target {
        return Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, target))
            .cookie(clear)
            .finish());
    }
    let email = claims["email"].as_str().unwrap_or("").to_string();
    let pretty = serde_json::to_string_pretty(&claims).unwrap_or_default();
    // RP-initiated logout: the hint signs out at once and Portal returns to the demo app.
    let sign_out = format!(
        "/oidc/logout?id_token_hint={}&post_logout_redirect_uri={}&state={}",
        urlencode(&tokens.id_token),
        urlencode(&state.url("/demo/")),
        urlencode(&crypto::random_token(8)),
    );
    let mut res = html(views::demo::signed_in(&brand, &pretty, &email, &sign_out));
    res.add_cookie(&clear).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(res)
}

async fn exchange(
    state: &AppState,
    demo: &DemoApp,
    code: &str,
    verifier: &str,
) -> anyhow::Result<Tokens> {
    let res = demo
        .http
        .post(state.url("/oauth/token"))
        .basic_auth(CLIENT_ID, Some(&demo.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &state.url("/demo/callback")),
            ("code_verifier", verifier),
        ])
        .send()
        .await?;
    let status = res.status();
    let body = res.text().await?;
    if !status.is_success() {
        anyhow::bail!("HTTP {status}: {body}");
    }
    Ok(serde_json::from_str(&body)?)
}

async fn verify(
    state: &AppState,
    demo: &DemoApp,
    id_token: &str,
    nonce: &str,
) -> anyhow::Result<serde_json::Value> {
    let jwks: CoreJsonWebKeySet = demo
        .http
        .get(state.url("/.well-known/jwks.json"))
        .send()
        .await?
        .json()
        .await?;
    let verifier: IdTokenVerifier<CoreJsonWebKey> = IdTokenVerifier::new_confidential_client(
        ClientId::new(CLIENT_ID.into()),
        ClientSecret::new(demo.client_secret.clone()),
        IssuerUrl::new(state.issuer().into())?,
        jwks,
    );
    let token = PortalIdToken::from_str(id_token)?;
    let claims = token.claims(&verifier, &Nonce::new(nonce.into()))?;
    Ok(serde_json::to_value(claims)?)
}
