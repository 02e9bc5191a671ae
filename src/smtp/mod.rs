//! The inbound ESMTP side: listener, session state machine, DATA reader, replies, TLS, AUTH.

pub mod anvil;
pub mod auth;
pub mod connection;
pub mod data;
pub mod listener;
pub mod proxy;
pub mod reply;
pub mod session;

pub use reply::{Reply, Status};
