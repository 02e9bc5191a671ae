//! `sealgate audit report --format html` and `--mail-to` as a DPO receives them: the real
//! binary on a real store. The page is self-contained and safe (no script, no resource from
//! elsewhere, every record value escaped), its figures are the `--json` numbers, and the mail
//! that reaches an in-process SMTP sink carries the page, a text part and the same JSON. No
//! external program: the headless-browser check is in audit_report_browser.rs.

mod audit_support;
mod inprocess;
mod mx_support;
mod report_support;

use audit_support::cli::{sealgate, stderr, stdout};
use audit_support::PROTOCOL;
use std::process::Output;

use mail_parser::{MessageParser, MimeHeaders};
use report_support::*;

#[test]
fn the_page_is_self_contained_and_its_figures_are_the_json_numbers() {
    let f = fixture();
    let json = json_report(&f);
    let html = html_report(&f);
    let lower = html.to_ascii_lowercase();
    assert!(lower.starts_with("<!doctype html>"));
    assert!(!lower.contains("<script"), "a script on the page");
    assert!(!lower.contains("http://") && !lower.contains("https://"));
    for outside in ["url(", "@import", "@font-face"] {
        assert!(!lower.contains(outside), "the page refers to {outside}...");
    }
    // Markup from a record is escaped, so every `<` starts a tag of the page's own.
    for tag in lower.split('<').skip(1).filter_map(|t| t.split('>').next()) {
        for attribute in [" src=", " href=", " xlink:href=", " srcset=", " action="] {
            assert!(!tag.contains(attribute), "a tag loads something: <{tag}>");
        }
    }
    assert!(html.contains("default-src 'none'"));
    assert!(html.contains("@page { size: A4"));
    // Two protocols, each with its chart per day, per reason and of TLS.
    assert_eq!(json["protocols"].as_array().unwrap().len(), 2);
    assert!(html.matches("<svg").count() >= 4, "charts are missing");
    assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());

    let compared = assert_page_matches_json(&html, &json);
    assert!(html.contains(json["chain"]["head_hash"].as_str().unwrap()));

    // The figures the issue names, spelled out for the main protocol.
    let p = json["protocols"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["protocol"] == PROTOCOL)
        .expect("the configured protocol");
    let days = p["days"].as_array().unwrap();
    assert_eq!(days.len(), 31);
    let per_day: u64 = days.iter().map(|d| d["transfers"].as_u64().unwrap()).sum();
    assert_eq!(per_day, p["transfers"].as_u64().unwrap());
    assert!(p["outcomes"]["deferred"].as_u64().unwrap() > 0);
    assert!(p["refused_by_reason"]["next-hop-554"].as_u64().unwrap() > 0);
    assert_eq!(p["incomplete"], 2, "t3 and the hostile one");
    assert!(p["tls_out"]["TLSv1.3 verified=dane"].as_u64().unwrap() > 0);
    assert!(p["archive_sizes"]["median"].as_u64().unwrap() > 0);
    let reasons = p["reasons"].as_array().unwrap();
    assert!(reasons.len() >= 5);
    for reason in reasons {
        let meaning = reason["meaning_en"].as_str().unwrap();
        assert!(!meaning.is_empty());
        assert!(html.contains(&meaning.replace('\'', "&#39;")), "{meaning}");
    }
    eprintln!("{compared} figures compared");
}

#[test]
fn record_values_are_escaped() {
    let f = fixture();
    let html = html_report(&f);
    assert!(!html.contains(HOSTILE_SENDER));
    assert!(!html.contains("<img"));
    assert!(html.contains("&quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;@evil.example"));
    assert!(html.contains("&lt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;@evil.example&gt;"));
}

