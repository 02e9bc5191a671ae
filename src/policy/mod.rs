//! Policy: which protocol protects a recipient, and whether a message may go to it.
//!
//! (Interface fixed; the rules land with issue 4.)

use chrono::NaiveDate;

use crate::audit::ArchiveFacts;
use crate::config::{PolicyConfig, ProtocolConfig};
use crate::envelope::{CanonicalAddress, MailboxPattern};

/// The protocols of the configuration, ready to answer "who protects this recipient?".
#[derive(Debug, Clone)]
pub struct Registry {
    protocols: Vec<(ProtocolConfig, Vec<MailboxPattern>)>,
    policy: PolicyConfig,
}

impl Registry {
    pub fn new(protocols: &[ProtocolConfig], policy: &PolicyConfig) -> Registry {
        let protocols = protocols
            .iter()
            .map(|p| {
                let patterns = p
                    .mailboxes
                    .iter()
                    .filter_map(|m| MailboxPattern::parse(m).ok())
                    .collect();
                (p.clone(), patterns)
            })
            .collect();
        Registry {
            protocols,
            policy: policy.clone(),
        }
    }

    /// The protocol whose mailboxes include `address`, in force or not.
    pub fn protocol_for(&self, address: &CanonicalAddress) -> Option<&ProtocolConfig> {
        self.protocols
            .iter()
            .find(|(_, pats)| pats.iter().any(|p| p.matches(address)))
            .map(|(p, _)| p)
    }

    pub fn policy(&self) -> &PolicyConfig {
        &self.policy
    }
}

/// One envelope recipient as policy sees it.
#[derive(Debug, Clone)]
pub struct PolicyRecipient {
    pub address: CanonicalAddress,
    pub protocol: Option<String>,
}

/// A reason for refusal: a stable code (for metrics, audit, `--json`) and the bilingual text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reason {
    pub code: String,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Reject,
}

/// The policy's decision on one message.
#[derive(Debug, Clone)]
pub struct Decision {
    pub verdict: Verdict,
    pub reasons: Vec<Reason>,
    pub archives: Vec<ArchiveFacts>,
    pub message_id: Option<String>,
}

/// Decides on a message for which at least one recipient is protected. CPU-bound: call it off
/// the async runtime.
pub fn evaluate(
    _registry: &Registry,
    _recipients: &[PolicyRecipient],
    _message: &[u8],
    _today: NaiveDate,
) -> Decision {
    Decision {
        verdict: Verdict::Reject,
        reasons: vec![Reason {
            code: "not_built".into(),
            text: "policy not built yet".into(),
        }],
        archives: vec![],
        message_id: None,
    }
}

/// The SMTP reply for a rejected message: code, enhanced status, and the text lines.
pub fn reject_reply(decision: &Decision, _policy: &PolicyConfig) -> (u16, [u8; 3], Vec<String>) {
    let lines = decision
        .reasons
        .iter()
        .map(|r| format!("{}: {}", r.code, r.text))
        .collect();
    (550, [5, 7, 1], lines)
}
