//! Text that carries a file (`data:` URIs, uuencode, yEnc, BinHex, pasted base64, parts shown
//! through `cid:`)
//! beside a good encrypted 7z, through `policy::evaluate` for a protected recipient: refused
//! with `other_attachment` and nothing else. Controls that must pass: the same layouts
//! without the carrier, a Thunderbird message with format=flowed text.

use base64::Engine;
use chrono::NaiveDate;
use sealgate::config::Config;
use sealgate::envelope::Address;
use sealgate::policy::{self, Registry, Verdict};

fn manifest_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn registry() -> Registry {
    let config =
        Config::load(&manifest_dir().join("fixtures/messages/sealgate-test.toml")).unwrap();
    Registry::new(&config.protocols, &config.policy)
}

fn decide(message: &str) -> (Verdict, Vec<String>) {
    let registry = registry();
    let rcpt = Address::parse("kindengezin@wervik.be").unwrap().canonical();
    let recipients = [registry.classify(&rcpt)];
    let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let decision = policy::evaluate(&registry, &recipients, message.as_bytes(), today);
    let codes = decision
        .reasons
        .into_iter()
        .map(|r| r.code.as_str().to_string())
        .collect();
    (decision.verdict, codes)
}

fn b64(bytes: &[u8]) -> String {
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(76)
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect();
    lines.join("\r\n")
}

/// The 7-Zip archive (AES-256, encrypted names, default key derivation) as a MIME part.
fn archive_part() -> String {
    let bytes = std::fs::read(manifest_dir().join("fixtures/archives/enc-hdr-lzma2.7z")).unwrap();
    format!(
        "Content-Type: application/x-7z-compressed; name=\"verslag.7z\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"verslag.7z\"\r\n\r\n{}\r\n",
        b64(&bytes)
    )
}

/// A multipart/mixed message: the given parts, then the archive.
fn mixed(parts: &[String]) -> String {
    let mut out = String::from(
        "From: An Peeters <an.peeters@opgroeien.be>\r\nTo: kindengezin@wervik.be\r\n\
         Subject: Verslag huisbezoek\r\nDate: Tue, 1 Dec 2026 09:46:11 +0100\r\n\
         Message-ID: <c0ffee@opgroeien.be>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n",
    );
    for part in parts.iter().cloned().chain([archive_part()]) {
        out.push_str("--outer\r\n");
        out.push_str(&part);
    }
    out.push_str("--outer--\r\n");
    out
}

fn text_part(body: &str) -> String {
    format!("Content-Type: text/plain; charset=utf-8; format=flowed\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n")
}

fn html_part(doc: &str) -> String {
    format!(
        "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        b64(doc.as_bytes())
    )
}

fn alternative(text: &str, html: &str) -> String {
    format!(
        "Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n--alt\r\n{}--alt\r\n{}--alt--\r\n",
        text_part(text),
        html_part(html)
    )
}

/// uuencode of `bytes` (45 bytes per line, backquote for zero), as `uuencode` writes it.
fn uuencode(bytes: &[u8]) -> String {
    let char_of = |v: u8| if v == 0 { '`' } else { char::from(v + 32) };
    let mut out = String::new();
    for line in bytes.chunks(45) {
        out.push(char_of(line.len() as u8));
        for chunk in line.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            for v in [
                b[0] >> 2,
                ((b[0] & 3) << 4) | (b[1] >> 4),
                ((b[1] & 15) << 2) | (b[2] >> 6),
                b[2] & 63,
            ] {
                out.push(char_of(v));
            }
        }
        out.push_str("\r\n");
    }
    out.push_str("`\r\n");
    out
}

const PDF: &[u8] = b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

const GREETING: &str = "Beste collega, \r\n\r\nIn bijlage het verslag van het huisbezoek van \r\n01.12.2026. Bel gerust op 056 12 34 56.\r\n\r\nMet vriendelijke groeten,\r\nAn Peeters\r\n";

fn assert_other_attachment(name: &str, message: &str) {
    let (verdict, codes) = decide(message);
    assert_eq!(verdict, Verdict::Reject, "{name}");
    assert_eq!(codes, ["other_attachment"], "{name}");
}

#[test]
fn thunderbird_flowed_text_and_an_encrypted_7z_pass() {
    let (verdict, codes) = decide(&mixed(&[text_part(GREETING)]));
    assert_eq!((verdict, codes), (Verdict::Pass, vec![]));
    let html = "<html><head><title>Verslag</title></head><body><p>Beste collega,</p>\
                <p>In bijlage het verslag van 01.12.2026.<br>Bel gerust op 056 12 34 56.</p>\
                <p><a href=\"https://www.kindengezin.be\" title=\"Kind en Gezin\">kindengezin.be</a></p></body></html>";
    let (verdict, codes) = decide(&mixed(&[alternative(GREETING, html)]));
    assert_eq!((verdict, codes), (Verdict::Pass, vec![]));
}

