//! Identifying numbers that must not travel in clear text: the Belgian national register
//! number (rijksregisternummer / INSZ) and bank account numbers (IBAN).
//!
//! Only numbers whose check digits are valid count, so ordinary numbers (phone numbers,
//! amounts, dossier numbers) rarely trip the rule. The value found is never returned: it would
//! end up in a reply or a log.
//!
//! People write these numbers in many ways, and mail programs rewrap and re-encode them, so
//! every text is first *normalised* ([`normalise`]): invisible characters (zero-width spaces,
//! soft hyphens, joiners, bidi marks, variation selectors, combining marks) are dropped, the
//! text goes through Unicode NFKC (full-width and other compatibility digits and letters
//! become ASCII), decimal digits of other scripts become ASCII digits, any run of separators
//! (white space and line breaks, `.` `,` `/` `-` `_`, hyphens and dashes, `>` quote marks at
//! the start of a line) becomes one space and any run of other characters one `#`. The
//! matchers then read digit groups joined by single spaces:
//!
//! - INSZ: any consecutive digit groups of one run whose digits add up to exactly 11
//!   (11, 6-5, 6-3-2, 2-2-2-3-2, 4-4-3, and whatever split a hard wrap makes), starting and
//!   ending at group boundaries so a match never takes digits out of a longer number.
//! - IBAN: two letters and two check digits at the start of a word, then letters and digits in
//!   groups; the length of the country (numeric-only countries may hold no letters), ending at
//!   a group boundary, mod 97.
//!
//! Cost: NFKC and the scans are single passes; the normalised copy holds at most a few bytes
//! per input character (NFKC expansions to ASCII are short, other runs collapse to one byte);
//! the INSZ window holds at most [`MAX_INSZ_GROUPS`] groups and each IBAN candidate reads at
//! most 34 characters. Time and memory are linear in the text, which the message size bounds.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use crate::inspect::html::{self, Piece};

/// Which kind of identifier was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identifier {
    NationalNumber,
    Iban,
}

/// The first valid identifier in `text`, if any.
pub fn find(text: &str) -> Option<Identifier> {
    find_normalised(&normalise(text))
}

/// The first valid identifier in HTML source: in its text, where every tag separates (so
/// `12<br>34` and `8507<span>3003328</span>` are read as groups of one number), in
/// `<title>`, and, each on its own, in every attribute value, style sheet, script and comment.
pub fn find_in_html(source: &str) -> Option<Identifier> {
    let mut text = String::with_capacity(source.len() / 2);
    let mut found = None;
    html::pieces(source, |piece, value| match piece {
        Piece::Text => {
            text.push_str(value);
            text.push('\n');
        }
        Piece::Attribute | Piece::Raw => {
            if found.is_none() {
                found = find(value);
            }
        }
    });
    found.or_else(|| find(&text))
}

fn find_normalised(normalised: &[u8]) -> Option<Identifier> {
    if contains_national_number(normalised) {
        Some(Identifier::NationalNumber)
    } else if contains_iban(normalised) {
        Some(Identifier::Iban)
    } else {
        None
    }
}

/// Digit groups one INSZ may span (2-2-2-3-2 is five; a hard wrap inside a group adds one).
pub const MAX_INSZ_GROUPS: usize = 7;
const INSZ_DIGITS: usize = 11;
/// The byte that stands for a run of separators in normalised text.
const SEPARATOR: u8 = b' ';
/// The byte that stands for a run of any other characters.
const OTHER: u8 = b'#';

/// Characters a reader does not see (or sees as nothing between two digits).
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{ad}' | '\u{34f}' | '\u{61c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
        | '\u{180b}'..='\u{180f}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}' | '\u{3164}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}'
        | '\u{ffa0}' | '\u{1bca0}'..='\u{1bca3}' | '\u{1d173}'..='\u{1d17a}'
        | '\u{e0000}'..='\u{e0fff}')
}

/// What people put between the groups of a number.
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '.' | ',' | '/' | '-' | '_' | '\u{b7}' | '\u{2010}'
                ..='\u{2015}' | '\u{2022}' | '\u{2043}' | '\u{2212}' | '\u{30fb}'
        )
}

fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// The digit zero of the decimal digit blocks NFKC leaves alone (Arabic-Indic, Devanagari,
/// Bengali, Thai, ...): a reader reads them as digits.
const DIGIT_ZEROS: [u32; 33] = [
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66,
    0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xAA50,
];

fn ascii_digit(c: char) -> Option<u8> {
    let code = u32::from(c);
    DIGIT_ZEROS
        .iter()
        .find(|&&zero| (zero..zero + 10).contains(&code))
        .and_then(|&zero| u8::try_from(code - zero).ok())
        .map(|d| b'0' + d)
}

