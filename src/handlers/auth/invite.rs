//! `/a/invite?token=…`: the link in an invite email. A signed-in invitee joins with one click; an
//! address without an account chooses a name and password and is signed in; an address with an
//! account signs in (password, code, magic link: any method, which returns here) and then joins.
//! Used, revoked, expired and unknown links get a page saying what to do. Every form carries the
//! CSRF token; the token itself is only ever compared by its hash.

use super::{CSRF_EXPIRED, render, signed_in};
use crate::actors::org::{NewAccount, OrgError};
use crate::auth::Continuation;
use crate::crypto::Passwords;
use crate::db;
use crate::domain::{DisplayName, NewPassword};
use crate::handlers::errors::PageError;
use crate::handlers::see_other;
use crate::invites::{self, LinkState};
use crate::principal::Viewer;
use crate::state::AppState;
use crate::views::{self, invite::InviteChoice, invite::InviteView};
use crate::web::{Csrf, session_token};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(invite_page)
        .service(accept_signed_in)
        .service(accept_new_account);
}

async fn viewer(req: &HttpRequest, state: &AppState) -> anyhow::Result<Option<Viewer>> {
    match session_token(req, state) {
        Some(token) => Viewer::load(state, &token).await,
        None => Ok(None),
    }
}

/// The page for a link that no longer works.
async fn unusable(
    req: &HttpRequest,
    state: &AppState,
    link: &LinkState,
) -> Result<HttpResponse, PageError> {
    let (title, message) = match link {
        LinkState::Accepted => (
            "This invite was already used",
            "The invitation was accepted already. Sign in to reach the organization.",
        ),
        LinkState::Revoked => (
            "This invite was withdrawn",
            "The organization revoked this invitation. Ask them for a new one if you still need access.",
        ),
        LinkState::Expired => (
            "This invite has expired",
            "Invitations work for seven days. Ask the person who invited you to send it again.",
        ),
        _ => (
            "This invite link does not work",
            "The link is incomplete, or a newer invitation replaced it. Use the link in the latest invitation email, or ask for a new one.",
        ),
    };
    render(req, state, StatusCode::GONE, |brand, _| {
        views::auth::notice(
            brand,
            title,
            message,
            Some(("/a/auth/login", "Sign in")),
            true,
        )
    })
    .await
}

struct Context {
    invite: db::invites::Invite,
    org_name: String,
    role: String,
    has_account: bool,
}

async fn context(state: &AppState, invite: db::invites::Invite) -> Result<Context, PageError> {
    let conn = state.db.conn();
    let org = db::orgs::find(conn, &invite.organization_id)
        .await?
        .ok_or(PageError::NotFound)?;
    let role = db::roles::find(conn, &invite.role_id)
        .await?
        .map_or_else(|| "member".into(), |r| r.display_name);
    let has_account = db::users::find_by_email_str(conn, &invite.email)
        .await?
        .is_some_and(|u| db::users::has_account(&u));
    Ok(Context {
        invite,
        org_name: org.name,
        role,
        has_account,
    })
}

#[allow(clippy::too_many_arguments)]
async fn render_invite(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    token: &str,
    ctx: &Context,
    viewer: Option<&Viewer>,
    create: Option<(&str, Option<&str>, Option<&str>)>,
    error: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let choice = match viewer {
        Some(v) if v.user.email == ctx.invite.email => InviteChoice::Join,
        Some(v) => InviteChoice::WrongUser {
            signed_in_as: &v.user.email,
        },
        None if ctx.has_account => InviteChoice::SignIn,
        None => {
            let (name, name_error, password_error) = create.unwrap_or(("", None, None));
            InviteChoice::CreateAccount {
                name,
                name_error,
                password_error,
            }
        }
    };
    render(req, state, status, |brand, csrf| {
        views::invite::accept(&InviteView {
            brand,
            csrf,
            token,
            org_name: &ctx.org_name,
            email: &ctx.invite.email,
            role: &ctx.role,
            choice,
            error,
        })
    })
    .await
}

#[derive(Deserialize)]
struct InviteQuery {
    #[serde(default)]
    token: String,
}

/// The invite link. Public; what it offers depends on who opens it.
#[get("/a/invite")]
async fn invite_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<InviteQuery>,
) -> Result<HttpResponse, PageError> {
    let link = invites::look_up(&state, &q.token).await?;
    let LinkState::Usable(invite) = link else {
        return unusable(&req, &state, &link).await;
    };
    let ctx = context(&state, *invite).await?;
    let viewer = viewer(&req, &state).await?;
    render_invite(
        &req,
        &state,
        StatusCode::OK,
        &q.token,
        &ctx,
        viewer.as_ref(),
        None,
        None,
    )
    .await
}

