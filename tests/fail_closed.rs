//! Fail closed (issue 11), in-process tier: every message of the hostile corpus
//! (fixtures/hostile, made by fixtures/make-hostile.py) through `policy::evaluate` with the
//! default configuration (config/sealgate.toml) and the protected recipient
//! kindengezin@wervik.be, as the daemon and `sealgate check` run it. Each hostile message is
//! refused with its reason code, never a panic; nothing from the message shows in the reply or
//! the stored Message-ID; the controls laid out by real clients pass. The RCPT spellings of the
//! protected mailbox go through the same parser (smtp-proto), address check and registry as at
//! RCPT time. Needs only the committed fixtures: no 7-Zip, no Python.

mod hostile_support;

use std::panic::{catch_unwind, AssertUnwindSafe};

use hostile_support::*;
use sealgate::config::Config;
use sealgate::envelope::{has_source_route, Address};
use sealgate::policy::{self, Decision, Registry};

fn registry() -> Registry {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sealgate.toml");
    let config = Config::load(&path).expect("the default configuration loads");
    Registry::new(&config.protocols, &config.policy)
}

/// The daemon's path for one protected recipient; a panic becomes Err with its message.
fn judge(
    registry: &Registry,
    protected: &str,
    message: &[u8],
    manifest: &Manifest,
) -> Result<Decision, String> {
    let recipient = registry.classify(
        &Address::parse(protected)
            .expect("protected address")
            .canonical(),
    );
    assert!(
        recipient.protocol.is_some(),
        "{protected} is protected by the default configuration"
    );
    let recipients = [recipient];
    catch_unwind(AssertUnwindSafe(|| {
        policy::evaluate(registry, &recipients, message, manifest.date)
    }))
    .map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into())
    })
}

fn codes(decision: &Decision) -> Vec<String> {
    decision
        .reasons
        .iter()
        .map(|r| r.code.as_str().to_string())
        .collect()
}

/// What is wrong with one case's decision, if anything.
fn failure(case: &Case, decision: Result<Decision, String>) -> Option<String> {
    let decision = match decision {
        Ok(decision) => decision,
        Err(panic) => return Some(format!("{}: PANICKED ({panic})", case.label())),
    };
    let got = codes(&decision);
    let verdict = decision.verdict.as_str();
    if verdict != case.verdict && !(case.may_refuse && verdict == "reject") {
        return Some(format!(
            "{}: expected {} {:?}, got {verdict} {got:?}",
            case.label(),
            case.verdict,
            case.reasons
        ));
    }
    let missing = case.missing(&got);
    if !missing.is_empty() {
        return Some(format!(
            "{}: refused with {got:?}, missing {missing:?}",
            case.label()
        ));
    }
    let (_, _, lines) = policy::reject_reply(&decision);
    let texts: Vec<&str> = decision.reasons.iter().map(|r| r.text.as_str()).collect();
    let echoed = [lines.join("\n"), texts.join("\n")];
    if let Some(marker) = echoed.iter().find_map(|t| case.leaked_in(t.as_bytes())) {
        return Some(format!("{}: reply text echoes {marker:?}", case.label()));
    }
    if let Some(marker) = decision
        .message_id
        .as_deref()
        .and_then(|id| case.leaked_in(id.as_bytes()))
    {
        return Some(format!(
            "{}: Message-ID stored with {marker:?} in it",
            case.label()
        ));
    }
    None
}

fn check_class(class: &str) {
    let manifest = manifest();
    let registry = registry();
    let cases = cases(class);
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let decision = judge(&registry, &manifest.protected, &case.bytes(), &manifest);
            failure(case, decision)
        })
        .collect();
    assert_none_failed(class, cases.len(), &failures);
}

#[test]
fn plain_content_under_an_encrypted_header_is_not_encrypted() {
    check_class("archive_plain_content");
}

#[test]
fn mime_that_parsers_read_differently_is_ambiguous() {
    check_class("mime_differential");
}

#[test]
fn files_carried_inside_text_are_other_attachments() {
    check_class("file_in_text");
}

#[test]
fn identifiers_are_found_however_and_wherever_they_are_written() {
    check_class("identifier");
}

#[test]
fn the_password_anywhere_in_the_message_is_found() {
    check_class("password_in_message");
}

#[test]
fn non_ascii_after_a_password_label_never_panics() {
    check_class("non_ascii_label");
}

#[test]
fn nothing_from_the_message_is_echoed_or_stored_verbatim() {
    check_class("no_echo");
}

#[test]
fn real_client_layouts_of_a_good_message_pass() {
    check_class("control");
}

#[test]
fn every_rcpt_spelling_of_the_protected_mailbox_is_refused_or_protected() {
    let manifest = manifest();
    let registry = registry();
    assert!(manifest.envelope.len() >= MIN_VARIANTS);
    let mut failures = Vec::new();
    for spelling in &manifest.envelope {
        let line = format!("RCPT TO:<{}>\r\n", spelling.rcpt);
        if has_source_route(line.as_bytes()) {
            continue; // refused at RCPT
        }
        let to = match smtp_proto::Request::parse(&mut line.as_bytes().iter()) {
            Ok(smtp_proto::Request::Rcpt { to }) => to,
            Ok(_) => panic!("{line:?} did not parse as RCPT"),
            Err(_) => continue, // 5xx syntax error at RCPT
        };
        let Ok(address) = Address::parse(&to.address) else {
            continue; // 553 at RCPT
        };
        let recipient = registry.classify(&address.canonical());
        if recipient.protocol.is_none() {
            failures.push(format!(
                "{} <{}>: accepted at RCPT as ordinary mail (canonical {})",
                spelling.variant,
                spelling.rcpt,
                address.canonical()
            ));
        }
    }
    assert_none_failed("envelope", manifest.envelope.len(), &failures);
}

#[test]
fn the_corpus_is_complete_and_every_file_is_described() {
    let manifest = manifest();
    for class in CLASSES {
        cases(class);
    }
    let mut listed: Vec<&str> = manifest.cases.iter().map(|c| c.file.as_str()).collect();
    listed.sort();
    let mut on_disk: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    on_disk.sort();
    assert_eq!(listed, on_disk, "manifest and fixtures/hostile differ");
    for case in &manifest.cases {
        assert!(CLASSES.contains(&case.class.as_str()), "{}", case.file);
        assert!(
            case.expects_pass() == case.reasons.is_empty() || case.class == "no_echo",
            "{}: a refusal names its codes, a pass none",
            case.file
        );
        assert!(case
            .bytes()
            .windows(2)
            .all(|w| w[1] != b'\n' || w[0] == b'\r'));
    }
    // The controls include both sides of the real-client line.
    let controls = cases("control");
    assert!(controls
        .iter()
        .any(|c| c.variant == "thunderbird" && c.expects_pass()));
    assert!(controls
        .iter()
        .any(|c| c.variant == "outlook-related-logo" && c.reasons == ["other_attachment"]));
}
