//! The `/ui/` shell and the widget pages.

use super::layout::{BodyAttrs, Brand, csrf_field, page};
use crate::db::members::MemberRow;
use crate::domain::{Permission, PermissionSet};
use crate::live::Widget;
use crate::wire::MembershipEvent;
use maud::{Markup, html};

/// A link in the widget navigation.
#[derive(Debug, Clone)]
pub struct NavItem {
    pub widget: Widget,
    pub label: &'static str,
    pub href: &'static str,
}

pub struct ShellView<'a> {
    pub brand: &'a Brand,
    pub org_name: Option<&'a str>,
    pub org_logo: Option<&'a str>,
    pub user_name: &'a str,
    pub user_email: &'a str,
    /// Organization widgets the user may open, in display order.
    pub org_nav: &'a [NavItem],
    /// Widgets every signed-in user has.
    pub user_nav: &'a [NavItem],
    pub current: Option<Widget>,
    /// The page's event sequence, for the live script to resume from.
    pub live_seq: Option<i64>,
}

/// The page frame around a widget: navigation, organization, user menu.
pub fn shell(v: &ShellView<'_>, title: &str, content: Markup) -> Markup {
    let live_widget = v.live_seq.and(v.current.map(Widget::as_str));
    page(
        v.brand,
        title,
        BodyAttrs {
            live_widget,
            live_seq: v.live_seq,
        },
        html! {
            div.shell {
                nav aria-label="Widgets" {
                    div.org {
                        @if let Some(logo) = v.org_logo { img src=(logo) alt=""; }
                        span { (v.org_name.unwrap_or(&v.brand.name)) }
                    }
                    @if !v.org_nav.is_empty() {
                        div.section { "Organization" }
                        (nav_list(v.org_nav, v.current))
                    }
                    div.section { "Account" }
                    (nav_list(v.user_nav, v.current))
                    div.user-menu {
                        div.who { (if v.user_name.is_empty() { v.user_email } else { v.user_name }) }
                        div.muted { (v.user_email) }
                        ul.user-links {
                            li { a href="/ui/profile" { "Profile" } }
                            li { a href="/ui/security" { "Security" } }
                            li { a href="/oidc/logout" { "Sign out" } }
                        }
                    }
                }
                main id="main" {
                    (content)
                }
            }
        },
    )
}

fn nav_list(items: &[NavItem], current: Option<Widget>) -> Markup {
    html! {
        ul {
            @for item in items {
                li {
                    a href=(item.href) aria-current=[(Some(item.widget) == current).then_some("page")] {
                        (item.label)
                    }
                }
            }
        }
    }
}

/// The landing page of `/ui/` when no widget is chosen.
pub fn home(user_name: &str, items: &[NavItem]) -> Markup {
    html! {
        h1 { "Welcome, " (user_name) }
        p.muted { "Choose what to manage." }
        ul {
            @for item in items { li { a href=(item.href) { (item.label) } } }
        }
    }
}

/// One member as the members widget shows them.
#[derive(Debug, Clone)]
pub struct MemberView {
    pub membership_id: String,
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub role: String,
    pub status: String,
    pub joined: String,
}

impl From<&MemberRow> for MemberView {
    fn from(r: &MemberRow) -> Self {
        Self {
            membership_id: r.membership_id.clone(),
            user_id: r.user_id.clone(),
            name: r.name.clone(),
            email: r.email.clone(),
            role: r.role_display_name.clone(),
            status: r.status.clone(),
            joined: super::date(r.created_at),
        }
    }
}

impl From<&MembershipEvent> for MemberView {
    fn from(e: &MembershipEvent) -> Self {
        let joined = chrono::DateTime::parse_from_rfc3339(&e.membership.created_at)
            .map(|d| super::date(d.timestamp_millis()))
            .unwrap_or_default();
        Self {
            membership_id: e.membership.id.clone(),
            user_id: e.user.id.clone(),
            name: e.user.name.clone(),
            email: e.user.email.clone(),
            role: e.membership.role.display_name.clone(),
            status: e.membership.status.clone(),
            joined,
        }
    }
}

