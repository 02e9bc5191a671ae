//! sealgate: an outbound SMTP gateway in front of a public agency's mail.
//!
//! A message flows through the modules in this order:
//!
//! ```text
//! smtp (session: ESMTP state machine, TLS, AUTH, limits)
//!   -> envelope (sender, recipients, canonical matching form)
//!   -> smtp::data (the message: DATA bytes, dot-unstuffed, size-capped, bare CR/LF refused)
//!   -> inspect (MIME walk) -> sevenz (archive verdict) -> policy (protocol rules, verdict)
//!   -> relay (next-hop transaction, reply mirrored)
//!   -> audit (metadata record, hash-chained, durable before the client hears 250)
//! ```
//!
//! `metrics` observes every step from the side and never sees contents; `report` lays the
//! audit's report out as HTML and mails it.

pub mod audit;
pub mod config;
pub mod credentials;
pub mod envelope;
pub mod gateway;
pub mod http;
pub mod inspect;
pub mod markup;
pub mod metrics;
pub mod notice;
pub mod policy;
pub mod reason;
pub mod relay;
pub mod reply;
pub mod report;
pub mod sevenz;
pub mod smtp;
pub mod tls;
pub mod transfer;
