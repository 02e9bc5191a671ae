//! Hostile text through `policy::evaluate` for a protected recipient (issue 11, items 5 to 7):
//! Dutch text never panics the password check; the password is found where staff put it
//! (file name, display name, HTML attribute, the line below a label); and nothing taken from
//! the message (Content-Type, boundary, file name, subject, Message-ID) appears in the reply
//! lines or the decision.
//!
//! In-process tier: only the fixture configuration and the archive of `good_basic.eml`.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use sealgate::config::Config;
use sealgate::envelope::Address;
use sealgate::policy::{self, Decision, Registry, Verdict};

/// The password of the fixture archives (fixtures/messages/manifest.json).
const PASSWORD: &str = "Zomer-Wervik-2024!";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/messages")
}

fn registry() -> Registry {
    let config = Config::load(&fixtures().join("sealgate-test.toml")).unwrap();
    Registry::new(&config.protocols, &config.policy)
}

fn evaluate(message: &str) -> Decision {
    let registry = registry();
    let rcpt = registry.classify(&Address::parse("kindengezin@wervik.be").unwrap().canonical());
    assert!(rcpt.protocol.is_some());
    let date = NaiveDate::from_ymd_opt(2025, 6, 2).unwrap();
    policy::evaluate(&registry, &[rcpt], message.as_bytes(), date)
}

fn codes(decision: &Decision) -> Vec<&str> {
    decision.reasons.iter().map(|r| r.code.as_str()).collect()
}

