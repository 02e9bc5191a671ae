//! What a data protection officer hands over: a per-protocol summary of a period and an export
//! of the records themselves. Pure functions over [`Transfer`]s, so they test without a store.
//!
//! [`Report`] is the one data structure behind every form of the report: `--json` serialises
//! it, the text and the HTML page (the top-level `report` module) only lay it out, so a
//! figure on the page is a figure in the JSON. Outcomes and reason codes are never listed here
//! by hand: the keys come from [`Outcome::ALL`] and from the records, so a new outcome or reason
//! code appears in every form of the report without a change to this file. Fields are only ever
//! added, so a consumer of the JSON keeps working.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};
use serde::Serialize;

use super::{ChainReport, Outcome, Transfer};
use crate::markup::visible;
use crate::policy::refusal::{self, RefusalFacts};
use crate::policy::Verdict;
use crate::reason::ReasonCode;

/// The outcome key of a transfer without an outcome (the gateway stopped between the two).
pub const INCOMPLETE: &str = "incomplete";
/// Senders listed by name per protocol (the most active first); the rest are only counted.
pub const MAX_SENDERS_LISTED: usize = 25;
/// Incomplete transfers listed by id per protocol; the rest are only counted.
pub const MAX_INCOMPLETE_LISTED: usize = 50;
/// The TLS key of a transfer that left in cleartext.
pub const PLAINTEXT: &str = "plaintext";

/// The keys of every outcome map, in display order: each [`Outcome`], then the verdicts that
/// relayed transfers of `transfers` carry besides `pass` (see [`outcome_key`]), then
/// [`INCOMPLETE`].
pub fn outcome_keys(transfers: &[Transfer]) -> Vec<String> {
    let mut keys: Vec<String> = Outcome::ALL
        .iter()
        .map(|o| o.as_str().to_string())
        .collect();
    let mut extra: Vec<String> = transfers
        .iter()
        .map(outcome_key)
        .filter(|k| k != INCOMPLETE && !keys.contains(k))
        .collect();
    extra.sort();
    extra.dedup();
    keys.extend(extra);
    keys.push(INCOMPLETE.to_string());
    keys
}

fn zero_outcomes(keys: &[String]) -> BTreeMap<String, u64> {
    keys.iter().map(|k| (k.clone(), 0)).collect()
}

/// The key a transfer counts under in the outcome maps: [`INCOMPLETE`] without an outcome;
/// for a relayed transfer whose decision was not a plain `pass` (monitor mode's
/// `would_reject`: relayed, though the rules would have refused it) that verdict, so such a
/// kind of decision shows apart without a change here; else the outcome.
fn outcome_key(transfer: &Transfer) -> String {
    match &transfer.outcome {
        None => INCOMPLETE.to_string(),
        Some(o) if o.outcome == Outcome::Relayed && transfer.record.verdict != Verdict::Pass => {
            transfer.record.verdict.as_str().to_string()
        }
        Some(o) => o.outcome.as_str().to_string(),
    }
}

/// The counts for one protocol in one period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProtocolSummary {
    pub protocol: String,
    pub transfers: u64,
    pub relayed: u64,
    pub refused: u64,
    /// Refused transfers by reason code (a transfer with two reasons counts under both).
    pub refused_by_reason: BTreeMap<String, u64>,
    /// Answered with a temporary failure (4xx): the sender's server retries.
    pub deferred: u64,
    /// A decision without an outcome: the gateway stopped between the two.
    pub incomplete: u64,
    pub distinct_senders: u64,
    /// Transfers by outcome key ([`outcome_keys`]), zeros included.
    pub outcomes: BTreeMap<String, u64>,
    /// Every day of the period (UTC, by time received), zeros included.
    pub days: Vec<DaySummary>,
    /// Every reason code that occurs, with its meaning and its transfers by outcome key.
    pub reasons: Vec<ReasonSummary>,
    /// Sizes of the attached archives (one entry per archive).
    pub archive_sizes: SizeSummary,
    /// Archives by archive verdict (`encrypted`, ...).
    pub archive_verdicts: BTreeMap<String, u64>,
    /// Sizes of the messages (one entry per transfer).
    pub message_sizes: SizeSummary,
    /// Transfers the next hop accepted (2xx), by outbound TLS: the version, and since MX
    /// delivery how the receiving server was verified (`TLSv1.3 verified=dane`); [`PLAINTEXT`].
    pub tls_out: BTreeMap<String, u64>,
    /// Transfers by inbound TLS version (from the client), [`PLAINTEXT`] without.
    pub tls_in: BTreeMap<String, u64>,
    /// The most active senders, at most [`MAX_SENDERS_LISTED`].
    pub senders: Vec<SenderSummary>,
    /// The incomplete transfers, at most [`MAX_INCOMPLETE_LISTED`], oldest first.
    pub incomplete_transfers: Vec<IncompleteTransfer>,
}

