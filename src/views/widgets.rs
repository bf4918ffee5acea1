//! The `/ui/` shell and the widget pages.

use super::layout::{BodyAttrs, Brand, page};
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
                        div.who { (v.user_name) }
                        div.muted { (v.user_email) }
                        p { a href="/oidc/logout" { "Sign out" } }
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
            name: e.user.name.clone(),
            email: e.user.email.clone(),
            role: e.membership.role.display_name.clone(),
            status: e.membership.status.clone(),
            joined,
        }
    }
}

/// The permissions that change how a member row renders.
pub const MEMBER_ROW_PERMISSIONS: [Permission; 2] =
    [Permission::OrgUsersRoleChange, Permission::OrgUsersDelete];

pub fn member_dom_id(membership_id: &str) -> String {
    format!("member-{membership_id}")
}

pub fn member_row(m: &MemberView, _viewer: PermissionSet) -> Markup {
    html! {
        tr id=(member_dom_id(&m.membership_id)) {
            td { (if m.name.is_empty() { "—" } else { &m.name }) }
            td { (m.email) }
            td { (m.role) }
            td { span class=(format!("badge {}", m.status)) { (status_label(&m.status)) } }
            td { (m.joined) }
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

pub struct MembersView<'a> {
    pub rows: &'a [MemberView],
    pub search: &'a str,
    pub next_href: Option<String>,
    pub viewer: PermissionSet,
}

pub fn members(v: &MembersView<'_>) -> Markup {
    html! {
        h1 { "Members" }
        p.live-status data-live-status aria-live="polite" { "" }
        form.toolbar method="get" action="/ui/organization/members" role="search" {
            div.field {
                label for="q" { "Search by name or email" }
                input id="q" name="q" type="search" value=(v.search);
            }
            button type="submit" { "Search" }
        }
        table {
            caption.skip { "Organization members" }
            thead { tr { th scope="col" { "Name" } th scope="col" { "Email" } th scope="col" { "Role" } th scope="col" { "Status" } th scope="col" { "Joined" } } }
            tbody data-live-list="members" {
                @for row in v.rows { (member_row(row, v.viewer)) }
            }
        }
        p.muted data-live-empty hidden[!v.rows.is_empty()] {
            @if v.search.is_empty() { "No members yet." } @else { "No members match your search." }
        }
        @if let Some(next) = &v.next_href {
            div.pager { a.button href=(next) { "Next page" } }
        }
    }
}
