//! `sealgate check --config FILE --rcpt ADDR [--rcpt ADDR ...] [--from ADDR] [--json] MESSAGE.eml`
//!
//! The daemon's decision, offline: recipients are classified with the registry exactly as at
//! RCPT time; mail for ordinary recipients only passes without inspection; otherwise
//! `policy::evaluate` decides. Exit 0 pass, 1 reject, 2 error.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::NaiveDate;
use sealgate::config::Config;
use sealgate::envelope::Address;
use sealgate::policy::{self, Decision, PolicyRecipient, Registry, Verdict};

#[derive(clap::Args)]
pub struct CheckArgs {
    #[arg(long, default_value = "config/sealgate.toml")]
    pub config: PathBuf,
    /// An envelope recipient; repeat for several.
    #[arg(long = "rcpt", required = true)]
    pub rcpt: Vec<String>,
    /// The envelope sender (checked for syntax; policy does not depend on it).
    #[arg(long = "from", default_value = "")]
    pub from: String,
    /// Print the decision as a JSON object.
    #[arg(long)]
    pub json: bool,
    /// Decide as on this day (YYYY-MM-DD) instead of today, e.g. to test a protocol's dates.
    #[arg(long)]
    pub date: Option<NaiveDate>,
    /// The message file (RFC 5322, as the mail server would send it); `-` for standard input.
    pub message: PathBuf,
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    if !args.from.is_empty() {
        Address::parse_sender(&args.from).with_context(|| format!("--from {:?}", args.from))?;
    }
    let registry = Registry::new(&config.protocols, &config.policy);
    let recipients = args
        .rcpt
        .iter()
        .map(|raw| {
            let address = Address::parse(raw.trim_matches(['<', '>']))
                .with_context(|| format!("--rcpt {raw:?} would be refused at RCPT"))?;
            Ok(registry.classify(&address.canonical()))
        })
        .collect::<anyhow::Result<Vec<PolicyRecipient>>>()?;
    let message = read_message(&args.message, config.limits.max_message_size)?;
    let today = args
        .date
        .unwrap_or_else(|| chrono::Local::now().date_naive());
    let decision = if policy::needs_inspection(&recipients) {
        policy::evaluate(&registry, &recipients, &message, today)
    } else {
        Decision::pass_uninspected()
    };
    let mut out = std::io::stdout().lock();
    let printed = if args.json {
        let json = serde_json::to_string_pretty(&as_json(&decision, &recipients))?;
        writeln!(out, "{json}")
    } else {
        print_text(&mut out, &decision, &recipients)
    };
    // A reader that went away (`| head`) is not an error of the check.
    if let Err(e) = printed {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e).context("cannot write the decision");
        }
    }
    Ok(match decision.verdict {
        Verdict::Pass => ExitCode::SUCCESS,
        Verdict::Reject => ExitCode::from(1),
    })
}

fn read_message(path: &PathBuf, max: usize) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let limit = max as u64 + 1;
    if path.as_os_str() == "-" {
        std::io::stdin().take(limit).read_to_end(&mut bytes)?;
    } else {
        std::fs::File::open(path)
            .with_context(|| format!("cannot read message {}", path.display()))?
            .take(limit)
            .read_to_end(&mut bytes)?;
    }
    anyhow::ensure!(
        bytes.len() <= max,
        "message is larger than limits.max_message_size ({max} bytes); the gateway would refuse it with 552"
    );
    Ok(bytes)
}

fn as_json(decision: &Decision, recipients: &[PolicyRecipient]) -> serde_json::Value {
    let reply = (decision.verdict == Verdict::Reject).then(|| {
        let (code, enhanced, lines) = policy::reject_reply(decision);
        serde_json::json!({
            "code": code,
            "enhanced": format!("{}.{}.{}", enhanced[0], enhanced[1], enhanced[2]),
            "lines": lines,
        })
    });
    serde_json::json!({
        "verdict": decision.verdict,
        "reasons": decision.reasons,
        "protected": policy::needs_inspection(recipients),
        "recipients": recipients
            .iter()
            .map(|r| serde_json::json!({"address": r.address.to_string(), "protocol": r.protocol}))
            .collect::<Vec<_>>(),
        "archives": decision.archives,
        "message_id": decision.message_id,
        "smtp_reply": reply,
    })
}

fn print_text(
    out: &mut impl Write,
    decision: &Decision,
    recipients: &[PolicyRecipient],
) -> std::io::Result<()> {
    for r in recipients {
        match &r.protocol {
            Some(id) => writeln!(out, "recipient {}: protected by {id}", r.address)?,
            None => writeln!(out, "recipient {}: ordinary", r.address)?,
        }
    }
    match decision.verdict {
        Verdict::Pass => writeln!(out, "verdict: pass"),
        Verdict::Reject => {
            writeln!(out, "verdict: reject")?;
            let (code, enhanced, lines) = policy::reject_reply(decision);
            let last = lines.len().saturating_sub(1);
            for (i, line) in lines.iter().enumerate() {
                let sep = if i == last { ' ' } else { '-' };
                writeln!(
                    out,
                    "{code}{sep}{}.{}.{} {line}",
                    enhanced[0], enhanced[1], enhanced[2]
                )?;
            }
            Ok(())
        }
    }
}
