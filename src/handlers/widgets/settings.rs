//! The organization settings widget at `/ui/organization/settings`: view with
//! `sk_org_settings_read`, change with `sk_org_settings_manage` (checked on the server for every
//! write, with the CSRF token). A refused form comes back with what was typed and an error per field.

use super::domains::refusal;
use super::{CSRF_EXPIRED, render_widget};
use crate::actors::org::UpdateSettings;
use crate::db::{self, orgs::Organization, orgs::OrganizationUpdate};
use crate::domain::{DisplayName, ImageUrl, Permission, parse_allowed_domains};
use crate::handlers::errors::PageError;
use crate::handlers::see_other;
use crate::live::Widget;
use crate::principal::Viewer;
use crate::state::AppState;
use crate::views::settings::{self as view, SettingsForm, SettingsPage};
use crate::web::Csrf;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

const PAGE: &str = "/ui/organization/settings";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(settings_page).service(save_settings);
}

fn stored(org: &Organization) -> SettingsForm {
    SettingsForm {
        name: org.name.clone(),
        logo_url: org.logo_url.clone().unwrap_or_default(),
        allowed_email_domains: db::orgs::allowed_email_domains(org).join("\n"),
        ..SettingsForm::default()
    }
}

async fn render(
    req: &HttpRequest,
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    form: Option<&SettingsForm>,
    notice: Option<(&str, &str)>,
) -> Result<HttpResponse, PageError> {
    let org = viewer.require_widget(Widget::Settings)?;
    let seq = db::events::last_seq(state.db.conn()).await?;
    let current = stored(org);
    let form = form.unwrap_or(&current);
    render_widget(
        req,
        state,
        viewer,
        Widget::Settings,
        Some(seq),
        "Settings",
        status,
        |csrf| {
            view::page(&SettingsPage {
                form,
                can_manage: viewer.has(Permission::OrgSettingsManage),
                csrf,
                notice,
                max_users: org.max_users,
            })
        },
    )
    .await
}

#[derive(Deserialize)]
struct SettingsQuery {
    saved: Option<String>,
}

/// The settings widget. Needs `sk_org_settings_read`.
#[get("/ui/organization/settings")]
async fn settings_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    q: web::Query<SettingsQuery>,
) -> Result<HttpResponse, PageError> {
    let notice = q.saved.as_ref().map(|_| ("ok", "Settings saved."));
    render(&req, &state, &viewer, StatusCode::OK, None, notice).await
}

#[derive(Deserialize)]
struct SettingsSubmission {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    logo_url: String,
    #[serde(default)]
    allowed_email_domains: String,
}

/// Saves the settings. Needs `sk_org_settings_manage` and the CSRF token.
#[post("/ui/organization/settings")]
async fn save_settings(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    form: web::Form<SettingsSubmission>,
) -> Result<HttpResponse, PageError> {
    viewer.require_widget(Widget::Settings)?;
    let org = viewer.require(Permission::OrgSettingsManage)?;
    let mut kept = SettingsForm {
        name: form.name.clone(),
        logo_url: form.logo_url.clone(),
        allowed_email_domains: form.allowed_email_domains.clone(),
        ..SettingsForm::default()
    };
    if !Csrf::verify(&req, &state, &form.csrf) {
        let notice = Some(("error", CSRF_EXPIRED));
        return render(
            &req,
            &state,
            &viewer,
            StatusCode::FORBIDDEN,
            Some(&kept),
            notice,
        )
        .await;
    }
    let name = DisplayName::parse(&form.name).map_err(|e| kept.name_error = Some(e.to_string()));
    let logo = ImageUrl::parse_optional(&form.logo_url)
        .map_err(|e| kept.logo_url_error = Some(e.to_string()));
    let domains = parse_allowed_domains(&form.allowed_email_domains)
        .map_err(|e| kept.domains_error = Some(e.to_string()));
    let (Ok(name), Ok(logo), Ok(domains)) = (name, logo, domains) else {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return render(&req, &state, &viewer, status, Some(&kept), None).await;
    };
    let change = OrganizationUpdate {
        name: Some(name.into_string()),
        logo_url: Some(logo.map(ImageUrl::into_string)),
        allowed_email_domains: Some(domains),
        ..OrganizationUpdate::default()
    };
    match state.ask_org(&org.id, UpdateSettings { change }).await {
        Ok(_) => Ok(see_other(&format!("{PAGE}?saved=1"))),
        Err(err) => {
            let (status, message) = refusal(err)?;
            let notice = Some(("error", message.as_str()));
            render(&req, &state, &viewer, status, Some(&kept), notice).await
        }
    }
}
