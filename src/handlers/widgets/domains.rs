//! The domains widget at `/ui/organization/domains`: view with `sk_org_settings_read`, change with
//! `sk_org_settings_manage`, and only while the organization has `domain_verification`. Every
//! read and write checks both on the server; forms carry the CSRF token and come back with what
//! was typed when refused.

use super::shell;
use crate::actors::org::OrgError;
use crate::db;
use crate::domain::{DomainJoinPolicy, DomainName, Permission};
use crate::domains::manage::{self, VerifyMethod};
use crate::handlers::errors::PageError;
use crate::handlers::see_other;
use crate::live::Widget;
use crate::principal::Viewer;
use crate::state::AppState;
use crate::views::{
    self,
    domains::{AddDomainForm, DomainView, DomainsPage, Notice, domain_dom_id},
};
use crate::web::Csrf;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

const PAGE: &str = "/ui/organization/domains";
const CSRF_EXPIRED: &str = "This form expired before it was sent. Please try again.";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(domains_page)
        .service(add_domain)
        .service(check_domain)
        .service(delete_domain)
        .service(set_join_policy)
        .service(domains_js);
}

/// The organization of a viewer who may change domains.
fn require_manage(viewer: &Viewer) -> Result<&crate::db::orgs::Organization, PageError> {
    viewer.require_widget(Widget::Domains)?;
    viewer.require(Permission::OrgSettingsManage)
}

/// The widget page with `form` and `notice`, answering `status`.
async fn render(
    req: &HttpRequest,
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    form: &AddDomainForm,
    notice: Option<Notice>,
) -> Result<HttpResponse, PageError> {
    let org = viewer.require_widget(Widget::Domains)?;
    let conn = state.db.conn();
    // The sequence before the list, as on the members page: nothing committed in between is missed.
    let seq = db::events::last_seq(conn).await?;
    let rows: Vec<DomainView> = db::domains::list_for_org(conn, &org.id)
        .await?
        .iter()
        .map(DomainView::from)
        .collect();
    let csrf = Csrf::for_request(req, state);
    let content = views::domains::page(&DomainsPage {
        rows: &rows,
        csrf: &csrf.token,
        viewer: viewer.permissions,
        form,
        join_policy: DomainJoinPolicy::from_stored(&org.domain_join_policy),
        notice: notice.as_ref(),
    });
    let mut res = shell(
        state,
        viewer,
        Some(Widget::Domains),
        Some(seq),
        "Domains",
        content,
    )
    .await?;
    *res.status_mut() = status;
    if let Some(cookie) = csrf.new_cookie {
        res.add_cookie(&cookie)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(res)
}

/// An organization's refusal as the page shows it.
pub(super) fn refusal(err: OrgError) -> Result<(StatusCode, String), PageError> {
    match err {
        OrgError::Conflict(message)
        | OrgError::SeatLimit(message)
        | OrgError::InviteUnusable(message) => Ok((StatusCode::CONFLICT, message)),
        OrgError::InvalidDomain(message) => Ok((StatusCode::UNPROCESSABLE_ENTITY, message)),
        OrgError::LastAdmin => Ok((StatusCode::CONFLICT, OrgError::LastAdmin.to_string())),
        OrgError::DomainNotFound
        | OrgError::NotFound
        | OrgError::MemberNotFound
        | OrgError::InviteNotFound => Err(PageError::NotFound),
        OrgError::UnknownRole(role) => Err(PageError::BadRequest(format!("unknown role {role}"))),
        OrgError::Internal(e) => Err(PageError::Internal(e)),
    }
}

/// The domains widget. Needs `sk_org_settings_read` and the `domain_verification` feature.
#[get("/ui/organization/domains")]
async fn domains_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    render(
        &req,
        &state,
        &viewer,
        StatusCode::OK,
        &AddDomainForm::default(),
        None,
    )
    .await
}

#[derive(Deserialize)]
struct AddSubmission {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    domain: String,
    include_subdomains: Option<String>,
}

