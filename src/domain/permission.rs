use super::ParseError;

/// The permissions that open the organization widgets. A user holds them through the role of their
/// membership; the org must also have the widget's [`Feature`] enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    OrgSettingsRead,
    OrgSettingsManage,
    OrgUsersRead,
    OrgUsersInvite,
    OrgUsersDelete,
    OrgUsersRoleChange,
    OrgSsoRead,
    OrgSsoManage,
    OrgScimRead,
    OrgScimManage,
    OrgSessionPolicyRead,
    OrgSessionPolicyManage,
}

impl Permission {
    pub const ALL: [Permission; 12] = [
        Permission::OrgSettingsRead,
        Permission::OrgSettingsManage,
        Permission::OrgUsersRead,
        Permission::OrgUsersInvite,
        Permission::OrgUsersDelete,
        Permission::OrgUsersRoleChange,
        Permission::OrgSsoRead,
        Permission::OrgSsoManage,
        Permission::OrgScimRead,
        Permission::OrgScimManage,
        Permission::OrgSessionPolicyRead,
        Permission::OrgSessionPolicyManage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::OrgSettingsRead => "sk_org_settings_read",
            Permission::OrgSettingsManage => "sk_org_settings_manage",
            Permission::OrgUsersRead => "sk_org_users_read",
            Permission::OrgUsersInvite => "sk_org_users_invite",
            Permission::OrgUsersDelete => "sk_org_users_delete",
            Permission::OrgUsersRoleChange => "sk_org_users_role_change",
            Permission::OrgSsoRead => "sk_org_sso_read",
            Permission::OrgSsoManage => "sk_org_sso_manage",
            Permission::OrgScimRead => "sk_org_scim_read",
            Permission::OrgScimManage => "sk_org_scim_manage",
            Permission::OrgSessionPolicyRead => "sk_org_session_policy_read",
            Permission::OrgSessionPolicyManage => "sk_org_session_policy_manage",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Permission::OrgSettingsRead => "View organization settings",
            Permission::OrgSettingsManage => "Change organization settings",
            Permission::OrgUsersRead => "View organization members",
            Permission::OrgUsersInvite => "Invite members",
            Permission::OrgUsersDelete => "Remove members",
            Permission::OrgUsersRoleChange => "Change members' roles",
            Permission::OrgSsoRead => "View single sign-on settings",
            Permission::OrgSsoManage => "Configure single sign-on",
            Permission::OrgScimRead => "View SCIM provisioning",
            Permission::OrgScimManage => "Configure SCIM provisioning",
            Permission::OrgSessionPolicyRead => "View the session policy",
            Permission::OrgSessionPolicyManage => "Change the session policy",
        }
    }

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == input)
            .ok_or_else(|| ParseError::new(format!("\"{input}\" is not a known permission.")))
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of permissions, small enough to copy into every socket subscription and compare cheaply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PermissionSet(u16);

impl PermissionSet {
    pub fn all() -> Self {
        Permission::ALL.into_iter().collect()
    }

    pub fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    pub fn insert(&mut self, permission: Permission) {
        self.0 |= permission.bit();
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }

    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Permission::as_str).collect()
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut set = PermissionSet::default();
        for p in iter {
            set.insert(p);
        }
        set
    }
}

/// Per-organization entitlements that switch whole widgets on. Settings and members need none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    Sso,
    DirSync,
    DomainVerification,
    SessionPolicy,
}

impl Feature {
    pub const ALL: [Feature; 4] = [
        Feature::Sso,
        Feature::DirSync,
        Feature::DomainVerification,
        Feature::SessionPolicy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Sso => "sso",
            Feature::DirSync => "dir_sync",
            Feature::DomainVerification => "domain_verification",
            Feature::SessionPolicy => "session_policy",
        }
    }

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == input)
            .ok_or_else(|| ParseError::new(format!("\"{input}\" is not a known feature.")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Ok(p));
        }
        assert!(Permission::parse("sk_org_everything").is_err());
    }

    #[test]
    fn set_holds_exactly_what_was_inserted() {
        let set: PermissionSet = [Permission::OrgUsersRead, Permission::OrgSsoManage]
            .into_iter()
            .collect();
        assert!(set.contains(Permission::OrgUsersRead));
        assert!(set.contains(Permission::OrgSsoManage));
        assert!(!set.contains(Permission::OrgUsersInvite));
        assert_eq!(set.names(), vec!["sk_org_users_read", "sk_org_sso_manage"]);
        assert_eq!(PermissionSet::all().iter().count(), 12);
    }
}
