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
use sealgate::config::Config;

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
    /// senders, and whether the chain verifies.
    Report {
        #[arg(long)]
        config: PathBuf,
        /// The month, YYYY-MM (UTC).
        #[arg(long)]
        period: String,
        #[arg(long)]
        protocol: Option<String>,
        /// JSON instead of plain text.
        #[arg(long)]
        json: bool,
    },
    /// Delete entries older than audit.retention_days now, leaving a checkpoint that keeps the
    /// rest of the chain verifiable.
    Prune {
        #[arg(long)]
        config: PathBuf,
    },
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
        } => report(&config, &period, protocol.as_deref(), json).await,
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

async fn report(
    path: &Path,
    period: &str,
    protocol: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let (since, until) = report::month(period).map_err(anyhow::Error::msg)?;
    let (config, store) = open(path).await?;
    let chain = store.verify().await?;
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
        chain: (&chain).into(),
        protocols: report::summarize(&transfers, &known, protocol),
    };
    let text = if json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        report::render_text(&report)
    };
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
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