/// Adds a domain. Needs `sk_org_settings_manage`, the feature and the form's CSRF token.
#[post("/ui/organization/domains")]
async fn add_domain(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    form: web::Form<AddSubmission>,
) -> Result<HttpResponse, PageError> {
    let org = require_manage(&viewer)?;
    let mut kept = AddDomainForm {
        domain: form.domain.clone(),
        include_subdomains: form.include_subdomains.is_some(),
        error: None,
    };
    if !Csrf::verify(&req, &state, &form.csrf) {
        let notice = ("error", CSRF_EXPIRED.to_string());
        return render(
            &req,
            &state,
            &viewer,
            StatusCode::FORBIDDEN,
            &kept,
            Some(notice),
        )
        .await;
    }
    let domain = match DomainName::parse(&form.domain) {
        Ok(domain) if domain.is_public_mail_provider() => {
            kept.error = Some(format!(
                "{domain} is a public email provider; an organization cannot own it."
            ));
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return render(&req, &state, &viewer, status, &kept, None).await;
        }
        Ok(domain) => domain,
        Err(err) => {
            kept.error = Some(err.to_string());
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return render(&req, &state, &viewer, status, &kept, None).await;
        }
    };
    match manage::add(&state, &org.id, domain, kept.include_subdomains).await {
        Ok(added) => Ok(see_other(&format!(
            "{PAGE}#{}",
            domain_dom_id(&added.domain.id)
        ))),
        Err(err) => {
            let (status, message) = refusal(err)?;
            kept.error = Some(message);
            render(&req, &state, &viewer, status, &kept, None).await
        }
    }
}

#[derive(Deserialize)]
struct ActionSubmission {
    #[serde(default)]
    csrf: String,
}

/// "Check now": one DNS check at once. Needs `sk_org_settings_manage`, the feature and the CSRF
/// token; a domain of another organization is not found.
#[post("/ui/organization/domains/{domain_id}/check")]
async fn check_domain(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<String>,
    form: web::Form<ActionSubmission>,
) -> Result<HttpResponse, PageError> {
    let org = require_manage(&viewer)?;
    if !Csrf::verify(&req, &state, &form.csrf) {
        let notice = ("error", CSRF_EXPIRED.to_string());
        let form = AddDomainForm::default();
        return render(
            &req,
            &state,
            &viewer,
            StatusCode::FORBIDDEN,
            &form,
            Some(notice),
        )
        .await;
    }
    match manage::verify(&state, &org.id, &path, VerifyMethod::Dns).await {
        Ok(domain) => Ok(see_other(&format!("{PAGE}#{}", domain_dom_id(&domain.id)))),
        Err(err) => {
            let (status, message) = refusal(err)?;
            let form = AddDomainForm::default();
            render(
                &req,
                &state,
                &viewer,
                status,
                &form,
                Some(("error", message)),
            )
            .await
        }
    }
}

/// Deletes a domain. Needs `sk_org_settings_manage`, the feature and the CSRF token.
#[post("/ui/organization/domains/{domain_id}/delete")]
async fn delete_domain(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<String>,
    form: web::Form<ActionSubmission>,
) -> Result<HttpResponse, PageError> {
    let org = require_manage(&viewer)?;
    if !Csrf::verify(&req, &state, &form.csrf) {
        let notice = ("error", CSRF_EXPIRED.to_string());
        let form = AddDomainForm::default();
        return render(
            &req,
            &state,
            &viewer,
            StatusCode::FORBIDDEN,
            &form,
            Some(notice),
        )
        .await;
    }
    match manage::delete(&state, &org.id, &path).await {
        Ok(_) => Ok(see_other(PAGE)),
        Err(err) => {
            let (status, message) = refusal(err)?;
            let form = AddDomainForm::default();
            render(
                &req,
                &state,
                &viewer,
                status,
                &form,
                Some(("error", message)),
            )
            .await
        }
    }
}

#[derive(Deserialize)]
struct PolicySubmission {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    policy: String,
}

/// Sets the domain-join policy. Needs `sk_org_settings_manage`, the feature and the CSRF token.
#[post("/ui/organization/domains/join-policy")]
async fn set_join_policy(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    form: web::Form<PolicySubmission>,
) -> Result<HttpResponse, PageError> {
    let org = require_manage(&viewer)?;
    let again = |status, message: String| {
        let (req, state, viewer) = (&req, &state, &viewer);
        async move {
            let form = AddDomainForm::default();
            render(req, state, viewer, status, &form, Some(("error", message))).await
        }
    };
    if !Csrf::verify(&req, &state, &form.csrf) {
        return again(StatusCode::FORBIDDEN, CSRF_EXPIRED.into()).await;
    }
    let policy = match DomainJoinPolicy::parse(&form.policy) {
        Ok(policy) => policy,
        Err(err) => return again(StatusCode::UNPROCESSABLE_ENTITY, err.to_string()).await,
    };
    match manage::set_join_policy(&state, &org.id, policy).await {
        Ok(_) => Ok(see_other(PAGE)),
        Err(err) => {
            let (status, message) = refusal(err)?;
            again(status, message).await
        }
    }
}

#[get("/static/domains.js")]
async fn domains_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(views::DOMAINS_JS)
}