/// One day of one protocol.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DaySummary {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub transfers: u64,
    /// By outcome key, zeros included.
    pub outcomes: BTreeMap<String, u64>,
}

/// One reason code in one protocol.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReasonSummary {
    /// The reason code, or `next-hop-<reply code>` for a refusal by the next hop.
    pub code: String,
    /// What it means, in one Dutch and one English sentence (the refusal reply's own).
    pub meaning_nl: String,
    pub meaning_en: String,
    /// Transfers that carry this reason, by outcome key (zeros included).
    pub outcomes: BTreeMap<String, u64>,
}

/// Sizes in bytes; all zero when `count` is 0. The median of an even count is the lower of
/// the two middle values (a size that occurred).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SizeSummary {
    pub count: u64,
    pub min: u64,
    pub median: u64,
    pub max: u64,
    pub total: u64,
}

impl SizeSummary {
    fn of(mut sizes: Vec<u64>) -> SizeSummary {
        sizes.sort_unstable();
        let (Some(&min), Some(&max)) = (sizes.first(), sizes.last()) else {
            return SizeSummary::default();
        };
        SizeSummary {
            count: sizes.len() as u64,
            min,
            median: sizes[(sizes.len() - 1) / 2],
            max,
            total: sizes.iter().sum(),
        }
    }
}

/// One envelope sender (lowercase) of one protocol.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SenderSummary {
    pub address: String,
    pub transfers: u64,
    /// By outcome key, zeros included.
    pub outcomes: BTreeMap<String, u64>,
}

/// A transfer without an outcome: what to look up in the next hop's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncompleteTransfer {
    pub id: String,
    pub received_at: DateTime<Utc>,
    pub sender: String,
    pub message_id: Option<String>,
}

/// The chain's state as a report states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainSummary {
    pub verifies: bool,
    pub entries: u64,
    pub head_seq: u64,
    pub head_hash: String,
    pub first_broken: Option<String>,
    /// When the chain was walked for this report.
    pub checked_at: DateTime<Utc>,
}

impl ChainSummary {
    /// The result of a walk that finished at `checked_at`.
    pub fn checked(c: &ChainReport, checked_at: DateTime<Utc>) -> Self {
        ChainSummary {
            verifies: c.verifies(),
            entries: c.entries,
            head_seq: c.head_seq,
            head_hash: c.head_hash.clone(),
            first_broken: c.broken.as_ref().map(ToString::to_string),
            checked_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub period: String,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub store: String,
    pub generated_at: DateTime<Utc>,
    pub chain: ChainSummary,
    /// The keys of the outcome maps below, in display order ([`outcome_keys`]).
    pub outcome_keys: Vec<String>,
    pub protocols: Vec<ProtocolSummary>,
}

/// `YYYY-MM` as the half-open interval `[first day, first day of the next month)` in UTC.
pub fn month(period: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let first = NaiveDate::parse_from_str(&format!("{period}-01"), "%Y-%m-%d")
        .map_err(|_| format!("period {period:?} is not a month; write e.g. 2026-11"))?;
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    }
    .ok_or_else(|| format!("period {period:?} is out of range"))?;
    let utc = |d: NaiveDate| Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN));
    Ok((utc(first), utc(next)))
}

