//! The strict MIME pass (src/inspect/strict.rs), in process: every kind of ambiguity, in several
//! variants, is refused with `mime_ambiguous` (550 5.6.0, a reply that quotes nothing from the
//! message), while the layouts real mail clients write (Thunderbird, Outlook, Apple Mail, Gmail,
//! a forwarded message) still pass the whole policy.

use std::path::{Path, PathBuf};

use base64::Engine;
use chrono::NaiveDate;
use mail_parser::{MessageParser, MimeHeaders};
use sealgate::config::Config;
use sealgate::envelope::Address;
use sealgate::inspect::{self, AmbiguityKind, InspectError, Limits};
use sealgate::policy::{self, Decision, Registry, Verdict};

const LIMITS: Limits = Limits {
    max_nesting_depth: 4,
    max_parts: 100,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/messages")
}

/// The encrypted 7z of the fixtures (AES-256, encrypted names, 7-Zip's key derivation), in
/// base64 lines of 76 characters as mail clients write them.
fn archive_base64() -> String {
    let raw = std::fs::read(fixtures().join("good_basic.eml")).unwrap();
    let message = MessageParser::default().parse(&raw).unwrap();
    let part = message
        .attachments()
        .find(|p| p.attachment_name() == Some("verslag.7z"))
        .unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode(part.contents());
    encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A template with `\n` line ends and `{7Z}` for the archive, as wire bytes (CRLF).
fn wire(template: &str) -> Vec<u8> {
    template
        .replace("{7Z}", &archive_base64())
        .replace('\n', "\r\n")
        .into_bytes()
}

fn decide(message: &[u8]) -> Decision {
    let config = Config::load(&fixtures().join("sealgate-test.toml")).unwrap();
    let registry = Registry::new(&config.protocols, &config.policy);
    let rcpt = registry.classify(&Address::parse("kindengezin@wervik.be").unwrap().canonical());
    policy::evaluate(
        &registry,
        &[rcpt],
        message,
        NaiveDate::from_ymd_opt(2025, 6, 2).unwrap(),
    )
}

fn codes(decision: &Decision) -> Vec<&str> {
    decision.reasons.iter().map(|r| r.code.as_str()).collect()
}

const THUNDERBIRD: &str =
    "Content-Type: multipart/mixed; boundary=\"------------0aBcDeFgHiJkLmNoPqRsTuVw\"
Message-ID: <4f1e2d3c-aaaa-bbbb-cccc-1234567890ab@opgroeien.be>
Date: Mon, 2 Jun 2025 09:00:00 +0200
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
Content-Language: nl
To: kindengezin@wervik.be
From: An Peeters <an.peeters@opgroeien.be>
Subject: Verslag huisbezoek

This is a multi-part message in MIME format.
--------------0aBcDeFgHiJkLmNoPqRsTuVw
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 8bit

Beste collega,

In bijlage het verslag van het huisbezoek. Het wachtwoord geef ik je 
telefonisch door.

Met vriendelijke groeten,
An Peeters -- team Menen (café-overleg)

--------------0aBcDeFgHiJkLmNoPqRsTuVw
Content-Type: application/x-7z-compressed; name=\"verslag.7z\"
Content-Disposition: attachment; filename=\"verslag.7z\"
Content-Transfer-Encoding: base64

{7Z}

--------------0aBcDeFgHiJkLmNoPqRsTuVw--
";

const OUTLOOK: &str = "From: An Peeters <an.peeters@opgroeien.be>
To: \"kindengezin@wervik.be\" <kindengezin@wervik.be>
Subject: Verslag huisbezoek
Thread-Topic: Verslag huisbezoek
Thread-Index: AdrVx1234567890abcdefABCDEF==
Date: Mon, 2 Jun 2025 07:00:00 +0000
Message-ID: <AM0PR01MB1234ABCD5678EF90@AM0PR01MB1234.eurprd01.prod.outlook.com>
Accept-Language: nl-BE, en-US
Content-Language: nl-BE
X-MS-Has-Attach: yes
X-MS-TNEF-Correlator:
Content-Type: multipart/mixed;
\tboundary=\"_004_AM0PR01MB1234ABCD5678EF90AM0PR01MB1234eurp_\"
MIME-Version: 1.0

--_004_AM0PR01MB1234ABCD5678EF90AM0PR01MB1234eurp_
Content-Type: multipart/alternative;
\tboundary=\"_000_AM0PR01MB1234ABCD5678EF90AM0PR01MB1234eurp_\"

--_000_AM0PR01MB1234ABCD5678EF90AM0PR01MB1234eurp_
Content-Type: text/plain; charset=\"iso-8859-1\"
Content-Transfer-Encoding: quoted-printable

Beste collega,

In bijlage het verslag van het huisbezoek (caf=E9-overleg). Het wachtwoord =
geef ik je telefonisch door.

Met vriendelijke groeten,
An Peeters

--_000_AM0PR01MB1234ABCD5678EF90AM0PR01MB1234eurp_
Content-Type: text/html; charset=\"iso-8859-1\"
Content-Transfer-Encoding: quoted-printable

<html>
<head>
<meta http-equiv=3D\"Content-Type\" content=3D\"text/html; charset=3Diso-8859-=
1\">
<!-- converted from text --><style><!-- .EmailQuote { margin-left: 1pt; } --></style>
</head>
<body>
<div class=3D\"WordSection1\"><p>Beste collega,</p><p>In bijlage het verslag=
.</p></div>
</body>
</html>

--_000_AM0PR01MB1234ABCD5678EF90AM0PR01MB1234eurp_--

--_004_AM0PR01MB1234ABCD5678EF90AM0PR01MB1234eurp_
Content-Type: application/x-7z-compressed; name=\"verslag.7z\"
Content-Description: verslag.7z
Content-Disposition: attachment; filename=\"verslag.7z\"; size=322;
\tcreation-date=\"Mon, 02 Jun 2025 07:00:00 GMT\";
\tmodification-date=\"Mon, 02 Jun 2025 07:00:00 GMT\"
Content-Transfer-Encoding: base64

{7Z}

--_004_AM0PR01MB1234ABCD5678EF90AM0PR01MB1234eurp_--
";

const APPLE_MAIL: &str = "Content-Type: multipart/mixed;
\tboundary=\"Apple-Mail=_8A3B2C1D-1111-2222-3333-444455556666\"
Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3774.600.62\\))
Subject: Verslag huisbezoek
Message-Id: <8A3B2C1D-9999-8888-7777-666655554444@opgroeien.be>
Date: Mon, 2 Jun 2025 09:00:00 +0200
To: kindengezin@wervik.be
From: An Peeters <an.peeters@opgroeien.be>

