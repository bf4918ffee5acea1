//! The members widget at `/ui/organization/members`: the list with search and pagination
//! (`sk_org_users_read`), invites (`sk_org_users_invite`), and each member's page with the role
//! change (`sk_org_users_role_change`), removal (`sk_org_users_delete`) and, for invited members,
//! resend and revoke (`sk_org_users_invite`). Every write checks its permission and the CSRF token
//! on the server; refused forms come back with what was typed.

use super::domains::refusal;
use super::{CSRF_EXPIRED, render_widget};
use crate::actors::org::{ChangeRole, RemoveMember};
use crate::db;
use crate::domain::{Permission, RoleName};
use crate::handlers::errors::PageError;
use crate::handlers::see_other;
use crate::invites;
use crate::live::Widget;
use crate::principal::{Viewer, urlencode};
use crate::state::AppState;
use crate::views::widgets::{
    self as view, InviteForm, MemberPage, MemberView, MembersView, RoleOption,
};
use crate::web::Csrf;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

const PAGE: &str = "/ui/organization/members";
/// Members per page.
const PAGE_SIZE: u64 = 50;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(members_page)
        .service(invite_people)
        .service(member_page)
        .service(change_role)
        .service(remove)
        .service(resend)
        .service(revoke);
}

async fn role_options(state: &AppState) -> Result<Vec<RoleOption>, PageError> {
    Ok(db::roles::list(state.db.conn())
        .await?
        .into_iter()
        .map(|r| RoleOption {
            name: r.name,
            display_name: r.display_name,
        })
        .collect())
}

#[derive(Deserialize, Default)]
struct MembersQuery {
    q: Option<String>,
    after: Option<String>,
    notice: Option<String>,
}

/// The list page, with the invite form as given.
async fn render_list(
    req: &HttpRequest,
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    q: &MembersQuery,
    form: &InviteForm,
    notice: Option<(&str, &str)>,
) -> Result<HttpResponse, PageError> {
    let org = viewer.require_widget(Widget::Members)?;
    let conn = state.db.conn();
    let search = q.q.as_deref().unwrap_or("").trim();
    let search_opt = Some(search).filter(|s| !s.is_empty());
    // Read the sequence before the list: an event committed in between is then both in the list and
    // replayed by the socket, which applies it idempotently; none can be missed.
    let seq = db::events::last_seq(conn).await?;
    let mut rows =
        db::members::list(conn, &org.id, search_opt, q.after.as_deref(), PAGE_SIZE + 1).await?;
    let total = db::members::count(conn, &org.id, search_opt).await?;
    let next_href = if rows.len() as u64 > PAGE_SIZE {
        rows.truncate(PAGE_SIZE as usize);
        rows.last().map(|last| {
            format!(
                "{PAGE}?q={}&after={}",
                urlencode(search),
                urlencode(&last.membership_id)
            )
        })
    } else {
        None
    };
    let first_href = q
        .after
        .as_ref()
        .map(|_| format!("{PAGE}?q={}", urlencode(search)));
    let seats = match org.max_users {
        Some(max) => Some((
            db::members::count_active(conn, &org.id).await?
                + db::invites::count_pending(conn, &org.id, db::now_ms()).await?,
            max,
        )),
        None => None,
    };
    let rows: Vec<MemberView> = rows.iter().map(MemberView::from).collect();
    let roles = role_options(state).await?;
    render_widget(
        req,
        state,
        viewer,
        Widget::Members,
        Some(seq),
        "Members",
        status,
        |csrf| {
            view::members(&MembersView {
                rows: &rows,
                search,
                total,
                next_href,
                first_href,
                viewer: viewer.permissions,
                csrf,
                roles: &roles,
                invite: form,
                notice,
                seats,
            })
        },
    )
    .await
}

/// Notices a redirect after a successful change may show.
fn notice_text(key: &str) -> Option<&'static str> {
    match key {
        "invited" => Some("Invites sent."),
        "removed" => Some("The member was removed."),
        "revoked" => Some("The invite was revoked."),
        _ => None,
    }
}

/// The members widget. Needs `sk_org_users_read`.
#[get("/ui/organization/members")]
async fn members_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    q: web::Query<MembersQuery>,
) -> Result<HttpResponse, PageError> {
    let notice = q.notice.as_deref().and_then(notice_text).map(|t| ("ok", t));
    render_list(
        &req,
        &state,
        &viewer,
        StatusCode::OK,
        &q,
        &InviteForm::default(),
        notice,
    )
    .await
}

#[derive(Deserialize)]
struct InviteSubmission {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    emails: String,
    #[serde(default)]
    role: String,
}

