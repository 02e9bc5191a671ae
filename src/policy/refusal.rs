//! The refusal reply a social worker reads: compact enough that no common MTA cuts it, Dutch
//! first, the fix once.
//!
//! The sending server turns sealgate's 550 into a bounce, and that is where staff read it.
//! Postfix keeps at most 2,048 characters of a multi-line reply and re-wraps its lines;
//! Exchange shows the first lines of the diagnostic. So the whole reply is bounded
//! ([`MAX_REPLY_BYTES`] on the wire, [`MAX_REPLY_LINES`] lines) whatever the number of reasons,
//! and ordered so that a cut, if any, takes the least useful part:
//!
//! ```text
//! 550-5.7.1 NL: <what is wrong, each reason in one short sentence> [sealgate: code code]
//! 550-5.7.1 EN: <the same in English>
//! 550-5.7.1 NL: Oplossing: <the 7-Zip steps once, then each other fix>
//! 550-5.7.1 EN: Fix: <the same in English>
//! 550 5.7.1 Info: <policy.help_url>
//! ```
//!
//! Reasons that follow from another are left out of the reply (the audit keeps them all):
//! `other_attachment` says "beside the archive" and means nothing when there is no archive,
//! and when the protocol is not in force no change to the message can help.
//! Texts are fixed: nothing from the message is ever quoted. The only variable parts are the
//! envelope addresses outside the protocol, which the sender typed and must see.

use std::collections::BTreeMap;

use super::texts::ascii_line;
use super::ReasonCode;

/// The whole reply on the wire: every line with its `550-5.7.1 ` prefix and CRLF.
pub const MAX_REPLY_BYTES: usize = 1000;
/// Lines of the reply.
pub const MAX_REPLY_LINES: usize = 5;
/// One line's text: RFC 5321 4.5.3.1.5 allows 512 bytes with the code and CRLF.
pub const MAX_LINE_TEXT: usize = 512 - LINE_OVERHEAD;
/// `550-5.7.1 ` before and CRLF after each line.
const LINE_OVERHEAD: usize = 12;
/// Bytes of addresses named in the unrelated-recipient sentence.
const MAX_NAMED_RECIPIENTS_BYTES: usize = 120;

/// The steps in 7-Zip, once for every archive reason.
/// (7-Zip's 7z format encrypts with AES-256 only: there is nothing to choose.)
const SEVEN_ZIP_NL: &str =
    "7-Zip > Toevoegen aan archief: 7z, Bestandsnamen versleutelen; wachtwoord per telefoon/sms.";
const SEVEN_ZIP_EN: &str = "7-Zip > Add to archive: 7z, Encrypt file names; password by phone/SMS.";

/// One reason in the reply: what is wrong and what to do, in both languages.
struct Text {
    nl: &'static str,
    en: &'static str,
    /// The 7-Zip steps fix it.
    seven_zip: bool,
    fix_nl: &'static str,
    fix_en: &'static str,
}

const fn text(nl: &'static str, en: &'static str, seven_zip: bool) -> Text {
    Text {
        nl,
        en,
        seven_zip,
        fix_nl: "",
        fix_en: "",
    }
}

const fn with_fix(
    nl: &'static str,
    en: &'static str,
    fix_nl: &'static str,
    fix_en: &'static str,
) -> Text {
    Text {
        nl,
        en,
        seven_zip: false,
        fix_nl,
        fix_en,
    }
}