/// The base64 lines of the encrypted archive in good_basic.eml (AES-256, encrypted names).
fn archive_base64() -> String {
    let eml = std::fs::read_to_string(fixtures().join("good_basic.eml")).unwrap();
    let start = eml.find("filename=\"verslag.7z\"").unwrap();
    eml[start..]
        .lines()
        .skip_while(|l| !l.trim().is_empty())
        .skip(1)
        .map(str::trim_end)
        .take_while(|l| !l.is_empty() && !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// A message with `headers` (From, Subject, ... without Content-Type), a text part and the
/// archive under `archive_name`; an optional HTML part.
fn message(headers: &str, text: &str, html: Option<&str>, archive_name: &str) -> String {
    let html = html
        .map(|h| {
            format!(
                "--b1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{h}\r\n"
            )
        })
        .unwrap_or_default();
    format!(
        "{headers}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n\
         {html}\
         --b1\r\nContent-Type: application/x-7z-compressed\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"{archive_name}\"\r\n\r\n{}\r\n--b1--\r\n",
        archive_base64()
    )
}

const HEADERS: &str = "From: An Peeters <an.peeters@opgroeien.be>\r\nTo: kindengezin@wervik.be\r\nSubject: Verslag\r\nMessage-ID: <1@opgroeien.be>\r\n";

#[test]
fn the_good_message_passes() {
    let decision = evaluate(&message(HEADERS, "Zie bijlage.", None, "verslag.7z"));
    assert_eq!(decision.verdict, Verdict::Pass, "{:?}", codes(&decision));
}

#[test]
fn dutch_text_after_the_password_label_does_not_panic() {
    // Issue 11 item 6: "één" starts with a two-byte character right where "is " was sliced.
    for text in [
        "Het wachtwoord is: één keer per week",
        "Het wachtwoord is één keer per week\r\nww:ü, code é",
    ] {
        let decision = evaluate(&message(HEADERS, text, None, "verslag.7z"));
        assert_eq!(
            decision.verdict,
            Verdict::Pass,
            "{text}: {:?}",
            codes(&decision)
        );
    }
}

#[test]
fn the_password_is_found_where_staff_put_it() {
    let label_line_above = format!("Beste,\r\n\r\nWachtwoord:\r\n   {PASSWORD}\r\n\r\nGroeten");
    let from_display = format!("From: \"{PASSWORD}\" <an.peeters@opgroeien.be>\r\nTo: kindengezin@wervik.be\r\nSubject: Verslag\r\n");
    let to_display = format!("From: an.peeters@opgroeien.be\r\nTo: \"Wachtwoord {PASSWORD}\" <kindengezin@wervik.be>\r\nSubject: Verslag\r\n");
    let html_title = format!("<p title=\"{PASSWORD}\">Zie bijlage.</p>");
    let html_alt = format!("<p>Zie bijlage.</p><img src=\"cid:x\" alt='{PASSWORD}'>");
    let html_label_below = format!("<p>Het wachtwoord is</p><p>{PASSWORD}</p>");
    let cases: Vec<(&str, String, &str, Option<String>, String)> = vec![
        (
            "line below the label",
            HEADERS.to_string(),
            &label_line_above,
            None,
            "verslag.7z".into(),
        ),
        (
            "From display name",
            from_display,
            "Zie bijlage.",
            None,
            "verslag.7z".into(),
        ),
        (
            "To display name",
            to_display,
            "Zie bijlage.",
            None,
            "verslag.7z".into(),
        ),
        (
            "HTML title",
            HEADERS.to_string(),
            "Zie bijlage.",
            Some(html_title),
            "verslag.7z".into(),
        ),
        (
            "HTML alt",
            HEADERS.to_string(),
            "Zie bijlage.",
            Some(html_alt),
            "verslag.7z".into(),
        ),
        (
            "HTML paragraph below the label",
            HEADERS.to_string(),
            "Zie bijlage.",
            Some(html_label_below),
            "verslag.7z".into(),
        ),
        (
            "archive file name",
            HEADERS.to_string(),
            "Zie bijlage.",
            None,
            format!("{PASSWORD}.7z"),
        ),
    ];
    for (place, headers, text, html, name) in cases {
        let decision = evaluate(&message(&headers, text, html.as_deref(), &name));
        assert!(
            codes(&decision).contains(&"password_in_message"),
            "{place}: {:?}",
            codes(&decision)
        );
    }
}

/// A marker that must never come back: a name and address as a careless sender writes them.
const MARKER: &str = "Jan-Peeters-Kerkstraat-1-Wervik";

fn assert_not_echoed(what: &str, decision: &Decision) {
    let marker = MARKER.to_ascii_lowercase();
    let (code, status, lines) = policy::reject_reply(decision);
    let mut seen: Vec<String> = lines.clone();
    seen.extend(
        decision
            .reasons
            .iter()
            .flat_map(|r| [r.code.as_str().to_string(), r.text.clone()]),
    );
    seen.extend(decision.message_id.clone());
    seen.extend(decision.archives.iter().map(|a| format!("{a:?}")));
    for text in &seen {
        assert!(
            !text.to_ascii_lowercase().contains(&marker)
                && !text.to_ascii_lowercase().contains("kerkstraat"),
            "{what}: the message's text came back ({code} {status:?}): {text}"
        );
    }
}

#[test]
fn text_of_the_message_never_comes_back() {
    let archive = archive_base64();
    let cases: Vec<(&str, String)> = vec![
        (
            "Content-Type of the message",
            format!("{HEADERS}MIME-Version: 1.0\r\nContent-Type: multipart/{MARKER}\r\n\r\nx\r\n"),
        ),
        (
            "Content-Type of a part",
            format!(
                "{HEADERS}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/{MARKER}\r\n\r\nx\r\n--b\r\nContent-Type: multipart/{MARKER}\r\n\r\nx\r\n--b--\r\n"
            ),
        ),
        (
            "boundary",
            format!(
                "{HEADERS}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"{MARKER}\"\r\n\r\n--{MARKER}\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n!!{MARKER}!!\r\n--{MARKER}--\r\n"
            ),
        ),
        (
            "file name of another attachment",
            format!(
                "{HEADERS}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/zip; name=\"{MARKER}.zip\"\r\nContent-Disposition: attachment; filename=\"{MARKER}.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBAoAAAAAAA==\r\n--b--\r\n"
            ),
        ),
        (
            "file name of the archive",
            message(HEADERS, "x", None, &format!("{MARKER}.7z")),
        ),
        (
            "subject",
            message(
                &format!("From: a@opgroeien.be\r\nSubject: {MARKER}\r\nMessage-ID: <2@opgroeien.be>\r\n"),
                "x",
                None,
                "a.7z",
            ),
        ),
        (
            "Message-ID with spaces",
            message(
                &format!("From: a@opgroeien.be\r\nSubject: x\r\nMessage-ID: <Jan Peeters {MARKER}@opgroeien.be>\r\n"),
                "x",
                None,
                "a.7z",
            ),
        ),
        (
            "Message-ID with a national register number",
            message(
                &format!("From: a@opgroeien.be\r\nSubject: x\r\nMessage-ID: <85073003328.{MARKER}@opgroeien.be>\r\n"),
                "x",
                None,
                "a.7z",
            ),
        ),
        (
            "Message-ID without angle brackets",
            message(
                &format!("From: a@opgroeien.be\r\nSubject: x\r\nMessage-ID: {MARKER}, Kerkstraat 1\r\n"),
                "x",
                None,
                "a.7z",
            ),
        ),
        (
            "encoded-word subject and a nested message",
            format!(
                "{HEADERS}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: =?utf-8?q?{MARKER}?=\r\nContent-Type: multipart/{MARKER}; boundary=c\r\n\r\n--c\r\n\r\n--b--\r\n"
            ),
        ),
        (
            "archive with the marker in the text",
            format!(
                "{HEADERS}MIME-Version: 1.0\r\nContent-Type: application/x-7z-compressed; name=\"{MARKER}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{archive}\r\n"
            ),
        ),
    ];
    for (what, message) in cases {
        let decision = evaluate(&message);
        assert_not_echoed(what, &decision);
    }
}

#[test]
fn a_plain_message_id_is_kept_and_an_odd_one_hashed() {
    let kept = evaluate(&message(HEADERS, "x", None, "a.7z"));
    assert_eq!(kept.message_id.as_deref(), Some("1@opgroeien.be"));
    let odd = evaluate(&message(
        "From: a@opgroeien.be\r\nSubject: x\r\nMessage-ID: <85073003328@opgroeien.be>\r\n",
        "x",
        None,
        "a.7z",
    ));
    let id = odd.message_id.unwrap();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
}
