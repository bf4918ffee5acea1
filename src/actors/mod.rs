//! The actors. Each file owns one kind of state; startup starts them in a fixed order (see
//! `startup::Application::build`).

pub mod backchannel_dispatcher;
pub mod domain_verifier;
pub mod event_hub;
pub mod event_stream;
pub mod invite_mailer;
pub mod key_manager;
pub mod mailer;
pub mod org;
pub mod org_registry;
pub mod outbox_relay;
pub mod outbox_retention;
pub mod pg_listener;
pub mod session_reaper;
pub mod webhook_dispatcher;
pub mod webhook_fanout;
pub mod widget_socket;
