//! The rules of a protocol applied to one message. Every rule that fails adds its reason, so
//! staff can fix everything at once; a message passes only when no rule fails.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use crate::config::{ProtocolConfig, Rules};
use crate::inspect::{self, Inspection, LeafKind};
use crate::sevenz::{self, ArchiveVerdict, VerdictKind};

use super::refusal::{self, RefusalFacts};
use super::texts::{self, Context};
use super::{
    identifiers, message_id, password, registry, ArchiveFacts, Decision, Origin, PolicyRecipient,
    Reason, ReasonCode, Registry, Verdict,
};
use crate::config::Mode;

/// Reasons found so far, with a detail for the text of each. Details are fixed strings
/// (`&'static str`): no text of the message can reach a reply through them.
#[derive(Default)]
struct Findings(BTreeMap<ReasonCode, &'static str>);

impl Findings {
    fn add(&mut self, code: ReasonCode) {
        self.0.entry(code).or_default();
    }

    fn add_detail(&mut self, code: ReasonCode, detail: &'static str) {
        let entry = self.0.entry(code).or_default();
        if entry.is_empty() {
            *entry = detail;
        }
    }
}

/// One archive of the message and what its structure says.
struct Archive<'a> {
    bytes: &'a [u8],
    verdict: ArchiveVerdict,
}

/// [`evaluate_envelope`] for a message judged on its own (tests, tools): as from the null
/// sender without AUTH, so a protocol with a `senders` list refuses it.
pub fn evaluate(
    registry: &Registry,
    recipients: &[PolicyRecipient],
    message: &[u8],
    today: NaiveDate,
) -> Decision {
    evaluate_envelope(registry, &Origin::default(), recipients, message, today)
}

/// Decides on a message from `origin` for which at least one recipient is protected.
/// CPU-bound (archive parsing, password tries, all bounded): call it off the async runtime.
pub fn evaluate_envelope(
    registry: &Registry,
    origin: &Origin,
    recipients: &[PolicyRecipient],
    message: &[u8],
    today: NaiveDate,
) -> Decision {
    if !super::needs_inspection(recipients) {
        return Decision::pass_uninspected();
    }
    let mut findings = Findings::default();
    let (protocols, all_known) = involved_protocols(registry, recipients, &mut findings);
    let mut unrelated = Vec::new();
    for protocol in &protocols {
        if !registry::in_force(protocol, today) {
            findings.add(ReasonCode::ProtocolNotInForce);
        }
        if !registry.sender_allowed(&protocol.id, origin) {
            findings.add(ReasonCode::SenderNotAllowed);
        }
        if !protocol.rules.allow_unrelated_recipients {
            unrelated.extend(unrelated_recipients(registry, recipients, &protocol.id));
        }
    }
    unrelated.sort();
    unrelated.dedup();
    if !unrelated.is_empty() {
        findings.add(ReasonCode::UnrelatedRecipient);
    }

    let limits = strictest_limits(&protocols);
    let mut archives_facts = Vec::new();
    let mut message_id = None;
    match inspect::inspect(message, &limits) {
        Err(inspect::InspectError::Unparseable(kind)) => {
            findings.add_detail(ReasonCode::MimeUnparseable, kind.as_str())
        }
        Err(inspect::InspectError::TooComplex(bound)) => {
            findings.add_detail(ReasonCode::MimeTooComplex, bound.as_str())
        }
        Err(inspect::InspectError::Ambiguous(kind)) => {
            findings.add_detail(ReasonCode::MimeAmbiguous, kind.as_str())
        }
        Ok(inspection) => {
            message_id = inspection.message_id.as_deref().map(message_id::recorded);
            let archives = judge_archives(&inspection);
            archives_facts = archives.iter().map(facts).collect();
            for protocol in &protocols {
                check_content(&protocol.rules, &inspection, &archives, &mut findings);
            }
            if protocols.iter().any(|p| p.rules.forbid_password_in_message)
                && password_in_message(&inspection, &archives)
            {
                findings.add(ReasonCode::PasswordInMessage);
            }
        }
    }

    let context = Context {
        protocol: protocols
            .iter()
            .map(|p| p.title.as_str())
            .collect::<Vec<_>>()
            .join(" / "),
        recipients: unrelated.join(", "),
        min_kdf_cycles_power: protocols
            .iter()
            .map(|p| p.rules.min_kdf_cycles_power)
            .max()
            .unwrap_or(0),
        detail: "",
    };
    let overrides = &registry.policy().reject_texts;
    let reasons: Vec<Reason> = findings
        .0
        .iter()
        .map(|(&code, detail)| Reason {
            code,
            text: texts::render(
                code,
                overrides,
                &Context {
                    detail,
                    ..context.clone()
                },
            ),
        })
        .collect();
    let codes: Vec<ReasonCode> = reasons.iter().map(|r| r.code).collect();
    let monitored = all_known && protocols.iter().all(|p| p.mode == Mode::Monitor);
    let verdict = verdict(&codes, monitored);
    let refusal = (verdict != Verdict::Pass).then(|| {
        refusal::compose(&RefusalFacts {
            reasons: &codes,
            unrelated_recipients: &unrelated,
            help_url: registry.policy().help_url.as_deref(),
            protocol: &context.protocol,
            overrides,
        })
    });
    Decision {
        verdict,
        reasons,
        archives: archives_facts,
        message_id,
        refusal,
        protocol_title: context.protocol,
        unrelated_recipients: unrelated,
    }
}