/// The `--period` value as `YYYY-MM`: a month (written anew from the date it names, so what
/// the date parser let pass around the digits never reaches the page or the mail's headers),
/// or `last-month` (the month before `now`'s, in UTC), for a timer that runs on the first day
/// of each month.
pub fn resolve_period(period: &str, now: DateTime<Utc>) -> Result<String, String> {
    if period != "last-month" {
        return month(period).map(|(first, _)| first.format("%Y-%m").to_string());
    }
    now.date_naive()
        .with_day(1)
        .and_then(|first| first.checked_sub_months(Months::new(1)))
        .map(|d| d.format("%Y-%m").to_string())
        .ok_or_else(|| "the month before now is out of range".to_string())
}

/// Counts per protocol; `known` protocols (from the configuration) appear even with zero
/// transfers, so a report also says "nothing was sent". `only` limits to one protocol. Every
/// day in `[since, until)` gets a [`DaySummary`].
pub fn summarize(
    transfers: &[Transfer],
    known: &[String],
    only: Option<&str>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<ProtocolSummary> {
    let mut by_protocol: BTreeMap<String, Vec<&Transfer>> = BTreeMap::new();
    for id in known
        .iter()
        .filter(|id| only.is_none_or(|o| o == id.as_str()))
    {
        by_protocol.entry(id.clone()).or_default();
    }
    for transfer in transfers {
        for id in transfer.record.protocols() {
            if only.is_some_and(|o| o != id) {
                continue;
            }
            by_protocol
                .entry(id.to_string())
                .or_default()
                .push(transfer);
        }
    }
    let days = days_of(since, until);
    let keys = outcome_keys(transfers);
    by_protocol
        .into_iter()
        .map(|(id, transfers)| protocol_summary(id, &transfers, &days, &keys))
        .collect()
}

/// The dates of `[since, until)`, bounded so a wrong period cannot make an endless list.
fn days_of(since: DateTime<Utc>, until: DateTime<Utc>) -> Vec<NaiveDate> {
    const MAX_DAYS: usize = 366;
    since
        .date_naive()
        .iter_days()
        .take_while(|d| Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN)) < until)
        .take(MAX_DAYS)
        .collect()
}

fn protocol_summary(
    id: String,
    transfers: &[&Transfer],
    days: &[NaiveDate],
    keys: &[String],
) -> ProtocolSummary {
    let mut summary = ProtocolSummary {
        protocol: id,
        outcomes: zero_outcomes(keys),
        days: days
            .iter()
            .map(|d| DaySummary {
                date: d.format("%Y-%m-%d").to_string(),
                transfers: 0,
                outcomes: zero_outcomes(keys),
            })
            .collect(),
        ..ProtocolSummary::default()
    };
    let mut reasons: BTreeMap<String, ReasonSummary> = BTreeMap::new();
    let mut senders: BTreeMap<String, SenderSummary> = BTreeMap::new();
    let (mut archive_sizes, mut message_sizes) = (Vec::new(), Vec::new());
    for transfer in transfers {
        count(&mut summary, transfer);
        let key = outcome_key(transfer);
        let key = key.as_str();
        *summary.outcomes.entry(key.into()).or_default() += 1;
        let date = transfer.record.received_at.format("%Y-%m-%d").to_string();
        if let Some(day) = summary.days.iter_mut().find(|d| d.date == date) {
            day.transfers += 1;
            *day.outcomes.entry(key.into()).or_default() += 1;
        }
        for code in reason_codes(transfer) {
            let reason = reasons.entry(code.clone()).or_insert_with(|| {
                let (meaning_nl, meaning_en) = meaning(&code);
                ReasonSummary {
                    code,
                    meaning_nl,
                    meaning_en,
                    outcomes: zero_outcomes(keys),
                }
            });
            *reason.outcomes.entry(key.into()).or_default() += 1;
        }
        let address = transfer.record.sender.to_lowercase();
        let sender = senders
            .entry(address.clone())
            .or_insert_with(|| SenderSummary {
                address,
                transfers: 0,
                outcomes: zero_outcomes(keys),
            });
        sender.transfers += 1;
        *sender.outcomes.entry(key.into()).or_default() += 1;
        for archive in &transfer.record.archives {
            archive_sizes.push(archive.size);
            *summary
                .archive_verdicts
                .entry(archive.verdict.as_str().into())
                .or_default() += 1;
        }
        message_sizes.push(transfer.record.size);
        if let Some(o) = transfer
            .outcome
            .as_ref()
            .filter(|o| o.reply_code / 100 == 2)
        {
            *summary
                .tls_out
                .entry(tls_outcome(o.tls_out.as_deref()))
                .or_default() += 1;
        }
        *summary
            .tls_in
            .entry(tls_outcome(transfer.record.tls_in.as_deref()))
            .or_default() += 1;
        if transfer.outcome.is_none() && summary.incomplete_transfers.len() < MAX_INCOMPLETE_LISTED
        {
            summary.incomplete_transfers.push(IncompleteTransfer {
                id: transfer.record.id.clone(),
                received_at: transfer.record.received_at,
                sender: transfer.record.sender.clone(),
                message_id: transfer.record.message_id.clone(),
            });
        }
    }
    summary.distinct_senders = senders.len() as u64;
    let mut senders: Vec<SenderSummary> = senders.into_values().collect();
    senders.sort_by(|a, b| {
        b.transfers
            .cmp(&a.transfers)
            .then(a.address.cmp(&b.address))
    });
    senders.truncate(MAX_SENDERS_LISTED);
    summary.senders = senders;
    summary.reasons = reasons.into_values().collect();
    summary.archive_sizes = SizeSummary::of(archive_sizes);
    summary.message_sizes = SizeSummary::of(message_sizes);
    summary
}

