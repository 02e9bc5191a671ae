//! `sealgate check-archive`: JSON lines with the contract's fields, human lines, exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/archives")
        .join(name)
}

fn check_archive(args: &[&str], files: &[PathBuf]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .arg("check-archive")
        .args(args)
        .args(files)
        .output()
        .unwrap()
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn json_has_one_object_per_file_with_the_contract_fields() {
    let files: Vec<PathBuf> = [
        "enc-hdr-lzma2.7z",
        "enc-lzma2.7z",
        "mixed.7z",
        "plain-lzma-header.7z",
        "trunc-half.7z",
        "aes.zip",
        "py7zr-hdr-enc-rawkey.7z",
    ]
    .iter()
    .map(|f| fixture(f))
    .collect();
    let out = check_archive(&["--json"], &files);
    assert_eq!(out.status.code(), Some(1), "not every file is encrypted");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), files.len());
    for (line, file) in lines.iter().zip(&files) {
        assert_eq!(line["file"], file.display().to_string());
        for key in ["verdict", "header_encrypted", "kdf_cycles_power", "reason"] {
            assert!(line.get(key).is_some(), "{key} missing in {line}");
        }
        assert!(!line["reason"].as_str().unwrap().is_empty());
    }
    let summary: Vec<(&str, serde_json::Value, serde_json::Value)> = lines
        .iter()
        .map(|l| {
            (
                l["verdict"].as_str().unwrap(),
                l["header_encrypted"].clone(),
                l["kdf_cycles_power"].clone(),
            )
        })
        .collect();
    use serde_json::json;
    assert_eq!(
        summary,
        vec![
            ("encrypted", json!(true), json!(19)),
            ("encrypted", json!(false), json!(19)),
            ("partially_encrypted", json!(false), json!(19)),
            ("unencrypted", json!(false), json!(null)),
            ("corrupt", json!(null), json!(null)),
            ("not_7z", json!(null), json!(null)),
            ("encrypted", json!(true), json!(63)),
        ]
    );
    assert_eq!(lines[2]["folders"], json!(2));
    assert_eq!(lines[2]["encrypted_folders"], json!(1));
}

#[test]
fn exit_zero_only_when_every_file_is_encrypted() {
    let out = check_archive(&[], &[fixture("enc-hdr-lzma2.7z"), fixture("enc-bcj2.7z")]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(text.lines().all(|l| l.contains(": encrypted")), "{text}");
    let out = check_archive(&[], &[fixture("only-empty.7z")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("unencrypted"));
}

#[test]
fn unreadable_file_exits_two_and_still_judges_the_others() {
    let out = check_archive(
        &["--json"],
        &[fixture("does-not-exist.7z"), fixture("enc-lzma2.7z")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does-not-exist.7z"));
    assert_eq!(json_lines(&out).len(), 1);
}
