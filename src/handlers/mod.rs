//! HTTP surfaces, one module each. Handlers extract, authorize, parse into domain types, make one
//! call and render; the work happens in actors, `oauth`, `auth` and `db`.

pub mod api;
pub mod auth;
pub mod demo;
pub mod errors;
pub mod health;
pub mod live;
pub mod oauth;
pub mod webhooks;
pub mod widgets;

use crate::db;
use crate::state::AppState;
use crate::views::Brand;
use actix_web::{HttpResponse, web};
use errors::{ApiError, PageError};

/// Every route. The demo integrator app is mounted only with `--demo`.
pub fn configure(cfg: &mut web::ServiceConfig, demo: bool) {
    cfg.app_data(web::FormConfig::default().error_handler(|err, _| {
        PageError::BadRequest(format!("The form could not be read: {err}")).into()
    }))
    .app_data(web::QueryConfig::default().error_handler(|err, req| {
        let message = format!("The address has a malformed query: {err}");
        if is_api(req) {
            ApiError::invalid(message).into()
        } else {
            PageError::BadRequest(message).into()
        }
    }))
    .app_data(
        web::JsonConfig::default()
            .limit(256 * 1024)
            .error_handler(|err, _| {
                let message = match err {
                    actix_web::error::JsonPayloadError::ContentType => {
                        "Send the body as JSON with the header Content-Type: application/json."
                            .into()
                    }
                    other => format!("The request body is not valid JSON: {other}"),
                };
                ApiError::invalid(message).into()
            }),
    )
    .app_data(web::PathConfig::default().error_handler(|_, req| {
        if is_api(req) {
            ApiError::NotFound("resource").into()
        } else {
            PageError::NotFound.into()
        }
    }))
    .configure(health::configure)
    .configure(oauth::configure)
    .configure(auth::configure)
    .configure(widgets::configure)
    .configure(live::configure)
    .configure(api::configure)
    .configure(webhooks::configure);
    if demo {
        cfg.configure(demo::configure);
    }
}

/// Whether a request is for the JSON management API, whose errors are JSON too.
fn is_api(req: &actix_web::HttpRequest) -> bool {
    req.path().starts_with("/api/")
}

/// The environment's branding, for page headers.
pub async fn brand(state: &AppState) -> Result<Brand, PageError> {
    let env = db::environment::get(state.db.conn()).await?;
    Ok(Brand {
        name: env.name,
        logo_url: env.logo_url,
        favicon_url: env.favicon_url,
        version: env.updated_at,
    })
}

/// An HTML page that must not be cached (it carries a CSRF token or personal data).
pub fn html(markup: maud::Markup) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(markup.into_string())
}

/// A 303 redirect, the right answer to a form POST.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

/// The hosts Portal answers on, when custom domains are configured (`None`: any host).
pub struct KnownHosts(pub Option<Vec<String>>);

/// The answer for any path no route claims, and for hosts Portal does not serve (421: the request
/// reached a server that is not the one for that host).
pub async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, actix_web::Error> {
    if let Some(Some(hosts)) = req
        .app_data::<web::Data<KnownHosts>>()
        .map(|k| k.0.as_ref())
    {
        let host = req.connection_info().host().to_string();
        let name = host.rsplit_once(':').map_or(host.as_str(), |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host.as_str()
            }
        });
        if !hosts.iter().any(|h| h.eq_ignore_ascii_case(name)) {
            return Ok(HttpResponse::MisdirectedRequest()
                .content_type("text/plain; charset=utf-8")
                .body("Portal does not serve this host."));
        }
    }
    if req.path().starts_with("/api/") {
        Err(ApiError::NotFound("resource").into())
    } else {
        Err(PageError::NotFound.into())
    }
}
