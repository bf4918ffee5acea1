//! What an event looks like on a widget page: which sockets may see it and the frame they get.
//!
//! Pure functions from an [`Event`] to [`Frame`]s. The hub uses them for live pushes and the widget
//! socket for replay after a reconnect, so both paths show exactly the same thing.

mod domains;
mod sessions;
pub mod stream;

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
    /// The event sequence `permissions` reflect: read before the membership was loaded, so every
    /// membership event above it is applied (again, harmlessly, if the load already saw it).
    pub as_of: i64,
}

/// What a membership event means for the member's open sockets in that organization.
#[derive(Debug, Clone, PartialEq)]
pub enum MembershipChange {
    /// The member now holds these permissions.
    Role(PermissionSet),
    /// The member left or was removed.
    Removed,
}

/// A membership event's subject and what changed, from the event alone (the payload carries the
/// role's permissions), so every node can re-authorize its sockets without the database.
pub fn membership_change(event: &Event) -> Option<(String, String, MembershipChange)> {
    let removed = match event.event_type.as_str() {
        "user.organization_membership_created" | "user.organization_membership_updated" => false,
        "user.organization_membership_deleted" => true,
        _ => return None,
    };
    let data: MembershipEvent = serde_json::from_value(event.data.clone()).ok()?;
    let change = if removed || data.membership.status != crate::db::members::ACTIVE {
        MembershipChange::Removed
    } else {
        MembershipChange::Role(
            data.membership
                .role
                .permissions
                .iter()
                .filter_map(|p| Permission::parse(p).ok())
                .collect(),
        )
    };
    Some((
        data.membership.organization_id,
        data.membership.user_id,
        change,
    ))
}

/// Event types that end a session: its sockets are closed with [`close_codes::SESSION_ENDED`].
/// The session id is read from `data.session_id` or `data.session.id`.
pub const SESSION_ENDED_EVENTS: [&str; 4] = [
    "user.logout",
    "session.revoked",
    "session.ended",
    "session.expired",
];

/// The session an event ends, if it is one of [`SESSION_ENDED_EVENTS`].
pub fn ended_session(event: &Event) -> Option<String> {
    if !SESSION_ENDED_EVENTS.contains(&event.event_type.as_str()) {
        return None;
    }
    event.data["session_id"]
        .as_str()
        .or_else(|| event.data["session"]["id"].as_str())
        .map(String::from)
}

/// Close codes in the private range (RFC 6455 §7.4.2), read by the page script.
pub mod close_codes {
    /// The session ended (signed out, revoked, expired): sign in again.
    pub const SESSION_ENDED: u16 = 4001;
    /// No longer a member of the organization.
    pub const MEMBERSHIP_ENDED: u16 = 4003;
    /// The member's new role does not include this widget.
    pub const WIDGET_NOT_ALLOWED: u16 = 4004;
    /// Too slow to keep up: reconnect and resume.
    pub const SLOW_CONSUMER: u16 = 4008;
    /// The server could not authorize the socket's resume: reconnect.
    pub const RECONNECT: u16 = 4009;
}

/// What a socket must do after its member's role changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing changed for it (the event was already reflected, or concerns someone else).
    Unchanged,
    /// Its permissions changed and it may still show the widget: the page reloads to re-render
    /// its controls; frames from here on are rendered for the new permissions.
    Reload,
    /// Close with this code and reason.
    Close { code: u16, reason: &'static str },
}

pub const REASON_REMOVED: &str = "You are no longer a member of this organization.";
pub const REASON_WIDGET: &str = "Your role no longer includes this page.";
pub const REASON_SESSION: &str = "Your session has ended. Sign in again.";

