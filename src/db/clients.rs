//! OAuth clients (the integrator's applications).

use super::entities::client;
use super::environment::DEFAULT_ENVIRONMENT;
use super::{Conn, now_ms};
use anyhow::Context;
use sea_orm::{ActiveValue::Set, EntityTrait, sea_query::OnConflict};

/// A client as the OAuth layer sees it, with its JSON lists decoded.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub name: String,
    pub is_public: bool,
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub grant_types: Vec<String>,
}

impl Client {
    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }
}

impl TryFrom<client::Model> for Client {
    type Error = anyhow::Error;

    fn try_from(m: client::Model) -> anyhow::Result<Self> {
        Ok(Self {
            redirect_uris: serde_json::from_str(&m.redirect_uris).context("bad redirect_uris")?,
            post_logout_redirect_uris: serde_json::from_str(&m.post_logout_redirect_uris)
                .context("bad post_logout_redirect_uris")?,
            grant_types: serde_json::from_str(&m.grant_types).context("bad grant_types")?,
            is_public: m.client_type == "public",
            id: m.id,
            name: m.name,
            secret_hash: m.secret_hash,
            backchannel_logout_uri: m.backchannel_logout_uri,
        })
    }
}

pub async fn find(db: &impl Conn, id: &str) -> anyhow::Result<Option<Client>> {
    client::Entity::find_by_id(id)
        .one(db)
        .await
        .context("failed to load client")?
        .map(Client::try_from)
        .transpose()
}

/// What a client is registered with; used by the demo seed and the management API.
pub struct ClientSpec<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub is_public: bool,
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub grant_types: Vec<&'a str>,
}

/// Creates the client or brings an existing one in line with `spec`.
pub async fn upsert(db: &impl Conn, spec: ClientSpec<'_>) -> anyhow::Result<()> {
    let now = now_ms();
    let row = client::ActiveModel {
        id: Set(spec.id.into()),
        environment_id: Set(DEFAULT_ENVIRONMENT.into()),
        name: Set(spec.name.into()),
        client_type: Set(if spec.is_public {
            "public"
        } else {
            "confidential"
        }
        .into()),
        secret_hash: Set(spec.secret_hash),
        redirect_uris: Set(serde_json::to_string(&spec.redirect_uris)?),
        post_logout_redirect_uris: Set(serde_json::to_string(&spec.post_logout_redirect_uris)?),
        backchannel_logout_uri: Set(spec.backchannel_logout_uri),
        grant_types: Set(serde_json::to_string(&spec.grant_types)?),
        created_at: Set(now),
        updated_at: Set(now),
    };
    use client::Column as C;
    client::Entity::insert(row)
        .on_conflict(
            OnConflict::column(C::Id)
                .update_columns([
                    C::Name,
                    C::ClientType,
                    C::SecretHash,
                    C::RedirectUris,
                    C::PostLogoutRedirectUris,
                    C::BackchannelLogoutUri,
                    C::GrantTypes,
                    C::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .with_context(|| format!("failed to store client {}", spec.id))?;
    Ok(())
}

/// Sets (or with `None` clears) a client's back-channel logout URI. Returns whether the client exists.
pub async fn set_backchannel_logout_uri(
    db: &impl Conn,
    id: &str,
    uri: Option<&str>,
) -> anyhow::Result<bool> {
    use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
    let res = client::Entity::update_many()
        .col_expr(
            client::Column::BackchannelLogoutUri,
            Expr::value(uri.map(str::to_string)),
        )
        .col_expr(client::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(client::Column::Id.eq(id))
        .exec(db)
        .await
        .context("failed to set the back-channel logout URI")?;
    Ok(res.rows_affected == 1)
}