--Apple-Mail=_8A3B2C1D-1111-2222-3333-444455556666
Content-Transfer-Encoding: 7bit
Content-Type: text/plain;
\tcharset=us-ascii

Beste collega,

In bijlage het verslag.

--Apple-Mail=_8A3B2C1D-1111-2222-3333-444455556666
Content-Disposition: attachment;
\tfilename=verslag.7z
Content-Type: application/x-7z-compressed;
\tx-unix-mode=0644;
\tname=\"verslag.7z\"
Content-Transfer-Encoding: base64

{7Z}
--Apple-Mail=_8A3B2C1D-1111-2222-3333-444455556666
Content-Transfer-Encoding: 7bit
Content-Type: text/plain;
\tcharset=us-ascii



Met vriendelijke groeten,
An Peeters

--Apple-Mail=_8A3B2C1D-1111-2222-3333-444455556666--
";

const GMAIL: &str = "MIME-Version: 1.0
From: An Peeters <an.peeters@opgroeien.be>
Date: Mon, 2 Jun 2025 09:00:00 +0200
Message-ID: <CAKx0abcDEF123456789=xyz@mail.gmail.com>
Subject: Verslag huisbezoek
To: kindengezin@wervik.be
Content-Type: multipart/mixed; boundary=\"000000000000abc123def4560612\"

--000000000000abc123def4560612
Content-Type: multipart/alternative; boundary=\"000000000000abc123def4560610\"

--000000000000abc123def4560610
Content-Type: text/plain; charset=\"UTF-8\"
Content-Transfer-Encoding: quoted-printable

Beste collega,

In bijlage het verslag (caf=C3=A9-overleg).

--000000000000abc123def4560610
Content-Type: text/html; charset=\"UTF-8\"
Content-Transfer-Encoding: quoted-printable

