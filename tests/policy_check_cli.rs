//! `sealgate check` on the fixture messages: the same verdicts as `policy::evaluate`, the exit
//! codes of the contract (0 pass, 1 reject, 2 error) and the JSON fields.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/messages")
}

fn config() -> PathBuf {
    fixtures().join("sealgate-test.toml")
}

fn check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .arg("check")
        .args(args)
        .output()
        .unwrap()
}

#[derive(serde::Deserialize)]
struct Manifest {
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    file: String,
    rcpt: Vec<String>,
    date: String,
    verdict: String,
    reasons: Vec<String>,
}

#[test]
fn every_fixture_gets_its_expected_verdict_and_exit_code() {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).unwrap();
    let manifest: Manifest = serde_json::from_str(&text).unwrap();
    let config = config();
    let mut failures = Vec::new();
    for case in &manifest.cases {
        let file = fixtures().join(&case.file);
        let mut args = vec![
            "--config",
            config.to_str().unwrap(),
            "--json",
            "--date",
            &case.date,
        ];
        for rcpt in &case.rcpt {
            args.extend(["--rcpt", rcpt.as_str()]);
        }
        args.push(file.to_str().unwrap());
        let output = check(&args);
        let expected_exit = if case.verdict == "pass" { 0 } else { 1 };
        let json: serde_json::Value = match serde_json::from_slice(&output.stdout) {
            Ok(json) => json,
            Err(e) => {
                failures.push(format!(
                    "{}: no JSON ({e}): {}",
                    case.file,
                    String::from_utf8_lossy(&output.stderr)
                ));
                continue;
            }
        };
        let mut codes: Vec<String> = json["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                assert!(r["text"].as_str().is_some_and(|t| !t.is_empty()));
                r["code"].as_str().unwrap().to_string()
            })
            .collect();
        codes.sort();
        if output.status.code() != Some(expected_exit)
            || json["verdict"] != case.verdict
            || codes != case.reasons
        {
            failures.push(format!(
                "{} to {:?} on {}: expected {} {:?} (exit {expected_exit}), got {} {:?} (exit {:?})",
                case.file, case.rcpt, case.date, case.verdict, case.reasons, json["verdict"], codes, output.status.code()
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
fn json_names_recipients_protection_and_the_smtp_reply() {
    let file = fixtures().join("no_attachment.eml");
    let config = config();
    let output = check(&[
        "--config",
        config.to_str().unwrap(),
        "--json",
        "--date",
        "2025-06-02",
        "--rcpt",
        "KindEnGezin+x@Wervik.be",
        "--rcpt",
        "collega@opgroeien.be",
        "--from",
        "an.peeters@opgroeien.be",
        file.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["verdict"], "reject");
    assert_eq!(json["protected"], true);
    assert_eq!(json["recipients"][0]["address"], "kindengezin@wervik.be");
    assert_eq!(
        json["recipients"][0]["protocol"],
        "opgroeien-menen-ocmw-wervik"
    );
    assert_eq!(json["recipients"][1]["protocol"], serde_json::Value::Null);
    assert_eq!(json["reasons"][0]["code"], "no_archive");
    assert!(json["reasons"][0]["text"]
        .as_str()
        .unwrap()
        .starts_with("NL: "));
    assert_eq!(json["smtp_reply"]["code"], 550);
    assert_eq!(json["smtp_reply"]["enhanced"], "5.7.1");
    assert!(json["smtp_reply"]["lines"].as_array().unwrap().len() >= 3);
}

#[test]
fn text_output_shows_the_reply_the_client_would_get() {
    let file = fixtures().join("tnef_winmail.eml");
    let config = config();
    let output = check(&[
        "--config",
        config.to_str().unwrap(),
        "--date",
        "2025-06-02",
        "--rcpt",
        "kindengezin@wervik.be",
        file.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("verdict: reject"), "{stdout}");
    assert!(stdout.contains("550-5.7.1 NL: Geweigerd: "), "{stdout}");
    assert!(
        stdout.lines().last().unwrap().starts_with("550 5.7.1 "),
        "{stdout}"
    );
}

#[test]
fn ordinary_mail_passes_uninspected_even_when_unreadable() {
    let config = config();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .args([
            "check",
            "--config",
            config.to_str().unwrap(),
            "--json",
            "--rcpt",
            "iemand@gmail.com",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"\x00\x01 not a message at all")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["verdict"], "pass");
    assert_eq!(json["protected"], false);
    assert_eq!(json["reasons"].as_array().unwrap().len(), 0);
}

#[test]
fn errors_exit_2_with_a_reason() {
    let config = config();
    let good = fixtures().join("good_basic.eml");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "--config",
                "/nonexistent/sealgate.toml",
                "--rcpt",
                "a@b.be",
                good.to_str().unwrap(),
            ],
            "cannot read configuration",
        ),
        (
            vec![
                "--config",
                config.to_str().unwrap(),
                "--rcpt",
                "kindengezin%wervik.be@relay.example",
                good.to_str().unwrap(),
            ],
            "refused at RCPT",
        ),
        (
            vec![
                "--config",
                config.to_str().unwrap(),
                "--rcpt",
                "a@b.be",
                "/nonexistent/message.eml",
            ],
            "cannot read message",
        ),
        (
            vec![
                "--config",
                config.to_str().unwrap(),
                "--rcpt",
                "a@b.be",
                "--from",
                "x%y@z",
                good.to_str().unwrap(),
            ],
            "--from",
        ),
    ];
    for (args, needle) in cases {
        let output = check(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

/// The test configuration with the seed's protocol in monitor mode and a `senders` list.
fn monitor_config(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(config()).unwrap();
    let id = "id = \"opgroeien-menen-ocmw-wervik\"\n";
    assert!(text.contains(id));
    let text = text.replacen(
        id,
        &format!("{id}mode = \"monitor\"\nsenders = [\"@opgroeien.be\"]\n"),
        1,
    );
    let path = dir.join("sealgate.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn monitor_mode_reports_would_reject_with_the_reply_enforce_would_give() {
    let dir = tempfile::tempdir().unwrap();
    let config = monitor_config(dir.path());
    let file = fixtures().join("tnef_winmail.eml");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--config",
            config.to_str().unwrap(),
            "--date",
            "2025-06-02",
            "--rcpt",
            "kindengezin@wervik.be",
            "--from",
            "an@opgroeien.be",
        ];
        args.extend_from_slice(extra);
        args.push(file.to_str().unwrap());
        check(&args)
    };
    let output = run(&[]);
    assert_eq!(output.status.code(), Some(0), "relayed in monitor mode");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("verdict: would_reject"), "{stdout}");
    assert!(stdout.contains("550-5.7.1 NL: Geweigerd: "), "{stdout}");

    let output = run(&["--json"]);
    assert_eq!(output.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["verdict"], "would_reject");
    assert_eq!(json["reasons"][0]["code"], "tnef");
    assert!(json["smtp_reply"].is_null(), "the gateway answers 250");
    assert_eq!(json["enforce_reply"]["code"], 550);

    // With AUTH, the user must be listed as well.
    let output = run(&["--json", "--auth-user", "exchange"]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let codes: Vec<&str> = json["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["tnef", "sender_not_allowed"], "{json}");
}
