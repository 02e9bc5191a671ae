//! Issue 15: monitor mode and allowed senders, through the real session, transfer core and
//! policy (in-process tier: a scripted next hop, a ledger in memory).
//!
//! "Monitor and enforce side by side on the fixture messages: the same decisions, different
//! outcomes, and the audit and metrics tell them apart." Every case of
//! fixtures/messages/manifest.json goes through a gateway whose protocols enforce and one whose
//! protocols monitor; the reason codes must be the same, and where enforce answers 550 and
//! sends nothing, monitor answers 250 after relaying the very bytes, records `would_reject`
//! with the reasons and counts `outcome="would_reject"`, except for the reasons monitor mode
//! never relaxes. Smuggling, size and relay access are refused in monitor mode as ever.

mod inprocess;
mod metrics_support;

use chrono::NaiveDate;
use inprocess::*;
use metrics_support::{read_exposition, sample};
use sealgate::audit::{Outcome, TransferOutcome, TransferRecord};
use sealgate::envelope::Address;
use sealgate::policy::{ReasonCode, Verdict};

const FROM: &str = "medewerker@opgroeien.be";
const SEED: &str = "kindengezin@wervik.be";
const PROTOCOL_IDS: [&str; 4] = ["opgroeien-menen-ocmw-wervik", "relaxed", "ended", "senders"];
/// Cases run side by side: the password check has a wall-clock budget (see
/// check_equals_gateway.rs), so not more.
const CONCURRENT_CASES: usize = 2;

/// The fixture configuration with `mode = "monitor"` on the protocols named.
fn monitoring(config: &mut TestConfig, ids: &[&str]) {
    for id in ids {
        config.edit_fixture(
            &format!("id = \"{id}\"\n"),
            &format!("id = \"{id}\"\nmode = \"monitor\"\n"),
        );
    }
}

fn gateway(ids_monitoring: &[&str], day: NaiveDate) -> TestGateway {
    let mut config = TestConfig::default();
    monitoring(&mut config, ids_monitoring);
    TestGateway::start(Options {
        config,
        day: Some(day),
        ..Options::default()
    })
}

fn messages_metric(gateway: &TestGateway, outcome: &str) -> f64 {
    let families = read_exposition(&gateway.core.gateway.metrics.render());
    sample(
        &families,
        "sealgate_messages_total",
        &[("class", "protected"), ("outcome", outcome)],
    )
}

/// The one audit record of a gateway that saw one protected message.
fn only_record(gateway: &TestGateway) -> (TransferRecord, Option<TransferOutcome>) {
    let mut entries = gateway.ledger.entries();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries.remove(0)
}

fn sorted_codes(codes: &[ReasonCode]) -> Vec<String> {
    let mut out: Vec<String> = codes.iter().map(|c| c.as_str().to_string()).collect();
    out.sort();
    out
}