/// The codes a transfer counts under: its reason codes, or for a refusal that policy did not
/// decide (the next hop said no, also to a message monitor mode let through)
/// `next-hop-<reply code>`.
fn reason_codes(transfer: &Transfer) -> Vec<String> {
    let record = &transfer.record;
    match &transfer.outcome {
        Some(o) if o.outcome == Outcome::Rejected && record.verdict != Verdict::Reject => {
            vec![format!("next-hop-{}", o.reply_code)]
        }
        _ => record
            .reasons
            .iter()
            .map(|r| r.as_str().to_string())
            .collect(),
    }
}

/// The classic counters. Not a `match` on [`Outcome`]: an outcome added later counts only in
/// the outcome maps, where it appears by itself.
fn count(summary: &mut ProtocolSummary, transfer: &Transfer) {
    summary.transfers += 1;
    let Some(outcome) = &transfer.outcome else {
        summary.incomplete += 1;
        return;
    };
    if outcome.outcome == Outcome::Relayed {
        summary.relayed += 1;
    } else if outcome.outcome == Outcome::Deferred {
        summary.deferred += 1;
    } else if outcome.outcome == Outcome::Rejected {
        summary.refused += 1;
        for code in reason_codes(transfer) {
            *summary.refused_by_reason.entry(code).or_default() += 1;
        }
    }
}

/// The plain-language meaning of a reason code, Dutch and English: the one short sentence
/// the refusal reply gives it (policy's texts, without configured overrides), so a new reason
/// code brings its meaning along. A `next-hop-<code>` refusal and an unknown code (a newer
/// gateway's store) get a sentence of their own.
pub fn meaning(code: &str) -> (String, String) {
    if let Some(reply) = code.strip_prefix("next-hop-") {
        return (
            format!("De volgende server weigerde het bericht (antwoord {reply})."),
            format!("The next hop refused the message (reply {reply})."),
        );
    }
    let Some(code) = ReasonCode::parse(code) else {
        return (
            format!("Onbekende reden {code}."),
            format!("Unknown reason {code}."),
        );
    };
    // A placeholder stands where the reply names the addresses: the report never does.
    let unrelated = ["...".to_string()];
    let overrides = BTreeMap::new();
    let sentences = refusal::explain(&RefusalFacts {
        reasons: &[code],
        unrelated_recipients: &unrelated,
        help_url: None,
        protocol: "",
        overrides: &overrides,
    });
    match sentences.into_iter().next() {
        Some(s) => (s.nl.replace("....", "..."), s.en.replace("....", "...")),
        None => (code.as_str().to_string(), code.as_str().to_string()),
    }
}

