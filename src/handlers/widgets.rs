//! The `/ui/` widget pages and the assets they load. Widgets with forms of their own live in
//! submodules (`domains`).

mod domains;
mod passkeys;
mod security;
mod session_policy;

use super::errors::PageError;
use super::{brand, html};
use crate::access;
use crate::db;
use crate::live::Widget;
use crate::principal::{Viewer, urlencode};
use crate::state::AppState;
use crate::views::{self, widgets::MemberView, widgets::ShellView};
use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use serde::Deserialize;

/// Widgets that exist so far; navigation offers only these.
pub const IMPLEMENTED: [Widget; 4] = [
    Widget::Members,
    Widget::Domains,
    Widget::SessionPolicy,
    Widget::Security,
];

/// Members per page.
const PAGE_SIZE: u64 = 50;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(home)
        .service(web::redirect("/ui", "/ui/"))
        .service(members)
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

#[derive(Deserialize)]
struct MembersQuery {
    q: Option<String>,
    after: Option<String>,
}

/// The members widget. Needs `sk_org_users_read`.
#[get("/ui/organization/members")]
async fn members(
    state: web::Data<AppState>,
    viewer: Viewer,
    q: web::Query<MembersQuery>,
) -> Result<HttpResponse, PageError> {
    let org = viewer.require_widget(Widget::Members)?;
    let search = q.q.as_deref().unwrap_or("").trim();
    // Read the sequence before the list: an event committed in between is then both in the list and
    // replayed by the socket, which applies it idempotently; none can be missed.
    let seq = db::events::last_seq(state.db.conn()).await?;
    let mut rows = db::members::list(
        state.db.conn(),
        &org.id,
        Some(search).filter(|s| !s.is_empty()),
        q.after.as_deref(),
        PAGE_SIZE + 1,
    )
    .await?;
    let next_href = if rows.len() as u64 > PAGE_SIZE {
        rows.truncate(PAGE_SIZE as usize);
        rows.last().map(|last| {
            format!(
                "/ui/organization/members?q={}&after={}",
                urlencode(search),
                urlencode(&last.membership_id)
            )
        })
    } else {
        None
    };
    let views_rows: Vec<MemberView> = rows.iter().map(MemberView::from).collect();
    let content = views::widgets::members(&views::widgets::MembersView {
        rows: &views_rows,
        search,
        next_href,
        viewer: viewer.permissions,
    });
    shell(
        &state,
        &viewer,
        Some(Widget::Members),
        Some(seq),
        "Members",
        content,
    )
    .await
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
