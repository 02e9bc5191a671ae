//! The report as one self-contained HTML page for a data protection officer.
//!
//! Self-contained means: no script, no style sheet, font or image from elsewhere (a
//! Content-Security-Policy of `default-src 'none'` says so to the browser too), charts as
//! inline SVG ([`super::svg`]), and a print style sheet for A4. Everything that comes from a
//! record (addresses, ids, Message-IDs, reason codes, TLS descriptions) is escaped: a sender
//! can be `"<script>"@example.org`.
//!
//! The page lays out [`Report`] and computes no figure of its own: every figure sits in an
//! element whose `data-figure` attribute is the JSON pointer (RFC 6901) of the same number in
//! `--json`, so a test (and a sceptical reader) can check the page against the JSON. Outcomes
//! and reasons come from the report's lists, never from a list here.

use chrono::{DateTime, Utc};

use super::svg::{self, Series};
use crate::audit::report::{ProtocolSummary, Report, SizeSummary};
use crate::markup::{escape, escape_attribute};

/// A JSON pointer (RFC 6901) from its reference tokens.
fn pointer(tokens: &[&str]) -> String {
    tokens
        .iter()
        .map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// `base` (a pointer) extended by `tokens`.
fn ptr(base: &str, tokens: &[&str]) -> String {
    format!("{base}{}", pointer(tokens))
}

/// A figure: its number, marked with the JSON pointer of the same number in `--json`.
fn figure(value: u64, pointer: &str) -> String {
    format!(
        r#"<span class="n" data-figure="{}">{value}</span>"#,
        escape_attribute(pointer)
    )
}

/// The heading of an outcome key: Dutch and English for the keys known today, the key itself
/// for one added later (it still shows, with its own name).
fn outcome_label(key: &str) -> String {
    match key {
        "relayed" => "doorgestuurd / relayed".into(),
        "rejected" => "geweigerd / refused".into(),
        "deferred" => "uitgesteld (4xx) / deferred".into(),
        "incomplete" => "onvolledig / incomplete".into(),
        "would_reject" => "zou weigeren / would reject".into(),
        other => other.replace('_', " "),
    }
}

/// A colour per outcome key: the usual meanings for the known keys, then a palette.
fn outcome_color(key: &str, index: usize) -> String {
    const PALETTE: [&str; 6] = [
        "#7b3294", "#0571b0", "#a6611a", "#018571", "#c51b7d", "#4d4d4d",
    ];
    match key {
        "relayed" => "#2e7d32".into(),
        "rejected" => "#c62828".into(),
        "deferred" => "#f9a825".into(),
        "incomplete" => "#9e9e9e".into(),
        "would_reject" => "#8e24aa".into(),
        _ => PALETTE[index % PALETTE.len()].into(),
    }
}

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, Helvetica, sans-serif; font-size: 10.5pt;
  color: #1a1a1a; margin: 0 auto; max-width: 190mm; padding: 8mm 6mm; line-height: 1.35; }
h1 { font-size: 17pt; margin: 0 0 2mm; }
h2 { font-size: 13.5pt; margin: 7mm 0 2mm; padding-bottom: 1mm; border-bottom: 2px solid #1f4e79; color: #1f4e79; }
h3 { font-size: 11pt; margin: 5mm 0 1.5mm; }
.meta { color: #555; margin: 0 0 3mm; }
.chain { border: 1px solid #2e7d32; background: #f1f8f1; padding: 2mm 3mm; border-radius: 2mm; }
.chain.broken { border-color: #c62828; background: #fdecea; }
.hash { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 8.5pt; word-break: break-all; }
table { border-collapse: collapse; width: 100%; margin: 1mm 0 2mm; }
th, td { border-bottom: 1px solid #ddd; padding: 0.6mm 1.5mm; text-align: left; vertical-align: top; }
th { background: #eef3f8; font-weight: 600; }
td.r, th.r { text-align: right; }
td.r small { white-space: nowrap; }
td.code code { word-break: normal; white-space: nowrap; }
table.days td, table.days th { padding: 0.2mm 1.5mm; font-size: 9pt; }
table.days td:first-child { white-space: nowrap; }
.cards { display: flex; flex-wrap: wrap; gap: 2mm; margin: 2mm 0; }
.card { border: 1px solid #ccd; border-radius: 1.5mm; padding: 1.5mm 3mm; min-width: 26mm; }
.card .n { font-size: 15pt; font-weight: 700; display: block; }
.card small { color: #555; }
code, .addr { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 9pt; word-break: break-all; }
.muted { color: #666; }
.meaning { font-size: 9pt; }
svg.chart { width: 100%; height: auto; display: block; margin: 1mm 0; }
svg .axis { font-size: 10px; fill: #555; }
svg .legend, svg .label { font-size: 11px; fill: #222; }
svg .grid { stroke: #ddd; stroke-width: 1; }
figure { margin: 0; }
footer { margin-top: 8mm; font-size: 8.5pt; color: #555; border-top: 1px solid #ccc; padding-top: 2mm; }
@page { size: A4; margin: 12mm 12mm 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 9.5pt; }
  .protocol + .protocol { break-before: page; }
  figure, table, .chain, .cards, .block { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
"#;

/// The whole page.
pub fn render(report: &Report) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let title = format!(
        "sealgate auditrapport / audit report {}",
        escape(&report.period)
    );
    out.push_str(&format!(
        r#"<!DOCTYPE html>
<html lang="nl">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{title}</h1>
<p class="meta">Periode / period: {} &ndash; {} (UTC, einde niet inbegrepen / end excluded) &middot; opslag / store: <code>{}</code> &middot; gemaakt / generated: {}</p>
"#,
        report.since.format("%Y-%m-%d"),
        report.until.format("%Y-%m-%d"),
        escape(&report.store),
        time(&report.generated_at),
    ));
    chain(&mut out, report);
    if report.protocols.is_empty() {
        out.push_str("<p>Geen overdrachten naar beschermde mailboxen in deze periode. / No transfers to protected mailboxes in this period.</p>\n");
    }
    for (i, p) in report.protocols.iter().enumerate() {
        protocol(&mut out, report, i, p);
    }
    out.push_str(
        r#"<footer>Elk cijfer op deze pagina is het cijfer van <code>sealgate audit report --json</code> voor dezelfde periode; de bijlage van de e-mail is die JSON. Enkel metadata: nooit inhoud, onderwerp of bestandsnamen.<br>
Every figure on this page is the figure of <code>sealgate audit report --json</code> for the same period; the mail's attachment is that JSON. Metadata only: never contents, subjects or file names.</footer>
</body>
</html>
"#,
    );
    out
}

fn time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn chain(out: &mut String, report: &Report) {
    let c = &report.chain;
    let (class, verdict) = if c.verifies {
        (
            "chain",
            "&#10004; De hashketen klopt / the hash chain verifies".to_string(),
        )
    } else {
        (
            "chain broken",
            format!(
                "&#10008; De hashketen klopt NIET / the hash chain does NOT verify: {}",
                escape(c.first_broken.as_deref().unwrap_or("?"))
            ),
        )
    };
    out.push_str(&format!(
        r#"<div class="{class}" data-verifies="{}"><strong>{verdict}</strong><br>
Gecontroleerd / checked: {} &middot; entries: {} &middot; head entry {}<br>
Head hash: <span class="hash" data-head-hash>{}</span><br>
<small class="muted">Bewaar deze hash buiten de opslag; een latere controle moet dezelfde entry met dezelfde hash tonen. / Keep this hash outside the store; a later verify must show the same entry with the same hash.</small></div>
"#,
        c.verifies,
        time(&c.checked_at),
        figure(c.entries, "/chain/entries"),
        figure(c.head_seq, "/chain/head_seq"),
        escape(&c.head_hash),
    ));
}

fn protocol(out: &mut String, report: &Report, i: usize, p: &ProtocolSummary) {
    let base = format!("/protocols/{i}");
    let base = base.as_str();
    out.push_str(&format!(
        "<section class=\"protocol\" data-protocol=\"{}\">\n<h2>Protocol <code>{}</code></h2>\n<div class=\"cards\">",
        escape_attribute(&p.protocol),
        escape(&p.protocol)
    ));
    let card = |value: u64, pointer: String, label: &str| {
        format!(
            "<div class=\"card\">{}<small>{}</small></div>",
            figure(value, &pointer),
            label
        )
    };
    out.push_str(&card(
        p.transfers,
        ptr(base, &["transfers"]),
        "overdrachten / transfers",
    ));
    for key in &report.outcome_keys {
        let n = p.outcomes.get(key).copied().unwrap_or(0);
        out.push_str(&card(
            n,
            ptr(base, &["outcomes", key]),
            &escape(&outcome_label(key)),
        ));
    }
    out.push_str(&card(
        p.distinct_senders,
        ptr(base, &["distinct_senders"]),
        "verschillende afzenders / distinct senders",
    ));
    out.push_str("</div>\n");
    days(out, report, p, base);
    reasons(out, report, p, base);
    sizes(out, p, base);
    tls(out, p, base);
    senders(out, report, p, base);
    incomplete(out, p);
    out.push_str("</section>\n");
}

fn outcome_series(report: &Report, values: impl Fn(&str) -> Vec<u64>) -> Vec<Series> {
    report
        .outcome_keys
        .iter()
        .enumerate()
        .map(|(i, key)| Series {
            name: outcome_label(key),
            color: outcome_color(key, i),
            values: values(key),
        })
        .collect()
}

fn outcome_headers(keys: &[String]) -> String {
    keys.iter()
        .map(|k| format!("<th class=\"r\">{}</th>", escape(&outcome_label(k))))
        .collect()
}

/// One cell per outcome key of `keys`: the count in `outcomes`, marked with the pointer
/// `base` + `tokens` + `/outcomes/<key>`.
fn outcome_cells(
    keys: &[String],
    outcomes: &std::collections::BTreeMap<String, u64>,
    base: &str,
    tokens: &[&str],
) -> String {
    keys.iter()
        .map(|key| {
            let n = outcomes.get(key).copied().unwrap_or(0);
            let mut path = tokens.to_vec();
            path.extend(["outcomes", key.as_str()]);
            format!("<td class=\"r\">{}</td>", figure(n, &ptr(base, &path)))
        })
        .collect()
}

fn days(out: &mut String, report: &Report, p: &ProtocolSummary, base: &str) {
    out.push_str("<h3>Per dag / Per day</h3>\n<figure>");
    let labels: Vec<String> = p
        .days
        .iter()
        .map(|d| d.date.rsplit('-').next().unwrap_or(&d.date).to_string())
        .collect();
    let full: Vec<String> = p.days.iter().map(|d| d.date.clone()).collect();
    let series = outcome_series(report, |key| {
        p.days
            .iter()
            .map(|d| d.outcomes.get(key).copied().unwrap_or(0))
            .collect()
    });
    out.push_str(&svg::columns(
        &format!("{} per dag / per day", p.protocol),
        &labels,
        &full,
        &series,
    ));
    out.push_str("</figure>\n");
    let active: Vec<(usize, &_)> = p
        .days
        .iter()
        .enumerate()
        .filter(|(_, d)| d.transfers > 0)
        .collect();
    if active.is_empty() {
        out.push_str("<p class=\"muted\">Geen overdrachten in deze periode. / No transfers in this period.</p>\n");
        return;
    }
    let rows = active.into_iter().map(|(d, day)| TransfersRow {
        index: d,
        label: &day.date,
        transfers: day.transfers,
        outcomes: &day.outcomes,
    });
    transfers_table(out, report, base, &DAYS, rows);
    out.push_str("<p class=\"muted\">Dagen zonder overdrachten zijn weggelaten uit de tabel. / Days without transfers are left out of the table.</p>\n");
}

fn reasons(out: &mut String, report: &Report, p: &ProtocolSummary, base: &str) {
    out.push_str("<h3>Weigeringen per reden / Refusals by reason</h3>\n");
    if p.reasons.is_empty() {
        out.push_str("<p class=\"muted\">Geen. / None.</p>\n");
        return;
    }
    let labels: Vec<String> = p.reasons.iter().map(|r| r.code.clone()).collect();
    let series = outcome_series(report, |key| {
        p.reasons
            .iter()
            .map(|r| r.outcomes.get(key).copied().unwrap_or(0))
            .collect()
    });
    let series: Vec<Series> = series
        .into_iter()
        .filter(|s| s.values.iter().any(|&v| v > 0))
        .collect();
    out.push_str("<figure>");
    out.push_str(&svg::rows(
        &format!("{} per reden / by reason", p.protocol),
        &labels,
        &series,
    ));
    // Only the outcomes that occur with a reason get a column: the meaning needs the room.
    let keys: Vec<String> = report
        .outcome_keys
        .iter()
        .filter(|k| {
            p.reasons
                .iter()
                .any(|r| r.outcomes.get(*k).is_some_and(|&n| n > 0))
        })
        .cloned()
        .collect();
    out.push_str(&format!(
        "</figure>\n<table class=\"block\"><thead><tr><th>reden / reason</th><th>betekenis / meaning</th>{}</tr></thead><tbody>\n",
        outcome_headers(&keys)
    ));
    for (r, reason) in p.reasons.iter().enumerate() {
        let r = r.to_string();
        out.push_str(&format!(
            "<tr><td class=\"code\"><code>{}</code></td><td class=\"meaning\">{}<br><span class=\"muted\">{}</span></td>",
            escape(&reason.code),
            escape(&reason.meaning_nl),
            escape(&reason.meaning_en)
        ));
        out.push_str(&outcome_cells(
            &keys,
            &reason.outcomes,
            base,
            &["reasons", &r],
        ));
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

/// 40960 as "40 KiB": a reading aid beside the exact figure.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn sizes(out: &mut String, p: &ProtocolSummary, base: &str) {
    out.push_str("<h3>Groottes / Sizes (bytes)</h3>\n<table class=\"block\"><thead><tr><th></th><th class=\"r\">aantal / count</th><th class=\"r\">min</th><th class=\"r\">mediaan / median</th><th class=\"r\">max</th><th class=\"r\">totaal / total</th></tr></thead><tbody>\n");
    let row = |label: &str, field: &str, s: &SizeSummary| {
        let cell = |value: u64, name: &str| {
            format!(
                "<td class=\"r\">{}<br><small class=\"muted\">{}</small></td>",
                figure(value, &ptr(base, &[field, name])),
                if name == "count" {
                    String::new()
                } else {
                    human(value)
                }
            )
        };
        format!(
            "<tr><td>{label}</td>{}{}{}{}{}</tr>\n",
            cell(s.count, "count"),
            cell(s.min, "min"),
            cell(s.median, "median"),
            cell(s.max, "max"),
            cell(s.total, "total")
        )
    };
    out.push_str(&row(
        "versleutelde archieven / archives",
        "archive_sizes",
        &p.archive_sizes,
    ));
    out.push_str(&row(
        "berichten / messages",
        "message_sizes",
        &p.message_sizes,
    ));
    out.push_str("</tbody></table>\n");
    if !p.archive_verdicts.is_empty() {
        out.push_str("<p>Archieven per oordeel / archives by verdict: ");
        let parts: Vec<String> = p
            .archive_verdicts
            .iter()
            .map(|(k, &n)| {
                format!(
                    "<code>{}</code> {}",
                    escape(k),
                    figure(n, &ptr(base, &["archive_verdicts", k]))
                )
            })
            .collect();
        out.push_str(&parts.join(" &middot; "));
        out.push_str("</p>\n");
    }
}

fn tls(out: &mut String, p: &ProtocolSummary, base: &str) {
    out.push_str("<h3>TLS naar buiten / TLS on the way out</h3>\n");
    if p.tls_out.is_empty() {
        out.push_str("<p class=\"muted\">Niets verzonden. / Nothing sent on.</p>\n");
    } else {
        let labels: Vec<String> = p.tls_out.keys().cloned().collect();
        let series = [Series {
            name: "overdrachten / transfers".into(),
            color: "#1f4e79".into(),
            values: p.tls_out.values().copied().collect(),
        }];
        out.push_str("<figure>");
        out.push_str(&svg::rows("TLS", &labels, &series));
        out.push_str("</figure>\n");
        tls_table(out, "tls_out", &p.tls_out, base);
    }
    out.push_str("<p class=\"muted\">Geteld: overdrachten die de volgende server aanvaardde (2xx). <code>plaintext</code>: zonder TLS; <code>verified=</code>: hoe de ontvangende server geverifieerd werd (MX-aflevering). / Counted: transfers the next hop accepted (2xx). <code>plaintext</code>: without TLS; <code>verified=</code>: how the receiving server was verified (MX delivery).</p>\n<h3>TLS van de afzender / TLS from the client</h3>\n");
    tls_table(out, "tls_in", &p.tls_in, base);
}

fn tls_table(
    out: &mut String,
    field: &str,
    counts: &std::collections::BTreeMap<String, u64>,
    base: &str,
) {
    if counts.is_empty() {
        out.push_str("<p class=\"muted\">Geen. / None.</p>\n");
        return;
    }
    out.push_str("<table class=\"block\"><thead><tr><th>TLS</th><th class=\"r\">overdrachten / transfers</th></tr></thead><tbody>\n");
    for (k, &n) in counts {
        out.push_str(&format!(
            "<tr><td><code>{}</code></td><td class=\"r\">{}</td></tr>\n",
            escape(k),
            figure(n, &ptr(base, &[field, k]))
        ));
    }
    out.push_str("</tbody></table>\n");
}

fn senders(out: &mut String, report: &Report, p: &ProtocolSummary, base: &str) {
    out.push_str(&format!(
        "<h3>Afzenders / Senders</h3>\n<p>{} verschillende afzenders (hoofdletterongevoelig); de {} actiefste: / distinct senders (case-insensitive); the most active:</p>\n",
        figure(p.distinct_senders, &ptr(base, &["distinct_senders"])),
        p.senders.len()
    ));
    if p.senders.is_empty() {
        return;
    }
    let rows = p
        .senders
        .iter()
        .enumerate()
        .map(|(s, sender)| TransfersRow {
            index: s,
            label: &sender.address,
            transfers: sender.transfers,
            outcomes: &sender.outcomes,
        });
    transfers_table(out, report, base, &SENDERS, rows);
}

/// What sets the table of days apart from the table of senders.
struct TransfersTable {
    /// The JSON array its rows point into.
    array: &'static str,
    class: &'static str,
    heading: &'static str,
    label_attributes: &'static str,
}

const DAYS: TransfersTable = TransfersTable {
    array: "days",
    class: "days",
    heading: "datum / date",
    label_attributes: "",
};

const SENDERS: TransfersTable = TransfersTable {
    array: "senders",
    class: "block",
    heading: "afzender / sender",
    label_attributes: " class=\"addr\"",
};

/// A day's or a sender's line of a transfers table.
struct TransfersRow<'a> {
    /// Its index in the report's JSON array.
    index: usize,
    label: &'a str,
    transfers: u64,
    outcomes: &'a std::collections::BTreeMap<String, u64>,
}

/// A table of transfers, in total and per outcome, one row per day or sender.
fn transfers_table<'a>(
    out: &mut String,
    report: &Report,
    base: &str,
    table: &TransfersTable,
    rows: impl Iterator<Item = TransfersRow<'a>>,
) {
    let TransfersTable {
        array,
        class,
        heading,
        label_attributes,
    } = table;
    out.push_str(&format!(
        "<table class=\"{class}\"><thead><tr><th>{heading}</th><th class=\"r\">overdrachten / transfers</th>{}</tr></thead><tbody>\n",
        outcome_headers(&report.outcome_keys)
    ));
    for row in rows {
        let i = row.index.to_string();
        out.push_str(&format!(
            "<tr><td{label_attributes}>{}</td><td class=\"r\">{}</td>",
            escape(row.label),
            figure(row.transfers, &ptr(base, &[array, &i, "transfers"]))
        ));
        out.push_str(&outcome_cells(
            &report.outcome_keys,
            row.outcomes,
            base,
            &[array, &i],
        ));
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

fn incomplete(out: &mut String, p: &ProtocolSummary) {
    out.push_str("<h3>Onvolledige records / Incomplete records</h3>\n");
    if p.incomplete_transfers.is_empty() {
        out.push_str("<p class=\"muted\">Geen. / None.</p>\n");
        return;
    }
    out.push_str("<p>Beslist, antwoord onbekend (de gateway stopte): zoek de Message-ID op in het log van de volgende server. / Decided, answer unknown (the gateway stopped): look the Message-ID up in the next hop's log.</p>\n<table class=\"block\"><thead><tr><th>id</th><th>ontvangen / received</th><th>afzender / sender</th><th>Message-ID</th></tr></thead><tbody>\n");
    for t in &p.incomplete_transfers {
        out.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"addr\">{}</td><td class=\"addr\">{}</td></tr>\n",
            escape(&t.id),
            time(&t.received_at),
            escape(&t.sender),
            escape(t.message_id.as_deref().unwrap_or("-"))
        ));
    }
    out.push_str("</tbody></table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_escape_tilde_and_slash() {
        assert_eq!(pointer(&["a", "b/c", "d~e"]), "/a/b~1c/d~0e");
    }

    #[test]
    fn an_outcome_added_later_still_gets_a_label_and_a_colour() {
        assert_eq!(outcome_label("some_new_outcome"), "some new outcome");
        assert!(outcome_color("some_new_outcome", 0).starts_with('#'));
    }
}
