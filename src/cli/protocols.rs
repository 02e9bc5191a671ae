//! `sealgate protocols`: each data-sharing protocol with its mailboxes, period, status and the
//! rules it relaxes (also its mode and allowed senders when set), for the administrator and the
//! data protection officer.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::Args;
use sealgate::config::{Config, Mode};
use sealgate::policy::lifecycle::ProtocolSummary;

#[derive(Args)]
pub struct ProtocolsArgs {
    #[arg(long, default_value = "config/sealgate.toml")]
    config: PathBuf,
    /// One JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// Show the status as on this day (YYYY-MM-DD) instead of today.
    #[arg(long)]
    date: Option<NaiveDate>,
}

#[derive(serde::Serialize)]
struct Listing<'a> {
    date: NaiveDate,
    protocols: &'a [ProtocolSummary],
}

pub fn run(args: ProtocolsArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let today = args
        .date
        .unwrap_or_else(|| chrono::Local::now().date_naive());
    let summaries: Vec<ProtocolSummary> = config
        .protocols
        .iter()
        .map(|p| ProtocolSummary::of(p, today))
        .collect();
    if args.json {
        let listing = Listing {
            date: today,
            protocols: &summaries,
        };
        println!("{}", serde_json::to_string_pretty(&listing)?);
    } else {
        print!("{}", text(&summaries, today));
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_mode(mode: Mode) -> &'static str {
    match mode {
        Mode::Enforce => "enforce",
        Mode::Monitor => {
            "monitor (mail that breaks the rules is relayed and recorded as would_reject)"
        }
    }
}

fn text(summaries: &[ProtocolSummary], today: NaiveDate) -> String {
    if summaries.is_empty() {
        return "no protocols configured: no mailbox is protected\n".into();
    }
    let mut out = format!("protocols on {today}:\n");
    for p in summaries {
        let until = p
            .in_force_until
            .map_or_else(|| "open-ended".to_string(), |d| d.to_string());
        out.push_str(&format!("\n{}  {}\n", p.id, p.title));
        out.push_str(&format!("  status:    {}\n", p.status.describe()));
        out.push_str(&format!("  period:    {} .. {}\n", p.in_force_from, until));
        out.push_str(&format!("  mailboxes: {}\n", p.mailboxes.join(", ")));
        out.push_str(&format!("  mode:      {}\n", describe_mode(p.mode)));
        if p.rules_differing_from_defaults.is_empty() {
            out.push_str("  rules:     all strict defaults\n");
        }
        for rule in &p.rules_differing_from_defaults {
            out.push_str(&format!(
                "  rules:     {} = {} (default {})\n",
                rule.rule, rule.value, rule.default
            ));
        }
    }
    out
}
