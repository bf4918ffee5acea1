//! Portal's integration tests: one binary, each test against its own server and database.

mod auth_screens;
mod authlib;
mod dns;
mod domains;
mod helpers;
mod live;
mod oidc;
mod skeleton;
mod smtp;
mod webhooks;