/// A TLS description as the audit stores it (`TLSv1.3 TLS13_AES_256_GCM_SHA384`, over MX
/// delivery followed by `verified=ca|dane|mta-sts|unverified|plaintext`, or `none`), reduced
/// to what a report counts: the version and how the peer was verified. None is cleartext.
pub fn tls_outcome(tls: Option<&str>) -> String {
    let Some(text) = tls else {
        return PLAINTEXT.into();
    };
    let mut version = None;
    let mut verified = None;
    for word in text.split_whitespace() {
        if let Some(v) = word.strip_prefix("verified=") {
            verified = Some(v);
        } else if version.is_none() {
            version = Some(word);
        }
    }
    let version = match version {
        None | Some("none") => PLAINTEXT,
        Some(v) => v,
    };
    match verified {
        Some(v) => format!("{version} verified={v}"),
        None => version.to_string(),
    }
}

/// The report as plain text (the terminal's and the mail's text part). Every value from the
/// store goes through [`visible`]: a control character in a tampered store cannot forge a
/// line, move a terminal's cursor or put a bare CR into a mail body.
pub fn render_text(report: &Report) -> String {
    let mut out = format!(
        "sealgate audit report for {} ({} to {}, UTC)\nstore: {}\ngenerated: {}\n",
        visible(&report.period),
        report.since.format("%Y-%m-%d"),
        report.until.format("%Y-%m-%d"),
        visible(&report.store),
        report.generated_at.format("%Y-%m-%d %H:%M:%S UTC"),
    );
    let chain = &report.chain;
    if chain.verifies {
        out.push_str(&format!(
            "hash chain: verifies ({} entries, head {} {}, checked {})\n",
            chain.entries,
            chain.head_seq,
            visible(&chain.head_hash),
            chain.checked_at.format("%Y-%m-%d %H:%M:%S UTC")
        ));
    } else {
        out.push_str(&format!(
            "hash chain: DOES NOT VERIFY: {}\n",
            visible(chain.first_broken.as_deref().unwrap_or("unknown"))
        ));
    }
    if report.protocols.is_empty() {
        out.push_str("\nno transfers to protected mailboxes in this period\n");
    }
    for p in &report.protocols {
        out.push_str(&format!(
            "\nprotocol {}\n  transfers         {}\n  relayed           {}\n  refused           {}\n",
            visible(&p.protocol),
            p.transfers,
            p.relayed,
            p.refused
        ));
        for (reason, n) in &p.refused_by_reason {
            out.push_str(&format!("    {:<30} {n}\n", visible(reason)));
        }
        out.push_str(&format!(
            "  deferred (4xx)    {}\n  incomplete        {}\n  distinct senders  {}\n",
            p.deferred, p.incomplete, p.distinct_senders
        ));
        render_text_details(&mut out, report, p);
    }
    out
}

/// What the text adds to the classic counters: every outcome, the reasons' meanings, sizes
/// and TLS (the mail's text part is this text).
fn render_text_details(out: &mut String, report: &Report, p: &ProtocolSummary) {
    out.push_str("  by outcome\n");
    for key in &report.outcome_keys {
        let n = p.outcomes.get(key).copied().unwrap_or(0);
        out.push_str(&format!("    {:<30} {n}\n", visible(key)));
    }
    for r in &p.reasons {
        let n: u64 = r.outcomes.values().sum();
        out.push_str(&format!(
            "  reason {} ({n}): {}\n",
            visible(&r.code),
            visible(&r.meaning_en)
        ));
    }
    let sizes = |label: &str, s: &SizeSummary| {
        format!(
            "  {label:<17} {} (min {}, median {}, max {} bytes)\n",
            s.count, s.min, s.median, s.max
        )
    };
    out.push_str(&sizes("archives", &p.archive_sizes));
    out.push_str(&sizes("messages", &p.message_sizes));
    for (tls, n) in &p.tls_out {
        out.push_str(&format!("  tls out {:<25} {n}\n", visible(tls)));
    }
}

