#![cfg(feature = "real-peers")]
//! The HTML report in a real browser: headless Chromium (Debian's `chromium`) loads the page
//! of `sealgate audit report --format html`, and
//!
//! - the DOM it rendered carries the same figures as `--json` (every one compared);
//! - the console shows no error (the page's Content-Security-Policy would report any attempt
//!   to load something from elsewhere, and there is no script to fail);
//! - a screenshot at A4 proportions lands in the target directory (`report-html/report.png`);
//! - printed to PDF, the pages are A4.
//!
//! A missing browser fails the test and says how to install it.

mod audit_support;
mod report_support;

use std::path::Path;
use std::process::{Command, Output};

use audit_support::PROTOCOL;
use report_support::*;

const CHROMIUM: &str = "chromium";

fn chromium(profile: &Path, args: &[&str]) -> Output {
    let out = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {CHROMIUM} ({e}): apt-get install chromium (or run `bash tests/run-all.sh`, which installs the peers)")
        });
    assert!(
        out.status.success(),
        "{CHROMIUM} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Console errors Chromium logs for the page (it logs much else about its own environment).
fn page_errors(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| {
            l.contains("CONSOLE")
                || l.contains("Refused to")
                || l.contains("Uncaught")
                || l.contains("Content Security Policy")
        })
        .map(str::to_owned)
        .collect()
}

fn write_page(name: &str, html: &str) -> (std::path::PathBuf, String) {
    let out_dir = target_dir().join("report-html");
    std::fs::create_dir_all(&out_dir).unwrap();
    let page = out_dir.join(name);
    std::fs::write(&page, html).unwrap();
    let url = format!("file://{}", page.display());
    (out_dir, url)
}

/// Loads `url`, checks the rendered DOM against `json`; returns how many figures it compared.
fn rendered_figures_match(
    profile: &Path,
    url: &str,
    html: &str,
    json: &serde_json::Value,
) -> usize {
    let dom = chromium(profile, &["--dump-dom", url]);
    let rendered = String::from_utf8(dom.stdout).unwrap();
    assert!(rendered.contains("<svg"), "no chart in the rendered DOM");
    let compared = assert_page_matches_json(&rendered, json);
    assert_eq!(figures(&rendered), figures(html), "the DOM lost a figure");
    assert_eq!(page_errors(&dom.stderr), Vec::<String>::new());
    compared
}

#[test]
fn chromium_renders_the_report_with_the_json_figures_and_a_screenshot() {
    let f = fixture();
    let profile = tempfile::tempdir().unwrap();

    // The whole month, both protocols: the rendered DOM, and printed to PDF.
    let json = json_report(&f);
    let html = html_report(&f);
    let (out_dir, url) = write_page("report-all.html", &html);
    let compared = rendered_figures_match(profile.path(), &url, &html, &json);
    let pdf_path = out_dir.join("report.pdf");
    chromium(
        profile.path(),
        &[
            &format!("--print-to-pdf={}", pdf_path.display()),
            "--no-pdf-header-footer",
            &url,
        ],
    );
    let pdf = std::fs::read(&pdf_path).expect("the PDF was written");
    let text = String::from_utf8_lossy(&pdf);
    assert!(
        text.contains("/MediaBox [0 0 594.9") || text.contains("/MediaBox [0 0 595"),
        "the printed pages are not A4"
    );

    // One protocol, as the picture in docs/audit.md shows it.
    let args = ["--period", "2025-10", "--protocol", PROTOCOL];
    let json: serde_json::Value =
        serde_json::from_slice(&report(&f, &[&args[..], &["--json"]].concat()).stdout).unwrap();
    let out = report(&f, &[&args[..], &["--format", "html"]].concat());
    assert_eq!(out.status.code(), Some(0));
    let html = String::from_utf8(out.stdout).unwrap();
    let (out_dir, url) = write_page("report.html", &html);
    rendered_figures_match(profile.path(), &url, &html, &json);
    let screenshot = out_dir.join("report.png");
    let _ = std::fs::remove_file(&screenshot);
    let shot = chromium(
        profile.path(),
        &[
            &format!("--screenshot={}", screenshot.display()),
            "--window-size=1240,1754",
            &url,
        ],
    );
    assert_eq!(page_errors(&shot.stderr), Vec::<String>::new());
    let png = std::fs::read(&screenshot).expect("the screenshot was written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1240, 1754));
    eprintln!(
        "{compared} figures compared; screenshot {} ({} bytes); PDF {} bytes",
        screenshot.display(),
        png.len(),
        pdf.len()
    );
}