<div dir=3D\"ltr\">Beste collega,<div><br></div><div>In bijlage het verslag (=
caf=C3=A9-overleg).</div></div>

--000000000000abc123def4560610--
--000000000000abc123def4560612
Content-Type: application/x-7z-compressed; name=\"verslag.7z\"
Content-Disposition: attachment; filename=\"verslag.7z\"
Content-Transfer-Encoding: base64
Content-ID: <f_m1abc2de0>
X-Attachment-Id: f_m1abc2de0

{7Z}
--000000000000abc123def4560612--
";

/// Outlook's way with a non-ASCII name (RFC 2047 inside quotes) and Thunderbird's (RFC 2231
/// sections), both for one archive.
const NON_ASCII_NAMES: &str = "From: An Peeters <an.peeters@opgroeien.be>
To: kindengezin@wervik.be
Subject: Verslag
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=\"b1\"

--b1
Content-Type: text/plain; charset=utf-8

Beste collega,
--b1
Content-Type: application/x-7z-compressed;
 name=\"=?utf-8?Q?verslag-caf=C3=A9.7z?=\"
Content-Disposition: attachment;
 filename*0*=UTF-8''verslag-caf%C3%A9;
 filename*1=.7z
Content-Transfer-Encoding: base64

{7Z}
--b1--
";

/// What a pass through the whole policy looks like for the layouts real clients write.
#[test]
fn real_client_layouts_pass_the_policy() {
    for (name, template) in [
        ("thunderbird", THUNDERBIRD),
        ("outlook", OUTLOOK),
        ("apple_mail", APPLE_MAIL),
        ("gmail", GMAIL),
        ("non_ascii_names", NON_ASCII_NAMES),
    ] {
        let message = wire(template);
        let inspection = inspect::inspect(&message, &LIMITS);
        assert!(inspection.is_ok(), "{name}: {:?}", inspection.err());
        let decision = decide(&message);
        assert_eq!(
            decision.verdict,
            Verdict::Pass,
            "{name}: {:?}",
            codes(&decision)
        );
    }
}

#[test]
fn a_forwarded_message_is_read_the_same_way() {
    let inner = wire(GMAIL);
    let mut message = wire(
        "From: An Peeters <an.peeters@opgroeien.be>
To: kindengezin@wervik.be
Subject: Fwd: Verslag huisbezoek
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=\"outer-zz\"

--outer-zz
Content-Type: text/plain; charset=utf-8

Zie doorgestuurd bericht.
--outer-zz
Content-Type: message/rfc822

",
    );
    message.extend_from_slice(&inner);
    message.extend_from_slice(b"--outer-zz--\r\n");
    let found = inspect::inspect(&message, &LIMITS).unwrap();
    assert_eq!(found.leaves.len(), 4);
    assert_eq!(found.leaves[3].filename.as_deref(), Some("verslag.7z"));
    assert_eq!(found.leaves[3].level, 1);
}

fn kind_of(message: &[u8]) -> Result<AmbiguityKind, String> {
    match inspect::inspect(message, &LIMITS) {
        Err(InspectError::Ambiguous(kind)) => Ok(kind),
        other => Err(format!("{other:?}")),
    }
}