#[test]
fn format_json_is_the_json_flag_and_protocol_limits_the_page() {
    let f = fixture();
    let flag = without_times(json_report(&f));
    let out = report(&f, &["--period", "2025-10", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let format: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(without_times(format), flag);

    let out = report(
        &f,
        &[
            "--period",
            "2025-10",
            "--format",
            "html",
            "--protocol",
            PROTOCOL,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = stdout(&out);
    assert_eq!(html.matches("<section class=\"protocol\"").count(), 1);
    assert!(!html.contains("another-protocol"));
}

#[test]
fn an_empty_month_still_renders_with_every_day() {
    let f = fixture();
    let out = report(&f, &["--period", "2025-09", "--format", "html"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = stdout(&out);
    assert!(html.contains("<svg"));
    assert!(html.contains("No transfers in this period"));
    let out = report(&f, &["--period", "last-month", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Runs `report --period 2025-10 --mail-to ...` on the fixture, with `relay.next_hop` at an
/// in-process sink that greets with `greeting`.
async fn mail_report(greeting: u16, to: &[&'static str]) -> (Output, mx_support::Sink, Fixture) {
    let sink = mx_support::sink("127.0.0.1", 0, greeting, None).await;
    let next_hop = format!("smtp://{}", sink.address);
    let notify = "\n[notify]\nfrom = \"postmaster@agency.example\"\n";
    let (out, f) = mail_report_with(&next_hop, notify, to).await;
    (out, sink, f)
}

/// Runs `report --period 2025-10 --mail-to ...` with `relay.next_hop` set to `next_hop` and
/// `extra` appended to the configuration.
async fn mail_report_with(next_hop: &str, extra: &str, to: &[&'static str]) -> (Output, Fixture) {
    let f = tokio::task::spawn_blocking(fixture).await.unwrap();
    let text = std::fs::read_to_string(&f.config)
        .unwrap()
        .replace("smtp://127.0.0.1:10025", next_hop)
        + extra;
    let config = f.dir.path().join("mail.toml");
    std::fs::write(&config, text).unwrap();
    let mut args = vec!["report", "--period", "2025-10"];
    for address in to {
        args.extend(["--mail-to", address]);
    }
    let out = tokio::task::spawn_blocking(move || sealgate(&args, &config))
        .await
        .unwrap();
    (out, f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mail_carries_the_page_a_text_part_and_the_json() {
    let (out, sink, f) = mail_report(220, &["dpo@example.org", "mail-admin@example.org"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("mailed to dpo@example.org, mail-admin@example.org"));

    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    let got = &messages[0];
    assert!(
        got.sender
            .starts_with("MAIL FROM:<postmaster@agency.example>"),
        "{}",
        got.sender
    );
    assert_eq!(got.recipients.len(), 2);
    let message = MessageParser::default().parse(&got.data).expect("parses");
    assert!(message.subject().unwrap().contains("2025-10"));
    let mut types: Vec<String> = message
        .parts
        .iter()
        .filter_map(|p| p.content_type())
        .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")))
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            "application/json",
            "multipart/alternative",
            "multipart/mixed",
            "text/html",
            "text/plain"
        ]
    );
    let html = message.body_html(0).expect("an HTML part").into_owned();
    let text = message.body_text(0).expect("a text part").into_owned();
    assert!(html.contains("<svg") && !html.to_ascii_lowercase().contains("<script"));
    assert!(text.contains("sealgate audit report for 2025-10"));
    let attachment = message.attachment(0).expect("an attachment");
    assert_eq!(
        attachment.content_type().map(|c| (c.ctype(), c.subtype())),
        Some(("application", Some("json")))
    );
    assert_eq!(
        attachment.attachment_name(),
        Some("sealgate-report-2025-10.json")
    );
    let attached: serde_json::Value = serde_json::from_slice(attachment.contents()).unwrap();
    let f2 = tokio::task::spawn_blocking(move || {
        let json = json_report(&f);
        (f, json)
    })
    .await
    .unwrap();
    assert_eq!(without_times(attached.clone()), without_times(f2.1));
    assert_page_matches_json(&html, &attached);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_next_hop_fails_the_run_with_the_reason() {
    let (out, sink, _f) = mail_report(421, &["dpo@example.org"]).await;
    assert_ne!(out.status.code(), Some(0));
    let said = stderr(&out);
    assert!(said.contains("was not mailed"), "{said}");
    assert!(said.contains("421"), "{said}");
    assert!(sink.messages().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_mx_delivery_the_report_goes_to_the_notice_next_hop_or_nowhere() {
    let sink = mx_support::sink("127.0.0.1", 0, 220, None).await;
    let notify = format!(
        "\n[notify]\nenabled = true\nfrom = \"postmaster@agency.example\"\nnext_hop = \"smtp://{}\"\n",
        sink.address
    );
    let (out, _f) = mail_report_with("mx", &notify, &["dpo@example.org"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(sink.messages().len(), 1);

    let (out, _f) = mail_report_with("mx", "", &["dpo@example.org"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("[notify] next_hop"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sink.messages().len(), 1);
}
