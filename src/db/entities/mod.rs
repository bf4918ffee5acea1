//! sea-orm entities, one file a table. Only the db layer touches these; wire types are built from them.

pub mod auth_code;
pub mod auth_request;
pub mod client;
pub mod domain;
pub mod environment;
pub mod event;
pub mod event_counter;
pub mod invite;
pub mod membership;
pub mod one_time_code;
pub mod organization;
pub mod organization_feature;
pub mod permission;
pub mod rate_limit;
pub mod refresh_token;
pub mod role;
pub mod role_permission;
pub mod secret;
pub mod session;
pub mod session_client;
pub mod signing_key;
pub mod user;
pub mod webhook_attempt;
pub mod webhook_cursor;
pub mod webhook_delivery;
pub mod webhook_endpoint;