/// The export's columns, in order.
pub const CSV_COLUMNS: &[&str] = &[
    "id",
    "instance",
    "received_at",
    "decided_at",
    "answered_at",
    "client_address",
    "helo",
    "auth_user",
    "tls_in",
    "sender",
    "recipients",
    "protocols",
    "message_id",
    "size",
    "archives",
    "verdict",
    "reasons",
    "next_hop",
    "reply_code",
    "reply_text",
    "outcome",
    "tls_out",
    "complete",
    "entry_seq",
    "entry_hash",
];

/// One CSV document (RFC 4180, CRLF line ends, written by the `csv` crate). Lists inside a
/// cell are separated by `;`; a recipient is `address` or `address=protocol`; an archive is
/// `sha256:size:verdict:header_encrypted:kdf_cycles_power:files` with `-` for unknown.
pub fn to_csv(transfers: &[Transfer]) -> Result<String, csv::Error> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    writer.write_record(CSV_COLUMNS)?;
    for t in transfers {
        writer.write_record(csv_row(t).iter().map(|c| defuse(c).into_owned()))?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    // Every cell is a Rust string: the document is UTF-8.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn csv_row(t: &Transfer) -> Vec<String> {
    let r = &t.record;
    let o = t.outcome.as_ref();
    let opt = |v: Option<&str>| v.unwrap_or("").to_string();
    let unknown = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let recipients: Vec<String> = r
        .recipients
        .iter()
        .map(|x| match &x.protocol {
            Some(p) => format!("{}={p}", x.address),
            None => x.address.clone(),
        })
        .collect();
    let archives: Vec<String> = r
        .archives
        .iter()
        .map(|a| {
            format!(
                "{}:{}:{}:{}:{}:{}",
                a.sha256,
                a.size,
                a.verdict.as_str(),
                unknown(a.header_encrypted.map(|v| v.to_string())),
                unknown(a.kdf_cycles_power.map(|v| v.to_string())),
                unknown(a.files.map(|v| v.to_string()))
            )
        })
        .collect();
    let reasons: Vec<&str> = r.reasons.iter().map(|c| c.as_str()).collect();
    vec![
        r.id.clone(),
        r.instance.clone(),
        r.received_at.to_rfc3339(),
        r.decided_at.to_rfc3339(),
        o.map(|o| o.answered_at.to_rfc3339()).unwrap_or_default(),
        r.client_address.clone(),
        r.helo.clone(),
        opt(r.auth_user.as_deref()),
        opt(r.tls_in.as_deref()),
        r.sender.clone(),
        recipients.join(";"),
        r.protocols().join(";"),
        opt(r.message_id.as_deref()),
        r.size.to_string(),
        archives.join(";"),
        r.verdict.as_str().to_string(),
        reasons.join(";"),
        r.next_hop.clone(),
        o.map(|o| o.reply_code.to_string()).unwrap_or_default(),
        o.map(|o| o.reply_text.clone()).unwrap_or_default(),
        o.map(|o| o.outcome.as_str().to_string())
            .unwrap_or_default(),
        opt(o.and_then(|o| o.tls_out.as_deref())),
        t.complete().to_string(),
        t.entry_seq.to_string(),
        t.entry_hash.clone(),
    ]
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or CR first, e.g.
/// from a client's HELO) gets a leading `'`; quoting is the `csv` writer's.
fn defuse(value: &str) -> std::borrow::Cow<'_, str> {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}").into()
    } else {
        value.into()
    }
}