/// (name, message, expected kind); `None` accepts any ambiguity (mail-parser and the strict
/// pass see different parts, whichever step notices first).
type Case = (&'static str, Vec<u8>, Option<AmbiguityKind>);

/// Variants of THUNDERBIRD with one thing made ambiguous.
fn thunderbird_with(from: &str, to: &str) -> Vec<u8> {
    let template = THUNDERBIRD.replacen(from, to, 1);
    assert_ne!(template, THUNDERBIRD, "mutation {from:?} does not apply");
    wire(&template)
}

const B: &str = "------------0aBcDeFgHiJkLmNoPqRsTuVw";

fn cases() -> Vec<Case> {
    use AmbiguityKind::*;
    let attachment = "--------------0aBcDeFgHiJkLmNoPqRsTuVw\nContent-Type: application/x-7z";
    let text_start = "Beste collega,\n";
    vec![
        // Delimiters in the middle of a line: the issue's examples and more.
        ("mid-line close", thunderbird_with(text_start, &format!("Beste, zie bijlage. --{B}--\n")), Some(MidLineDelimiter)),
        ("close in html comment", thunderbird_with(text_start, &format!("<!----{B}---->\n")), Some(MidLineDelimiter)),
        ("mid-line open", thunderbird_with(text_start, &format!("zie --{B}\n")), Some(MidLineDelimiter)),
        ("mid-line other case", thunderbird_with(text_start, &format!("zie --{}\n", B.to_ascii_uppercase())), Some(MidLineDelimiter)),
        ("delimiter after a tab", thunderbird_with(text_start, &format!("\t--{B}--\n")), Some(MidLineDelimiter)),
        ("mid-line in a part header", thunderbird_with("Content-Disposition: attachment;", &format!("Content-Description: x --{B}\nContent-Disposition: attachment;")), Some(MidLineDelimiter)),
        // Lines that start with the boundary but are no delimiter.
        ("boundary prefix line", thunderbird_with(text_start, &format!("--{B}x\nContent-Type: multipart/mixed; boundary=zz\n\n")), Some(NotADelimiter)),
        ("delimiter with trailing text", thunderbird_with(text_start, &format!("--{B}-- einde\n")), Some(NotADelimiter)),
        ("delimiter with trailing space", thunderbird_with(text_start, &format!("--{B} \n")), Some(NotADelimiter)),
        ("close with three dashes", thunderbird_with(text_start, &format!("--{B}---\n")), Some(NotADelimiter)),
        ("delimiter after the close", wire(&format!("{THUNDERBIRD}--{B}\nContent-Type: text/plain\n\nmore\n--{B}--\n")), Some(NotADelimiter)),
        // Whitespace-only lines in header blocks.
        ("space line first in part", thunderbird_with(attachment, &format!("--{B}\n \nContent-Type: application/x-7z")), Some(WhitespaceOnlyHeaderLine)),
        ("tab line in part", thunderbird_with("Content-Disposition: attachment;", "\t\nContent-Disposition: attachment;"), Some(WhitespaceOnlyHeaderLine)),
        ("space line in top header", thunderbird_with("User-Agent:", " \t \nUser-Agent:"), Some(WhitespaceOnlyHeaderLine)),
        ("space line ends header", thunderbird_with("Subject: Verslag huisbezoek\n\n", "Subject: Verslag huisbezoek\n \n"), Some(WhitespaceOnlyHeaderLine)),
        // Lines that are no field.
        ("field with space before colon", thunderbird_with("Subject: Verslag", "Subject : Verslag"), Some(MalformedHeaderLine)),
        ("line without colon", thunderbird_with("User-Agent:", "Hallo daar\nUser-Agent:"), Some(MalformedHeaderLine)),
        ("line without colon after the first field", thunderbird_with("Date:", "Datum 2 juni\nDate:"), Some(MalformedHeaderLine)),
        ("continuation first in part", thunderbird_with(attachment, &format!("--{B}\n name=x\nContent-Type: application/x-7z")), Some(MalformedHeaderLine)),
        // Duplicate fields.
        ("two content-types in part", thunderbird_with("Content-Disposition: attachment;", "Content-Type: text/plain\nContent-Disposition: attachment;"), Some(DuplicateField)),
        ("two dispositions", thunderbird_with("Content-Transfer-Encoding: base64", "Content-Disposition: inline\nContent-Transfer-Encoding: base64"), Some(DuplicateField)),
        ("two encodings", thunderbird_with("Content-Transfer-Encoding: base64", "Content-Transfer-Encoding: 7bit\nContent-transfer-encoding: base64"), Some(DuplicateField)),
        ("two subjects", thunderbird_with("Subject: Verslag", "Subject: Ander\nSubject: Verslag"), Some(DuplicateField)),
        ("two froms", thunderbird_with("Subject: Verslag", "From: x@example.org\nSubject: Verslag"), Some(DuplicateField)),
        ("two tos", thunderbird_with("Subject: Verslag", "TO: x@example.org\nSubject: Verslag"), Some(DuplicateField)),
        ("two message-ids", thunderbird_with("Subject: Verslag", "Message-Id: <x@y>\nSubject: Verslag"), Some(DuplicateField)),
        ("two top content-types", thunderbird_with("Subject: Verslag", "Content-Type: text/plain\nSubject: Verslag"), Some(DuplicateField)),
        // Malformed Content-Type.
        ("semicolon before type", thunderbird_with("Content-Type: application/x-7z-compressed;", "Content-Type: ;application/x-7z-compressed;"), Some(MalformedContentType)),
        ("no subtype", thunderbird_with("Content-Type: application/x-7z-compressed;", "Content-Type: application;"), Some(MalformedContentType)),
        ("space around slash", thunderbird_with("Content-Type: application/x-7z-compressed;", "Content-Type: application / x-7z-compressed;"), Some(MalformedContentType)),
        ("comment in type", thunderbird_with("Content-Type: application/x-7z-compressed;", "Content-Type: application/x-7z-compressed (archief);"), Some(MalformedContentType)),
        ("unclosed quote", thunderbird_with("name=\"verslag.7z\"", "name=\"verslag.7z"), Some(MalformedContentType)),
        ("space around equals", thunderbird_with("name=\"verslag.7z\"", "name = \"verslag.7z\""), Some(MalformedContentType)),
        ("parameter without value", thunderbird_with("; format=flowed", "; format"), Some(MalformedContentType)),
        ("empty content-type", thunderbird_with("Content-Type: text/plain; charset=UTF-8; format=flowed", "Content-Type:"), Some(MalformedContentType)),
        ("malformed disposition", thunderbird_with("Content-Disposition: attachment;", "Content-Disposition: ;attachment;"), Some(MalformedDisposition)),
        // Boundaries.
        ("no boundary", thunderbird_with("multipart/mixed; boundary=\"------------0aBcDeFgHiJkLmNoPqRsTuVw\"", "multipart/mixed"), Some(BadBoundary)),
        ("empty boundary", thunderbird_with("boundary=\"------------0aBcDeFgHiJkLmNoPqRsTuVw\"", "boundary=\"\""), Some(BadBoundary)),
        ("boundary too long", wire(&THUNDERBIRD.replace(B, &"x".repeat(71))), Some(BadBoundary)),
        ("boundary bad char", wire(&THUNDERBIRD.replace(B, "ab<cd")), Some(BadBoundary)),
        ("boundary rfc2231", thunderbird_with("boundary=\"------------0aBcDeFgHiJkLmNoPqRsTuVw\"", &format!("boundary*=us-ascii''{B}")), Some(BadBoundary)),
        ("two boundaries", thunderbird_with("boundary=\"------------0aBcDeFgHiJkLmNoPqRsTuVw\"", &format!("boundary=\"zz\"; boundary=\"{B}\"")), Some(DuplicateParameter)),
        ("outer boundary is prefix of nested", nested_with_boundary(&format!("{B}x")), Some(NotADelimiter)),
        ("nested boundary is the same", nested_with_boundary(B), None),
        ("nested boundary is prefix of outer", nested_with_boundary(&B[..20]), Some(PrefixBoundary)),
        ("nested boundary differs in case only", nested_with_boundary(&B.to_ascii_lowercase()), None),
        // Parameters and names.
        ("two names", thunderbird_with("name=\"verslag.7z\"", "name=\"a.7z\"; name=\"verslag.7z\""), Some(DuplicateParameter)),
        ("name and name* disagree", thunderbird_with("name=\"verslag.7z\"", "name=\"verslag.7z\"; name*=utf-8''ander.7z"), Some(DuplicateParameter)),
        ("filename and filename* disagree", thunderbird_with("filename=\"verslag.7z\"", "filename=\"verslag.7z\"; filename*=utf-8''ander.pdf"), Some(DuplicateParameter)),
        ("filename and name disagree", thunderbird_with("filename=\"verslag.7z\"", "filename=\"ander.7z\""), Some(ConflictingFileName)),
        ("rfc2231 gap", thunderbird_with("filename=\"verslag.7z\"", "filename*0=verslag; filename*2=.7z"), Some(MalformedFileName)),
        ("rfc2231 twice", thunderbird_with("filename=\"verslag.7z\"", "filename*0=verslag; filename*0*=utf-8''x; filename*1=.7z"), Some(DuplicateParameter)),
        ("rfc2231 bad charset", thunderbird_with("name=\"verslag.7z\"", "name*=x-unknown''verslag.7z"), Some(MalformedFileName)),
        ("rfc2231 bad percent", thunderbird_with("name=\"verslag.7z\"", "name*=utf-8''verslag%G1.7z"), Some(MalformedFileName)),
        ("rfc2047 half", thunderbird_with("name=\"verslag.7z\"", "name=\"=?utf-8?Q?verslag.7z\""), Some(MalformedFileName)),
        // Transfer encodings.
        ("uuencode", thunderbird_with("Content-Transfer-Encoding: base64", "Content-Transfer-Encoding: x-uuencode"), Some(UnknownTransferEncoding)),
        ("base64 with comment", thunderbird_with("Content-Transfer-Encoding: base64", "Content-Transfer-Encoding: base64 (x)"), Some(UnknownTransferEncoding)),
        ("misspelled base64", thunderbird_with("Content-Transfer-Encoding: base64", "Content-Transfer-Encoding: base-64"), Some(UnknownTransferEncoding)),
        ("base64 multipart", thunderbird_with("MIME-Version: 1.0", "MIME-Version: 1.0\nContent-Transfer-Encoding: base64"), Some(EncodedContainer)),
        // Structure.
        ("no closing delimiter", wire(&THUNDERBIRD.replace(&format!("--{B}--\n"), "")), Some(UnclosedMultipart)),
        ("nested without closing delimiter", String::from_utf8(nested_with_boundary("inner-zz")).unwrap().replacen("--inner-zz--\r\n", "", 1).into_bytes(), Some(UnclosedMultipart)),
        ("empty multipart", wire(&format!("Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"{B}\"\n\n--{B}--\n")), Some(EmptyMultipart)),
        ("base64 in preamble", thunderbird_with("This is a multi-part message in MIME format.", "N3q8ryccAAR5dzlyAAEAAAAAAAAwAAAAAAAAADwKX2lBoRdsOQytufDhjwxB5GiJhJYpHw5eeR16"), Some(DataOutsideParts)),
        ("long preamble", thunderbird_with("This is a multi-part message in MIME format.", &"Dit is tekst buiten de delen.\n".repeat(5)), Some(DataOutsideParts)),
        ("data in epilogue", wire(&format!("{THUNDERBIRD}{}\n", "QUJD".repeat(30))), Some(DataOutsideParts)),
        ("digest without type", wire(&THUNDERBIRD.replacen("multipart/mixed", "multipart/digest", 1).replacen("Content-Type: text/plain; charset=UTF-8; format=flowed\n", "", 1)), Some(DigestDefault)),
        ("bare CR", thunderbird_with(text_start, "Beste\rcollega,\n"), Some(BareCarriageReturn)),
    ]
}

/// THUNDERBIRD with its text part replaced by a multipart/alternative of boundary `inner`.
fn nested_with_boundary(inner: &str) -> Vec<u8> {
    let text =
        "Content-Type: text/plain; charset=UTF-8; format=flowed\nContent-Transfer-Encoding: 8bit\n";
    let replacement = format!(
        "Content-Type: multipart/alternative; boundary=\"{inner}\"\n\n--{inner}\n{text}\nhallo\n--{inner}--\n"
    );
    let template = THUNDERBIRD.replacen(text, &replacement, 1);
    wire(&template)
}

#[test]
fn every_ambiguity_is_refused_with_its_kind() {
    let mut failures = Vec::new();
    for (name, message, expected) in cases() {
        match (kind_of(&message), expected) {
            (Ok(kind), Some(want)) if kind == want => {}
            (Ok(_), None) => {}
            (got, want) => failures.push(format!("{name}: expected {want:?}, got {got:?}")),
        }
        let decision = decide(&message);
        if !codes(&decision).iter().any(|c| c.starts_with("mime_")) {
            failures.push(format!("{name}: policy gave {:?}", codes(&decision)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_refusal_of_the_issue_is_mime_ambiguous_with_5_6_0() {
    for (name, message, expected) in cases() {
        if expected.is_none() {
            continue;
        }
        let decision = decide(&message);
        assert_eq!(codes(&decision), ["mime_ambiguous"], "{name}");
        let (code, enhanced, lines) = policy::reject_reply(&decision);
        assert_eq!((code, enhanced), (550, [5, 6, 0]), "{name}");
        assert!(lines[0].contains("mime_ambiguous"), "{name}");
        assert!(lines.iter().any(|l| l.starts_with("NL: ")), "{name}");
        assert!(lines.iter().any(|l| l.starts_with("EN: ")), "{name}");
    }
}

/// Bodies that are not valid in their transfer encoding (decoders differ on them) and data that
/// is no message at all are refused as unreadable (`mime_unparseable`, 550 5.6.0), as before
/// the strict pass.
#[test]
fn undecodable_bodies_are_mime_unparseable() {
    for (name, message) in [
        (
            "base64 with junk",
            wire(&THUNDERBIRD.replacen("{7Z}", "{7Z}\n*", 1)),
        ),
        (
            "base64 data after padding",
            wire(&THUNDERBIRD.replacen("{7Z}", "QQ==\nQUJD", 1)),
        ),
        (
            "base64 bad length",
            wire(&THUNDERBIRD.replacen("{7Z}", "QUJDRA", 1)),
        ),
        (
            "base64 url alphabet",
            wire(&THUNDERBIRD.replacen("{7Z}", "QU-_", 1)),
        ),
        (
            "qp bad escape",
            wire(&OUTLOOK.replacen("(caf=E9-overleg)", "(caf=G9-overleg)", 1)),
        ),
        (
            "qp half escape",
            wire(&OUTLOOK.replacen("(caf=E9-overleg)", "(caf=E", 1)),
        ),
        (
            "qp trailing space",
            wire(&OUTLOOK.replacen("Met vriendelijke groeten,", "Met vriendelijke groeten, ", 1)),
        ),
        (
            "mbox From line first",
            wire(&format!(
                "From an@opgroeien.be Mon Jun  2 09:00:00 2025\n{THUNDERBIRD}"
            )),
        ),
        (
            "qp soft break with space",
            wire(&OUTLOOK.replacen("wachtwoord =\n", "wachtwoord = \n", 1)),
        ),
    ] {
        let decision = decide(&message);
        assert_eq!(codes(&decision), ["mime_unparseable"], "{name}");
        assert_eq!(policy::reject_reply(&decision).1, [5, 6, 0], "{name}");
    }
}

#[test]
fn the_reply_never_quotes_the_message() {
    let marker = "Jan-Peeters-Kerkstraat-1-Wervik";
    let variants = [
        wire(&THUNDERBIRD.replace(B, &format!("{marker}-x")).replacen(
            "Beste collega,\n",
            &format!("Beste, zie bijlage. --{marker}-x--\n"),
            1,
        )),
        thunderbird_with(
            "Content-Type: application/x-7z-compressed;",
            &format!("Content-Type: ;{marker}/pdf;"),
        ),
        thunderbird_with(
            "multipart/mixed; boundary=",
            &format!("multipart/{marker}; x=\"\"; boundary*="),
        ),
        thunderbird_with(
            "Content-Transfer-Encoding: base64",
            &format!("Content-Transfer-Encoding: {marker}"),
        ),
        thunderbird_with(
            "name=\"verslag.7z\"",
            &format!("name=\"{marker}\"; name=\"x\""),
        ),
    ];
    for message in variants {
        let decision = decide(&message);
        assert_eq!(decision.verdict, Verdict::Reject);
        let (_, _, lines) = policy::reject_reply(&decision);
        let reply = lines.join("\n");
        assert!(!reply.contains(marker), "{reply}");
        assert!(
            !reply.to_ascii_lowercase().contains("kerkstraat"),
            "{reply}"
        );
        for reason in &decision.reasons {
            assert!(!reason.text.contains(marker));
        }
        assert!(!format!("{:?}", inspect::inspect(&message, &LIMITS)).contains(marker));
    }
}

#[test]
fn ordinary_mail_is_never_parsed() {
    let config = Config::load(&fixtures().join("sealgate-test.toml")).unwrap();
    let registry = Registry::new(&config.protocols, &config.policy);
    let rcpt = registry.classify(&Address::parse("iemand@gmail.com").unwrap().canonical());
    assert!(!policy::needs_inspection(std::slice::from_ref(&rcpt)));
    let (_, message, _) = cases().swap_remove(0);
    let decision = policy::evaluate(
        &registry,
        &[rcpt],
        &message,
        NaiveDate::from_ymd_opt(2025, 6, 2).unwrap(),
    );
    assert_eq!(decision.verdict, Verdict::Pass);
}
