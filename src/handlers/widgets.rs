//! The `/ui/` widget pages and the assets they load. Widgets with forms of their own live in
//! submodules (`domains`).

mod domains;
mod members;
mod passkeys;
mod profile;
mod security;
mod session_policy;
mod settings;

use super::errors::PageError;
use super::{brand, html};
use crate::access;
use crate::db;
use crate::live::Widget;
use crate::principal::Viewer;
use crate::state::AppState;
use crate::views::{self, widgets::ShellView};
use actix_web::http::header;
use actix_web::{HttpResponse, get, web};

/// Widgets that exist so far; navigation offers only these (in `access` order).
pub const IMPLEMENTED: [Widget; 6] = [
    Widget::Settings,
    Widget::Members,
    Widget::Domains,
    Widget::SessionPolicy,
    Widget::Profile,
    Widget::Security,
];

/// The message of a form refused for a missing or wrong CSRF token.
const CSRF_EXPIRED: &str = "This form expired before it was sent. Please try again.";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(home)
        .service(web::redirect("/ui", "/ui/"))
        .configure(members::configure)
        .configure(settings::configure)
        .configure(profile::configure)
        .service(portal_css)
        .service(live_js)
        .service(passkeys_js)
        .service(branding_css)
        .configure(domains::configure)
        .configure(session_policy::configure)
        .configure(security::configure)
        .configure(passkeys::configure);
}

/// The page frame for `viewer`, with the navigation they are entitled to.
async fn shell(
    state: &AppState,
    viewer: &Viewer,
    current: Option<Widget>,
    live_seq: Option<i64>,
    title: &str,
    content: maud::Markup,
) -> Result<HttpResponse, PageError> {
    let brand = brand(state).await?;
    let org_nav = access::org_nav(viewer.permissions, &viewer.features, &IMPLEMENTED);
    let user_nav = access::user_nav(&IMPLEMENTED);
    Ok(html(views::widgets::shell(
        &ShellView {
            brand: &brand,
            org_name: viewer.org.as_ref().map(|o| o.name.as_str()),
            org_logo: viewer.org.as_ref().and_then(|o| o.logo_url.as_deref()),
            user_name: &viewer.user.name,
            user_email: &viewer.user.email,
            org_nav: &org_nav,
            user_nav: &user_nav,
            current,
            live_seq,
        },
        title,
        content,
    )))
}

/// A widget page with a CSRF token for its forms: the shell around `content(csrf)`, answering
/// `status`, setting the CSRF cookie when the browser had none.
#[allow(clippy::too_many_arguments)]
async fn render_widget(
    req: &actix_web::HttpRequest,
    state: &AppState,
    viewer: &Viewer,
    widget: Widget,
    live_seq: Option<i64>,
    title: &str,
    status: actix_web::http::StatusCode,
    content: impl FnOnce(&str) -> maud::Markup,
) -> Result<HttpResponse, PageError> {
    let csrf = crate::web::Csrf::for_request(req, state);
    let mut res = shell(
        state,
        viewer,
        Some(widget),
        live_seq,
        title,
        content(&csrf.token),
    )
    .await?;
    *res.status_mut() = status;
    if let Some(cookie) = csrf.new_cookie {
        res.add_cookie(&cookie)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(res)
}

/// The first widget the user may open, or a welcome page. Needs a session.
#[get("/ui/")]
async fn home(state: web::Data<AppState>, viewer: Viewer) -> Result<HttpResponse, PageError> {
    let org_nav = access::org_nav(viewer.permissions, &viewer.features, &IMPLEMENTED);
    if let Some(first) = org_nav.first() {
        return Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, first.href))
            .finish());
    }
    let content = views::widgets::home(&viewer.user.name, &org_nav);
    shell(&state, &viewer, None, None, "Home", content).await
}

fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        // Versioned URLs (`?v=`), so browsers may keep them.
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(body)
}

#[get("/static/portal.css")]
async fn portal_css() -> HttpResponse {
    asset("text/css; charset=utf-8", views::PORTAL_CSS)
}

#[get("/static/passkeys.js")]
async fn passkeys_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", views::PASSKEYS_JS)
}

#[get("/static/live.js")]
async fn live_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", views::LIVE_JS)
}

/// The brand colours as CSS custom properties. Public.
#[get("/branding.css")]
async fn branding_css(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let env = db::environment::get(state.db.conn()).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
        .body(views::layout::branding_css(env.primary_color.as_deref())))
}
