//! The fixture messages (fixtures/make-messages.py) through `policy::evaluate`, with the
//! verdicts and reason codes of fixtures/messages/manifest.json.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use sealgate::config::Config;
use sealgate::envelope::Address;
use sealgate::policy::{self, Decision, ReasonCode, Registry, Verdict};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/messages")
}

#[derive(serde::Deserialize)]
struct Manifest {
    password: String,
    cases: Vec<Case>,
}

#[derive(serde::Deserialize, Clone)]
struct Case {
    file: String,
    rcpt: Vec<String>,
    date: NaiveDate,
    verdict: String,
    reasons: Vec<String>,
    rule: String,
    note: String,
}

fn manifest() -> Manifest {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn registry() -> Registry {
    let config = Config::load(&fixtures().join("sealgate-test.toml")).unwrap();
    Registry::new(&config.protocols, &config.policy)
}

/// The daemon's path: classify every recipient, inspect only protected mail.
fn decide(registry: &Registry, rcpt: &[String], message: &[u8], date: NaiveDate) -> Decision {
    let recipients: Vec<_> = rcpt
        .iter()
        .map(|r| registry.classify(&Address::parse(r).unwrap().canonical()))
        .collect();
    if policy::needs_inspection(&recipients) {
        policy::evaluate(registry, &recipients, message, date)
    } else {
        Decision::pass_uninspected()
    }
}

fn codes(decision: &Decision) -> Vec<String> {
    let mut codes: Vec<String> = decision
        .reasons
        .iter()
        .map(|r| r.code.as_str().to_string())
        .collect();
    codes.sort();
    codes
}

#[test]
fn every_fixture_gets_its_expected_verdict() {
    let registry = registry();
    let mut failures = Vec::new();
    for case in manifest().cases {
        let message = std::fs::read(fixtures().join(&case.file)).unwrap();
        let decision = decide(&registry, &case.rcpt, &message, case.date);
        let verdict = decision.verdict.as_str();
        if verdict != case.verdict || codes(&decision) != case.reasons {
            failures.push(format!(
                "{} to {:?} on {} ({}; {}): expected {} {:?}, got {} {:?}",
                case.file,
                case.rcpt,
                case.date,
                case.rule,
                case.note,
                case.verdict,
                case.reasons,
                verdict,
                codes(&decision)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_reason_code_has_a_failing_fixture_and_every_rule_a_passing_one() {
    let cases = manifest().cases;
    for code in ReasonCode::ALL {
        assert!(
            cases
                .iter()
                .any(|c| c.verdict == "reject" && c.reasons.contains(&code.as_str().to_string())),
            "no failing fixture for {}",
            code.as_str()
        );
    }
    for rule in [
        "require_header_encryption",
        "min_kdf_cycles_power",
        "allow_other_attachments",
        "forbid_identifiers",
        "forbid_password_in_message",
        "allow_unrelated_recipients",
        "max_nesting_depth",
        "in_force",
        "ordinary",
    ] {
        assert!(
            cases.iter().any(|c| c.rule == rule && c.verdict == "pass"),
            "no passing fixture for {rule}"
        );
        assert!(
            rule == "ordinary"
                || cases
                    .iter()
                    .any(|c| c.rule == rule && c.verdict == "reject"),
            "no failing fixture for {rule}"
        );
    }
}

#[test]
fn recipient_spellings_cannot_bypass_the_registry() {
    let registry = registry();
    let message = std::fs::read(fixtures().join("no_attachment.eml")).unwrap();
    let date = NaiveDate::from_ymd_opt(2025, 6, 2).unwrap();
    for rcpt in [
        "KindEnGezin@Wervik.BE",
        "kindengezin+dossier42@wervik.be",
        "kindengezin@wervik.be.",
        "kindengezin@ｗｅｒｖｉｋ.ｂｅ",
    ] {
        let decision = decide(&registry, &[rcpt.to_string()], &message, date);
        assert_eq!(codes(&decision), ["no_archive"], "{rcpt}");
    }
}

#[test]
fn a_good_archive_is_described_for_the_audit_trail() {
    let registry = registry();
    let message = std::fs::read(fixtures().join("good_basic.eml")).unwrap();
    let date = NaiveDate::from_ymd_opt(2025, 6, 2).unwrap();
    let decision = decide(&registry, &["kindengezin@wervik.be".into()], &message, date);
    assert_eq!(decision.archives.len(), 1);
    let archive = &decision.archives[0];
    assert_eq!(archive.verdict.as_str(), "encrypted");
    assert_eq!(archive.header_encrypted, Some(true));
    assert_eq!(archive.kdf_cycles_power, Some(19));
    assert_eq!(archive.sha256.len(), 64);
    assert!(decision
        .message_id
        .as_deref()
        .is_some_and(|id| id.ends_with("@opgroeien.be")));
}

#[test]
fn the_password_of_the_fixtures_opens_their_archive() {
    // Guards the password_in_message fixtures: they only mean something if the password in
    // them is the archive's.
    let manifest = manifest();
    let message = std::fs::read(fixtures().join("password_in_body.eml")).unwrap();
    let parsed = mail_parser::MessageParser::default()
        .parse(&message)
        .unwrap();
    assert!(parsed.body_text(0).unwrap().contains(&manifest.password));
    let archive = parsed
        .attachments()
        .map(|a| a.contents())
        .find(|c| sealgate::sevenz::has_signature(c))
        .unwrap();
    assert_eq!(
        sealgate::sevenz::password_opens(archive, &manifest.password),
        Some(true)
    );
    assert_eq!(
        sealgate::sevenz::password_opens(archive, "not-the-password"),
        Some(false)
    );
}

#[test]
fn huge_headers_are_too_complex_for_protected_mail() {
    let registry = registry();
    let good = std::fs::read(fixtures().join("good_basic.eml")).unwrap();
    let mut message = Vec::new();
    for i in 0..5000 {
        message.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "a".repeat(60)).as_bytes());
    }
    message.extend_from_slice(&good);
    let date = NaiveDate::from_ymd_opt(2025, 6, 2).unwrap();
    let decision = decide(&registry, &["kindengezin@wervik.be".into()], &message, date);
    assert_eq!(codes(&decision), ["mime_too_complex"]);
    let ordinary = decide(&registry, &["iemand@gmail.com".into()], &message, date);
    assert_eq!(ordinary.verdict, Verdict::Pass);
}

#[test]
fn the_reject_reply_is_bilingual_ascii_and_bounded() {
    let registry = registry();
    let message = std::fs::read(fixtures().join("tnef_winmail.eml")).unwrap();
    let date = NaiveDate::from_ymd_opt(2025, 6, 2).unwrap();
    let rcpt = [
        "kindengezin@wervik.be".to_string(),
        "iemand@gmail.com".to_string(),
    ];
    let decision = decide(&registry, &rcpt, &message, date);
    assert_eq!(codes(&decision), ["tnef", "unrelated_recipient"]);
    let (code, enhanced, lines) = policy::reject_reply(&decision);
    assert_eq!((code, enhanced), (550, [5, 7, 1]));
    assert!(lines[0].contains("tnef") && lines[0].contains("unrelated_recipient"));
    let all = lines.join("\n");
    assert!(
        all.contains("Outlook stuurde winmail.dat mee (Opgroeien regie"),
        "override used: {all}"
    );
    assert!(
        all.contains("iemand@gmail.com"),
        "names the unrelated recipient: {all}"
    );
    assert!(all.contains("NL: ") && all.contains("EN: "));
    for line in &lines {
        assert!(
            line.is_ascii() && !line.is_empty() && line.len() <= 500,
            "{line:?}"
        );
    }

    let message = std::fs::read(fixtures().join("mime_bad_base64.eml")).unwrap();
    let decision = decide(&registry, &rcpt[..1], &message, date);
    let (_, enhanced, _) = policy::reject_reply(&decision);
    assert_eq!(enhanced, [5, 6, 0]);
}

#[test]
fn the_default_texts_tell_how_to_make_a_good_archive() {
    let text = policy::default_text(ReasonCode::ArchiveNotEncrypted);
    for needle in [
        "7-Zip",
        "Toevoegen aan archief",
        "Add to archive",
        "AES-256",
        "Encrypt file names",
        "Bestandsnamen versleutelen",
        "telefoon",
        "phone",
    ] {
        assert!(text.contains(needle), "{needle} missing in {text}");
    }
}

#[test]
fn truncated_and_mangled_messages_never_panic() {
    // The relaxed protocol skips the password tries, which keeps this fast; every other path
    // (MIME walk, archive verdict, identifiers) runs on each variant.
    let registry = registry();
    let date = NaiveDate::from_ymd_opt(2025, 6, 2).unwrap();
    let rcpt = ["team@relaxed.example".to_string()];
    let mut files: Vec<_> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    let mut variants = 0;
    for path in files {
        let message = std::fs::read(&path).unwrap();
        let step = message.len() / 30 + 1;
        for cut in (0..message.len()).step_by(step) {
            let decision = decide(&registry, &rcpt, &message[..cut], date);
            assert_eq!(
                decision.verdict == Verdict::Pass,
                decision.reasons.is_empty()
            );
            if cut == 0 {
                assert_eq!(codes(&decision), ["mime_unparseable"], "empty message");
            }
            let mut mangled = message.clone();
            mangled[cut] ^= 0x5A;
            let decision = decide(&registry, &rcpt, &mangled, date);
            assert_eq!(
                decision.verdict == Verdict::Pass,
                decision.reasons.is_empty()
            );
            variants += 2;
        }
    }
    assert!(variants > 500, "{variants}");
}
