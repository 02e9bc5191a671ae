//! The audit report in the forms a data protection officer receives: one self-contained HTML
//! page ([`html`]) with inline SVG charts ([`svg`]), and a mail that carries the page, a
//! plain-text summary and the JSON ([`mail`]).
//!
//! Why a module above the audit: the report's data and its text and JSON forms belong to the
//! audit (`audit::report`), which must stay free of the relay; mailing needs the relay client.
//! Nothing here computes a figure: every form lays out the one [`Report`], so the page, the
//! mail and `--json` cannot disagree.

pub mod html;
pub mod mail;
pub mod svg;

use crate::audit::report::Report;

/// The report as `--json` prints it (and the mail attaches it): pretty JSON and a newline.
pub fn json(report: &Report) -> Result<String, serde_json::Error> {
    Ok(serde_json::to_string_pretty(report)? + "\n")
}

/// The report as one HTML page.
pub fn html(report: &Report) -> String {
    html::render(report)
}
