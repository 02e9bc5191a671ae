//! Policy: which protocol protects a recipient, and whether a message may go to it.
//!
//! The session classifies every envelope recipient with the [`Registry`] at RCPT time. When at
//! least one is protected, [`evaluate`] inspects the whole message against the rules of every
//! protocol involved and returns a [`Decision`]; a refusal carries reason codes (a small fixed
//! set, see [`ReasonCode`], used as metric labels and in the audit trail) and bilingual texts
//! that tell staff how to fix the message. [`reject_reply`] turns that into the SMTP reply.
//! Mail for ordinary recipients only is never inspected.
//!
//! A protocol in monitor mode (`mode = "monitor"`) is judged the same way; only the verdict
//! differs: [`Verdict::WouldReject`] instead of [`Verdict::Reject`] when every protocol
//! involved monitors and every reason is one monitor mode may relax
//! ([`ReasonCode::relaxed_in_monitor`]). Enforce wins: one enforcing protocol among the
//! recipients, or one reason monitor mode never relaxes, and the message is refused.

mod facts;

pub use crate::reason::ReasonCode;
mod identifiers;
pub mod lifecycle;
mod message_id;
mod password;
pub mod refusal;
mod registry;
mod rules;
mod texts;

use crate::envelope::CanonicalAddress;

pub use facts::ArchiveFacts;

pub use identifiers::{iban_checksum_ok, is_national_number, Identifier};
pub use password::{MAX_CANDIDATES, MAX_TRIED_KDF_CYCLES_POWER, MAX_TRIES, TIME_BUDGET};
pub use registry::{in_force, Registry};
pub use rules::{evaluate, evaluate_envelope};
pub use texts::default_text;

/// One envelope recipient as policy sees it.
#[derive(Debug, Clone)]
pub struct PolicyRecipient {
    pub address: CanonicalAddress,
    /// Id of the protocol protecting this address; None for an ordinary recipient.
    pub protocol: Option<String>,
}

/// True when a message to these recipients must be inspected.
pub fn needs_inspection(recipients: &[PolicyRecipient]) -> bool {
    recipients.iter().any(|r| r.protocol.is_some())
}

/// Who sends, for the `senders` rule (article 5): the envelope sender in canonical form
/// (None: the null sender `<>`) and the user the client authenticated as, if it did.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub sender: Option<CanonicalAddress>,
    pub auth_user: Option<String>,
}

/// A reason for refusal: a stable code (for metrics, audit, `--json`) and the bilingual text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reason {
    pub code: ReasonCode,
    pub text: String,
}

/// The verdict on one message, as `check --json` and the audit trail write it ("pass",
/// "reject", "would_reject").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Reject,
    /// Rules are broken, but every protocol involved is in monitor mode and every reason may
    /// be relaxed there: the message is relayed like a pass and recorded with its reasons.
    WouldReject,
}

impl Verdict {
    pub const ALL: [Verdict; 3] = [Verdict::Pass, Verdict::Reject, Verdict::WouldReject];

    /// As serialised: "pass", "reject" or "would_reject".
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Reject => "reject",
            Verdict::WouldReject => "would_reject",
        }
    }

    /// Does the message go on to the next hop?
    pub fn relays(self) -> bool {
        match self {
            Verdict::Pass | Verdict::WouldReject => true,
            Verdict::Reject => false,
        }
    }
}

/// The policy's decision on one message.
#[derive(Debug, Clone)]
pub struct Decision {
    pub verdict: Verdict,
    pub reasons: Vec<Reason>,
    pub archives: Vec<ArchiveFacts>,
    pub message_id: Option<String>,
    /// The compact reply for a refusal (see [`refusal`]); None for a pass. For
    /// [`Verdict::WouldReject`] the reply enforce mode would give (`sealgate check` shows it).
    pub refusal: Option<refusal::Refusal>,
    /// The titles of the protocols involved, for the refusal notice.
    pub protocol_title: String,
    /// Envelope recipients outside the protocol, for the refusal notice.
    pub unrelated_recipients: Vec<String>,
}

impl Decision {
    /// The decision for mail that needs no inspection.
    pub fn pass_uninspected() -> Decision {
        Decision {
            verdict: Verdict::Pass,
            reasons: Vec::new(),
            archives: Vec::new(),
            message_id: None,
            refusal: None,
            protocol_title: String::new(),
            unrelated_recipients: Vec::new(),
        }
    }
}

/// The SMTP reply for a refusal: code, enhanced status code and plain ASCII text lines (no
/// code prefix), for a multi-line `550-5.7.1 ...` reply. 5.6.0 when only the MIME structure
/// is at fault, 5.7.1 otherwise. For a pass or a would-reject: `250 2.0.0` (the session
/// normally relays instead).
pub fn reject_reply(decision: &Decision) -> (u16, [u8; 3], Vec<String>) {
    match (enforce_reply(decision), decision.verdict) {
        (Some(reply), Verdict::Reject) => reply,
        _ => (250, [2, 0, 0], vec!["Ok".into()]),
    }
}

/// The refusal enforce mode gives: the reply of a [`Verdict::Reject`], and for a
/// [`Verdict::WouldReject`] the one it would have given (`sealgate check` shows it). None for
/// a pass.
pub fn enforce_reply(decision: &Decision) -> Option<(u16, [u8; 3], Vec<String>)> {
    decision
        .refusal
        .as_ref()
        .map(|refusal| (550, refusal.enhanced, refusal.lines.clone()))
}
