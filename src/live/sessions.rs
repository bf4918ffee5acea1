//! Live frames for the security page: a new session of the user appears in their list, an ended one
//! disappears. Frames go to the user's own sockets only (any organization).

use super::{Frame, Widget, Wire, to_json};
use crate::db::events::Event;
use crate::domain::PermissionSet;
use crate::views::security::{SessionRow, session_dom_id, session_row};
use crate::wire::sessions::SessionJson;
use std::sync::Arc;

pub fn frames(event: &Event) -> Option<Frame> {
    let session: SessionJson = serde_json::from_value(event.data["user_session"].clone()).ok()?;
    let (op, html) = match event.event_type.as_str() {
        crate::sessions::SESSION_CREATED => (
            "upsert",
            Some(session_row(&SessionRow::from_json(&session)).into_string()),
        ),
        crate::sessions::USER_LOGOUT => ("remove", None),
        _ => return None,
    };
    let json = to_json(&Wire {
        seq: event.seq,
        event_type: &event.event_type,
        op,
        list: Some("sessions"),
        target: Some(session_dom_id(&session.id)),
        html,
    });
    Some(Frame {
        seq: event.seq,
        org_id: None,
        user_id: Some(session.user_id),
        widget: Some(Widget::Security),
        needs: None,
        relevant: PermissionSet::default(),
        render: Arc::new(move |_| json.clone()),
    })
}
