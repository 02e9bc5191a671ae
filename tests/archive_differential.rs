//! Differential tests: sealgate's verdict against sevenz-rust2 (a Rust 7z reader, in-process):
//! same folder and file counts, same encrypted folders; what sealgate accepts it can extract
//! with the password. The comparison with 7-Zip itself (`7zz t`) is in archive_real_peers.rs.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use sealgate::sevenz::{self, VerdictKind};
use sevenz_rust2::{Archive, ArchiveReader, Password};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/archives")
}

fn password() -> String {
    std::fs::read_to_string(fixtures().join("password.txt"))
        .unwrap()
        .trim_end_matches('\n')
        .to_string()
}

/// (file, verdict) from the manifest.
fn manifest() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(fixtures().join("expected.tsv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let mut cols = l.split('\t');
            (
                cols.next().unwrap().to_string(),
                cols.next().unwrap().to_string(),
            )
        })
        .collect()
}

/// Reads every entry to the end; Err with the reader's message on the first failure.
fn extract_all(bytes: &[u8], password: &str) -> Result<u64, String> {
    let mut reader = ArchiveReader::new(Cursor::new(bytes), Password::from(password))
        .map_err(|e| e.to_string())?;
    let mut total = 0u64;
    reader
        .for_each_entries(|_, r| {
            let mut sink = Vec::new();
            r.read_to_end(&mut sink)?;
            total += sink.len() as u64;
            Ok(true)
        })
        .map_err(|e| e.to_string())?;
    Ok(total)
}

/// Fixtures with a byte changed inside a content stream: invisible to a structural check.
fn is_content_damage(file: &str) -> bool {
    file.starts_with("flip-") && file.ends_with("-data.7z")
}

fn is_aes(coder: &sevenz_rust2::Coder) -> bool {
    coder.encoder_method_id() == [0x06, 0xF1, 0x07, 0x01]
}

#[test]
fn counts_agree_with_sevenz_rust2() {
    let pw = password();
    let mut compared = 0;
    for (file, _) in manifest() {
        let bytes = std::fs::read(fixtures().join(&file)).unwrap();
        let ours = sevenz::verdict(&bytes);
        let Some(folders) = ours.folders else {
            continue;
        };
        let theirs = Archive::read(&mut Cursor::new(&bytes), &Password::from(pw.as_str()))
            .unwrap_or_else(|e| {
                panic!("{file}: sevenz-rust2 cannot read what sealgate parsed: {e}")
            });
        assert_eq!(folders, theirs.blocks.len() as u64, "{file}: folders");
        if ours.header_encrypted == Some(false) {
            assert_eq!(ours.files, Some(theirs.files.len() as u64), "{file}: files");
        }
        let with_aes = theirs
            .blocks
            .iter()
            .filter(|b| b.coders.iter().any(is_aes))
            .count() as u64;
        assert_eq!(
            ours.encrypted_folders,
            Some(with_aes),
            "{file}: encrypted folders"
        );
        compared += 1;
    }
    assert!(compared >= 20, "only {compared} archives compared");
}

#[test]
fn sevenz_rust2_extracts_what_sealgate_accepts_and_rejects_what_it_calls_corrupt() {
    let pw = password();
    for (file, expected) in manifest() {
        let bytes = std::fs::read(fixtures().join(&file)).unwrap();
        let ours = sevenz::verdict(&bytes);
        assert_eq!(ours.verdict.as_str(), expected, "{file}");
        let result = extract_all(&bytes, &pw);
        match ours.verdict {
            VerdictKind::Encrypted | VerdictKind::Unencrypted | VerdictKind::PartiallyEncrypted => {
                if is_content_damage(&file) {
                    assert!(
                        result.is_err(),
                        "{file}: the damage shows only when unpacking"
                    );
                    continue;
                }
                match result {
                    Ok(_) => {}
                    // sevenz-rust2 is built without its deflate feature here.
                    Err(e)
                        if file.contains("deflate") && e.to_lowercase().contains("unsupported") => {
                    }
                    Err(e) => {
                        panic!("{file}: sevenz-rust2 failed on an archive sealgate accepts: {e}")
                    }
                }
            }
            VerdictKind::Corrupt => assert!(
                result.is_err(),
                "{file}: sevenz-rust2 read an archive sealgate calls corrupt"
            ),
            VerdictKind::NotSevenZ => {}
        }
    }
}

#[test]
fn sevenz_rust2_fails_without_the_password_on_every_encrypted_fixture() {
    for (file, expected) in manifest() {
        if expected != "encrypted" || file.contains("deflate") {
            continue;
        }
        let bytes = std::fs::read(fixtures().join(&file)).unwrap();
        assert!(
            extract_all(&bytes, "wrong password").is_err(),
            "{file}: extracted without the password"
        );
    }
}
