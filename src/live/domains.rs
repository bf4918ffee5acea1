//! Frames for `organization.domain_*` events on the domains widget: the row is replaced by the one
//! the event describes (so a domain turns green the moment it is verified), or removed when the
//! domain is deleted. Seen by the organization's sockets whose role may read its settings.

use super::{Frame, Widget, Wire, to_json};
use crate::db::events::Event;
use crate::domain::Permission;
use crate::domains::schedule::EVENT_DELETED;
use crate::views::domains::{DOMAIN_ROW_PERMISSIONS, DomainView, domain_dom_id, domain_row};
use crate::wire::domains::DomainEvent;
use std::sync::Arc;

pub fn frames(event: &Event) -> Option<Frame> {
    let data: DomainEvent = serde_json::from_value(event.data.clone()).ok()?;
    let seq = event.seq;
    let org_id = Some(data.domain.organization_id.clone());
    let target = domain_dom_id(&data.domain.id);
    if event.event_type == EVENT_DELETED {
        let json = to_json(&Wire {
            seq,
            event_type: &event.event_type,
            op: "remove",
            list: Some("domains"),
            target: Some(target),
            html: None,
        });
        return Some(Frame {
            seq,
            org_id,
            user_id: None,
            widget: Some(Widget::Domains),
            needs: Some(Permission::OrgSettingsRead),
            relevant: Default::default(),
            render: Arc::new(move |_| json.clone()),
        });
    }
    let row = DomainView::from(&data.domain);
    let event_type = event.event_type.clone();
    Some(Frame {
        seq,
        org_id,
        user_id: None,
        widget: Some(Widget::Domains),
        needs: Some(Permission::OrgSettingsRead),
        relevant: DOMAIN_ROW_PERMISSIONS.into_iter().collect(),
        render: Arc::new(move |perms| {
            to_json(&Wire {
                seq,
                event_type: &event_type,
                op: "upsert",
                list: Some("domains"),
                target: Some(target.clone()),
                html: Some(domain_row(&row, perms).into_string()),
            })
        }),
    })
}
