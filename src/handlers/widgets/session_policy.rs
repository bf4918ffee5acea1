//! The session policy widget at `/ui/organization/session-policy`: view with
//! `sk_org_session_policy_read`, change with `sk_org_session_policy_manage`, and only while the
//! organization has the `session_policy` feature. Both are checked on the server for every read and
//! write; the form carries the CSRF token and comes back with what was typed and an error on each
//! refused field.

use super::shell;
use crate::actors::org::SetSessionPolicy;
use crate::db;
use crate::domain::session_policy::PolicyInput;
use crate::domain::{OrgSessionPolicy, Permission, SessionPolicy};
use crate::handlers::errors::PageError;
use crate::live::Widget;
use crate::principal::Viewer;
use crate::sessions;
use crate::state::AppState;
use crate::views::session_policy::{PolicyForm, PolicyPage, minutes_in_words, page};
use crate::web::Csrf;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

const CSRF_EXPIRED: &str = "This form expired before it was sent. Please try again.";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(policy_page).service(save_policy);
}

async fn render(
    req: &HttpRequest,
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    form: Option<PolicyForm>,
    notice: Option<(&str, String)>,
) -> Result<HttpResponse, PageError> {
    let org = viewer.require_widget(Widget::SessionPolicy)?;
    let conn = state.db.conn();
    let seq = db::events::last_seq(conn).await?;
    let app = sessions::app_policy(conn).await?;
    let own = sessions::org_override(conn, &org.id).await?;
    let effective = SessionPolicy::effective(&app, &own);
    let form = form.unwrap_or_else(|| PolicyForm::from_override(&own));
    let csrf = Csrf::for_request(req, state);
    let content = page(&PolicyPage {
        csrf: &csrf.token,
        app: &app,
        own: &own,
        effective: &effective,
        can_manage: viewer.has(Permission::OrgSessionPolicyManage),
        form: &form,
        notice,
    });
    let mut res = shell(
        state,
        viewer,
        Some(Widget::SessionPolicy),
        Some(seq),
        "Session policy",
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

/// The widget. Needs `sk_org_session_policy_read` and the `session_policy` feature.
#[get("/ui/organization/session-policy")]
async fn policy_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    render(&req, &state, &viewer, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
struct PolicySubmission {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    absolute_timeout_minutes: String,
    #[serde(default)]
    idle_mode: String,
    #[serde(default)]
    idle_timeout_minutes: String,
}

/// Saves the override. Needs `sk_org_session_policy_manage`, the feature and the CSRF token.
#[post("/ui/organization/session-policy")]
async fn save_policy(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    form: web::Form<PolicySubmission>,
) -> Result<HttpResponse, PageError> {
    let org = viewer.require_widget(Widget::SessionPolicy)?;
    viewer.require(Permission::OrgSessionPolicyManage)?;
    let mut kept = PolicyForm {
        absolute_minutes: form.absolute_timeout_minutes.clone(),
        idle_mode: form.idle_mode.clone(),
        idle_minutes: form.idle_timeout_minutes.clone(),
        errors: Vec::new(),
    };
    if !Csrf::verify(&req, &state, &form.csrf) {
        let notice = ("error", CSRF_EXPIRED.to_string());
        return render(
            &req,
            &state,
            &viewer,
            StatusCode::FORBIDDEN,
            Some(kept),
            Some(notice),
        )
        .await;
    }
    let idle_enabled = match form.idle_mode.as_str() {
        "on" => Some(true),
        "off" => Some(false),
        _ => None,
    };
    let input = PolicyInput {
        absolute_minutes: Some(form.absolute_timeout_minutes.clone()),
        idle_enabled,
        idle_minutes: Some(form.idle_timeout_minutes.clone()),
    };
    let app = sessions::app_policy(state.db.conn()).await?;
    let policy: OrgSessionPolicy = match OrgSessionPolicy::parse(&input, &app) {
        Ok(p) => p,
        Err(errors) => {
            kept.errors = errors;
            let notice = (
                "error",
                "The policy was not saved; see the fields below.".to_string(),
            );
            return render(
                &req,
                &state,
                &viewer,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(kept),
                Some(notice),
            )
            .await;
        }
    };
    let changed = match state.ask_org(&org.id, SetSessionPolicy { policy }).await {
        Ok(c) => c,
        Err(crate::actors::org::OrgError::NotFound) => return Err(PageError::NotFound),
        Err(e) => return Err(PageError::Internal(anyhow::anyhow!("{e}"))),
    };
    let effective = &changed.policy.effective;
    let mut text = format!(
        "Saved. Sessions now last at most {}",
        minutes_in_words(effective.absolute_timeout_minutes)
    );
    if let Some(idle) = effective.idle_timeout_minutes {
        text.push_str(&format!(" and end after {} idle", minutes_in_words(idle)));
    }
    text.push('.');
    if changed.sessions_shortened > 0 {
        text.push_str(&format!(
            " {} running session(s) were shortened, {} of them signed out.",
            changed.sessions_shortened, changed.sessions_ended
        ));
    }
    render(
        &req,
        &state,
        &viewer,
        StatusCode::OK,
        None,
        Some(("ok", text)),
    )
    .await
}
