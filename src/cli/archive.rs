//! `sealgate check-archive [--json] FILE...`: the archive verdict for files on disk, the same
//! one the gateway gives an attachment. Exit 0 when every file is `encrypted`, 1 otherwise,
//! 2 when a file cannot be read.

use std::path::PathBuf;
use std::process::ExitCode;

use sealgate::sevenz::{self, ArchiveVerdict, VerdictKind};
use serde::Serialize;

#[derive(clap::Args)]
pub struct CheckArchiveArgs {
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Serialize)]
struct Line<'a> {
    file: String,
    #[serde(flatten)]
    verdict: &'a ArchiveVerdict,
}

pub fn run(args: CheckArchiveArgs) -> anyhow::Result<ExitCode> {
    let mut all_encrypted = true;
    let mut unreadable = false;
    for path in &args.files {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("check-archive: cannot read {}: {e}", path.display());
                unreadable = true;
                continue;
            }
        };
        let verdict = sevenz::verdict(&bytes);
        all_encrypted &= verdict.verdict == VerdictKind::Encrypted;
        let file = path.display().to_string();
        if args.json {
            println!(
                "{}",
                serde_json::to_string(&Line {
                    file,
                    verdict: &verdict
                })?
            );
        } else {
            println!(
                "{file}: {}{} ({})",
                verdict.verdict.as_str(),
                details(&verdict),
                verdict.reason
            );
        }
    }
    Ok(ExitCode::from(match (unreadable, all_encrypted) {
        (true, _) => 2,
        (false, true) => 0,
        (false, false) => 1,
    }))
}

fn details(v: &ArchiveVerdict) -> String {
    let mut parts = Vec::new();
    if let Some(hidden) = v.header_encrypted {
        parts.push(if hidden {
            "names hidden".to_string()
        } else {
            "names visible".to_string()
        });
    }
    if let Some(power) = v.kdf_cycles_power {
        parts.push(if power == sevenz::RAW_KEY_POWER {
            "raw key, no KDF".into()
        } else {
            format!("kdf 2^{power}")
        });
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(", {}", parts.join(", "))
    }
}