fn builtin(code: ReasonCode) -> Text {
    use ReasonCode as R;
    match code {
        R::ProtocolNotInForce => with_fix(
            "Het protocol voor deze mailbox is vandaag niet van kracht.",
            "The protocol for this mailbox is not in force today.",
            "Stuur niets; vraag raad aan de DPO.",
            "Send nothing; ask the DPO.",
        ),
        R::UnrelatedRecipient => with_fix(
            // The addresses once, in the first line (see UNRELATED_EN_NAMED).
            "Ontvangers buiten het protocol: {recipients}.",
            "Recipients outside the protocol.",
            "Mail hen apart.",
            "Mail them separately.",
        ),
        R::SenderNotAllowed => with_fix(
            "Afzender niet toegelaten (protocol art. 5).",
            "Sender not allowed (protocol art. 5).",
            "Laat een bevoegd teamlid sturen.",
            "Have an authorised colleague send it.",
        ),
        R::MimeUnparseable => with_fix(
            "De opbouw (MIME) van het bericht is onleesbaar.",
            "The message structure (MIME) cannot be read.",
            "Verstuur opnieuw vanuit uw gewone mailprogramma.",
            "Send again from your usual mail program.",
        ),
        R::MimeAmbiguous => with_fix(
            "De opbouw (MIME) van het bericht is dubbelzinnig.",
            "The message structure (MIME) is ambiguous.",
            "Verstuur opnieuw vanuit uw gewone mailprogramma; archiefnaam zonder accenten.",
            "Send again from your usual mail program; archive name without accents.",
        ),
        R::MimeTooComplex => with_fix(
            "Het bericht is te complex om na te kijken.",
            "The message is too complex to check.",
            "Stuur een eenvoudig bericht met enkel het archief.",
            "Send a plain message with only the archive.",
        ),
        R::NoArchive => text(
            "Geen versleuteld 7z-archief.",
            "No encrypted 7z archive.",
            true,
        ),
        R::NotSevenZ => text(
            "Archief is geen 7z (bv. zip).",
            "Archive is not 7z (e.g. zip).",
            true,
        ),
        R::ArchiveNotEncrypted => text(
            "Het 7z-archief is niet versleuteld.",
            "The 7z archive is not encrypted.",
            true,
        ),
        R::ArchivePartiallyEncrypted => text(
            "Het 7z-archief is maar deels versleuteld.",
            "The 7z archive is only partly encrypted.",
            true,
        ),
        R::ArchiveCorrupt => text(
            "Het 7z-archief is beschadigd of in delen.",
            "The 7z archive is damaged or split.",
            true,
        ),
        R::HeaderNotEncrypted => text(
            "Bestandsnamen in het archief zijn leesbaar.",
            "File names in the archive can be read.",
            true,
        ),
        R::WeakKeyDerivation => text(
            "Zwakke sleutel: archief niet met 7-Zip gemaakt.",
            "Weak key: archive not made with 7-Zip.",
            true,
        ),
        R::PasswordInMessage => with_fix(
            "Wachtwoord staat in het bericht.",
            "Password is in the message.",
            "Nieuw archief, nieuw wachtwoord.",
            "New archive, new password.",
        ),
        R::IdentifierInText => text(
            "Rijksregisternummer of IBAN buiten het archief.",
            "National number or IBAN outside the archive.",
            false,
        ),
        R::OtherAttachment => with_fix(
            "Andere bijlage naast het 7z-archief (ook een logo).",
            "Another file beside the 7z archive (a logo too).",
            "Alles in het archief.",
            "All in the archive.",
        ),
        R::Tnef => text(
            "Outlook stuurde winmail.dat: kies opmaak HTML.",
            "Outlook sent winmail.dat: choose HTML format.",
            false,
        ),
        R::UnjudgeableCryptoBlob => with_fix(
            "S/MIME of PGP kan de gateway niet nakijken.",
            "The gateway cannot check S/MIME or PGP.",
            "Zonder S/MIME of PGP.",
            "Without S/MIME or PGP.",
        ),
    }
}

/// The order in the reply: what blocks the message outright first (no change to the message
/// helps: the protocol, who sends, who else receives), then what tells the sender the most
/// about the fix.
fn rank(code: ReasonCode) -> u8 {
    use ReasonCode as R;
    match code {
        R::ProtocolNotInForce => 0,
        R::SenderNotAllowed | R::UnrelatedRecipient => 1,
        R::MimeUnparseable | R::MimeTooComplex | R::MimeAmbiguous => 2,
        R::NoArchive | R::NotSevenZ => 3,
        R::ArchiveNotEncrypted | R::ArchivePartiallyEncrypted | R::ArchiveCorrupt => 4,
        R::HeaderNotEncrypted | R::WeakKeyDerivation => 5,
        R::PasswordInMessage => 6,
        R::IdentifierInText => 7,
        R::OtherAttachment | R::Tnef | R::UnjudgeableCryptoBlob => 8,
    }
}

/// The reasons worth a sentence: implied ones dropped, most useful first.
pub fn reasons_to_explain(found: &[ReasonCode]) -> Vec<ReasonCode> {
    let mut kept: Vec<ReasonCode> = found.to_vec();
    kept.sort_by_key(|&c| (rank(c), c));
    kept.dedup();
    if kept.contains(&ReasonCode::ProtocolNotInForce) {
        return vec![ReasonCode::ProtocolNotInForce];
    }
    if kept.contains(&ReasonCode::NoArchive) || kept.contains(&ReasonCode::NotSevenZ) {
        kept.retain(|&c| c != ReasonCode::OtherAttachment);
    }
    kept
}

