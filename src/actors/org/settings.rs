//! The org actor's messages about the organization itself: its settings (name, logo, allowed email
//! domains, seat limit, external id), its feature switches, and deleting it. Each writes
//! `organization.updated` (or `organization.deleted`) with the organization as it then stands.

use super::{OrgActor, OrgError};
use crate::actors::outbox_relay::OutboxSignal;
use crate::db::events::{self, NewEvent};
use crate::db::orgs::{Organization, OrganizationUpdate};
use crate::db::{self, Db};
use crate::domain::Feature;
use crate::wire::OrganizationJson;
use actix::prelude::*;
use std::time::Instant;

/// Changes the organization's settings; fields left `None` keep their value.
#[derive(Message, Debug)]
#[rtype(result = "Result<Organization, OrgError>")]
pub struct UpdateSettings {
    pub change: OrganizationUpdate,
}

/// Switches features on or off; features not named keep their state.
#[derive(Message, Debug)]
#[rtype(result = "Result<Vec<Feature>, OrgError>")]
pub struct SetFeatures {
    pub features: Vec<(Feature, bool)>,
}

/// Deletes the organization with its memberships, invites and domains.
#[derive(Message, Debug)]
#[rtype(result = "Result<(), OrgError>")]
pub struct DeleteOrganization;

pub fn organization_payload(org: &Organization, features: &[Feature]) -> serde_json::Value {
    serde_json::json!({
        "organization": OrganizationJson::from(org),
        "features": features.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
    })
}

macro_rules! atomic {
    ($msg:ty, $ret:ty, $f:ident) => {
        impl Handler<$msg> for OrgActor {
            type Result = AtomicResponse<Self, Result<$ret, OrgError>>;

            fn handle(&mut self, msg: $msg, _ctx: &mut Self::Context) -> Self::Result {
                self.last_used = Instant::now();
                let (db, outbox, org_id) =
                    (self.db.clone(), self.outbox.clone(), self.org_id.clone());
                AtomicResponse::new(Box::pin(
                    async move { $f(&db, &outbox, &org_id, msg).await }.into_actor(self),
                ))
            }
        }
    };
}

atomic!(UpdateSettings, Organization, update_settings);
atomic!(SetFeatures, Vec<Feature>, set_features);
atomic!(DeleteOrganization, (), delete_organization);

async fn update_settings(
    db: &Db,
    outbox: &OutboxSignal,
    org_id: &str,
    msg: UpdateSettings,
) -> Result<Organization, OrgError> {
    let tx = db.begin_write().await?;
    if db::orgs::find(&tx, org_id).await?.is_none() {
        return Err(OrgError::NotFound);
    }
    if let Some(Some(external_id)) = &msg.change.external_id
        && let Some(other) = db::orgs::find_by_external_id(&tx, external_id).await?
        && other.id != org_id
    {
        return Err(OrgError::Conflict(format!(
            "Another organization has the external id \"{external_id}\"."
        )));
    }
    let org = db::orgs::update(&tx, org_id, msg.change).await?;
    let features = db::orgs::enabled_features(&tx, org_id).await?;
    let published = events::append(
        &tx,
        vec![NewEvent {
            event_type: "organization.updated",
            organization_id: Some(org_id.into()),
            user_id: None,
            data: organization_payload(&org, &features),
        }],
    )
    .await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    outbox.committed_events(&published);
    Ok(org)
}

async fn set_features(
    db: &Db,
    outbox: &OutboxSignal,
    org_id: &str,
    msg: SetFeatures,
) -> Result<Vec<Feature>, OrgError> {
    let tx = db.begin_write().await?;
    let org = db::orgs::find(&tx, org_id)
        .await?
        .ok_or(OrgError::NotFound)?;
    for (feature, enabled) in msg.features {
        db::orgs::set_feature(&tx, org_id, feature, enabled).await?;
    }
    let features = db::orgs::enabled_features(&tx, org_id).await?;
    let published = events::append(
        &tx,
        vec![NewEvent {
            event_type: "organization.updated",
            organization_id: Some(org_id.into()),
            user_id: None,
            data: organization_payload(&org, &features),
        }],
    )
    .await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    outbox.committed_events(&published);
    Ok(features)
}

async fn delete_organization(
    db: &Db,
    outbox: &OutboxSignal,
    org_id: &str,
    _msg: DeleteOrganization,
) -> Result<(), OrgError> {
    let tx = db.begin_write().await?;
    let org = db::orgs::find(&tx, org_id)
        .await?
        .ok_or(OrgError::NotFound)?;
    let features = db::orgs::enabled_features(&tx, org_id).await?;
    // Sessions in the organization lose it; the rows cascade with the organization.
    db::sessions::clear_organization(&tx, org_id).await?;
    db::orgs::delete(&tx, org_id).await?;
    let published = events::append(
        &tx,
        vec![NewEvent {
            event_type: "organization.deleted",
            organization_id: Some(org_id.into()),
            user_id: None,
            data: organization_payload(&org, &features),
        }],
    )
    .await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    outbox.committed_events(&published);
    Ok(())
}
