//! The label values sealgate puts on its metrics: closed sets, so a metric can never grow a
//! series per address, subject or file name, and a dashboard can list every value it will see.

use crate::reason::ReasonCode;

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
    /// Protected mail that broke a rule of a protocol in monitor mode: relayed (the next hop
    /// accepted it, the client heard 250), but enforce mode would have refused it.
    WouldReject,
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

/// The session's own refusal codes (the policy's are [`ReasonCode::ALL`]), and `other`.
pub const SESSION_REJECTION_REASONS: &[&str] = &[
    "relay_denied",
    "bad_address",
    "message_too_big",
    "too_many_recipients",
    "bare_newline",
    "syntax",
    "other",
];

/// Refusal reasons that get a series of their own: every policy reason code, then the
/// session's. Any other code counts as `other`.
pub fn rejection_reasons() -> impl Iterator<Item = &'static str> {
    ReasonCode::ALL
        .into_iter()
        .map(ReasonCode::as_str)
        .chain(SESSION_REJECTION_REASONS.iter().copied())
}

/// The `reason` label for a refusal code: the code itself when it is in the fixed set,
/// `other` for anything else, so an unexpected code cannot add series.
pub fn rejection_reason(code: &str) -> &'static str {
    rejection_reasons()
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

/// Why a route's next hop could not be opened (`sealgate_delivery_failures_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryFailure {
    NullMx,
    Dns,
    TlsRequired,
    Unreachable,
}

label_values!(DeliveryFailure {
    NullMx => "null_mx",
    Dns => "dns",
    TlsRequired => "tls_required",
    Unreachable => "unreachable",
});

label_values!(AuthFailure {
    Credentials => "credentials",
    Malformed => "malformed",
    Throttled => "throttled",
});
label_values!(MessageClass { Ordinary => "ordinary", Protected => "protected" });
label_values!(Outcome {
    Relayed => "relayed",
    Rejected => "rejected",
    Deferred => "deferred",
    WouldReject => "would_reject",
});
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