/// Pass without reasons; else refuse, unless every protocol involved is in monitor mode
/// (`monitored`) and monitor mode may relax every reason found.
fn verdict(codes: &[ReasonCode], monitored: bool) -> Verdict {
    if codes.is_empty() {
        Verdict::Pass
    } else if monitored && codes.iter().all(|c| c.relaxed_in_monitor()) {
        Verdict::WouldReject
    } else {
        Verdict::Reject
    }
}

/// The protocols of the protected recipients, each once, and whether every one was found. A
/// protocol id the registry no longer knows (configuration reloaded in between) is looked up
/// again by address; failing that the recipient counts as protected by a protocol that is not
/// in force (and enforcing).
fn involved_protocols<'r>(
    registry: &'r Registry,
    recipients: &[PolicyRecipient],
    findings: &mut Findings,
) -> (Vec<&'r ProtocolConfig>, bool) {
    let mut all_known = true;
    let mut protocols: Vec<&ProtocolConfig> = Vec::new();
    for recipient in recipients {
        let Some(id) = &recipient.protocol else {
            continue;
        };
        let found = registry
            .protocol(id)
            .or_else(|| registry.protocol_for(&recipient.address));
        match found {
            Some(p) if !protocols.iter().any(|q| q.id == p.id) => protocols.push(p),
            Some(_) => {}
            None => {
                all_known = false;
                findings.add(ReasonCode::ProtocolNotInForce);
            }
        }
    }
    (protocols, all_known)
}

/// Recipients neither protected by `protocol_id` nor in the organisation's own domains.
fn unrelated_recipients(
    registry: &Registry,
    recipients: &[PolicyRecipient],
    protocol_id: &str,
) -> Vec<String> {
    recipients
        .iter()
        .filter(|r| match &r.protocol {
            Some(id) => id != protocol_id,
            None => !registry.is_own_domain(&r.address),
        })
        .map(|r| r.address.to_string())
        .collect()
}

fn strictest_limits(protocols: &[&ProtocolConfig]) -> inspect::Limits {
    let defaults = Rules::default();
    inspect::Limits {
        max_nesting_depth: protocols
            .iter()
            .map(|p| p.rules.max_nesting_depth)
            .min()
            .unwrap_or(defaults.max_nesting_depth),
        max_parts: protocols
            .iter()
            .map(|p| p.rules.max_parts)
            .min()
            .unwrap_or(defaults.max_parts),
    }
}

fn judge_archives(inspection: &Inspection) -> Vec<Archive<'_>> {
    inspection
        .leaves
        .iter()
        .filter(|leaf| leaf.kind == LeafKind::Archive)
        .map(|leaf| Archive {
            bytes: &leaf.bytes,
            verdict: sevenz::verdict(&leaf.bytes),
        })
        .collect()
}

fn facts(archive: &Archive<'_>) -> ArchiveFacts {
    ArchiveFacts {
        sha256: hex::encode(Sha256::digest(archive.bytes)),
        size: archive.bytes.len() as u64,
        verdict: archive.verdict.verdict,
        header_encrypted: archive.verdict.header_encrypted,
        kdf_cycles_power: archive.verdict.kdf_cycles_power,
        files: archive.verdict.files,
    }
}

