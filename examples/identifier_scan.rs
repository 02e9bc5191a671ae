//! The gateway's decision on many message files at once, in-process, for the identifier
//! measurements of `bench/identifier-false-positives.py`: reads file paths from standard input
//! (one per line) and prints `path<TAB>code,code,...` (the reason codes of `policy::evaluate`
//! for the protected recipient). Much faster than one `sealgate check` per file.
//!
//! Usage: `identifier_scan CONFIG RCPT < paths`

use std::io::{BufRead, Write};

use anyhow::Context;
use chrono::NaiveDate;
use sealgate::config::Config;
use sealgate::envelope::Address;
use sealgate::policy::{self, Registry};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(config), Some(rcpt)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: identifier_scan CONFIG RCPT < paths");
    };
    let config = Config::load(std::path::Path::new(&config)).context("configuration")?;
    let registry = Registry::new(&config.protocols, &config.policy);
    let address = Address::parse(&rcpt).with_context(|| rcpt.clone())?;
    let recipients = [registry.classify(&address.canonical())];
    let today = NaiveDate::from_ymd_opt(2026, 12, 1).context("date")?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for path in std::io::stdin().lock().lines() {
        let path = path?;
        let message = std::fs::read(&path).with_context(|| path.clone())?;
        let decision = policy::evaluate(&registry, &recipients, &message, today);
        let codes: Vec<&str> = decision.reasons.iter().map(|r| r.code.as_str()).collect();
        writeln!(out, "{path}\t{}", codes.join(","))?;
    }
    Ok(())
}
