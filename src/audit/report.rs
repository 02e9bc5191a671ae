//! What a data protection officer hands over: a per-protocol summary of a period and an export
//! of the records themselves. Pure functions over [`Transfer`]s, so they test without a store.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::Serialize;

use super::{ChainReport, Outcome, Transfer};
#[cfg(test)]
use crate::policy::{ReasonCode, Verdict};

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
}

/// The chain's state as a report states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainSummary {
    pub verifies: bool,
    pub entries: u64,
    pub head_seq: u64,
    pub head_hash: String,
    pub first_broken: Option<String>,
}

impl From<&ChainReport> for ChainSummary {
    fn from(c: &ChainReport) -> Self {
        ChainSummary {
            verifies: c.verifies(),
            entries: c.entries,
            head_seq: c.head_seq,
            head_hash: c.head_hash.clone(),
            first_broken: c.broken.as_ref().map(ToString::to_string),
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

/// Counts per protocol; `known` protocols (from the configuration) appear even with zero
/// transfers, so a report also says "nothing was sent". `only` limits to one protocol.
pub fn summarize(
    transfers: &[Transfer],
    known: &[String],
    only: Option<&str>,
) -> Vec<ProtocolSummary> {
    let mut by_protocol: BTreeMap<String, (ProtocolSummary, BTreeSet<String>)> = BTreeMap::new();
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
            let (summary, senders) = by_protocol.entry(id.to_string()).or_default();
            count(summary, transfer);
            senders.insert(transfer.record.sender.to_lowercase());
        }
    }
    by_protocol
        .into_iter()
        .map(|(id, (mut summary, senders))| {
            summary.protocol = id;
            summary.distinct_senders = senders.len() as u64;
            summary
        })
        .collect()
}

fn count(summary: &mut ProtocolSummary, transfer: &Transfer) {
    summary.transfers += 1;
    let Some(outcome) = &transfer.outcome else {
        summary.incomplete += 1;
        return;
    };
    match outcome.outcome {
        Outcome::Relayed => summary.relayed += 1,
        Outcome::Deferred => summary.deferred += 1,
        Outcome::Rejected => {
            summary.refused += 1;
            let reasons = &transfer.record.reasons;
            if reasons.is_empty() {
                *summary
                    .refused_by_reason
                    .entry(format!("next-hop-{}", outcome.reply_code))
                    .or_default() += 1;
            }
            for reason in reasons {
                *summary
                    .refused_by_reason
                    .entry(reason.as_str().to_string())
                    .or_default() += 1;
            }
        }
    }
}

/// The report as plain text.
pub fn render_text(report: &Report) -> String {
    let mut out = format!(
        "sealgate audit report for {} ({} to {}, UTC)\nstore: {}\ngenerated: {}\n",
        report.period,
        report.since.format("%Y-%m-%d"),
        report.until.format("%Y-%m-%d"),
        report.store,
        report.generated_at.format("%Y-%m-%d %H:%M:%S UTC"),
    );
    let chain = &report.chain;
    if chain.verifies {
        out.push_str(&format!(
            "hash chain: verifies ({} entries, head {} {})\n",
            chain.entries, chain.head_seq, chain.head_hash
        ));
    } else {
        out.push_str(&format!(
            "hash chain: DOES NOT VERIFY: {}\n",
            chain.first_broken.as_deref().unwrap_or("unknown")
        ));
    }
    if report.protocols.is_empty() {
        out.push_str("\nno transfers to protected mailboxes in this period\n");
    }
    for p in &report.protocols {
        out.push_str(&format!(
            "\nprotocol {}\n  transfers         {}\n  relayed           {}\n  refused           {}\n",
            p.protocol, p.transfers, p.relayed, p.refused
        ));
        for (reason, n) in &p.refused_by_reason {
            out.push_str(&format!("    {reason:<30} {n}\n"));
        }
        out.push_str(&format!(
            "  deferred (4xx)    {}\n  incomplete        {}\n  distinct senders  {}\n",
            p.deferred, p.incomplete, p.distinct_senders
        ));
    }
    out
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
        let s = summarize(&transfers, &["p".into(), "q".into()], Some("p"));
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