/// `text` as the matchers read it: ASCII letters and digits, [`SEPARATOR`] for every run of
/// separators, [`OTHER`] for every run of anything else (see the module documentation).
pub fn normalise(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut line_break_in_run = false;
    for c in text.chars().filter(|&c| !is_invisible(c)).nfkc() {
        if is_invisible(c) || is_combining_mark(c) {
            continue;
        }
        let byte = if c.is_ascii_alphanumeric() {
            Some(c as u8)
        } else {
            ascii_digit(c)
        };
        if let Some(byte) = byte {
            out.push(byte);
            line_break_in_run = false;
        } else if is_separator(c) || (c == '>' && line_break_in_run) {
            line_break_in_run |= is_line_break(c);
            if out.last() != Some(&SEPARATOR) {
                out.push(SEPARATOR);
            }
        } else {
            line_break_in_run = false;
            if out.last() != Some(&OTHER) {
                out.push(OTHER);
            }
        }
    }
    out
}

/// Digit groups joined by single separators; every window of consecutive groups (at most
/// [`MAX_INSZ_GROUPS`]) with exactly 11 digits is a candidate.
fn contains_national_number(s: &[u8]) -> bool {
    let mut groups: std::collections::VecDeque<(usize, usize)> =
        std::collections::VecDeque::with_capacity(MAX_INSZ_GROUPS);
    let mut i = 0;
    while i < s.len() {
        if !s[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
        let joined = start >= 2 && s[start - 1] == SEPARATOR && s[start - 2].is_ascii_digit();
        if !joined {
            groups.clear();
        }
        if groups.len() == MAX_INSZ_GROUPS {
            groups.pop_front();
        }
        groups.push_back((start, i));
        let mut total = 0;
        for k in (0..groups.len()).rev() {
            let (a, b) = groups[k];
            total += b - a;
            if total > INSZ_DIGITS {
                break;
            }
            if total == INSZ_DIGITS {
                let digits: Vec<u8> = groups
                    .range(k..)
                    .flat_map(|&(a, b)| s[a..b].iter().copied())
                    .collect();
                if is_national_number_bytes(&digits) {
                    return true;
                }
                break;
            }
        }
    }
    false
}

/// Valid INSZ: a plausible date part (bis numbers add 20 or 40 to the month) and check digits
/// 97 - (first nine digits mod 97), with "2" in front of the nine digits for births from 2000.
pub fn is_national_number(digits: &str) -> bool {
    is_national_number_bytes(digits.as_bytes())
}

fn is_national_number_bytes(digits: &[u8]) -> bool {
    if digits.len() != INSZ_DIGITS || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let number = |s: &[u8]| s.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    let month = number(&digits[2..4]);
    let day = number(&digits[4..6]);
    let month_ok = month <= 12 || (20..=32).contains(&month) || (40..=52).contains(&month);
    if !month_ok || day > 31 {
        return false;
    }
    let base = number(&digits[..9]);
    let check = number(&digits[9..]);
    97 - base % 97 == check || 97 - (2_000_000_000 + base) % 97 == check
}

/// IBAN lengths per country (SWIFT IBAN registry). Countries not listed are accepted with any
/// length from 15 to 34 when the number ends at a word boundary.
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SC", 31),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
];

/// Countries whose IBAN holds digits only after the country code (SWIFT IBAN registry):
/// a letter in the account part ends the candidate.
const NUMERIC_IBAN_COUNTRIES: [&str; 24] = [
    "AE", "AT", "BA", "BE", "CZ", "DE", "DK", "EE", "ES", "FI", "FO", "GL", "HR", "HU", "IL", "LT",
    "NO", "PL", "PT", "RS", "SE", "SI", "SK", "TN",
];
/// Longest IBAN.
const MAX_IBAN: usize = 34;
/// Shortest IBAN of a country not in [`IBAN_LENGTHS`].
const MIN_IBAN: usize = 15;
/// Letters in one group of an IBAN written in groups ("WEST", "ABNA"): a longer word ends it.
const MAX_LETTER_GROUP: usize = 4;

fn contains_iban(s: &[u8]) -> bool {
    (0..s.len()).any(|i| iban_at(s, i))
}