/// The export as one JSON array: each element is the decision's fields, `outcome` (null when
/// incomplete), `complete`, `entry_seq` and `entry_hash`.
pub fn to_json(transfers: &[Transfer]) -> Result<String, serde_json::Error> {
    let items: Vec<serde_json::Value> = transfers
        .iter()
        .map(|t| {
            let mut v = serde_json::to_value(&t.record)?;
            if let Some(map) = v.as_object_mut() {
                map.insert("outcome".into(), serde_json::to_value(&t.outcome)?);
                map.insert("complete".into(), t.complete().into());
                map.insert("entry_seq".into(), t.entry_seq.into());
                map.insert("entry_hash".into(), t.entry_hash.clone().into());
            }
            Ok(v)
        })
        .collect::<Result<_, serde_json::Error>>()?;
    serde_json::to_string_pretty(&items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_half_open_and_roll_over_the_year() {
        let (a, b) = month("2026-12").unwrap();
        assert_eq!(a.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(b.to_rfc3339(), "2027-01-01T00:00:00+00:00");
        assert!(month("2026-13").is_err());
        assert!(month("nov").is_err());
    }

    fn transfer(sender: &str, reasons: &[ReasonCode], outcome: Option<(Outcome, u16)>) -> Transfer {
        let t = Utc.with_ymd_and_hms(2026, 11, 2, 8, 0, 0).unwrap();
        let record = super::super::TransferRecord {
            id: sender.into(),
            instance: "gw".into(),
            received_at: t,
            decided_at: t,
            client_address: "192.0.2.1:25".into(),
            helo: "mx".into(),
            auth_user: None,
            tls_in: None,
            sender: sender.into(),
            recipients: vec![super::super::AuditRecipient {
                address: "kindengezin@wervik.be".into(),
                protocol: Some("p".into()),
            }],
            message_id: None,
            size: 1,
            archives: vec![],
            verdict: if reasons.is_empty() {
                Verdict::Pass
            } else {
                Verdict::Reject
            },
            reasons: reasons.to_vec(),
            next_hop: "smtp://127.0.0.1:25".into(),
        };
        let outcome = outcome.map(|(o, code)| super::super::TransferOutcome {
            answered_at: t,
            reply_code: code,
            reply_text: String::new(),
            outcome: o,
            tls_out: None,
        });
        Transfer {
            record,
            outcome,
            entry_seq: 1,
            entry_hash: String::new(),
        }
    }

    #[test]
    fn summaries_count_each_class_once() {
        let transfers = [
            transfer("a@x", &[], Some((Outcome::Relayed, 250))),
            transfer(
                "A@x",
                &[ReasonCode::NoArchive, ReasonCode::IdentifierInText],
                Some((Outcome::Rejected, 550)),
            ),
            transfer("b@x", &[], Some((Outcome::Rejected, 554))),
            transfer("c@x", &[], Some((Outcome::Deferred, 451))),
            transfer("d@x", &[], None),
        ];
        let (since, until) = month("2026-11").unwrap();
        let s = summarize(
            &transfers,
            &["p".into(), "q".into()],
            Some("p"),
            since,
            until,
        );
        assert_eq!(s.len(), 1);
        let p = &s[0];
        assert_eq!(
            (p.transfers, p.relayed, p.refused, p.deferred, p.incomplete),
            (5, 1, 2, 1, 1)
        );
        assert_eq!(p.distinct_senders, 4);
        assert_eq!(p.refused_by_reason["no_archive"], 1);
        assert_eq!(p.refused_by_reason["identifier_in_text"], 1);
        assert_eq!(p.refused_by_reason["next-hop-554"], 1);
        assert_eq!(p.days.len(), 30);
        assert_eq!(p.days[1].date, "2026-11-02");
        assert_eq!(p.days[1].transfers, 5);
        assert_eq!(p.days[1].outcomes["rejected"], 2);
        assert_eq!(p.days[1].outcomes[INCOMPLETE], 1);
        assert_eq!(p.days[0].outcomes.values().sum::<u64>(), 0);
        assert_eq!(p.outcomes["relayed"], 1);
        let reasons: Vec<&str> = p.reasons.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(
            reasons,
            ["identifier_in_text", "next-hop-554", "no_archive"]
        );
        assert_eq!(p.incomplete_transfers.len(), 1);
        assert_eq!(p.tls_out[PLAINTEXT], 1);
        assert_eq!(p.message_sizes.count, 5);
        assert_eq!(p.senders[0].address, "a@x");
        assert_eq!(p.senders[0].transfers, 2);
    }

    #[test]
    fn a_relayed_transfer_without_a_pass_counts_under_its_verdict() {
        // Stands in for monitor mode's `would_reject`: whatever verdict other than `pass` a
        // relayed transfer carries gets a key, a zero in every map and a column of its own.
        let mut odd = transfer(
            "a@x",
            &[ReasonCode::NoArchive],
            Some((Outcome::Relayed, 250)),
        );
        odd.record.verdict = Verdict::Reject;
        let plain = transfer("b@x", &[], Some((Outcome::Relayed, 250)));
        let transfers = [odd, plain];
        let keys = outcome_keys(&transfers);
        assert_eq!(
            keys,
            ["relayed", "rejected", "deferred", "reject", INCOMPLETE]
        );
        let (since, until) = month("2026-11").unwrap();
        let p = &summarize(&transfers, &[], None, since, until)[0];
        assert_eq!(
            (p.relayed, p.outcomes["relayed"], p.outcomes["reject"]),
            (2, 1, 1)
        );
        assert_eq!(p.days[0].outcomes["reject"], 0);
        assert_eq!(p.reasons[0].outcomes["reject"], 1);
        assert!(p.refused_by_reason.is_empty());
    }

    #[test]
    fn every_outcome_and_reason_has_a_key_and_a_meaning() {
        let keys = outcome_keys(&[]);
        for o in Outcome::ALL {
            assert!(keys.contains(&o.as_str().to_string()));
        }
        for code in ReasonCode::ALL {
            let (nl, en) = meaning(code.as_str());
            assert!(!nl.is_empty() && !en.is_empty(), "{code:?}");
            assert!(!en.contains('{'), "placeholder left in {en}");
            assert_ne!(nl, en, "{code:?} has no Dutch meaning");
        }
        assert!(meaning("next-hop-554").1.contains("554"));
        assert_eq!(
            meaning("unrelated_recipient").1,
            "Recipients outside the protocol: ..."
        );
    }

    #[test]
    fn tls_is_counted_by_version_and_verification() {
        assert_eq!(tls_outcome(None), PLAINTEXT);
        assert_eq!(
            tls_outcome(Some("TLSv1.3 TLS13_AES_256_GCM_SHA384")),
            "TLSv1.3"
        );
        assert_eq!(
            tls_outcome(Some("TLSv1.2 TLS_ECDHE_RSA verified=dane")),
            "TLSv1.2 verified=dane"
        );
        assert_eq!(
            tls_outcome(Some("none verified=plaintext")),
            "plaintext verified=plaintext"
        );
    }

    #[test]
    fn sizes_have_a_median_that_occurred() {
        let s = SizeSummary::of(vec![40, 10, 30, 20]);
        assert_eq!(
            (s.count, s.min, s.median, s.max, s.total),
            (4, 10, 20, 40, 100)
        );
        assert_eq!(SizeSummary::of(vec![]), SizeSummary::default());
    }

    #[test]
    fn last_month_is_the_month_before_now() {
        let now = Utc.with_ymd_and_hms(2027, 1, 1, 6, 0, 0).unwrap();
        assert_eq!(resolve_period("last-month", now).unwrap(), "2026-12");
        let now = Utc.with_ymd_and_hms(2026, 3, 31, 6, 0, 0).unwrap();
        assert_eq!(resolve_period("last-month", now).unwrap(), "2026-02");
        assert_eq!(resolve_period("2026-11", now).unwrap(), "2026-11");
        assert!(resolve_period("last-year", now).is_err());
    }

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        let mut t = transfer("a@x", &[], Some((Outcome::Relayed, 250)));
        t.record.helo = "=cmd()".into();
        t.record.auth_user = Some("say \"hi\", ok".into());
        t.record.client_address = "-1+1".into();
        let text = to_csv(&[t]).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], CSV_COLUMNS.join(","));
        assert!(
            lines[1].contains(",'-1+1,'=cmd(),\"say \"\"hi\"\", ok\","),
            "{}",
            lines[1]
        );
        assert!(
            lines[1].contains(",pass,,smtp://127.0.0.1:25,250,,relayed,"),
            "{}",
            lines[1]
        );
        assert_eq!(lines[2], "");
        assert_eq!(lines.len(), 3);
    }
}