/// The rules on the parts of the message, for one protocol.
fn check_content(
    rules: &Rules,
    inspection: &Inspection,
    archives: &[Archive<'_>],
    findings: &mut Findings,
) {
    let foreign = inspection.leaves.iter().find_map(|leaf| match leaf.kind {
        LeafKind::ForeignArchive(format) => Some(format),
        _ => None,
    });
    if archives.is_empty() {
        match foreign {
            Some(format) => findings.add_detail(ReasonCode::NotSevenZ, format),
            None => findings.add(ReasonCode::NoArchive),
        }
    }
    for archive in archives {
        check_archive(rules, &archive.verdict, findings);
    }
    // TNEF, S/MIME and PGP hide what they carry; with other attachments allowed they are
    // no worse than any plain attachment, so the same key relaxes them.
    if !rules.allow_other_attachments {
        for leaf in &inspection.leaves {
            match leaf.kind {
                LeafKind::Tnef => findings.add(ReasonCode::Tnef),
                LeafKind::CryptoBlob => findings.add(ReasonCode::UnjudgeableCryptoBlob),
                LeafKind::ForeignArchive(format) => {
                    findings.add_detail(ReasonCode::NotSevenZ, format)
                }
                LeafKind::Attachment => findings.add(ReasonCode::OtherAttachment),
                LeafKind::NestedText => {
                    if leaf.text.as_deref().is_some_and(|t| !t.trim().is_empty()) {
                        findings.add(ReasonCode::OtherAttachment);
                    }
                }
                LeafKind::Archive | LeafKind::Body => {}
            }
        }
        if !inspection.crypto_containers.is_empty() {
            findings.add(ReasonCode::UnjudgeableCryptoBlob);
        }
    }
    if rules.forbid_identifiers && carries_identifier(inspection) {
        findings.add(ReasonCode::IdentifierInText);
    }
}

fn check_archive(rules: &Rules, verdict: &ArchiveVerdict, findings: &mut Findings) {
    match verdict.verdict {
        VerdictKind::Encrypted => {
            if rules.require_header_encryption && verdict.header_encrypted != Some(true) {
                findings.add(ReasonCode::HeaderNotEncrypted);
            }
            if key_derivation_too_weak(verdict.kdf_cycles_power, rules.min_kdf_cycles_power) {
                findings.add(ReasonCode::WeakKeyDerivation);
            }
        }
        VerdictKind::Unencrypted => findings.add(ReasonCode::ArchiveNotEncrypted),
        VerdictKind::PartiallyEncrypted => findings.add(ReasonCode::ArchivePartiallyEncrypted),
        VerdictKind::Corrupt => findings.add(ReasonCode::ArchiveCorrupt),
        VerdictKind::NotSevenZ => findings.add_detail(ReasonCode::NotSevenZ, "unknown"),
    }
}

/// 63 is 7zAES's marker for a raw key (no key derivation at all), not a large cycle count.
pub(super) fn key_derivation_too_weak(kdf_cycles_power: Option<u8>, min: u8) -> bool {
    if min == 0 {
        return false;
    }
    match kdf_cycles_power {
        Some(63) | None => true,
        Some(power) => power < min,
    }
}

/// Every header field (as written and decoded, nested messages included), the text of every
/// text part, the HTML source of every HTML part (attributes, `<title>`, CSS, text split by
/// tags) and every file name. Each text is normalised before matching (see `identifiers`).
fn carries_identifier(inspection: &Inspection) -> bool {
    let plain = inspection
        .subjects
        .iter()
        .chain(&inspection.header_texts)
        .map(String::as_str)
        .chain(
            inspection
                .leaves
                .iter()
                .flat_map(|leaf| [leaf.text.as_deref(), leaf.filename.as_deref()])
                .flatten(),
        );
    let mut html = inspection.leaves.iter().filter_map(|l| l.html.as_deref());
    // A text part mail-parser could not read as text is read as UTF-8 as far as it goes.
    let mut unread_text = inspection
        .leaves
        .iter()
        .filter(|l| l.text.is_none() && l.content_type.starts_with("text/"))
        .map(|l| String::from_utf8_lossy(&l.bytes));
    plain.into_iter().any(|t| identifiers::find(t).is_some())
        || html.any(|h| identifiers::find_in_html(h).is_some())
        || unread_text.any(|t| identifiers::find(&t).is_some())
}

fn password_in_message(inspection: &Inspection, archives: &[Archive<'_>]) -> bool {
    let lockable: Vec<(&[u8], Option<u8>)> = archives
        .iter()
        .filter(|a| {
            matches!(
                a.verdict.verdict,
                VerdictKind::Encrypted | VerdictKind::PartiallyEncrypted
            )
        })
        .map(|a| (a.bytes, a.verdict.kdf_cycles_power))
        .collect();
    if lockable.is_empty() {
        return false;
    }
    let texts: Vec<&str> = inspection
        .subjects
        .iter()
        .map(String::as_str)
        .chain(inspection.leaves.iter().filter_map(|l| l.text.as_deref()))
        .collect();
    let names: Vec<&str> = inspection
        .leaves
        .iter()
        .filter_map(|l| l.filename.as_deref())
        .chain(inspection.display_names.iter().map(String::as_str))
        .chain(inspection.html_attributes.iter().map(String::as_str))
        .collect();
    password::found_in_message(&lockable, &password::candidates(&texts, &names))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_relaxes_only_what_it_may_and_enforce_wins() {
        use ReasonCode as R;
        assert_eq!(verdict(&[], true), Verdict::Pass);
        assert_eq!(verdict(&[], false), Verdict::Pass);
        for code in ReasonCode::ALL {
            assert_eq!(verdict(&[code], false), Verdict::Reject, "{code:?}");
            let expected = if code.relaxed_in_monitor() {
                Verdict::WouldReject
            } else {
                Verdict::Reject
            };
            assert_eq!(verdict(&[code], true), expected, "{code:?}");
            // One reason monitor mode never relaxes refuses the whole message.
            assert_eq!(
                verdict(&[code, R::MimeAmbiguous], true),
                Verdict::Reject,
                "{code:?}"
            );
        }
    }

    #[test]
    fn raw_key_is_no_key_derivation() {
        assert!(key_derivation_too_weak(Some(63), 19));
        assert!(key_derivation_too_weak(Some(18), 19));
        assert!(key_derivation_too_weak(None, 19));
        assert!(!key_derivation_too_weak(Some(19), 19));
        assert!(!key_derivation_too_weak(Some(24), 19));
        assert!(!key_derivation_too_weak(Some(63), 0));
    }
}