/// What the reply is built from.
#[derive(Debug, Clone, Copy)]
pub struct RefusalFacts<'a> {
    pub reasons: &'a [ReasonCode],
    /// Envelope recipients outside the protocol, for `unrelated_recipient`.
    pub unrelated_recipients: &'a [String],
    /// `policy.help_url`.
    pub help_url: Option<&'a str>,
    /// The titles of the protocols involved, for an override's `{protocol}`.
    pub protocol: &'a str,
    /// `policy.reject_texts`: by reason code, the Dutch sentence, a newline, the English one.
    pub overrides: &'a BTreeMap<String, String>,
}

/// A composed refusal: the enhanced status code and the text lines, without code prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub enhanced: [u8; 3],
    pub lines: Vec<String>,
}

impl Refusal {
    /// Bytes on the wire with `550-5.7.1 ` prefixes and CRLFs.
    pub fn wire_len(&self) -> usize {
        self.lines.iter().map(|l| l.len() + LINE_OVERHEAD).sum()
    }

    /// Within every bound: the whole reply, and each line.
    pub fn fits(&self) -> bool {
        self.wire_len() <= MAX_REPLY_BYTES && self.lines.iter().all(|l| l.len() <= MAX_LINE_TEXT)
    }
}

/// One reason's sentences after overrides and placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentences {
    pub nl: String,
    pub en: String,
}

/// The sentence of every reason worth explaining, most useful first (for the notice, which has
/// room for all of them).
pub fn explain(facts: &RefusalFacts<'_>) -> Vec<Sentences> {
    reasons_to_explain(facts.reasons)
        .into_iter()
        .map(|code| sentences(code, facts, Room::Notice))
        .collect()
}

/// What to do about `found`, in Dutch and English: the 7-Zip steps once, then each other fix.
pub fn what_to_do(found: &[ReasonCode]) -> (String, String) {
    fixes(&reasons_to_explain(found))
}

/// Where sentences go: the bounded reply, or the notice, which has room for more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Room {
    Reply,
    Notice,
}

/// `unrelated_recipient` in English for the notice: the reply names the addresses once, in its
/// Dutch line, because twice would cost their length again.
const UNRELATED_EN_NAMED: &str = "Recipients outside the protocol: {recipients}.";

fn sentences(code: ReasonCode, facts: &RefusalFacts<'_>, room: Room) -> Sentences {
    let builtin = builtin(code);
    let (nl, en) = match facts.overrides.get(code.as_str()) {
        Some(text) => {
            let mut lines = text.lines();
            let nl = lines.next().unwrap_or_default().to_string();
            let en = lines.next().unwrap_or_default().to_string();
            (nl, en)
        }
        None if code == ReasonCode::UnrelatedRecipient && room == Room::Notice => {
            (builtin.nl.to_string(), UNRELATED_EN_NAMED.to_string())
        }
        None => (builtin.nl.to_string(), builtin.en.to_string()),
    };
    let named = named_recipients(facts.unrelated_recipients);
    let fill = |text: &str| {
        ascii_line(
            &text
                .replace("{recipients}", &named)
                .replace("{protocol}", facts.protocol),
        )
    };
    Sentences {
        nl: fill(&nl),
        en: fill(&en),
    }
}

/// The first addresses, within [`MAX_NAMED_RECIPIENTS_BYTES`], and how many more.
fn named_recipients(addresses: &[String]) -> String {
    let mut named = String::new();
    let mut shown = 0;
    for address in addresses {
        let extra = if named.is_empty() { 0 } else { 2 };
        if named.len() + extra + address.len() > MAX_NAMED_RECIPIENTS_BYTES {
            break;
        }
        if !named.is_empty() {
            named.push_str(", ");
        }
        named.push_str(address);
        shown += 1;
    }
    match addresses.len() - shown {
        0 => named,
        more if named.is_empty() => format!("{more} addresses"),
        more => format!("{named} (+{more})"),
    }
}