/// An IBAN starting at `s[i]` (normalised text): two letters, two digits, then letters and
/// digits, in one block or in groups joined by single separators.
fn iban_at(s: &[u8], i: usize) -> bool {
    let starts = s.len() >= i + 4
        && (i == 0 || !s[i - 1].is_ascii_alphanumeric())
        && s[i].is_ascii_alphabetic()
        && s[i + 1].is_ascii_alphabetic()
        && s[i + 2].is_ascii_digit()
        && s[i + 3].is_ascii_digit();
    if !starts {
        return false;
    }
    let country = [s[i].to_ascii_uppercase(), s[i + 1].to_ascii_uppercase()];
    let country = std::str::from_utf8(&country).unwrap_or_default();
    let length = IBAN_LENGTHS
        .iter()
        .find(|(c, _)| *c == country)
        .map(|&(_, len)| len);
    let numeric = NUMERIC_IBAN_COUNTRIES.contains(&country);
    let mut body = [0u8; MAX_IBAN];
    let mut n = 0;
    let mut group = (0usize, 0usize); // (length, letters) of the current group
    let mut groups_regular = true; // every finished group has four characters
    let mut j = i;
    while n < MAX_IBAN {
        let Some(&b) = s.get(j) else {
            return false;
        };
        if b == SEPARATOR && n > 0 && s.get(j + 1).is_some_and(u8::is_ascii_alphanumeric) {
            groups_regular &= group.0 == 4;
            group = (0, 0);
            j += 1;
            continue;
        }
        if !b.is_ascii_alphanumeric() || (n >= 4 && numeric && !b.is_ascii_digit()) {
            return false;
        }
        group.0 += 1;
        if b.is_ascii_alphabetic() {
            group.1 += 1;
        }
        if n >= 4 && group.1 == group.0 && group.1 > MAX_LETTER_GROUP {
            return false;
        }
        body[n] = b.to_ascii_uppercase();
        n += 1;
        j += 1;
        let group_ends = !s.get(j).is_some_and(u8::is_ascii_alphanumeric);
        let candidate = std::str::from_utf8(&body[..n]).unwrap_or_default();
        match length {
            Some(len) if n == len => return group_ends && iban_checksum_ok(candidate),
            Some(_) => {}
            None => {
                if n >= MIN_IBAN && group_ends && groups_regular && iban_checksum_ok(candidate) {
                    return true;
                }
            }
        }
    }
    false
}

/// ISO 13616: move the first four characters to the end, letters to 10..35, mod 97 == 1.
pub fn iban_checksum_ok(iban: &str) -> bool {
    if iban.len() < 5 || !iban.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let rearranged = iban[4..].bytes().chain(iban[..4].bytes());
    let mut remainder: u32 = 0;
    for b in rearranged {
        let value = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            _ => u32::from(b.to_ascii_uppercase() - b'A') + 10,
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a valid INSZ for a date and serial, in either century.
    fn insz(yymmdd: &str, serial: &str, born_2000: bool) -> String {
        let nine: u64 = format!("{yymmdd}{serial}").parse().unwrap();
        let base = if born_2000 {
            2_000_000_000 + nine
        } else {
            nine
        };
        format!("{yymmdd}{serial}{:02}", 97 - base % 97)
    }

    #[test]
    fn national_numbers_in_all_spellings() {
        let before = insz("850730", "033", false);
        let after = insz("050212", "117", true);
        for n in [&before, &after] {
            assert!(is_national_number(n), "{n}");
            let (a, b, c, d, e) = (&n[0..2], &n[2..4], &n[4..6], &n[6..9], &n[9..]);
            for text in [
                format!("client {n} ok"),
                format!("RR: {a}.{b}.{c}-{d}.{e}."),
                format!("{a}{b}{c} {d} {e}"),
                format!("{a}{b}{c}-{d}-{e}"),
                format!("nr {a}{b}{c} {d}{e}"),
                format!("ref 12 34 {a}{b}{c} {d} {e}"),
            ] {
                assert_eq!(find(&text), Some(Identifier::NationalNumber), "{text}");
            }
        }
    }

    #[test]
    fn wrong_check_digits_and_other_numbers_pass() {
        let good = insz("850730", "033", false);
        let mut bad = good.clone();
        let last = bad.pop().unwrap();
        bad.push(if last == '9' {
            '0'
        } else {
            char::from(last as u8 + 1)
        });
        assert!(!is_national_number(&bad));
        for text in [
            format!("dossier {bad}"),
            "bel 0475 12 34 56 of 056 23 45 67".to_string(),
            "bedrag 1.234.567,89 euro op 12/03/2024".to_string(),
            "ondernemingsnummer 0212.345.678".to_string(),
        ] {
            assert_eq!(find(&text), None, "{text}");
        }
    }

    #[test]
    fn ibans_with_and_without_spaces() {
        for text in [
            "rekening BE68 5390 0754 7034 graag",
            "BE68539007547034",
            "IBAN: NL91ABNA0417164300.",
            "de91 1000 0000 0123 4567 89",
            "GB82-WEST-1234-5698-7654-32",
            "rekening BE68\u{a0}5390\u{a0}0754 7034",
        ] {
            assert_eq!(find(text), Some(Identifier::Iban), "{text}");
        }
        for text in ["BE68 5390 0754 7035", "BE12 onderwerp", "NL20 euro"] {
            assert_eq!(find(text), None, "{text}");
        }
    }
}