impl Audience {
    /// Applies a membership change (event `seq`) of this socket's user in its organization.
    pub fn apply(&mut self, seq: i64, change: &MembershipChange) -> Verdict {
        if seq <= self.as_of {
            return Verdict::Unchanged;
        }
        self.as_of = seq;
        match change {
            MembershipChange::Removed => Verdict::Close {
                code: close_codes::MEMBERSHIP_ENDED,
                reason: REASON_REMOVED,
            },
            MembershipChange::Role(permissions) if *permissions == self.permissions => {
                Verdict::Unchanged
            }
            MembershipChange::Role(permissions) => {
                self.permissions = *permissions;
                let allowed = crate::access::requirement(self.widget)
                    .is_none_or(|(needs, _)| permissions.contains(needs));
                if allowed {
                    Verdict::Reload
                } else {
                    Verdict::Close {
                        code: close_codes::WIDGET_NOT_ALLOWED,
                        reason: REASON_WIDGET,
                    }
                }
            }
        }
    }

    /// Whether a membership change of (`org_id`, `user_id`) concerns this socket.
    pub fn is_member(&self, org_id: &str, user_id: &str) -> bool {
        self.org_id == org_id && self.user_id == user_id
    }

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
        crate::sessions::SESSION_CREATED | crate::sessions::USER_LOGOUT => {
            sessions::frames(event).into_iter().collect()
        }
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

/// The frame that tells a page to reload (after event `seq` of `event_type`).
pub fn reload_json(seq: i64, event_type: &str) -> String {
    to_json(&Wire {
        seq,
        event_type,
        op: "reload",
        list: None,
        target: None,
        html: None,
    })
}

/// A frame rendered once for a permission combination, cheap to clone into many sockets.
pub fn render(frame: &Frame, key: PermissionSet) -> ByteString {
    ByteString::from((frame.render)(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audience(widget: Widget, permissions: PermissionSet) -> Audience {
        Audience {
            org_id: "org_1".into(),
            user_id: "usr_1".into(),
            session_id: "ses_1".into(),
            permissions,
            widget,
            as_of: 10,
        }
    }

    #[test]
    fn changes_the_load_already_saw_are_ignored() {
        let mut a = audience(Widget::Members, PermissionSet::all());
        assert_eq!(a.apply(10, &MembershipChange::Removed), Verdict::Unchanged);
        assert_eq!(a.permissions, PermissionSet::all());
    }

    #[test]
    fn a_demotion_reloads_a_page_the_new_role_may_still_open() {
        let member: PermissionSet = crate::db::roles::MEMBER_PERMISSIONS.into_iter().collect();
        let mut a = audience(Widget::Members, PermissionSet::all());
        assert_eq!(
            a.apply(11, &MembershipChange::Role(member)),
            Verdict::Reload
        );
        assert_eq!((a.permissions, a.as_of), (member, 11));
        // The same role again (another node's replay, say) changes nothing.
        assert_eq!(
            a.apply(12, &MembershipChange::Role(member)),
            Verdict::Unchanged
        );
    }

    #[test]
    fn a_role_without_the_widget_closes_it_and_removal_closes_everything() {
        let member: PermissionSet = crate::db::roles::MEMBER_PERMISSIONS.into_iter().collect();
        let mut sso = audience(Widget::Sso, PermissionSet::all());
        assert_eq!(
            sso.apply(11, &MembershipChange::Role(member)),
            Verdict::Close {
                code: close_codes::WIDGET_NOT_ALLOWED,
                reason: REASON_WIDGET
            }
        );
        let mut profile = audience(Widget::Profile, member);
        assert!(matches!(
            profile.apply(11, &MembershipChange::Removed),
            Verdict::Close {
                code: close_codes::MEMBERSHIP_ENDED,
                ..
            }
        ));
    }

    #[test]
    fn session_ending_events_name_their_session() {
        let event = |t: &str, data| Event {
            id: "evt_1".into(),
            seq: 1,
            event_type: t.into(),
            organization_id: None,
            user_id: Some("usr_1".into()),
            occurred_at: String::new(),
            data,
        };
        let flat = event(
            "session.revoked",
            serde_json::json!({ "session_id": "ses_9" }),
        );
        let nested = event(
            "session.ended",
            serde_json::json!({ "session": { "id": "ses_8" } }),
        );
        let other = event("user.updated", serde_json::json!({ "session_id": "ses_7" }));
        assert_eq!(ended_session(&flat).as_deref(), Some("ses_9"));
        assert_eq!(ended_session(&nested).as_deref(), Some("ses_8"));
        assert_eq!(ended_session(&other), None);
    }
}