/// A refusal from the organization as this page says it.
fn refusal_message(err: OrgError) -> Result<String, PageError> {
    match err {
        OrgError::SeatLimit(m) | OrgError::InviteUnusable(m) | OrgError::Conflict(m) => Ok(m),
        OrgError::InviteNotFound | OrgError::NotFound => Err(PageError::NotFound),
        other => Err(PageError::Internal(anyhow::anyhow!("{other}"))),
    }
}

#[derive(Deserialize)]
struct AcceptSubmission {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

/// Joins as the signed-in user, whose address must be the invited one. Needs the CSRF token.
#[post("/a/invite")]
async fn accept_signed_in(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<AcceptSubmission>,
) -> Result<HttpResponse, PageError> {
    let link = invites::look_up(&state, &form.token).await?;
    let LinkState::Usable(invite) = link else {
        return unusable(&req, &state, &link).await;
    };
    let ctx = context(&state, *invite).await?;
    let viewer = viewer(&req, &state).await?;
    let again = |status, error: String| {
        let (req, state, token, ctx, viewer) = (&req, &state, &form.token, &ctx, viewer.as_ref());
        async move { render_invite(req, state, status, token, ctx, viewer, None, Some(&error)).await }
    };
    if !Csrf::verify(&req, &state, &form.csrf) {
        return again(StatusCode::FORBIDDEN, CSRF_EXPIRED.into()).await;
    }
    let Some(v) = viewer.as_ref().filter(|v| v.user.email == ctx.invite.email) else {
        return again(
            StatusCode::FORBIDDEN,
            format!("Sign in as {} to accept this invite.", ctx.invite.email),
        )
        .await;
    };
    match invites::accept(&state, &ctx.invite, None).await {
        Ok(_) => {
            crate::sessions::enter_org(state.db.conn(), &v.session.id, &ctx.invite.organization_id)
                .await?;
            Ok(see_other("/ui/"))
        }
        Err(err) => again(StatusCode::CONFLICT, refusal_message(err)?).await,
    }
}

/// Creates the account of an invited address (name and password) and joins. Needs the CSRF token;
/// refused for an address that already has an account (it signs in instead).
#[post("/a/invite/account")]
async fn accept_new_account(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<AcceptSubmission>,
) -> Result<HttpResponse, PageError> {
    let link = invites::look_up(&state, &form.token).await?;
    let LinkState::Usable(invite) = link else {
        return unusable(&req, &state, &link).await;
    };
    let ctx = context(&state, *invite).await?;
    let again = |status,
                 name_error: Option<String>,
                 password_error: Option<String>,
                 error: Option<String>| {
        let (req, state, form, ctx) = (&req, &state, &form, &ctx);
        async move {
            render_invite(
                req,
                state,
                status,
                &form.token,
                ctx,
                None,
                Some((&form.name, name_error.as_deref(), password_error.as_deref())),
                error.as_deref(),
            )
            .await
        }
    };
    if !Csrf::verify(&req, &state, &form.csrf) {
        return again(StatusCode::FORBIDDEN, None, None, Some(CSRF_EXPIRED.into())).await;
    }
    if ctx.has_account {
        return Ok(see_other(&format!(
            "/a/invite?token={}",
            crate::principal::urlencode(&form.token)
        )));
    }
    let name = DisplayName::parse(&form.name).map_err(|e| e.to_string());
    let password = NewPassword::parse(&form.password, &[&form.name, &ctx.invite.email])
        .map_err(|e| e.to_string());
    let (name, password) = match (name, password) {
        (Ok(n), Ok(p)) => (n, p),
        (n, p) => {
            return again(StatusCode::UNPROCESSABLE_ENTITY, n.err(), p.err(), None).await;
        }
    };
    let password_hash = Passwords::hash(password.into_string()).await?;
    let account = NewAccount {
        name: name.into_string(),
        password_hash,
    };
    match invites::accept(&state, &ctx.invite, Some(account)).await {
        Ok(accepted) => {
            let user = db::users::find(state.db.conn(), &accepted.user_id)
                .await?
                .ok_or(PageError::NotFound)?;
            let next = Continuation {
                request: None,
                return_to: Some("/ui/".into()),
            };
            signed_in(&req, &state, &user, "invite", &next).await
        }
        Err(err) => {
            let message = refusal_message(err)?;
            again(StatusCode::CONFLICT, None, None, Some(message)).await
        }
    }
}