/// The permissions that change how a member row renders.
pub const MEMBER_ROW_PERMISSIONS: [Permission; 3] = [
    Permission::OrgUsersRoleChange,
    Permission::OrgUsersDelete,
    Permission::OrgUsersInvite,
];

pub fn member_dom_id(membership_id: &str) -> String {
    format!("member-{membership_id}")
}

/// A member's row. It carries no per-viewer secret (live pushes share it between viewers with the
/// same permissions): changes happen on the member's own page, whose forms carry the CSRF token.
pub fn member_row(m: &MemberView, viewer: PermissionSet) -> Markup {
    let manage = viewer.contains(Permission::OrgUsersRoleChange)
        || viewer.contains(Permission::OrgUsersDelete)
        || (m.status == "invited" && viewer.contains(Permission::OrgUsersInvite));
    html! {
        tr id=(member_dom_id(&m.membership_id)) {
            td { (if m.name.is_empty() { "—" } else { &m.name }) }
            td { (m.email) }
            td { (m.role) }
            td { span class=(format!("badge {}", m.status)) { (status_label(&m.status)) } }
            td { (m.joined) }
            td {
                @if manage {
                    a href=(format!("/ui/organization/members/{}", m.user_id)) aria-label=(format!("Manage {}", m.email)) { "Manage" }
                }
            }
        }
    }
}

fn status_label(status: &str) -> &str {
    match status {
        "active" => "Active",
        "invited" => "Invited",
        other => other,
    }
}

/// A role as forms offer it.
#[derive(Debug, Clone)]
pub struct RoleOption {
    pub name: String,
    pub display_name: String,
}

/// The invite form as typed, with its errors.
#[derive(Debug, Clone, Default)]
pub struct InviteForm {
    pub emails: String,
    pub role: String,
    pub emails_error: Option<String>,
    pub role_error: Option<String>,
}

pub struct MembersView<'a> {
    pub rows: &'a [MemberView],
    pub search: &'a str,
    pub total: u64,
    pub next_href: Option<String>,
    pub first_href: Option<String>,
    pub viewer: PermissionSet,
    pub csrf: &'a str,
    pub roles: &'a [RoleOption],
    pub invite: &'a InviteForm,
    /// A message for the whole page, e.g. "3 invites sent" or a refusal.
    pub notice: Option<(&'a str, &'a str)>,
    pub seats: Option<(u64, i32)>,
}

fn role_select(id: &str, roles: &[RoleOption], selected: &str, error: Option<&str>) -> Markup {
    html! {
        select id=(id) name="role" aria-invalid=[error.map(|_| "true")]
            aria-describedby=[error.map(|_| format!("{id}-error"))] {
            @for role in roles {
                option value=(role.name) selected[role.name == selected] { (role.display_name) }
            }
        }
        @if let Some(error) = error { p.field-error id=(format!("{id}-error")) { (error) } }
    }
}

