//! The DPO's report (issue 15) fed hostile strings in every text field an audit store can
//! hold: sender addresses, protocol ids, outcome keys, reason codes and meanings, archive
//! verdicts, TLS descriptions, ids, Message-IDs, the chain's hash and break, the store's name.
//! An SMTPUTF8 client or a tampered store can put markup, quotes, `</svg>`, `]]>`, CR LF,
//! U+2028, bidi overrides (U+202E) and zero-width characters there. In-process tier: the page,
//! its text and the mail are built by the library and checked by a small tag scanner of its
//! own, not by sealgate's escaping (the real-peer tier parses the page with Python's
//! html.parser: report_hostile_parsers.rs).
//!
//! What must hold: the page's tags and attribute names are exactly those of the same report
//! with harmless values (nothing injected); no control or invisible character reaches the page
//! or the text raw (each shows as its code point); every value still shows (escaped), every
//! `data-figure` pointer still resolves to its number in the JSON; the text has the same
//! lines; the mail has the expected headers only and no bare CR or LF.

mod report_hostile_support;

use mail_parser::{MessageParser, MimeHeaders};
use report_hostile_support::*;
use sealgate::report::mail::{build, MailError, ReportMail};

#[test]
fn hostile_values_inject_no_element_or_attribute_into_the_page() {
    let values = hostile_values();
    let hostile = report_with(&values, "2025-10");
    let harmless = report_with(&harmless_values(values.len()), "2025-10");
    let page = sealgate::report::html(&hostile);
    let twin = sealgate::report::html(&harmless);

    let tags = scan_tags(&page);
    assert_eq!(
        tags,
        scan_tags(&twin),
        "the hostile page's markup differs from the harmless page's"
    );
    assert!(tags.len() > 1000, "only {} tags scanned", tags.len());
    let names: std::collections::BTreeSet<&str> = tags.iter().map(|t| t.name.as_str()).collect();
    for name in &names {
        assert!(PAGE_TAGS.contains(name), "unexpected element <{name}>");
    }
    assert_no_hidden_characters(&page, "the page");

    // Every value shows, in its visible form, in the page's text.
    let text = page_text(&page);
    for value in &values {
        let shown = sealgate::markup::visible(value);
        assert!(text.contains(shown.as_ref()), "{value:?} does not show");
    }
    // Every figure's pointer (with the hostile keys) resolves to the same number in the JSON.
    let json = serde_json::to_value(&hostile).unwrap();
    let figures = figures(&page);
    assert!(figures.len() > 500, "only {} figures", figures.len());
    for (pointer, value) in &figures {
        let in_json = json
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{pointer:?} is not in the JSON"));
        assert_eq!(in_json.as_u64(), Some(*value), "{pointer:?}");
    }
    // The protocol attribute keeps the exact id (control characters as references).
    let protocols: Vec<String> = tags
        .iter()
        .filter_map(|t| t.attribute("data-protocol"))
        .collect();
    let ids: Vec<String> = hostile
        .protocols
        .iter()
        .map(|p| p.protocol.clone())
        .collect();
    assert_eq!(protocols, ids);
    eprintln!(
        "{} hostile values, {} tags, {} figures compared",
        values.len(),
        tags.len(),
        figures.len()
    );
}

#[test]
fn hostile_values_forge_no_line_in_the_text_report() {
    let values = hostile_values();
    let text = sealgate::audit::report::render_text(&report_with(&values, "2025-10"));
    let twin = sealgate::audit::report::render_text(&report_with(
        &harmless_values(values.len()),
        "2025-10",
    ));
    assert_no_hidden_characters(&text, "the text");
    assert_eq!(
        text.lines().count(),
        twin.lines().count(),
        "a value added or split a line"
    );
}

#[test]
fn the_mail_of_a_hostile_report_has_its_headers_only_and_no_bare_line_end() {
    let values = hostile_values();
    let report = report_with(&values, "2025-10");
    let to = vec!["dpo@example.org".to_string()];
    let mail = ReportMail {
        report: &report,
        from: "postmaster@agency.example",
        to: &to,
        hostname: "sealgate.test",
    };
    let bytes = build(&mail).expect("the report mail");
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(bytes.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            b'\n' => assert_eq!(bytes[..i].last(), Some(&b'\r'), "bare LF at {i}"),
            0 => panic!("NUL at {i}"),
            _ => {}
        }
    }
    let head_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header");
    let head = String::from_utf8_lossy(&bytes[..head_end]);
    let mut names: Vec<String> = head
        .split("\r\n")
        .filter(|l| !l.starts_with([' ', '\t']))
        .map(|l| l.split(':').next().unwrap_or("").to_ascii_lowercase())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "auto-submitted",
            "content-type",
            "date",
            "from",
            "message-id",
            "mime-version",
            "subject",
            "to"
        ]
    );
    let message = MessageParser::default().parse(&bytes).expect("parses");
    assert_eq!(
        message.subject(),
        Some("sealgate auditrapport / audit report 2025-10 (KETEN KLOPT NIET / CHAIN BROKEN)")
    );
    let to: Vec<&str> = message
        .to()
        .expect("a To header")
        .iter()
        .filter_map(|a| a.address())
        .collect();
    assert_eq!(to, ["dpo@example.org"]);
    assert!(message.bcc().is_none() && message.cc().is_none());
    let html = message.body_html(0).expect("an HTML part");
    assert_eq!(
        scan_tags(&html),
        scan_tags(&sealgate::report::html(&report)),
        "the mailed page is the page"
    );
    let text = message.body_text(0).expect("a text part");
    assert_no_hidden_characters(&text.replace("\r\n", "\n"), "the text part");
    let attachment = message.attachment(0).expect("the JSON");
    assert_eq!(
        attachment.attachment_name(),
        Some("sealgate-report-2025-10.json")
    );
    let json: serde_json::Value = serde_json::from_slice(attachment.contents()).unwrap();
    assert_eq!(json, serde_json::to_value(&report).unwrap());

    // A period or host name that would put a line into the Message-ID is refused.
    for (period, hostname) in [
        ("2025-10\r\nBcc: evil@example.org", "sealgate.test"),
        ("2025-10", "sealgate.test>\r\nBcc: evil@example.org"),
        ("2025-10 x", "sealgate.test"),
    ] {
        let report = report_with(&values[..1], period);
        let mail = ReportMail {
            hostname,
            report: &report,
            ..mail
        };
        assert!(
            matches!(build(&mail), Err(MailError::BadMessageId(_))),
            "{period:?} {hostname:?}"
        );
    }
}

#[test]
fn a_period_is_written_anew_from_the_month_it_names() {
    let now = chrono::Utc::now();
    let resolve = |p: &str| sealgate::audit::report::resolve_period(p, now);
    assert_eq!(resolve("2025-10").as_deref(), Ok("2025-10"));
    for hostile in [
        "2025-10\r\nBcc: evil@example.org",
        "2025-10\n",
        "<b>-10",
        "2025-13",
    ] {
        match resolve(hostile) {
            Ok(period) => assert_eq!(period, "2025-10", "{hostile:?}"),
            Err(e) => assert!(!e.is_empty()),
        }
    }
    // Whatever the date parser lets pass around the digits is gone from the period.
    for spaced in [" 2025-10", "2025- 10", "+2025-10"] {
        if let Ok(period) = resolve(spaced) {
            assert_eq!(period, "2025-10", "{spaced:?}");
        }
    }
}
