//! The inbound ESMTP side: listener, session state machine, DATA reader, TLS, AUTH. It speaks
//! SMTP to the client only; what happens to a transaction is the transfer core's business.

pub mod auth;
pub mod connection;
pub mod data;
pub mod listener;
pub mod params;
pub mod proxy;
pub mod session;