pub fn members(v: &MembersView<'_>) -> Markup {
    html! {
        h1 { "Members" }
        p.live-status data-live-status aria-live="polite" { "" }
        @if let Some((kind, text)) = v.notice {
            div class=(format!("alert {kind}")) role=(if kind == "error" { "alert" } else { "status" }) { (text) }
        }
        @if v.viewer.contains(Permission::OrgUsersInvite) {
            details.panel open[v.invite.emails_error.is_some() || v.invite.role_error.is_some()] {
                summary { "Invite people" }
                form method="post" action="/ui/organization/members/invite" novalidate {
                    (csrf_field(v.csrf))
                    div.field {
                        label for="emails" { "Email addresses" }
                        textarea id="emails" name="emails" rows="3" placeholder="ann@example.com, bob@example.com"
                            aria-invalid=[v.invite.emails_error.as_ref().map(|_| "true")]
                            aria-describedby=[v.invite.emails_error.as_ref().map(|_| "emails-error")] { (v.invite.emails) }
                        @if let Some(error) = &v.invite.emails_error { p.field-error id="emails-error" { (error) } }
                    }
                    div.field {
                        label for="invite-role" { "Role" }
                        (role_select("invite-role", v.roles, if v.invite.role.is_empty() { "member" } else { &v.invite.role }, v.invite.role_error.as_deref()))
                    }
                    @if let Some((used, max)) = v.seats { p.muted { (used) " of " (max) " seats in use (members and pending invites)." } }
                    button.primary type="submit" { "Send invites" }
                }
            }
        }
        form.toolbar method="get" action="/ui/organization/members" role="search" {
            div.field {
                label for="q" { "Search by name or email" }
                input id="q" name="q" type="search" value=(v.search);
            }
            button type="submit" { "Search" }
        }
        p.muted { (v.total) @if v.total == 1 { " member" } @else { " members" } @if !v.search.is_empty() { " match your search" } }
        table {
            caption.skip { "Organization members" }
            thead { tr { th scope="col" { "Name" } th scope="col" { "Email" } th scope="col" { "Role" } th scope="col" { "Status" } th scope="col" { "Joined" } th scope="col" { span.skip { "Actions" } } } }
            tbody data-live-list="members" {
                @for row in v.rows { (member_row(row, v.viewer)) }
            }
        }
        p.muted data-live-empty hidden[!v.rows.is_empty()] {
            @if v.search.is_empty() { "No members yet." } @else { "No members match your search." }
        }
        div.pager {
            @if let Some(first) = &v.first_href { a.button href=(first) { "First page" } " " }
            @if let Some(next) = &v.next_href { a.button href=(next) { "Next page" } }
        }
    }
}

/// One member's page: what they are, and the changes the viewer may make.
pub struct MemberPage<'a> {
    pub member: &'a MemberView,
    pub role_name: &'a str,
    pub viewer: PermissionSet,
    pub csrf: &'a str,
    pub roles: &'a [RoleOption],
    pub invite_id: Option<&'a str>,
    pub notice: Option<(&'a str, &'a str)>,
    pub role_error: Option<&'a str>,
}

pub fn member_page(v: &MemberPage<'_>) -> Markup {
    let m = v.member;
    let base = format!("/ui/organization/members/{}", m.user_id);
    html! {
        p { a href="/ui/organization/members" { "← All members" } }
        h1 { (if m.name.is_empty() { &m.email } else { &m.name }) }
        @if let Some((kind, text)) = v.notice {
            div class=(format!("alert {kind}")) role=(if kind == "error" { "alert" } else { "status" }) { (text) }
        }
        dl.panel {
            dt { "Email" } dd { (m.email) }
            dt { "Role" } dd { (m.role) }
            dt { "Status" } dd { span class=(format!("badge {}", m.status)) { (status_label(&m.status)) } }
            dt { "Joined" } dd { (m.joined) }
        }
        @if v.viewer.contains(Permission::OrgUsersRoleChange) {
            h2 { "Change role" }
            form.toolbar method="post" action=(format!("{base}/role")) {
                (csrf_field(v.csrf))
                div.field {
                    label for="role" { "Role" }
                    (role_select("role", v.roles, v.role_name, v.role_error))
                }
                button.primary type="submit" { "Change role" }
            }
        }
        @if m.status == "invited" && v.viewer.contains(Permission::OrgUsersInvite) {
            @if let Some(invite_id) = v.invite_id {
                h2 { "Invite" }
                form.toolbar method="post" action=(format!("{base}/resend")) {
                    (csrf_field(v.csrf))
                    input type="hidden" name="invite" value=(invite_id);
                    button type="submit" { "Resend invite" }
                }
                form.toolbar method="post" action=(format!("{base}/revoke")) {
                    (csrf_field(v.csrf))
                    input type="hidden" name="invite" value=(invite_id);
                    button.danger type="submit" { "Revoke invite" }
                }
            }
        }
        @if v.viewer.contains(Permission::OrgUsersDelete) {
            h2 { "Remove from the organization" }
            form.toolbar method="post" action=(format!("{base}/remove")) {
                (csrf_field(v.csrf))
                button.danger type="submit" { "Remove " (m.email) }
            }
        }
    }
}