/// The reply for a refused protected message.
pub fn compose(facts: &RefusalFacts<'_>) -> Refusal {
    let explained = reasons_to_explain(facts.reasons);
    let enhanced = if !explained.is_empty() && explained.iter().all(|&c| is_structure(c)) {
        [5, 6, 0]
    } else {
        [5, 7, 1]
    };
    let sentences: Vec<Sentences> = explained
        .iter()
        .map(|&c| sentences(c, facts, Room::Reply))
        .collect();
    // Sentences are left out from the least useful end until the reply fits.
    for shown in (0..=explained.len()).rev() {
        let refusal = Refusal {
            enhanced,
            lines: lines(&explained, &sentences[..shown], facts.help_url),
        };
        if refusal.fits() {
            return refusal;
        }
    }
    Refusal {
        enhanced,
        lines: vec![fallback_line(facts.reasons)],
    }
}

/// The MIME structure alone is at fault: 5.6.0 (media error) rather than 5.7.1.
fn is_structure(code: ReasonCode) -> bool {
    matches!(
        code,
        ReasonCode::MimeUnparseable | ReasonCode::MimeTooComplex | ReasonCode::MimeAmbiguous
    )
}

/// The reply with the sentences given (those of the first reasons; codes are always all named).
fn lines(explained: &[ReasonCode], sentences: &[Sentences], help_url: Option<&str>) -> Vec<String> {
    let shown = sentences.len();
    let hidden = explained.len() - shown;
    let more = |word: &str| {
        if hidden == 0 {
            String::new()
        } else {
            format!(" (+{hidden} {word})")
        }
    };
    let codes = explained
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let what_nl = join(sentences.iter().map(|s| s.nl.as_str()));
    let what_en = join(sentences.iter().map(|s| s.en.as_str()));
    let mut out = vec![
        format!(
            "NL: Geweigerd: {what_nl}{} [sealgate: {codes}]",
            more("meer")
        ),
        format!("EN: Refused: {what_en}{}", more("more")),
    ];
    let (fix_nl, fix_en) = fixes(&explained[..shown]);
    if !fix_nl.is_empty() {
        out.push(format!("NL: Oplossing: {fix_nl}"));
        out.push(format!("EN: Fix: {fix_en}"));
    }
    if let Some(url) = help_url {
        out.push(format!("Info: {}", ascii_line(url)));
    }
    out.truncate(MAX_REPLY_LINES);
    out
}

fn join<'a>(parts: impl Iterator<Item = &'a str>) -> String {
    parts
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The fixes: the 7-Zip steps once if any reason needs them, then each other fix once.
fn fixes(codes: &[ReasonCode]) -> (String, String) {
    let texts: Vec<Text> = codes.iter().map(|&c| builtin(c)).collect();
    let mut nl = Vec::new();
    let mut en = Vec::new();
    if texts.iter().any(|t| t.seven_zip) {
        nl.push(SEVEN_ZIP_NL);
        en.push(SEVEN_ZIP_EN);
    }
    for t in &texts {
        if !t.fix_nl.is_empty() && !nl.contains(&t.fix_nl) {
            nl.push(t.fix_nl);
            en.push(t.fix_en);
        }
    }
    (nl.join(" "), en.join(" "))
}

/// A `policy.reject_texts` entry that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    #[error("policy.reject_texts.{0}: not a reason code (see `sealgate check --help` or docs/policy.md)")]
    UnknownCode(String),
    #[error("policy.reject_texts.{0}: give one Dutch line and one English line, nothing more")]
    Shape(String),
    #[error("policy.reject_texts.{code}: the refusal would be {bytes} bytes or have a line over {MAX_LINE_TEXT}; at most {MAX_REPLY_BYTES} bytes fit in a reply that no mail server cuts")]
    TooLong { code: String, bytes: usize },
}

/// Checks every override: a known reason code, two lines, and a reply for that reason alone
/// (with the help link) that keeps within the bound.
pub fn check_overrides(
    overrides: &BTreeMap<String, String>,
    help_url: Option<&str>,
) -> Result<(), OverrideError> {
    for (key, text) in overrides {
        let code = ReasonCode::parse(key).ok_or_else(|| OverrideError::UnknownCode(key.clone()))?;
        if text.lines().count() > 2 || text.trim().is_empty() {
            return Err(OverrideError::Shape(key.clone()));
        }
        let reasons = [code];
        let unrelated = ["someone.outside@example.org".to_string()];
        let facts = RefusalFacts {
            reasons: &reasons,
            unrelated_recipients: &unrelated,
            help_url,
            protocol: "P",
            overrides,
        };
        let explained = reasons_to_explain(&reasons);
        let all: Vec<Sentences> = explained
            .iter()
            .map(|&c| sentences(c, &facts, Room::Reply))
            .collect();
        let full = Refusal {
            enhanced: [5, 7, 1],
            lines: lines(&explained, &all, help_url),
        };
        if !full.fits() {
            return Err(OverrideError::TooLong {
                code: key.clone(),
                bytes: full.wire_len(),
            });
        }
    }
    Ok(())
}