/// Invites one or many addresses with a role. Needs `sk_org_users_invite` and the CSRF token.
#[post("/ui/organization/members/invite")]
async fn invite_people(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    form: web::Form<InviteSubmission>,
) -> Result<HttpResponse, PageError> {
    viewer.require_widget(Widget::Members)?;
    let org = viewer.require(Permission::OrgUsersInvite)?;
    let mut kept = InviteForm {
        emails: form.emails.clone(),
        role: form.role.clone(),
        ..InviteForm::default()
    };
    let q = MembersQuery::default();
    if !Csrf::verify(&req, &state, &form.csrf) {
        let notice = Some(("error", CSRF_EXPIRED));
        return render_list(
            &req,
            &state,
            &viewer,
            StatusCode::FORBIDDEN,
            &q,
            &kept,
            notice,
        )
        .await;
    }
    let emails = invites::parse_addresses(&form.emails).map_err(|e| kept.emails_error = Some(e));
    let role = RoleName::parse(&form.role).map_err(|e| kept.role_error = Some(e.to_string()));
    let (Ok(emails), Ok(role)) = (emails, role) else {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return render_list(&req, &state, &viewer, status, &q, &kept, None).await;
    };
    match invites::create(&state, &org.id, emails, role, Some(viewer.user.id.clone())).await {
        Ok(_) => Ok(see_other(&format!("{PAGE}?notice=invited"))),
        Err(crate::actors::org::OrgError::UnknownRole(r)) => {
            kept.role_error = Some(format!("There is no role \"{r}\"."));
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            render_list(&req, &state, &viewer, status, &q, &kept, None).await
        }
        Err(err) => {
            let (status, message) = refusal(err)?;
            kept.emails_error = Some(message);
            render_list(&req, &state, &viewer, status, &q, &kept, None).await
        }
    }
}

/// One member's page. Needs `sk_org_users_read`; a user who is not a member of the viewer's
/// organization is not found.
async fn render_member(
    req: &HttpRequest,
    state: &AppState,
    viewer: &Viewer,
    user_id: &str,
    status: StatusCode,
    notice: Option<(&str, &str)>,
    role_error: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let org = viewer.require_widget(Widget::Members)?;
    let conn = state.db.conn();
    let membership = db::members::find(conn, &org.id, user_id)
        .await?
        .filter(|m| m.status != db::members::REMOVED)
        .ok_or(PageError::NotFound)?;
    let row = db::members::row(conn, &membership.id)
        .await?
        .ok_or(PageError::NotFound)?;
    let invite = db::invites::find_pending_for_email(conn, &org.id, &row.email).await?;
    let member = MemberView::from(&row);
    let roles = role_options(state).await?;
    render_widget(
        req,
        state,
        viewer,
        Widget::Members,
        None,
        "Member",
        status,
        |csrf| {
            view::member_page(&MemberPage {
                member: &member,
                role_name: &row.role_name,
                viewer: viewer.permissions,
                csrf,
                roles: &roles,
                invite_id: invite.as_ref().map(|i| i.id.as_str()),
                notice,
                role_error,
            })
        },
    )
    .await
}

#[derive(Deserialize)]
struct MemberQuery {
    notice: Option<String>,
}

/// The member page again with an error notice (a refused or expired form), answering `status`.
async fn member_notice(
    req: &HttpRequest,
    state: &AppState,
    viewer: &Viewer,
    user_id: &str,
    status: StatusCode,
    message: &str,
) -> Result<HttpResponse, PageError> {
    let notice = Some(("error", message));
    render_member(req, state, viewer, user_id, status, notice, None).await
}

#[get("/ui/organization/members/{user_id}")]
async fn member_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<String>,
    q: web::Query<MemberQuery>,
) -> Result<HttpResponse, PageError> {
    let notice = match q.notice.as_deref() {
        Some("role") => Some(("ok", "The role was changed.")),
        Some("resent") => Some(("ok", "The invite was sent again with a new link.")),
        _ => None,
    };
    render_member(&req, &state, &viewer, &path, StatusCode::OK, notice, None).await
}

#[derive(Deserialize)]
struct RoleSubmission {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    role: String,
}