/// The message as the next hop must receive it: the fixture's bytes, ending in CRLF.
fn as_relayed(message: &[u8]) -> Vec<u8> {
    let mut out = message.to_vec();
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// What one case showed under one mode.
struct Seen {
    reply: Got,
    record: Option<(TransferRecord, Option<TransferOutcome>)>,
    relayed: Vec<(Vec<u8>, Vec<u8>)>,
    metric: [f64; 3],
}

async fn run(case: &FixtureCase, message: &[u8], monitored: &[&str]) -> Seen {
    let gateway = gateway(monitored, case.date);
    let (mut smtp, _session) = gateway.ready().await;
    let rcpts: Vec<&str> = case.rcpt.iter().map(String::as_str).collect();
    let reply = smtp.send_mail(FROM, &rcpts, message).await;
    smtp.command("QUIT").await;
    let protected = !gateway.ledger.entries().is_empty();
    Seen {
        reply,
        record: protected.then(|| only_record(&gateway)),
        relayed: gateway.relayed(),
        metric: ["relayed", "rejected", "would_reject"].map(|o| messages_metric(&gateway, o)),
    }
}

/// Returns (relaxed, never relaxed) counts of the refused cases.
async fn side_by_side(case: FixtureCase) -> (usize, usize) {
    let message = fixture_message(&case.file);
    let enforce = run(&case, &message, &[]).await;
    let monitor = run(&case, &message, &PROTOCOL_IDS).await;
    let what = format!("{} to {:?}", case.file, case.rcpt);

    // The same decisions.
    let mut expected = case.reasons.clone();
    expected.sort();
    let reasons = |seen: &Seen| {
        seen.record
            .as_ref()
            .map(|(r, _)| sorted_codes(&r.reasons))
            .unwrap_or_default()
    };
    assert_eq!(reasons(&enforce), expected, "{what}: enforce");
    assert_eq!(reasons(&monitor), expected, "{what}: monitor");

    if case.verdict == "pass" {
        for seen in [&enforce, &monitor] {
            seen.reply.assert(250, None);
            assert_eq!(seen.relayed.len(), 1, "{what}");
            assert_eq!(seen.relayed[0].1, as_relayed(&message), "{what}");
            if let Some((record, _)) = &seen.record {
                assert_eq!(record.verdict, Verdict::Pass, "{what}");
                assert_eq!(seen.metric, [1.0, 0.0, 0.0], "{what}");
            }
        }
        return (0, 0);
    }

    // Enforce: 550, nothing at the next hop, a refusal in the audit and the metrics.
    assert_eq!(enforce.reply.code, 550, "{what}: {:?}", enforce.reply);
    assert!(enforce.relayed.is_empty(), "{what}");
    let (record, outcome) = enforce.record.as_ref().expect("an audit record");
    assert_eq!(record.verdict, Verdict::Reject, "{what}");
    assert_eq!(outcome.as_ref().map(|o| o.outcome), Some(Outcome::Rejected));
    assert_eq!(enforce.metric, [0.0, 1.0, 0.0], "{what}");

    let (record, outcome) = monitor.record.as_ref().expect("an audit record");
    let relaxable = record.reasons.iter().all(|c| c.relaxed_in_monitor());
    if relaxable {
        // Monitor: relayed byte for byte, 250 only after the next hop's 250, told apart.
        monitor.reply.assert(250, Some("2.0.0"));
        assert!(
            monitor.reply.text().contains("queued as FAKE1"),
            "the next hop's reply is mirrored: {:?}",
            monitor.reply
        );
        assert_eq!(monitor.relayed.len(), 1, "{what}");
        assert_eq!(monitor.relayed[0].1, as_relayed(&message), "{what}");
        assert_eq!(record.verdict, Verdict::WouldReject, "{what}");
        assert_eq!(outcome.as_ref().map(|o| o.outcome), Some(Outcome::Relayed));
        assert_eq!(monitor.metric, [0.0, 0.0, 1.0], "{what}");
        (1, 0)
    } else {
        // A reason monitor mode never relaxes: the very same refusal.
        assert_eq!(monitor.reply.raw, enforce.reply.raw, "{what}");
        assert!(monitor.relayed.is_empty(), "{what}");
        assert_eq!(record.verdict, Verdict::Reject, "{what}");
        assert_eq!(monitor.metric, [0.0, 1.0, 0.0], "{what}");
        (0, 1)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_and_enforce_side_by_side_on_the_fixture_messages() {
    let cases = fixture_cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let counts = run_concurrently(cases, CONCURRENT_CASES, side_by_side).await;
    let relaxed: usize = counts.iter().map(|(r, _)| r).sum();
    let kept: usize = counts.iter().map(|(_, k)| k).sum();
    eprintln!("refused fixtures: {relaxed} relayed as would_reject in monitor mode, {kept} refused in both");
    assert!(relaxed >= 20, "{relaxed}");
    assert!(
        kept >= 2,
        "the mime_ambiguous fixtures stay refused: {kept}"
    );
}

/// A message that breaks the seed protocol's rules (no archive at all).
fn no_archive() -> Vec<u8> {
    b"From: medewerker@opgroeien.be\r\nTo: kindengezin@wervik.be\r\nSubject: verslag\r\n\r\nZie bijlage.\r\n".to_vec()
}

#[tokio::test]
async fn enforce_wins_when_one_protocol_of_the_message_enforces() {
    // The relaxed protocol monitors, the seed's protocol enforces.
    let gateway = gateway(&["relaxed"], fixture_day());
    let (mut smtp, _session) = gateway.ready().await;
    smtp.send_mail(FROM, &[SEED, "team@relaxed.example"], &no_archive())
        .await
        .assert(550, Some("5.7.1"));
    assert!(gateway.relayed().is_empty());
    // The monitoring protocol alone: relayed.
    smtp.send_mail(FROM, &["team@relaxed.example"], &no_archive())
        .await
        .assert(250, None);
    assert_eq!(gateway.relayed().len(), 1);
    let verdicts: Vec<Verdict> = gateway
        .ledger
        .entries()
        .iter()
        .map(|(r, _)| r.verdict)
        .collect();
    assert_eq!(verdicts, [Verdict::Reject, Verdict::WouldReject]);
    assert_eq!(messages_metric(&gateway, "rejected"), 1.0);
    assert_eq!(messages_metric(&gateway, "would_reject"), 1.0);
}

#[tokio::test]
async fn monitor_mode_never_relaxes_smuggling_size_or_relay_access() {
    let mut config = TestConfig::default();
    monitoring(&mut config, &PROTOCOL_IDS);
    config.set("limits", "max_message_size", "2048");
    let gateway = TestGateway::with_config(config);

    // SMTP smuggling: a bare LF before a dot line.
    let (mut smtp, _session) = gateway.ready().await;
    smtp.begin_data(FROM, &[SEED]).await;
    smtp.send(b"Subject: x\r\n\r\nline\n.\r\nMAIL FROM:<evil@x.example>\r\n\r\n.\r\n")
        .await;
    let got = smtp.reply().await;
    got.assert(550, Some("5.5.2"));

    // Larger than limits.max_message_size.
    let big = [no_archive(), vec![b'x'; 4096], b"\r\n".to_vec()].concat();
    smtp.begin_data(FROM, &[SEED]).await;
    smtp.send(&stuffed(&big)).await;
    smtp.reply().await.assert(552, None);

    // Relay access: a client outside access.client_networks that did not authenticate.
    let (mut outsider, _other) = gateway.connect_from("192.0.2.9:40000");
    outsider.reply().await.assert(220, None);
    outsider
        .command("EHLO outside.test")
        .await
        .assert(250, None);
    let _ = outsider.command(&format!("MAIL FROM:<{FROM}>")).await;
    outsider
        .command(&format!("RCPT TO:<{SEED}>"))
        .await
        .assert(554, Some("5.7.1"));

    assert!(gateway.relayed().is_empty());
    assert_eq!(messages_metric(&gateway, "would_reject"), 0.0);
    assert!(gateway
        .ledger
        .entries()
        .iter()
        .all(|(r, _)| r.verdict != Verdict::WouldReject));
}

// ---------------------------------------------------------------------------------------------
// Allowed senders (article 5)

const SENDERS: &str =
    "senders = [\"An.Peeters@Opgroeien.be\", \"@kindengezin.be\", \"*@menen.be\"]\n";

fn senders_config(monitor: bool) -> TestConfig {
    let mut config = TestConfig::default();
    let id = "id = \"opgroeien-menen-ocmw-wervik\"\n";
    let mode = if monitor { "mode = \"monitor\"\n" } else { "" };
    config.edit_fixture(id, &format!("{id}{mode}{SENDERS}"));
    config
}

#[tokio::test]
async fn only_listed_senders_reach_the_protected_mailbox() {
    let gateway = TestGateway::with_config(senders_config(false));
    let good = fixture_message("good_basic.eml");
    let (mut smtp, _session) = gateway.ready().await;
    for allowed in [
        "an.peeters+dossier@OPGROEIEN.BE",
        "wie@kindengezin.be",
        "Iemand@Menen.be",
    ] {
        smtp.send_mail(allowed, &[SEED], &good)
            .await
            .assert(250, None);
    }
    assert_eq!(gateway.relayed().len(), 3);
    for refused in ["piet@opgroeien.be", "wie@sub.kindengezin.be", ""] {
        let got = smtp.send_mail(refused, &[SEED], &good).await;
        got.assert(550, Some("5.7.1"));
        let text = got.text();
        assert!(
            text.contains("sealgate: sender_not_allowed"),
            "{refused:?}: {text}"
        );
        assert!(text.starts_with("NL: "), "Dutch first: {text}");
        assert!(
            text.contains("EN: Refused: Sender not allowed (protocol art. 5)."),
            "{text}"
        );
    }
    assert_eq!(gateway.relayed().len(), 3, "nothing more went out");
    // Mail to ordinary recipients is never judged, whoever sends it.
    smtp.send_mail(
        "piet@opgroeien.be",
        &["iemand@gmail.com"],
        &ordinary_message("hi"),
    )
    .await
    .assert(250, None);

    let records = gateway.ledger.entries();
    assert_eq!(
        records.len(),
        6,
        "every attempt to the protected mailbox is audited"
    );
    let refused: Vec<&TransferRecord> = records
        .iter()
        .map(|(r, _)| r)
        .filter(|r| r.verdict == Verdict::Reject)
        .collect();
    assert_eq!(refused.len(), 3);
    for record in &refused {
        assert_eq!(record.reasons, [ReasonCode::SenderNotAllowed]);
    }
    assert_eq!(refused[2].sender, "", "the null sender is recorded as such");
}

#[tokio::test]
async fn a_sender_outside_the_list_is_a_would_reject_in_monitor_mode() {
    let gateway = TestGateway::with_config(senders_config(true));
    let good = fixture_message("good_basic.eml");
    let (mut smtp, _session) = gateway.ready().await;
    smtp.send_mail("piet@opgroeien.be", &[SEED], &good)
        .await
        .assert(250, None);
    let (record, outcome) = only_record(&gateway);
    assert_eq!(record.verdict, Verdict::WouldReject);
    assert_eq!(record.reasons, [ReasonCode::SenderNotAllowed]);
    assert_eq!(outcome.map(|o| o.outcome), Some(Outcome::Relayed));
    assert_eq!(messages_metric(&gateway, "would_reject"), 1.0);
}

/// `sealgate check` runs the same core: the same answers, also with SMTP AUTH, which the check
/// simulates with `auth_user` (the session fills in the same field after AUTH).
#[tokio::test]
async fn check_reports_the_same_for_senders_auth_and_monitor_mode() {
    let dir = tempfile::tempdir().unwrap();
    let config = senders_config(false).load(dir.path());
    let good = fixture_message("good_basic.eml");
    let check = |from: &str, auth: Option<&str>, config: sealgate::config::Config| {
        let sender = (!from.is_empty()).then(|| Address::parse_sender(from).unwrap());
        let auth = auth.map(str::to_string);
        let message = good.clone();
        async move {
            sealgate::transfer::check(
                config,
                sender,
                auth,
                vec![Address::parse(SEED).unwrap()],
                message,
                Some(fixture_day()),
            )
            .await
            .unwrap()
        }
    };
    let cases: [(&str, Option<&str>, u16); 7] = [
        ("an.peeters@opgroeien.be", None, 250),
        ("piet@opgroeien.be", None, 550),
        ("", None, 550),
        // With AUTH both the envelope sender and the authenticated user must be listed.
        ("wie@kindengezin.be", Some("an.peeters@opgroeien.be"), 250),
        ("wie@kindengezin.be", Some("piet@opgroeien.be"), 550),
        ("piet@opgroeien.be", Some("an.peeters@opgroeien.be"), 550),
        ("wie@kindengezin.be", Some("exchange"), 550),
    ];
    for (from, auth, code) in cases {
        let delivery = check(from, auth, config.clone()).await;
        assert_eq!(
            delivery.reply.code, code,
            "{from:?} {auth:?}: {}",
            delivery.reply
        );
        let decision = delivery.decision.expect("protected mail is judged");
        let expected: &[ReasonCode] = if code == 250 {
            &[]
        } else {
            &[ReasonCode::SenderNotAllowed]
        };
        let codes: Vec<ReasonCode> = decision.reasons.iter().map(|r| r.code).collect();
        assert_eq!(codes, expected, "{from:?} {auth:?}");
    }

    // Monitor mode in check: the verdict says would_reject, the answer is the relay's.
    let config = senders_config(true).load(dir.path());
    let delivery = check("piet@opgroeien.be", None, config).await;
    assert_eq!(delivery.reply.code, 250);
    let decision = delivery.decision.unwrap();
    assert_eq!(decision.verdict, Verdict::WouldReject);
    let refusal = decision.refusal.expect("the reply enforce mode would give");
    assert!(refusal.lines[0].contains("sender_not_allowed"));
}

/// AUTH PLAIN's initial response for `user` with `password`.
fn plain(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
}

#[tokio::test]
async fn with_auth_the_authenticated_user_must_be_listed_too() {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    const PASSWORD: &str = "Secret-1";
    let salt = SaltString::generate(&mut OsRng);
    let hash = argon2::Argon2::default()
        .hash_password(PASSWORD.as_bytes(), &salt)
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    // AUTH is offered inside TLS only.
    let (cert, key) = test_certificate(dir.path());
    let mut config = senders_config(false);
    config
        .set("smtp.tls", "cert", &toml_path(&cert))
        .set("smtp.tls", "key", &toml_path(&key))
        .set(
            "access",
            "users",
            &format!(
                "[{{ name = \"an.peeters@opgroeien.be\", password_hash = \"{hash}\" }}, \
                 {{ name = \"exchange\", password_hash = \"{hash}\" }}]"
            ),
        );
    let gateway = TestGateway::start_in(
        dir,
        Options {
            config,
            ..Options::default()
        },
    );
    let good = fixture_message("good_basic.eml");
    for (user, from, code) in [
        ("an.peeters@opgroeien.be", "wie@kindengezin.be", 250),
        ("an.peeters@opgroeien.be", "piet@opgroeien.be", 550),
        ("exchange", "wie@kindengezin.be", 550),
    ] {
        let (mut smtp, _session) = gateway.ready().await;
        smtp.command("STARTTLS").await.assert(220, None);
        let mut smtp = smtp.upgrade().await;
        smtp.command("EHLO client.test").await.assert(250, None);
        smtp.command(&format!("AUTH PLAIN {}", plain(user, PASSWORD)))
            .await
            .assert(235, None);
        let got = smtp.send_mail(from, &[SEED], &good).await;
        assert_eq!(got.code, code, "{user} as {from}: {got:?}");
        if code == 550 {
            assert!(
                got.text().contains("sealgate: sender_not_allowed"),
                "{got:?}"
            );
        }
    }
    assert_eq!(gateway.relayed().len(), 1);
    let records = gateway.ledger.entries();
    let users: Vec<Option<&str>> = records
        .iter()
        .map(|(r, _)| r.auth_user.as_deref())
        .collect();
    assert_eq!(
        users,
        [
            Some("an.peeters@opgroeien.be"),
            Some("an.peeters@opgroeien.be"),
            Some("exchange")
        ]
    );
}

/// The ledger of a gateway as the report reads the audit store.
fn as_transfers(gateway: &TestGateway) -> Vec<sealgate::audit::Transfer> {
    gateway
        .ledger
        .entries()
        .into_iter()
        .enumerate()
        .map(|(seq, (record, outcome))| sealgate::audit::Transfer {
            record,
            outcome,
            entry_seq: seq as u64 + 1,
            entry_hash: String::new(),
        })
        .collect()
}

#[tokio::test]
async fn the_report_tells_would_reject_from_refused_and_relayed() {
    let mut summaries = Vec::new();
    for monitored in [&[][..], &PROTOCOL_IDS[..]] {
        let gateway = gateway(monitored, fixture_day());
        let (mut smtp, _session) = gateway.ready().await;
        let code = if monitored.is_empty() { 550 } else { 250 };
        smtp.send_mail(FROM, &[SEED], &no_archive())
            .await
            .assert(code, None);
        smtp.command("QUIT").await;
        let transfers = as_transfers(&gateway);
        let at = transfers[0].record.received_at;
        let since = at - chrono::Duration::days(1);
        let until = at + chrono::Duration::days(1);
        let mut summary = sealgate::audit::report::summarize(&transfers, &[], None, since, until);
        assert_eq!(summary.len(), 1, "{summary:?}");
        summaries.push(summary.remove(0));
    }
    let [enforce, monitor] = [&summaries[0], &summaries[1]];
    assert_eq!(enforce.outcomes.get("rejected"), Some(&1), "{enforce:?}");
    assert_eq!(
        enforce.outcomes.get("would_reject").copied().unwrap_or(0),
        0
    );
    assert_eq!(
        monitor.outcomes.get("would_reject"),
        Some(&1),
        "{monitor:?}"
    );
    assert_eq!(monitor.outcomes.get("rejected"), Some(&0), "{monitor:?}");
    // The same reason under both, counted under the outcome each mode gave it.
    let by_reason = |s: &sealgate::audit::report::ProtocolSummary, outcome: &str| {
        s.reasons
            .iter()
            .find(|r| r.code == "no_archive")
            .and_then(|r| r.outcomes.get(outcome).copied())
    };
    assert_eq!(by_reason(enforce, "rejected"), Some(1));
    assert_eq!(by_reason(monitor, "would_reject"), Some(1));
}
