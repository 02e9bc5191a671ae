//! The label values sealgate puts on its metrics: closed sets, so a metric can never grow a
//! series per address, subject or file name, and a dashboard can list every value it will see.

/// Whether a message went to at least one protected mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageClass {
    Ordinary,
    Protected,
}

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The next hop accepted it and the client heard 250.
    Relayed,
    /// The client heard 5xx (policy or next hop).
    Rejected,
    /// The client heard 4xx and will retry from its own queue.
    Deferred,
}

/// How a client session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionResult {
    /// The client said QUIT (or closed after a completed exchange).
    Completed,
    /// Refused at connect: too many sessions in all or from this client.
    RefusedLimit,
    /// The client was silent too long.
    Timeout,
    /// An I/O, TLS or protocol error ended the session.
    Error,
    /// The client went away in the middle, or the session ended without saying how.
    Dropped,
    /// Closed with 421 because the gateway is shutting down.
    Shutdown,
}

/// Why a next-hop transaction failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextHopError {
    Connect,
    Timeout,
    Tls,
    Protocol,
    Closed,
    Reply4xx,
    Reply5xx,
}

/// Which side of sealgate a TLS session is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// STARTTLS from the agency's mail server to sealgate.
    Inbound,
    /// STARTTLS from sealgate to the next hop.
    Outbound,
}

/// Whether a configuration reload (SIGHUP) took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadResult {
    Success,
    Failure,
}

/// Why an AUTH attempt failed (`sealgate_auth_failures_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// Wrong user name or password.
    Credentials,
    /// The response could not be decoded, or the client cancelled.
    Malformed,
    /// Refused unchecked: the client used up its attempts (`421 4.7.0`).
    Throttled,
}

/// Refusal reasons that get a series of their own; any other code counts as `other`.
/// The first group are the policy's codes, the second the session's.
pub const REJECTION_REASONS: &[&str] = &[
    "no_archive",
    "not_7z",
    "archive_corrupt",
    "archive_not_encrypted",
    "archive_partially_encrypted",
    "header_not_encrypted",
    "weak_key_derivation",
    "other_attachment",
    "tnef",
    "unjudgeable_crypto_blob",
    "identifier_in_text",
    "password_in_message",
    "unrelated_recipient",
    "protocol_not_in_force",
    "mime_unparseable",
    "mime_too_complex",
    "relay_denied",
    "bad_address",
    "message_too_big",
    "too_many_recipients",
    "bare_newline",
    "syntax",
    "other",
];

/// The `reason` label for a refusal code: the code itself when it is in the fixed set,
/// `other` for anything else, so an unexpected code cannot add series.
pub fn rejection_reason(code: &str) -> &'static str {
    REJECTION_REASONS
        .iter()
        .copied()
        .find(|known| *known == code)
        .unwrap_or("other")
}

/// The `version` label of `sealgate_tls_sessions_total`.
pub fn tls_version(version: Option<rustls::ProtocolVersion>) -> &'static str {
    match version {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "other",
    }
}

pub(crate) const TLS_VERSIONS: &[&str] = &["TLSv1.2", "TLSv1.3", "other"];

macro_rules! label_values {
    ($ty:ty { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, for pre-creating series at zero.
            pub const ALL: &'static [$ty] = &[$(<$ty>::$variant),+];

            /// The label value as it appears in `/metrics`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(<$ty>::$variant => $text),+
                }
            }
        }
    };
}

label_values!(AuthFailure {
    Credentials => "credentials",
    Malformed => "malformed",
    Throttled => "throttled",
});
label_values!(MessageClass { Ordinary => "ordinary", Protected => "protected" });
label_values!(Outcome { Relayed => "relayed", Rejected => "rejected", Deferred => "deferred" });
label_values!(SessionResult {
    Completed => "completed",
    RefusedLimit => "refused_limit",
    Timeout => "timeout",
    Error => "error",
    Dropped => "dropped",
    Shutdown => "shutdown",
});
label_values!(NextHopError {
    Connect => "connect",
    Timeout => "timeout",
    Tls => "tls",
    Protocol => "protocol",
    Closed => "closed",
    Reply4xx => "reply_4xx",
    Reply5xx => "reply_5xx",
});
label_values!(Direction { Inbound => "inbound", Outbound => "outbound" });
label_values!(ReloadResult { Success => "success", Failure => "failure" });