/// Changes a member's role. Needs `sk_org_users_role_change` and the CSRF token; refused for the
/// organization's last admin.
#[post("/ui/organization/members/{user_id}/role")]
async fn change_role(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<String>,
    form: web::Form<RoleSubmission>,
) -> Result<HttpResponse, PageError> {
    viewer.require_widget(Widget::Members)?;
    let org = viewer.require(Permission::OrgUsersRoleChange)?;
    let user_id = path.into_inner();
    if !Csrf::verify(&req, &state, &form.csrf) {
        let status = StatusCode::FORBIDDEN;
        return member_notice(&req, &state, &viewer, &user_id, status, CSRF_EXPIRED).await;
    }
    let role = match RoleName::parse(&form.role) {
        Ok(role) => role,
        Err(e) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            let msg = e.to_string();
            return render_member(&req, &state, &viewer, &user_id, status, None, Some(&msg)).await;
        }
    };
    let change = ChangeRole {
        user_id: user_id.clone(),
        role,
    };
    match state.ask_org(&org.id, change).await {
        Ok(_) => Ok(see_other(&format!("{PAGE}/{user_id}?notice=role"))),
        Err(crate::actors::org::OrgError::UnknownRole(r)) => {
            let msg = format!("There is no role \"{r}\".");
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            render_member(&req, &state, &viewer, &user_id, status, None, Some(&msg)).await
        }
        Err(err) => {
            let (status, message) = refusal(err)?;
            let message = capitalize(&message);
            member_notice(&req, &state, &viewer, &user_id, status, &message).await
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[derive(Deserialize)]
struct ActionSubmission {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    invite: String,
}

/// Removes a member. Needs `sk_org_users_delete` and the CSRF token; refused for the last admin.
#[post("/ui/organization/members/{user_id}/remove")]
async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<String>,
    form: web::Form<ActionSubmission>,
) -> Result<HttpResponse, PageError> {
    viewer.require_widget(Widget::Members)?;
    let org = viewer.require(Permission::OrgUsersDelete)?;
    let user_id = path.into_inner();
    if !Csrf::verify(&req, &state, &form.csrf) {
        let status = StatusCode::FORBIDDEN;
        return member_notice(&req, &state, &viewer, &user_id, status, CSRF_EXPIRED).await;
    }
    let removal = RemoveMember {
        user_id: user_id.clone(),
    };
    match state.ask_org(&org.id, removal).await {
        Ok(_) => Ok(see_other(&format!("{PAGE}?notice=removed"))),
        Err(err) => {
            let (status, message) = refusal(err)?;
            let message = capitalize(&message);
            member_notice(&req, &state, &viewer, &user_id, status, &message).await
        }
    }
}

/// The pending invite named by a form, checked to belong to this member of this organization.
async fn invite_of(
    state: &AppState,
    org_id: &str,
    user_id: &str,
    invite_id: &str,
) -> Result<db::invites::Invite, PageError> {
    let conn = state.db.conn();
    let user = db::users::find(conn, user_id)
        .await?
        .ok_or(PageError::NotFound)?;
    db::invites::find_in_org(conn, org_id, invite_id)
        .await?
        .filter(|i| i.email == user.email)
        .ok_or(PageError::NotFound)
}

/// Sends a pending invite again (new link, new seven days). Needs `sk_org_users_invite` and the
/// CSRF token.
#[post("/ui/organization/members/{user_id}/resend")]
async fn resend(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<String>,
    form: web::Form<ActionSubmission>,
) -> Result<HttpResponse, PageError> {
    viewer.require_widget(Widget::Members)?;
    let org = viewer.require(Permission::OrgUsersInvite)?;
    let user_id = path.into_inner();
    if !Csrf::verify(&req, &state, &form.csrf) {
        let status = StatusCode::FORBIDDEN;
        return member_notice(&req, &state, &viewer, &user_id, status, CSRF_EXPIRED).await;
    }
    let invite = invite_of(&state, &org.id, &user_id, &form.invite).await?;
    match invites::resend(&state, &org.id, &invite.id).await {
        Ok(_) => Ok(see_other(&format!("{PAGE}/{user_id}?notice=resent"))),
        Err(err) => {
            let (status, message) = refusal(err)?;
            member_notice(&req, &state, &viewer, &user_id, status, &message).await
        }
    }
}

/// Revokes a pending invite. Needs `sk_org_users_invite` and the CSRF token.
#[post("/ui/organization/members/{user_id}/revoke")]
async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<String>,
    form: web::Form<ActionSubmission>,
) -> Result<HttpResponse, PageError> {
    viewer.require_widget(Widget::Members)?;
    let org = viewer.require(Permission::OrgUsersInvite)?;
    let user_id = path.into_inner();
    if !Csrf::verify(&req, &state, &form.csrf) {
        let status = StatusCode::FORBIDDEN;
        return member_notice(&req, &state, &viewer, &user_id, status, CSRF_EXPIRED).await;
    }
    let invite = invite_of(&state, &org.id, &user_id, &form.invite).await?;
    match invites::revoke(&state, &org.id, &invite.id).await {
        Ok(_) => Ok(see_other(&format!("{PAGE}?notice=revoked"))),
        Err(err) => {
            let (status, message) = refusal(err)?;
            member_notice(&req, &state, &viewer, &user_id, status, &message).await
        }
    }
}
