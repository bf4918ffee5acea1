//! `portal bench …`: throughput figures measured on this machine, run by hand in release builds
//! (`cargo run --release -- bench <target>`). Each bench builds what it needs in a scratch database.

pub mod auth;
pub mod live;
pub mod members;
pub mod webhooks;
