//! What an event looks like on a widget page: which sockets may see it and the frame they get.
//!
//! Pure functions from an [`Event`] to [`Frame`]s. The hub uses them for live pushes and the widget
//! socket for replay after a reconnect, so both paths show exactly the same thing.

mod domains;

use crate::db::events::Event;
use crate::domain::{Permission, PermissionSet};
use crate::views;
use crate::wire::MembershipEvent;
use bytestring::ByteString;
use serde::Serialize;
use std::sync::Arc;

/// A widget page, as named in `/ui/live?widget=…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Widget {
    Members,
    Settings,
    Domains,
    SessionPolicy,
    Sso,
    Scim,
    Profile,
    Security,
}

impl Widget {
    pub const ALL: [Widget; 8] = [
        Widget::Members,
        Widget::Settings,
        Widget::Domains,
        Widget::SessionPolicy,
        Widget::Sso,
        Widget::Scim,
        Widget::Profile,
        Widget::Security,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Widget::Members => "members",
            Widget::Settings => "settings",
            Widget::Domains => "domains",
            Widget::SessionPolicy => "session-policy",
            Widget::Sso => "sso",
            Widget::Scim => "scim",
            Widget::Profile => "profile",
            Widget::Security => "security",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.as_str() == s)
    }
}

/// Renders a frame's JSON for a viewer holding the given permissions.
pub type Render = Arc<dyn Fn(PermissionSet) -> String + Send + Sync>;

/// One message for widget pages, with the rule for who may receive it.
#[derive(Clone)]
pub struct Frame {
    pub seq: i64,
    /// Sent to sockets of this organization…
    pub org_id: Option<String>,
    /// …or of this user (any organization).
    pub user_id: Option<String>,
    /// The page it is for; `None` for every page.
    pub widget: Option<Widget>,
    /// Required to see it at all.
    pub needs: Option<Permission>,
    /// The permissions that change how it renders (e.g. action buttons); the hub renders once per
    /// distinct combination among its receivers.
    pub relevant: PermissionSet,
    pub render: Render,
}

/// Who a widget socket is, for filtering frames.
#[derive(Debug, Clone)]
pub struct Audience {
    pub org_id: String,
    pub user_id: String,
    pub session_id: String,
    pub permissions: PermissionSet,
    pub widget: Widget,
}

impl Audience {
    pub fn accepts(&self, frame: &Frame) -> bool {
        let in_scope = match (&frame.org_id, &frame.user_id) {
            (Some(org), Some(user)) => *org == self.org_id && *user == self.user_id,
            (Some(org), None) => *org == self.org_id,
            (None, Some(user)) => *user == self.user_id,
            (None, None) => false,
        };
        in_scope
            && frame.widget.is_none_or(|w| w == self.widget)
            && frame.needs.is_none_or(|p| self.permissions.contains(p))
    }

    /// The permissions of this audience that matter to `frame`'s rendering.
    pub fn render_key(&self, frame: &Frame) -> PermissionSet {
        frame
            .relevant
            .iter()
            .filter(|p| self.permissions.contains(*p))
            .collect()
    }
}

/// The JSON a page script receives.
#[derive(Serialize)]
pub struct Wire<'a> {
    pub seq: i64,
    #[serde(rename = "type")]
    pub event_type: &'a str,
    /// `upsert` (replace or insert the element with id `target` in list `list`), `remove`,
    /// `reload` (the page must reload) or `signout`.
    pub op: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

pub fn to_json(wire: &Wire<'_>) -> String {
    serde_json::to_string(wire).unwrap_or_else(|_| String::from("{}"))
}

/// The frames an event produces; most events produce none or one.
pub fn frames_for(event: &Event) -> Vec<Frame> {
    match event.event_type.as_str() {
        "user.organization_membership_created" | "user.organization_membership_updated" => {
            member_upsert(event).into_iter().collect()
        }
        "user.organization_membership_deleted" => member_removed(event).into_iter().collect(),
        t if t.starts_with("organization.domain_") => domains::frames(event).into_iter().collect(),
        "organization.updated" => settings_replaced(event).into_iter().collect(),
        _ => Vec::new(),
    }
}

fn member_upsert(event: &Event) -> Option<Frame> {
    let data: MembershipEvent = serde_json::from_value(event.data.clone()).ok()?;
    let seq = event.seq;
    let event_type = event.event_type.clone();
    let row = views::widgets::MemberView::from(&data);
    let target = views::widgets::member_dom_id(&row.membership_id);
    Some(Frame {
        seq,
        org_id: Some(data.membership.organization_id.clone()),
        user_id: None,
        widget: Some(Widget::Members),
        needs: Some(Permission::OrgUsersRead),
        relevant: views::widgets::MEMBER_ROW_PERMISSIONS.into_iter().collect(),
        render: Arc::new(move |perms| {
            let html = views::widgets::member_row(&row, perms).into_string();
            to_json(&Wire {
                seq,
                event_type: &event_type,
                op: "upsert",
                list: Some("members"),
                target: Some(target.clone()),
                html: Some(html),
            })
        }),
    })
}

/// The settings summary readers see, replaced when the organization changes. Managers' pages hold
/// a form instead (no element with that id), so what they are typing is never overwritten.
fn settings_replaced(event: &Event) -> Option<Frame> {
    let org: crate::wire::OrganizationJson =
        serde_json::from_value(event.data.get("organization")?.clone()).ok()?;
    let html = views::settings::summary(
        &org.name,
        org.logo_url.as_deref().unwrap_or(""),
        &org.allowed_email_domains.join("\n"),
    )
    .into_string();
    let json = to_json(&Wire {
        seq: event.seq,
        event_type: &event.event_type,
        op: "replace",
        list: None,
        target: Some(views::settings::SUMMARY_ID.into()),
        html: Some(html),
    });
    Some(Frame {
        seq: event.seq,
        org_id: Some(org.id),
        user_id: None,
        widget: Some(Widget::Settings),
        needs: Some(Permission::OrgSettingsRead),
        relevant: PermissionSet::default(),
        render: Arc::new(move |_| json.clone()),
    })
}

fn member_removed(event: &Event) -> Option<Frame> {
    let data: MembershipEvent = serde_json::from_value(event.data.clone()).ok()?;
    let json = to_json(&Wire {
        seq: event.seq,
        event_type: &event.event_type,
        op: "remove",
        list: Some("members"),
        target: Some(views::widgets::member_dom_id(&data.membership.id)),
        html: None,
    });
    Some(Frame {
        seq: event.seq,
        org_id: Some(data.membership.organization_id),
        user_id: None,
        widget: Some(Widget::Members),
        needs: Some(Permission::OrgUsersRead),
        relevant: PermissionSet::default(),
        render: Arc::new(move |_| json.clone()),
    })
}

/// A frame rendered once for a permission combination, cheap to clone into many sockets.
pub fn render(frame: &Frame, key: PermissionSet) -> ByteString {
    ByteString::from((frame.render)(key))
}
