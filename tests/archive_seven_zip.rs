#![cfg(feature = "real-peers")]
//! The archive verdict against 7-Zip itself, and the fixture script (7-Zip, p7zip, py7zr):
//! - `7zz t`: whatever sealgate calls `encrypted` tests OK with the password and fails without
//!   it; what sealgate calls corrupt, 7-Zip cannot test either;
//! - fixtures/make-archives.sh regenerates a corpus that gets the manifest's verdicts.

mod archive_support;

use std::path::Path;
use std::process::Command;

use archive_support::*;
use sealgate::sevenz::{self, VerdictKind};

/// 7-Zip (7zz), p7zip (7z) and py7zr: missing, the test fails and says how to install them.
fn require_tools() {
    for (tool, install) in [
        ("7zz", "apt-get install 7zip"),
        ("7z", "apt-get install p7zip-full"),
        ("python3", "apt-get install python3"),
    ] {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "{tool} is missing: {install} (or run `bash tests/run-all.sh`)"
        );
    }
    let py7zr = Command::new("python3")
        .args(["-c", "import py7zr"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(py7zr, "python3 cannot import py7zr: pip install py7zr");
}

fn seven_zip_tests_ok(path: &Path, password: &str) -> bool {
    Command::new("7zz")
        .args([
            "t",
            "-bd",
            "-bso0",
            "-bse0",
            "-bsp0",
            &format!("-p{password}"),
        ])
        .arg(path)
        .status()
        .expect("7zz missing: apt-get install 7zip")
        .success()
}

#[test]
fn seven_zip_agrees_with_every_verdict() {
    require_tools();
    let pw = password(&fixtures());
    for Expected {
        file,
        verdict: expected,
        ..
    } in manifest(&fixtures())
    {
        let path = fixtures().join(&file);
        let ours = sevenz::verdict(&std::fs::read(&path).unwrap());
        assert_eq!(ours.verdict.as_str(), expected, "{file}");
        match ours.verdict {
            _ if is_content_damage(&file) => {
                // The documented limit: the structure is sound, the damage lies inside a stream.
                assert!(
                    !seven_zip_tests_ok(&path, &pw),
                    "{file}: 7-Zip did not see the damage"
                );
            }
            VerdictKind::Encrypted => {
                assert!(
                    seven_zip_tests_ok(&path, &pw),
                    "{file}: 7zz t fails with the password"
                );
                assert!(
                    !seven_zip_tests_ok(&path, "wrong password"),
                    "{file}: 7zz t passes without the password"
                );
            }
            VerdictKind::PartiallyEncrypted => {
                assert!(
                    seven_zip_tests_ok(&path, &pw),
                    "{file}: 7zz t fails with the password"
                );
                assert!(
                    !seven_zip_tests_ok(&path, "wrong password"),
                    "{file}: the encrypted part opened without it"
                );
            }
            VerdictKind::Unencrypted => {
                assert!(
                    seven_zip_tests_ok(&path, &pw),
                    "{file}: 7zz t fails on a plain archive"
                );
                if ours.header_encrypted == Some(false) {
                    assert!(
                        seven_zip_tests_ok(&path, "any password"),
                        "{file}: plain content needs a password"
                    );
                }
            }
            // 7-Zip opens a first volume when the next parts lie beside it; sealgate refuses parts.
            VerdictKind::Corrupt if file.starts_with("split.") => {}
            VerdictKind::Corrupt => {
                assert!(
                    !seven_zip_tests_ok(&path, &pw),
                    "{file}: 7zz t passes an archive sealgate calls corrupt"
                );
            }
            VerdictKind::NotSevenZ => {}
        }
    }
}

#[test]
fn the_fixture_script_regenerates_a_corpus_with_the_same_verdicts() {
    require_tools();
    let out = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/make-archives.sh");
    let status = Command::new("bash")
        .arg(script)
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success(), "make-archives.sh failed");
    check_corpus(out.path());
}