#[test]
fn data_uris_are_attachments() {
    let png = base64::engine::general_purpose::STANDARD.encode(PNG);
    let pdf = base64::engine::general_purpose::STANDARD.encode(PDF);
    let cases = [
        (
            "img src",
            format!("<p>Zie</p><img src=\"data:image/png;base64,{png}\">"),
        ),
        (
            "PDF link",
            format!("<a href=\"data:application/pdf;base64,{pdf}\">verslag.pdf</a>"),
        ),
        (
            "wrapped and spaced",
            format!("<img src=\" da\nta: image/png ;base64,{png}\">"),
        ),
        (
            "character references",
            format!("<img src='&#100;ata:image/png;base64,{png}'>"),
        ),
        (
            "CSS background",
            format!("<div style=\"background:url('data:image/png;base64,{png}')\">x</div>"),
        ),
        (
            "style sheet",
            format!("<style>p{{background:url(data:image/png;base64,{png})}}</style><p>x</p>"),
        ),
        (
            "srcset",
            format!("<img src=\"https://x.be/a.png\" srcset=\"data:image/png;base64,{png} 2x\">"),
        ),
    ];
    for (name, html) in cases {
        assert_other_attachment(name, &mixed(&[alternative(GREETING, &html)]));
    }
    let in_text = format!("{GREETING}\r\ndata:application/pdf;base64,{pdf}\r\n");
    assert_other_attachment("plain text", &mixed(&[text_part(&in_text)]));
}

#[test]
fn uuencode_yenc_binhex_and_pasted_base64_are_attachments() {
    let uu = uuencode(PDF);
    let cases = [
        ("begin 644", format!("{GREETING}\r\nbegin 644 verslag.pdf\r\n{uu}end\r\n")),
        ("begin 0644, two spaces", format!("{GREETING}\r\nbegin 0644  verslag.pdf\r\n{uu}end\r\n")),
        ("tabs, no end", format!("{GREETING}\r\n\tbegin\t755\tverslag.pdf\r\n{uu}")),
        ("no mode", format!("{GREETING}\r\nbegin verslag.pdf\r\n{uu}end\r\n")),
        ("begin-base64", format!("{GREETING}\r\nbegin-base64 644 verslag.pdf\r\nJVBERi0xLjcK\r\n====\r\n")),
        ("yEnc", format!("{GREETING}\r\n=ybegin line=128 size={} name=verslag.pdf\r\nxyz\r\n=yend size={}\r\n", PDF.len(), PDF.len())),
        ("BinHex", format!("{GREETING}\r\n(This file must be converted with BinHex 4.0)\r\n:$f*TEQKPH#jdCA0d,R0TG!\"6594%8dP8)3#3\"!&m!*!%\r\n")),
    ];
    for (name, body) in cases {
        assert_other_attachment(name, &mixed(&[text_part(&body)]));
    }
    let pasted = format!("{GREETING}\r\n{}\r\n", b64(PDF));
    assert_other_attachment("PDF pasted as base64", &mixed(&[text_part(&pasted)]));
    let declared = [
        format!("Content-Type: application/x-uuencode; name=\"verslag.uu\"\r\n\r\nbegin 644 verslag.pdf\r\n{uu}end\r\n"),
        format!("Content-Type: text/x-uuencode\r\n\r\n{uu}"),
    ];
    for part in declared {
        assert_other_attachment(&part, &mixed(&[text_part(GREETING), part.clone()]));
    }
    // x-uuencode as a transfer encoding is none of RFC 2045's: the strict MIME pass refuses
    // the whole message before classification.
    for cte in ["x-uuencode", "x-uue"] {
        let part =
            format!("Content-Type: text/plain\r\nContent-Transfer-Encoding: {cte}\r\n\r\n{uu}");
        let (verdict, codes) = decide(&mixed(&[text_part(GREETING), part]));
        assert_eq!(
            (verdict, codes),
            (Verdict::Reject, vec!["mime_ambiguous".to_string()]),
            "{cte}"
        );
    }
}

#[test]
fn parts_shown_through_cid_are_attachments_whatever_they_declare() {
    let related = |logo_type: &str| {
        format!(
            "Content-Type: multipart/related; boundary=\"rel\"\r\n\r\n--rel\r\n{}--rel\r\n\
             Content-Type: {logo_type}\r\nContent-Transfer-Encoding: base64\r\n\
             Content-ID: <logo001@opgroeien.be>\r\n\r\n{}\r\n--rel--\r\n",
            html_part("<p>Beste collega,</p><p>In bijlage het verslag.</p><img src=\"cid:logo001@opgroeien.be\" alt=\"logo\">"),
            b64(PNG)
        )
    };
    // A cid: image declared text/plain is shown as the image.
    assert_other_attachment(
        "text/plain logo",
        &mixed(&[related("text/plain; charset=us-ascii")]),
    );
    assert_other_attachment("text/html logo", &mixed(&[related("text/html")]));
    // Outlook's signature logo (multipart/related, image/png): a refusal by design.
    assert_other_attachment("Outlook logo", &mixed(&[related("image/png")]));
}

#[test]
fn ordinary_words_that_look_like_carriers_pass() {
    let body = "Beste,\r\n\r\nbegin 2026 starten we met het nieuwe dossier.\r\n\
                Update data: zie hieronder, alles ok.\r\nWe begin 644 files later.\r\n\
                Groet, An\r\n";
    let (verdict, codes) = decide(&mixed(&[text_part(body)]));
    assert_eq!((verdict, codes), (Verdict::Pass, vec![]));
}
