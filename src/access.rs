//! Who may open which widget: the widget's read permission through the user's role, and the
//! organization's feature switch. One table, used for navigation, page guards and sockets alike.

use crate::domain::{Feature, Permission, PermissionSet};
use crate::live::Widget;
use crate::views::widgets::NavItem;

/// What an organization widget needs to be shown: a read permission and, for some, a feature.
/// User widgets (profile, security) need nothing and return `None`.
pub fn requirement(widget: Widget) -> Option<(Permission, Option<Feature>)> {
    match widget {
        Widget::Settings => Some((Permission::OrgSettingsRead, None)),
        Widget::Members => Some((Permission::OrgUsersRead, None)),
        Widget::Sso => Some((Permission::OrgSsoRead, Some(Feature::Sso))),
        Widget::Scim => Some((Permission::OrgScimRead, Some(Feature::DirSync))),
        Widget::Domains => Some((
            Permission::OrgSettingsRead,
            Some(Feature::DomainVerification),
        )),
        Widget::SessionPolicy => Some((
            Permission::OrgSessionPolicyRead,
            Some(Feature::SessionPolicy),
        )),
        Widget::Profile | Widget::Security => None,
    }
}

/// Whether a user with `permissions` in an org with `features` may open `widget`.
pub fn can_open(widget: Widget, permissions: PermissionSet, features: &[Feature]) -> bool {
    match requirement(widget) {
        None => true,
        Some((permission, feature)) => {
            permissions.contains(permission) && feature.is_none_or(|f| features.contains(&f))
        }
    }
}

/// Organization widgets in navigation order.
pub const ORG_WIDGETS: [NavEntry; 6] = [
    NavEntry {
        widget: Widget::Settings,
        label: "Settings",
        href: "/ui/organization/settings",
    },
    NavEntry {
        widget: Widget::Members,
        label: "Members",
        href: "/ui/organization/members",
    },
    NavEntry {
        widget: Widget::Sso,
        label: "Single sign-on",
        href: "/ui/organization/sso",
    },
    NavEntry {
        widget: Widget::Scim,
        label: "Provisioning (SCIM)",
        href: "/ui/organization/scim",
    },
    NavEntry {
        widget: Widget::Domains,
        label: "Domains",
        href: "/ui/organization/domains",
    },
    NavEntry {
        widget: Widget::SessionPolicy,
        label: "Session policy",
        href: "/ui/organization/session-policy",
    },
];

pub const USER_WIDGETS: [NavEntry; 2] = [
    NavEntry {
        widget: Widget::Profile,
        label: "Profile",
        href: "/ui/profile",
    },
    NavEntry {
        widget: Widget::Security,
        label: "Security",
        href: "/ui/security",
    },
];

#[derive(Debug, Clone, Copy)]
pub struct NavEntry {
    pub widget: Widget,
    pub label: &'static str,
    pub href: &'static str,
}

impl From<&NavEntry> for NavItem {
    fn from(e: &NavEntry) -> Self {
        NavItem {
            widget: e.widget,
            label: e.label,
            href: e.href,
        }
    }
}

/// The organization widgets this user may open, for the navigation.
pub fn org_nav(
    permissions: PermissionSet,
    features: &[Feature],
    implemented: &[Widget],
) -> Vec<NavItem> {
    ORG_WIDGETS
        .iter()
        .filter(|e| implemented.contains(&e.widget) && can_open(e.widget, permissions, features))
        .map(NavItem::from)
        .collect()
}

pub fn user_nav(implemented: &[Widget]) -> Vec<NavItem> {
    USER_WIDGETS
        .iter()
        .filter(|e| implemented.contains(&e.widget))
        .map(NavItem::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_widgets_need_permission_and_feature() {
        let read: PermissionSet = [Permission::OrgSsoRead].into_iter().collect();
        assert!(!can_open(Widget::Sso, read, &[]));
        assert!(can_open(Widget::Sso, read, &[Feature::Sso]));
        assert!(!can_open(
            Widget::Sso,
            PermissionSet::default(),
            &[Feature::Sso]
        ));
        assert!(can_open(
            Widget::Members,
            [Permission::OrgUsersRead].into_iter().collect(),
            &[]
        ));
    }

    #[test]
    fn user_widgets_need_nothing() {
        assert!(can_open(Widget::Profile, PermissionSet::default(), &[]));
        assert!(can_open(Widget::Security, PermissionSet::default(), &[]));
    }
}
