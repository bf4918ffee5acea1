//! Portal's integration tests: one binary, each test against its own server and database.

mod auth_screens;
mod authlib;
mod browser;
mod dns;
mod domains;
mod helpers;
mod invites;
mod live;
mod oidc;
mod org_widgets;
mod passkeys;
mod sessions;
mod skeleton;
mod smtp;
mod two_nodes;
mod webhooks;
