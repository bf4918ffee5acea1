//! The profile widget at `/ui/profile`: every signed-in user's own name and email, whatever their
//! role or organization (no permission or feature gates it). Forms carry the CSRF token and come
//! back with what was typed.

use super::{CSRF_EXPIRED, render_widget};
use crate::domain::{DisplayName, EmailAddress};
use crate::handlers::errors::PageError;
use crate::handlers::see_other;
use crate::live::Widget;
use crate::principal::Viewer;
use crate::profile::{self, EmailChange};
use crate::state::AppState;
use crate::views::profile::{self as view, ProfileForm, ProfilePage};
use crate::web::{Csrf, client_ip};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(profile_page)
        .service(save_name)
        .service(start_email)
        .service(confirm_email);
}

async fn render(
    req: &HttpRequest,
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    form: Option<ProfileForm>,
    notice: Option<(&str, &str)>,
) -> Result<HttpResponse, PageError> {
    let form = form.unwrap_or_else(|| ProfileForm {
        name: viewer.user.name.clone(),
        ..ProfileForm::default()
    });
    let created = crate::views::date(viewer.user.created_at);
    render_widget(
        req,
        state,
        viewer,
        Widget::Profile,
        None,
        "Profile",
        status,
        |csrf| {
            view::page(&ProfilePage {
                email: &viewer.user.email,
                created: &created,
                form: &form,
                csrf,
                notice,
            })
        },
    )
    .await
}

#[derive(Deserialize)]
struct ProfileQuery {
    saved: Option<String>,
}

/// The profile widget. Needs a session only.
#[get("/ui/profile")]
async fn profile_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    q: web::Query<ProfileQuery>,
) -> Result<HttpResponse, PageError> {
    let notice = match q.saved.as_deref() {
        Some("name") => Some(("ok", "Your name was saved.")),
        Some("email") => Some(("ok", "Your email address was changed.")),
        _ => None,
    };
    render(&req, &state, &viewer, StatusCode::OK, None, notice).await
}

#[derive(Deserialize)]
struct NameSubmission {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

/// Changes the user's name. Needs a session and the CSRF token.
#[post("/ui/profile/name")]
async fn save_name(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    form: web::Form<NameSubmission>,
) -> Result<HttpResponse, PageError> {
    let mut kept = ProfileForm {
        name: form.name.clone(),
        ..ProfileForm::default()
    };
    if !Csrf::verify(&req, &state, &form.csrf) {
        let notice = Some(("error", CSRF_EXPIRED));
        return render(
            &req,
            &state,
            &viewer,
            StatusCode::FORBIDDEN,
            Some(kept),
            notice,
        )
        .await;
    }
    match DisplayName::parse(&form.name) {
        Ok(name) => {
            profile::rename(&state, &viewer.user.id, name).await?;
            Ok(see_other("/ui/profile?saved=name"))
        }
        Err(e) => {
            kept.name_error = Some(e.to_string());
            render(
                &req,
                &state,
                &viewer,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(kept),
                None,
            )
            .await
        }
    }
}

#[derive(Deserialize)]
struct EmailSubmission {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    new_email: String,
    #[serde(default)]
    code: String,
}

/// Sends a code to a new address. Needs a session and the CSRF token.
#[post("/ui/profile/email")]
async fn start_email(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    form: web::Form<EmailSubmission>,
) -> Result<HttpResponse, PageError> {
    let mut kept = ProfileForm {
        name: viewer.user.name.clone(),
        new_email: form.new_email.clone(),
        ..ProfileForm::default()
    };
    if !Csrf::verify(&req, &state, &form.csrf) {
        let notice = Some(("error", CSRF_EXPIRED));
        return render(
            &req,
            &state,
            &viewer,
            StatusCode::FORBIDDEN,
            Some(kept),
            notice,
        )
        .await;
    }
    let email = match EmailAddress::parse(&form.new_email) {
        Ok(email) => email,
        Err(e) => {
            kept.email_error = Some(e.to_string());
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return render(&req, &state, &viewer, status, Some(kept), None).await;
        }
    };
    let ip = client_ip(&req);
    match profile::start_email_change(&state, ip.as_deref(), &viewer.user, &email).await? {
        EmailChange::Sent => {
            kept.new_email = email.as_str().to_string();
            kept.awaiting_code = true;
            render(&req, &state, &viewer, StatusCode::OK, Some(kept), None).await
        }
        EmailChange::Refused(why) => {
            kept.email_error = Some(why);
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            render(&req, &state, &viewer, status, Some(kept), None).await
        }
    }
}

/// Confirms the new address with its code. Needs a session and the CSRF token.
#[post("/ui/profile/email/confirm")]
async fn confirm_email(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    form: web::Form<EmailSubmission>,
) -> Result<HttpResponse, PageError> {
    let mut kept = ProfileForm {
        name: viewer.user.name.clone(),
        new_email: form.new_email.clone(),
        awaiting_code: true,
        ..ProfileForm::default()
    };
    if !Csrf::verify(&req, &state, &form.csrf) {
        let notice = Some(("error", CSRF_EXPIRED));
        return render(
            &req,
            &state,
            &viewer,
            StatusCode::FORBIDDEN,
            Some(kept),
            notice,
        )
        .await;
    }
    let Ok(email) = EmailAddress::parse(&form.new_email) else {
        kept.awaiting_code = false;
        kept.email_error = Some("Enter the new address again.".into());
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return render(&req, &state, &viewer, status, Some(kept), None).await;
    };
    let ip = client_ip(&req);
    match profile::finish_email_change(&state, ip.as_deref(), &viewer.user, &email, &form.code)
        .await?
    {
        Ok(_) => Ok(see_other("/ui/profile?saved=email")),
        Err(why) => {
            kept.code_error = Some(why);
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            render(&req, &state, &viewer, status, Some(kept), None).await
        }
    }
}
