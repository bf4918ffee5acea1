//! The integrator's event stream filter: which outbox events a `GET /api/v1/events/stream`
//! connection (and a `GET /api/v1/events` page) carries. Events travel unchanged, as the webhook
//! body and the outbox hold them: `{id, seq, type, organization_id, user_id?, occurred_at, data}`.

use crate::db::events::Event;
use crate::webhooks::filter::{EventTypeFilter, FilterError};

#[derive(Debug, Clone)]
pub struct StreamFilter {
    /// Only this organization's events (environment-wide events have none and are left out).
    pub organization_id: Option<String>,
    /// Only these types (exact, `prefix.*` or `*`); `None` is every type.
    pub types: Option<EventTypeFilter>,
}

impl StreamFilter {
    /// From the query's `organization_id` and `types` (comma-separated).
    pub fn parse(organization_id: Option<&str>, types: Option<&str>) -> Result<Self, FilterError> {
        let types = match types.map(str::trim).filter(|t| !t.is_empty()) {
            Some(list) => Some(EventTypeFilter::parse(
                &list.split(',').map(str::trim).collect::<Vec<_>>(),
            )?),
            None => None,
        };
        Ok(Self {
            organization_id: organization_id
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(String::from),
            types,
        })
    }

    pub fn matches(&self, event: &Event) -> bool {
        self.organization_id
            .as_ref()
            .is_none_or(|org| event.organization_id.as_ref() == Some(org))
            && self
                .types
                .as_ref()
                .is_none_or(|t| t.matches(&event.event_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(t: &str, org: Option<&str>) -> Event {
        Event {
            id: "evt_1".into(),
            seq: 1,
            event_type: t.into(),
            organization_id: org.map(String::from),
            user_id: None,
            occurred_at: String::new(),
            data: serde_json::Value::Null,
        }
    }

    #[test]
    fn filters_by_organization_and_type() {
        let f = StreamFilter::parse(Some("org_a"), Some("user.*, organization.domain_created"))
            .unwrap();
        assert!(f.matches(&event("user.created", Some("org_a"))));
        assert!(f.matches(&event("organization.domain_created", Some("org_a"))));
        assert!(!f.matches(&event("user.created", Some("org_b"))));
        assert!(!f.matches(&event("user.created", None)));
        assert!(!f.matches(&event("organization.domain_deleted", Some("org_a"))));
        let all = StreamFilter::parse(None, Some("")).unwrap();
        assert!(all.matches(&event("anything.at_all", None)));
        assert!(StreamFilter::parse(None, Some("not a type")).is_err());
    }
}
