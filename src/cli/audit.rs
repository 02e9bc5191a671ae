//! `sealgate audit verify|export|report|prune`: what a data protection officer runs.
//!
//! Exit codes: 0 ok, 1 the chain does not verify (`verify`), 2 an error (bad flags, a store
//! that cannot be opened).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use sealgate::audit::{report, AuditStore, TransferQuery};
use sealgate::config::{Config, NextHop};
use sealgate::gateway::Settings;

#[derive(clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(clap::Subcommand)]
enum AuditCommand {
    /// Walk the hash chain; exit 1 naming the first broken entry when anything was edited,
    /// deleted or reordered.
    Verify {
        #[arg(long)]
        config: PathBuf,
    },
    /// Write the records (decision and outcome joined) to standard output.
    Export {
        #[arg(long)]
        config: PathBuf,
        /// First day (YYYY-MM-DD, UTC) or instant (RFC 3339) to include, by time received.
        #[arg(long)]
        since: Option<String>,
        /// Last day to include (YYYY-MM-DD, the whole day) or instant to stop before (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// Only transfers to mailboxes of this protocol id.
        #[arg(long)]
        protocol: Option<String>,
        #[arg(long, value_enum)]
        format: ExportFormat,
    },
    /// Per protocol and month: relayed, refused by reason, deferred, incomplete, distinct
    /// senders, sizes, outbound TLS, and whether the chain verifies. As text, JSON or one
    /// self-contained HTML page; or mailed (`--mail-to`) through the configured next hop.
    Report {
        #[arg(long)]
        config: PathBuf,
        /// The month, YYYY-MM (UTC), or `last-month` (the month before today's, UTC).
        #[arg(long)]
        period: String,
        #[arg(long)]
        protocol: Option<String>,
        /// JSON instead of plain text (the same as `--format json`).
        #[arg(long, conflicts_with = "format")]
        json: bool,
        #[arg(long, value_enum)]
        format: Option<ReportFormat>,
        /// Mail the report (HTML, a plain-text summary and the JSON attached) to this address
        /// instead of printing it; repeat for more recipients. Sent through `[notify].next_hop`
        /// when notices are on, else the smarthost of `relay.next_hop`.
        #[arg(long = "mail-to", value_name = "ADDR")]
        mail_to: Vec<String>,
    },
    /// Delete entries older than audit.retention_days now, leaving a checkpoint that keeps the
    /// rest of the chain verifiable.
    Prune {
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ReportFormat {
    Text,
    Json,
    Html,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    Csv,
    Json,
}

pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(dispatch(args.command))
}

async fn dispatch(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify { config } => verify(&config).await,
        AuditCommand::Export {
            config,
            since,
            until,
            protocol,
            format,
        } => {
            let query = TransferQuery {
                since: since.as_deref().map(parse_since).transpose()?,
                until: until.as_deref().map(parse_until).transpose()?,
                protocol,
            };
            export(&config, &query, format).await
        }
        AuditCommand::Report {
            config,
            period,
            protocol,
            json,
            format,
            mail_to,
        } => {
            let format = match (json, format) {
                (true, _) => ReportFormat::Json,
                (false, f) => f.unwrap_or(ReportFormat::Text),
            };
            let period = report::resolve_period(&period, Utc::now()).map_err(anyhow::Error::msg)?;
            let (config, report) = build_report(&config, &period, protocol.as_deref()).await?;
            if mail_to.is_empty() {
                write_stdout(&render(&report, format)?)?;
            } else {
                mail(&config, &report, &mail_to).await?;
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Prune { config } => prune(&config).await,
    }
}

async fn open(path: &Path) -> anyhow::Result<(Config, AuditStore)> {
    let config = Config::load(path)?;
    let store = AuditStore::open_existing(&config.audit.store, config.instance_name()).await?;
    Ok((config, store))
}

async fn verify(path: &Path) -> anyhow::Result<ExitCode> {
    let (_, store) = open(path).await?;
    let chain = store.verify().await?;
    match &chain.broken {
        None => {
            println!(
                "audit chain verifies: {} entries, head entry {} hash {}",
                chain.entries, chain.head_seq, chain.head_hash
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(broken) => {
            println!("audit chain BROKEN at {broken}");
            Ok(ExitCode::from(1))
        }
    }
}

async fn export(
    path: &Path,
    query: &TransferQuery,
    format: ExportFormat,
) -> anyhow::Result<ExitCode> {
    let (_, store) = open(path).await?;
    let transfers = store.transfers(query).await?;
    let text = match format {
        ExportFormat::Csv => report::to_csv(&transfers)?,
        ExportFormat::Json => report::to_json(&transfers)? + "\n",
    };
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

async fn build_report(
    path: &Path,
    period: &str,
    protocol: Option<&str>,
) -> anyhow::Result<(Config, report::Report)> {
    let (since, until) = report::month(period).map_err(anyhow::Error::msg)?;
    let (config, store) = open(path).await?;
    let chain = store.verify().await?;
    let checked_at = Utc::now();
    let query = TransferQuery {
        since: Some(since),
        until: Some(until),
        protocol: protocol.map(str::to_string),
    };
    let transfers = store.transfers(&query).await?;
    let known: Vec<String> = config.protocols.iter().map(|p| p.id.clone()).collect();
    let report = report::Report {
        period: period.to_string(),
        since,
        until,
        store: store.store_name().to_string(),
        generated_at: Utc::now(),
        chain: report::ChainSummary::checked(&chain, checked_at),
        outcome_keys: report::outcome_keys(&transfers),
        protocols: report::summarize(&transfers, &known, protocol, since, until),
    };
    Ok((config, report))
}

fn render(report: &report::Report, format: ReportFormat) -> anyhow::Result<String> {
    Ok(match format {
        ReportFormat::Text => report::render_text(report),
        ReportFormat::Json => sealgate::report::json(report)?,
        ReportFormat::Html => sealgate::report::html(report),
    })
}

/// Sends the report through `[notify].next_hop` (notices on) or the smarthost, from
/// `notify.from` (the null reverse path when unset, as the notice).
async fn mail(config: &Config, report: &report::Report, to: &[String]) -> anyhow::Result<()> {
    let from = config.notify.from.clone();
    let settings = Settings::build(config.clone())
        .context("cannot prepare the client settings for the next hop")?;
    let relay = match settings.notify {
        Some(notify) => notify,
        None => match NextHop::parse(&config.relay.next_hop) {
            Ok(NextHop::Smarthost(_)) => settings.relay,
            _ => anyhow::bail!(
                "relay.next_hop is \"mx\": set [notify] next_hop (and enabled = true) to the agency's own mail server to mail the report"
            ),
        },
    };
    let header_from = if from.is_empty() {
        format!("sealgate@{}", config.smtp.hostname)
    } else {
        from.clone()
    };
    let message = sealgate::report::mail::build(&sealgate::report::mail::ReportMail {
        report,
        from: &header_from,
        to,
        hostname: &config.smtp.hostname,
    })?;
    sealgate::report::mail::send(&relay, &from, to, &message)
        .await
        .with_context(|| {
            format!(
                "the report for {} was not mailed via {}",
                report.period, relay.next_hop
            )
        })?;
    println!(
        "report for {} mailed to {} via {}",
        report.period,
        to.join(", "),
        relay.next_hop
    );
    Ok(())
}

async fn prune(path: &Path) -> anyhow::Result<ExitCode> {
    let (config, store) = open(path).await?;
    let days = config.audit.retention_days;
    if days == 0 {
        println!("audit.retention_days is 0: records are kept forever, nothing pruned");
        return Ok(ExitCode::SUCCESS);
    }
    let summary = store.prune(days).await?;
    match summary.checkpoint_seq {
        Some(seq) => println!(
            "pruned {} entries older than {days} days; checkpoint entry {seq} keeps the chain verifiable",
            summary.pruned
        ),
        None => println!("nothing older than {days} days to prune"),
    }
    Ok(ExitCode::SUCCESS)
}

fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .context("cannot write to standard output")
}

fn parse_since(value: &str) -> anyhow::Result<DateTime<Utc>> {
    parse_time(value, 0)
}

/// A bare date means "through the end of that day".
fn parse_until(value: &str) -> anyhow::Result<DateTime<Utc>> {
    parse_time(value, 1)
}

fn parse_time(value: &str, days_after: u64) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.checked_add_days(chrono::Days::new(days_after)))
        .with_context(|| format!("{value:?} is not a date: write YYYY-MM-DD or an RFC 3339 time such as 2026-11-01T08:00:00Z"))?;
    Ok(Utc.from_utc_datetime(&date.and_time(chrono::NaiveTime::MIN)))
}
