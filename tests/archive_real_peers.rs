#![cfg(feature = "real-peers")]
//! The archive verdict against the real producers and readers (real-peer tier):
//! - 7-Zip itself (`7zz t`): whatever sealgate calls `encrypted` tests OK with the password and
//!   fails without it; what sealgate calls corrupt, 7-Zip cannot test either;
//! - the fixture script (7zz, 7z, py7zr) regenerates a corpus with the same verdicts.
//!
//! A missing tool fails the test, saying how to install it.

mod archive_support;
mod common;

use std::path::Path;
use std::process::Command;

use archive_support::{check_corpus, fixtures, manifest, password, Expected};
use sealgate::sevenz::{self, VerdictKind};

/// Fixtures with a byte changed inside a content stream: invisible to a structural check.
fn is_content_damage(file: &str) -> bool {
    file.starts_with("flip-") && file.ends_with("-data.7z")
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
    common::require_tool("7zz", "Debian's 7zip (apt-get install 7zip)");
    let dir = fixtures();
    let pw = password(&dir);
    for Expected {
        file,
        verdict: expected,
        header_encrypted,
        ..
    } in manifest(&dir)
    {
        let path = dir.join(&file);
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
                if header_encrypted == Some(false) {
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
    common::require_tool("7zz", "Debian's 7zip");
    common::require_tool("7z", "Debian's p7zip-full");
    common::require_python_module("py7zr", "py7zr");
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
