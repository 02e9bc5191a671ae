//! `sealgate check --config FILE --rcpt ADDR [--rcpt ADDR ...] [--from ADDR] [--json] MESSAGE.eml`
//!
//! The daemon's decision, offline: the envelope and the message go through the gateway's own
//! transfer core (`sealgate::transfer::check`) with a next hop that does not send, so the
//! classification, the judgement and the refusal's reply are the gateway's by construction.
//! Exit 0 pass (also `would_reject`: a protocol in monitor mode relays it), 1 reject, 2 error.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::NaiveDate;
use sealgate::config::Config;
use sealgate::envelope::Address;
use sealgate::policy::{Decision, PolicyRecipient, Verdict};
use sealgate::reply::Reply;

#[derive(clap::Args)]
pub struct CheckArgs {
    #[arg(long, default_value = "config/sealgate.toml")]
    pub config: PathBuf,
    /// An envelope recipient; repeat for several.
    #[arg(long = "rcpt", required = true)]
    pub rcpt: Vec<String>,
    /// The envelope sender (empty: the null sender `<>`); a protocol's `senders` list checks it.
    #[arg(long = "from", default_value = "")]
    pub from: String,
    /// Judge as if the client had authenticated (SMTP AUTH) as this user.
    #[arg(long = "auth-user")]
    pub auth_user: Option<String>,
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
    let sender = if args.from.is_empty() {
        None
    } else {
        Some(Address::parse_sender(&args.from).with_context(|| format!("--from {:?}", args.from))?)
    };
    let recipients = args
        .rcpt
        .iter()
        .map(|raw| {
            Address::parse(raw.trim_matches(['<', '>']))
                .with_context(|| format!("--rcpt {raw:?} would be refused at RCPT"))
        })
        .collect::<anyhow::Result<Vec<Address>>>()?;
    let message = read_message(&args.message, config.limits.max_message_size)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let delivery = runtime.block_on(sealgate::transfer::check(
        config,
        sender,
        args.auth_user.clone(),
        recipients,
        message,
        args.date,
    ))?;
    let decision = match delivery.decision {
        Some(decision) => decision,
        None if delivery.reply.is_positive() => Decision::pass_uninspected(),
        None => anyhow::bail!("the gateway would answer {}", delivery.reply),
    };
    // A would-reject is relayed; the reply shown is the one enforce mode would give.
    let refusal_reply = (decision.verdict == Verdict::WouldReject)
        .then(|| would_be_refusal(&decision))
        .flatten();
    let refusal = match decision.verdict {
        Verdict::Reject => Some(&delivery.reply),
        Verdict::WouldReject => refusal_reply.as_ref(),
        Verdict::Pass => None,
    };
    let mut out = std::io::stdout().lock();
    let printed = if args.json {
        let json =
            serde_json::to_string_pretty(&as_json(&decision, &delivery.recipients, refusal))?;
        writeln!(out, "{json}")
    } else {
        print_text(&mut out, &delivery.recipients, decision.verdict, refusal)
    };
    // A reader that went away (`| head`) is not an error of the check.
    if let Err(e) = printed {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e).context("cannot write the decision");
        }
    }
    Ok(match decision.verdict {
        Verdict::Pass | Verdict::WouldReject => ExitCode::SUCCESS,
        Verdict::Reject => ExitCode::from(1),
    })
}

/// The reply enforce mode would give for a would-reject.
fn would_be_refusal(decision: &Decision) -> Option<Reply> {
    let (code, [class, subject, detail], lines) = sealgate::policy::enforce_reply(decision)?;
    Some(Reply::multiline(
        code,
        sealgate::reply::Status(class, subject.into(), detail.into()),
        lines,
    ))
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

fn as_json(
    decision: &Decision,
    recipients: &[PolicyRecipient],
    refusal: Option<&Reply>,
) -> serde_json::Value {
    let reply = refusal.map(|reply| {
        serde_json::json!({
            "code": reply.code,
            "enhanced": reply.status.map(|s| s.to_string()),
            "lines": reply.lines,
        })
    });
    // A would-reject's reply is the one enforce mode would give: not what the gateway answers.
    let (reply, enforce_reply) = if decision.verdict == Verdict::WouldReject {
        (None, reply)
    } else {
        (reply, None)
    };
    serde_json::json!({
        "verdict": decision.verdict,
        "reasons": decision.reasons,
        "protected": recipients.iter().any(|r| r.protocol.is_some()),
        "recipients": recipients
            .iter()
            .map(|r| serde_json::json!({"address": r.address.to_string(), "protocol": r.protocol}))
            .collect::<Vec<_>>(),
        "archives": decision.archives,
        "message_id": decision.message_id,
        "smtp_reply": reply,
        "enforce_reply": enforce_reply,
    })
}

fn print_text(
    out: &mut impl Write,
    recipients: &[PolicyRecipient],
    verdict: Verdict,
    refusal: Option<&Reply>,
) -> std::io::Result<()> {
    for r in recipients {
        match &r.protocol {
            Some(id) => writeln!(out, "recipient {}: protected by {id}", r.address)?,
            None => writeln!(out, "recipient {}: ordinary", r.address)?,
        }
    }
    match refusal {
        None => writeln!(out, "verdict: pass"),
        Some(reply) => {
            if verdict == Verdict::WouldReject {
                writeln!(
                    out,
                    "verdict: would_reject (monitor mode: the gateway relays it; in enforce mode it would answer:)"
                )?;
            } else {
                writeln!(out, "verdict: reject")?;
            }
            // The reply exactly as the gateway writes it on the wire, without the CRLFs.
            let mut wire = Vec::new();
            reply.write_to(&mut wire);
            out.write_all(String::from_utf8_lossy(&wire).replace('\r', "").as_bytes())
        }
    }
}