/// When even the codes alone do not fit (not reachable with the built-in texts).
fn fallback_line(codes: &[ReasonCode]) -> String {
    format!(
        "NL: Bericht geweigerd / EN: Message refused [sealgate: {} reasons]",
        codes.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compose_for(codes: &[ReasonCode]) -> Refusal {
        let overrides = BTreeMap::new();
        let unrelated = vec!["extern@gmail.com".to_string()];
        compose(&RefusalFacts {
            reasons: codes,
            unrelated_recipients: &unrelated,
            help_url: Some("https://intranet.opgroeien.be/7zip"),
            protocol: "P",
            overrides: &overrides,
        })
    }

    #[test]
    fn every_combination_of_reasons_fits_and_names_every_code() {
        let all = ReasonCode::ALL;
        assert!(all.len() < 24, "2^n combinations stay cheap");
        for mask in 1u32..(1 << all.len()) {
            let codes: Vec<ReasonCode> = (0..all.len())
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| all[i])
                .collect();
            let refusal = compose_for(&codes);
            assert!(refusal.fits(), "{codes:?}");
            assert!(refusal.lines.len() <= MAX_REPLY_LINES, "{codes:?}");
            assert!(refusal.lines.iter().all(|l| l.is_ascii()), "{codes:?}");
            assert!(refusal.lines[0].starts_with("NL: "), "{codes:?}");
            for code in reasons_to_explain(&codes) {
                assert!(refusal.lines[0].contains(code.as_str()), "{codes:?}");
            }
        }
    }

    /// Every sentence of `codes` (those worth explaining) is in the reply, none left out.
    fn assert_explained_in_full(refusal: &Refusal, codes: &[ReasonCode], recipient: &str) {
        let text = refusal.lines.join("\n");
        for code in reasons_to_explain(codes) {
            let t = builtin(code);
            for sentence in [t.nl, t.en] {
                assert!(
                    text.contains(&sentence.replace("{recipients}", recipient)),
                    "{code:?} of {codes:?}: {text}"
                );
            }
        }
        assert!(!text.contains("(+"), "{codes:?}: {text}");
        assert!(refusal.fits(), "{codes:?}: {}", refusal.wire_len());
    }

    #[test]
    fn five_common_reasons_are_explained_in_full() {
        use ReasonCode as R;
        // The second set is what tests/refusal_bounce_postfix.rs sends through Postfix: a PDF
        // beside an archive with visible names, its password and an IBAN in the text, an
        // external Cc.
        for codes in [
            [
                R::NoArchive,
                R::IdentifierInText,
                R::UnrelatedRecipient,
                R::PasswordInMessage,
                R::Tnef,
            ],
            [
                R::UnrelatedRecipient,
                R::HeaderNotEncrypted,
                R::PasswordInMessage,
                R::IdentifierInText,
                R::OtherAttachment,
            ],
        ] {
            let refusal = compose_for(&codes);
            assert_explained_in_full(&refusal, &codes, "extern@gmail.com");
            let text = refusal.lines.join("\n");
            assert_eq!(
                text.matches("7-Zip > ").count(),
                2,
                "steps once per language"
            );
            assert!(refusal.lines.last().unwrap().starts_with("Info: https://"));
        }
    }

    #[test]
    fn any_four_reasons_are_explained_in_full_with_a_long_address_and_link() {
        let recipient = "jan.janssens.extern@gmail.com";
        let unrelated = vec![recipient.to_string()];
        let overrides = BTreeMap::new();
        // Structure and protocol reasons stand alone in practice (nothing else is judged).
        let content: Vec<ReasonCode> = ReasonCode::ALL
            .into_iter()
            .filter(|&c| !is_structure(c) && c != ReasonCode::ProtocolNotInForce)
            .collect();
        let n = content.len();
        for mask in 1u32..(1 << n) {
            if mask.count_ones() > 4 {
                continue;
            }
            let codes: Vec<ReasonCode> = (0..n)
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| content[i])
                .collect();
            let refusal = compose(&RefusalFacts {
                reasons: &codes,
                unrelated_recipients: &unrelated,
                help_url: Some("https://intranet.opgroeien.be/veilig-mailen/7zip"),
                protocol: "P",
                overrides: &overrides,
            });
            assert_explained_in_full(&refusal, &codes, recipient);
        }
    }

    #[test]
    fn the_reply_names_external_addresses_once_and_the_notice_in_both_languages() {
        let overrides = BTreeMap::new();
        let unrelated = vec!["extern@gmail.com".to_string()];
        let facts = RefusalFacts {
            reasons: &[ReasonCode::UnrelatedRecipient],
            unrelated_recipients: &unrelated,
            help_url: None,
            protocol: "P",
            overrides: &overrides,
        };
        assert_eq!(
            compose(&facts)
                .lines
                .join(" ")
                .matches("extern@gmail.com")
                .count(),
            1
        );
        let notice = explain(&facts);
        assert!(notice[0].nl.contains("extern@gmail.com"), "{notice:?}");
        assert!(notice[0].en.contains("extern@gmail.com"), "{notice:?}");
    }

    #[test]
    fn implied_reasons_are_not_explained() {
        use ReasonCode as R;
        assert_eq!(
            reasons_to_explain(&[R::OtherAttachment, R::NoArchive]),
            [R::NoArchive]
        );
        assert_eq!(
            reasons_to_explain(&[R::IdentifierInText, R::ProtocolNotInForce]),
            [R::ProtocolNotInForce]
        );
        let refusal = compose_for(&[R::OtherAttachment, R::NoArchive]);
        assert!(!refusal.lines[0].contains("other_attachment"));
        assert!(!refusal.lines.join(" ").contains("beside the 7z archive"));
    }

    #[test]
    fn structure_alone_is_5_6_0() {
        assert_eq!(
            compose_for(&[ReasonCode::MimeTooComplex]).enhanced,
            [5, 6, 0]
        );
        assert_eq!(
            compose_for(&[ReasonCode::MimeTooComplex, ReasonCode::NoArchive]).enhanced,
            [5, 7, 1]
        );
    }

    #[test]
    fn many_recipients_are_counted_not_listed() {
        let overrides = BTreeMap::new();
        let unrelated: Vec<String> = (0..200)
            .map(|i| format!("persoon{i}@example.org"))
            .collect();
        let refusal = compose(&RefusalFacts {
            reasons: &[ReasonCode::UnrelatedRecipient],
            unrelated_recipients: &unrelated,
            help_url: None,
            protocol: "P",
            overrides: &overrides,
        });
        assert!(refusal.wire_len() <= MAX_REPLY_BYTES);
        assert!(refusal.lines[0].contains("persoon0@example.org"));
        assert!(refusal.lines[0].contains("(+"), "{:?}", refusal.lines);
    }

    #[test]
    fn overrides_are_checked() {
        let mut overrides = BTreeMap::new();
        overrides.insert("no_archive".to_string(), "Geen 7z.\nNo 7z.".to_string());
        assert_eq!(check_overrides(&overrides, None), Ok(()));
        overrides.insert("no_archiv".to_string(), "x".to_string());
        assert!(matches!(
            check_overrides(&overrides, None),
            Err(OverrideError::UnknownCode(_))
        ));
        overrides.remove("no_archiv");
        overrides.insert("tnef".to_string(), "a\nb\nc".to_string());
        assert!(matches!(
            check_overrides(&overrides, None),
            Err(OverrideError::Shape(_))
        ));
        overrides.insert(
            "tnef".to_string(),
            format!("{}\nshort", "lang ".repeat(200)),
        );
        assert!(matches!(
            check_overrides(&overrides, None),
            Err(OverrideError::TooLong { .. })
        ));
    }

    #[test]
    fn overrides_replace_the_sentences() {
        let mut overrides = BTreeMap::new();
        overrides.insert(
            "no_archive".to_string(),
            "Geen 7z, zie intranet.\nNo 7z, see the intranet.".to_string(),
        );
        let refusal = compose(&RefusalFacts {
            reasons: &[ReasonCode::NoArchive],
            unrelated_recipients: &[],
            help_url: None,
            protocol: "P",
            overrides: &overrides,
        });
        assert!(refusal.lines[0].contains("Geen 7z, zie intranet."));
        assert!(refusal.lines[1].contains("No 7z, see the intranet."));
    }
}
