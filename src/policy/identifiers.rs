//! Identifying numbers that must not travel in clear text: the Belgian national register
//! number (rijksregisternummer / INSZ) and bank account numbers (IBAN).
//!
//! Only numbers whose check digits are valid count, so ordinary numbers (phone numbers,
//! amounts, dossier numbers) rarely trip the rule. The value found is never returned: it would
//! end up in a reply or a log.
//!
//! People write these numbers in many ways, and mail programs rewrap and re-encode them, so
//! every text is first *normalised* ([`normalise`]): invisible characters (zero-width spaces,
//! soft hyphens, joiners, bidi marks, variation selectors, combining marks) are dropped; the
//! text goes through Unicode compatibility normalisation (full-width and other compatibility
//! digits and letters become ASCII; computed as NFKD with the combining marks dropped: NFKC's
//! mapping without a recomposition that would only restore the dropped marks, and much
//! cheaper on adversarial text such as U+FDFA); decimal digits of other scripts become ASCII
//! digits; any run of separators (white space and line breaks, `.` `,` `/` `-` `_`, hyphens
//! and dashes, `>` quote marks at the start of a line) becomes one byte that keeps its *kind*,
//! and any run of other characters one `#`. The matchers then read digit groups:
//!
//! - INSZ: consecutive digit groups with exactly 11 digits, written in one of the shapes people
//!   use ([`INSZ_SHAPES`]; a line break may also split a group), that do not cut a longer
//!   number (see `insz_window`), with valid check digits.
//! - IBAN: two letters and two check digits at the start of a word, then letters and digits in
//!   one block or in groups of four; the length of the country (numeric-only countries may
//!   hold no letters), ending at a group boundary, mod 97.
//!
//! Cost: the normalisation and the scans are single passes; the normalised copy holds at most
//! a few bytes per input character (expansions to ASCII are short, other runs collapse to one
//! byte); the INSZ window holds at most [`MAX_INSZ_GROUPS`] groups and each IBAN candidate
//! reads at most 34 characters and 34 separators. Time and memory are linear in the text,
//! which the message size bounds.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use crate::envelope::is_invisible;
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

/// The first valid identifier in HTML source: in its text as a reader sees it (inline tags
/// join, `8507<span>3003328</span>` is one number; other tags break the line, `12<br>34` is
/// read as two groups), in `<title>`, and, each on its own, in every attribute value, style
/// sheet, script and comment.
pub fn find_in_html(source: &str) -> Option<Identifier> {
    let mut text = String::with_capacity(source.len() / 2);
    let mut found = None;
    html::pieces(source, |piece, value| match piece {
        Piece::Text => text.push_str(value),
        Piece::Tag => {
            if !html::is_inline(value) {
                text.push('\n');
            }
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

/// Digit groups one INSZ may span (2-2-2-3-2 is five; hard wraps inside groups add more).
pub const MAX_INSZ_GROUPS: usize = 8;
const INSZ_DIGITS: usize = 11;
/// Kinds of separator (other than line breaks) within one INSZ: `85.07.30-033.28` has two.
pub const MAX_SEPARATOR_KINDS: usize = 2;
/// Line breaks within one INSZ: a hard wrap and a `<br>`, say.
pub const MAX_LINE_BREAKS: usize = 2;
/// How people group the 11 digits: 85073003328, 850730 03328, 850730-033-28,
/// 85.07.30-033.28, 8507 3003 328, 85.07.30-03328, 850730033-28, 850 730 033 28.
const INSZ_SHAPES: [&[usize]; 8] = [
    &[11],
    &[6, 5],
    &[6, 3, 2],
    &[2, 2, 2, 3, 2],
    &[4, 4, 3],
    &[2, 2, 2, 5],
    &[9, 2],
    &[3, 3, 3, 2],
];
/// The byte that stands for a run of any characters other than letters, digits, `+` and
/// separators.
const OTHER: u8 = b'#';
/// A separator run becomes one byte with the high bit set: its *kind*. [`LINE_BREAK`] marks
/// runs that hold a line break (or a tag: HTML text pieces are joined by line breaks); the low
/// bits tell runs apart: each common run has its own, the others share the rest by hash.
const SEPARATOR_BIT: u8 = 0x80;
const LINE_BREAK: u8 = 0x40;
const KIND_IDS: u64 = 0x1F;
const COMMON_SEPARATORS: [&str; 16] = [
    " ",
    ".",
    ",",
    "/",
    "-",
    "\n",
    "\t",
    "_",
    ". ",
    ", ",
    " - ",
    "  ",
    " / ",
    "\u{2013}",
    " \u{2013} ",
    "\n\n",
];
/// The kind of a run that is a single `.` (dotted quads are IPv4 addresses, not INSZ).
const DOT: u8 = SEPARATOR_BIT | 2;
/// Characters of a separator run that decide its kind (longer runs are told apart by these
/// and their length).
const MAX_KIND_CHARS: usize = 8;

fn is_separator_kind(b: u8) -> bool {
    b & SEPARATOR_BIT != 0
}

/// What people put between the groups of a number (besides white space and the hyphens and
/// dashes U+2010..U+2015): ASCII punctuation, middle dots, bullets, fraction and division
/// slashes, the minus sign.
const SEPARATOR_CHARS: [char; 14] = [
    '.', ',', '/', '-', '_', '\u{b7}', '\u{2d7}', '\u{2022}', '\u{2027}', '\u{2043}', '\u{2044}',
    '\u{2212}', '\u{2215}', '\u{2219}',
];

fn is_separator(c: char) -> bool {
    c.is_whitespace() || SEPARATOR_CHARS.contains(&c) || ('\u{2010}'..='\u{2015}').contains(&c)
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
    if !(DIGIT_ZEROS[0]..DIGIT_ZEROS[DIGIT_ZEROS.len() - 1] + 10).contains(&code) {
        return None;
    }
    DIGIT_ZEROS
        .iter()
        .find(|&&zero| (zero..zero + 10).contains(&code))
        .and_then(|&zero| u8::try_from(code - zero).ok())
        .map(|d| b'0' + d)
}

/// One run of separators, read into its kind.
#[derive(Default)]
struct SeparatorRun {
    chars: String,
    length: usize,
    line_break: bool,
}

impl SeparatorRun {
    fn add(&mut self, c: char) {
        // CR, LF and the other line ends are one line break (the caller drops the LF of a
        // CR LF); no-break and other spaces are spaces (NFKC).
        let c = match c {
            '\r' | '\u{b}' | '\u{c}' | '\u{85}' | '\u{2028}' | '\u{2029}' => '\n',
            c if c.is_whitespace() && c != '\n' && c != '\t' => ' ',
            c => c,
        };
        self.line_break |= c == '\n';
        self.length += 1;
        if self.length <= MAX_KIND_CHARS {
            self.chars.push(c);
        }
    }

    fn kind(&self) -> u8 {
        let id = match COMMON_SEPARATORS.iter().position(|c| *c == self.chars) {
            Some(i) => i as u64 + 1,
            None => {
                let length = u8::try_from(self.length.min(255)).unwrap_or(u8::MAX);
                let hash = self
                    .chars
                    .bytes()
                    .chain(std::iter::once(length))
                    .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                    });
                let common = COMMON_SEPARATORS.len() as u64;
                common + 1 + hash % (KIND_IDS - common)
            }
        };
        let line_break = if self.line_break { LINE_BREAK } else { 0 };
        SEPARATOR_BIT | line_break | u8::try_from(id & KIND_IDS).unwrap_or(1)
    }
}

/// `text` as the matchers read it: ASCII letters and digits, `+`, one byte with the high bit
/// set for every run of separators (its kind), [`OTHER`] for every run of anything else (see
/// the module documentation).
fn normalise(text: &str) -> Vec<u8> {
    let mut normaliser = Normaliser {
        out: Vec::with_capacity(text.len()),
        run: None,
        previous_cr: false,
    };
    if text.is_ascii() {
        // Compatibility normalisation leaves ASCII as it is.
        text.chars().for_each(|c| normaliser.push(c));
    } else {
        text.chars()
            .filter(|&c| !is_invisible(c))
            .nfkd()
            .filter(|&c| !is_invisible(c) && !is_combining_mark(c))
            .for_each(|c| normaliser.push(c));
    }
    normaliser.finish()
}

/// The state of [`normalise`] between two characters.
struct Normaliser {
    out: Vec<u8>,
    run: Option<SeparatorRun>,
    previous_cr: bool,
}

impl Normaliser {
    fn push(&mut self, c: char) {
        let cr_lf = self.previous_cr && c == '\n';
        self.previous_cr = c == '\r';
        let byte = if c.is_ascii_alphanumeric() || c == '+' {
            Some(c as u8)
        } else if c.is_ascii() {
            None
        } else {
            ascii_digit(c)
        };
        let quote_mark = c == '>' && self.run.as_ref().is_some_and(|r| r.line_break);
        if byte.is_none() && (is_separator(c) || quote_mark) {
            if !cr_lf {
                self.run.get_or_insert_with(SeparatorRun::default).add(c);
            }
            return;
        }
        if let Some(finished) = self.run.take() {
            self.out.push(finished.kind());
        }
        match byte {
            Some(byte) => self.out.push(byte),
            None if self.out.last() != Some(&OTHER) => self.out.push(OTHER),
            None => {}
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if let Some(finished) = self.run.take() {
            self.out.push(finished.kind());
        }
        self.out
    }
}

/// One digit group: where it is and the kind of separator run joining it to the group
/// before (0: not joined).
#[derive(Clone, Copy)]
struct Group {
    start: usize,
    end: usize,
    joined_by: u8,
}

type Groups = std::collections::VecDeque<Group>;

/// Digit groups joined by single separator runs; see [`insz_window`] for which windows of
/// them count.
fn contains_national_number(s: &[u8]) -> bool {
    let mut groups = Groups::with_capacity(MAX_INSZ_GROUPS);
    let mut i = 0;
    loop {
        while i < s.len() && !s[i].is_ascii_digit() {
            i += 1;
        }
        if i >= s.len() {
            return insz_window(s, &groups, 0);
        }
        let start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
        let joined_by = match start.checked_sub(2).map(|p| (s[p], s[p + 1])) {
            Some((digit, kind)) if digit.is_ascii_digit() && is_separator_kind(kind) => kind,
            _ => 0,
        };
        if insz_window(s, &groups, joined_by) {
            return true;
        }
        if joined_by == 0 {
            groups.clear();
        }
        if groups.len() == MAX_INSZ_GROUPS {
            groups.pop_front();
        }
        groups.push_back(Group {
            start,
            end: i,
            joined_by,
        });
    }
}

/// Whether the window of exactly 11 digits that ends with the last group (if there is one) is
/// an INSZ, judged once the separator after it (`after`, 0 for none) is known. It must:
/// - have valid check digits and a plausible date ([`is_national_number`]);
/// - be written in one of the [`INSZ_SHAPES`], where a line break (a wrap, a tag) may also
///   split a group or stand for a separator;
/// - not cut a longer number: not be joined to the group before or after it by a kind of
///   separator it uses inside (`0470 12 34 56, 0470 98 76 54` holds none; neither does
///   `ref 12 34 850730 033 28`: a reader cannot tell where it starts either, but
///   `ref 2026/12 850730-033-28` holds one);
/// - use at most [`MAX_SEPARATOR_KINDS`] kinds of separator within a line (`85.07.30-033.28`
///   uses two) and at most [`MAX_LINE_BREAKS`] line breaks (a wrap, a `<br>`): more is a list
///   or a table of numbers;
/// - not follow a `+` (an international phone number: +32 470 12 34 56 has 11 digits) and not
///   be a dotted quad (an IPv4 address).
fn insz_window(s: &[u8], groups: &Groups, after: u8) -> bool {
    let mut total = 0;
    for k in (0..groups.len()).rev() {
        total += groups[k].end - groups[k].start;
        if total < INSZ_DIGITS {
            continue;
        }
        if total > INSZ_DIGITS {
            return false;
        }
        let window: Vec<Group> = groups.range(k..).copied().collect();
        let digits: Vec<u8> = window
            .iter()
            .flat_map(|g| s[g.start..g.end].iter().copied())
            .collect();
        if !is_national_number_bytes(&digits) {
            return false;
        }
        let first = window[0];
        if first.start > 0 && s[first.start - 1] == b'+' && first.joined_by == 0 {
            return false;
        }
        let dotted_quad = window.len() == 4
            && window.iter().all(|g| g.end - g.start <= 3)
            && window[1..].iter().all(|g| g.joined_by == DOT);
        if dotted_quad {
            return false;
        }
        let inside = |kind: u8| kind != 0 && window[1..].iter().any(|g| g.joined_by == kind);
        if inside(first.joined_by) || inside(after) {
            return false;
        }
        let mut kinds: Vec<u8> = window[1..].iter().map(|g| g.joined_by).collect();
        let line_breaks = kinds.iter().filter(|&&k| k & LINE_BREAK != 0).count();
        kinds.retain(|&k| k & LINE_BREAK == 0);
        kinds.sort_unstable();
        kinds.dedup();
        if line_breaks > MAX_LINE_BREAKS || kinds.len() > MAX_SEPARATOR_KINDS {
            return false;
        }
        let lengths: Vec<usize> = window.iter().map(|g| g.end - g.start).collect();
        return INSZ_SHAPES.contains(&lengths.as_slice()) || shape_with_line_breaks(&window);
    }
    false
}

/// Whether some reading of the line breaks between the groups (each one either splits a group
/// or stands where a separator was) gives one of the [`INSZ_SHAPES`].
fn shape_with_line_breaks(window: &[Group]) -> bool {
    let breaks: Vec<usize> = (1..window.len())
        .filter(|&i| window[i].joined_by & LINE_BREAK != 0)
        .collect();
    if breaks.is_empty() || breaks.len() > MAX_INSZ_GROUPS {
        return false;
    }
    (0u32..1 << breaks.len()).any(|merge| {
        let mut lengths: Vec<usize> = Vec::with_capacity(window.len());
        for (i, g) in window.iter().enumerate() {
            let len = g.end - g.start;
            let merged = breaks
                .iter()
                .position(|&b| b == i)
                .is_some_and(|bit| merge & (1 << bit) != 0);
            match lengths.last_mut() {
                Some(last) if merged => *last += len,
                _ => lengths.push(len),
            }
        }
        INSZ_SHAPES.contains(&lengths.as_slice())
    })
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
/// digits, in one block or in groups of four joined by one kind of separator (and at most
/// [`MAX_LINE_BREAKS`] line breaks, between groups or inside one): `BE0123.456.789 0470` is a
/// VAT number and a phone number.
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
    let mut separator = None; // the one kind of separator between groups
    let mut line_breaks = 0;
    let mut j = i;
    while n < MAX_IBAN {
        let Some(&b) = s.get(j) else {
            return false;
        };
        if is_separator_kind(b) && n > 0 && s.get(j + 1).is_some_and(u8::is_ascii_alphanumeric) {
            j += 1;
            if b & LINE_BREAK != 0 {
                // A wrap: between two groups of four, or inside one.
                line_breaks += 1;
                if line_breaks > MAX_LINE_BREAKS {
                    return false;
                }
                if group.0 != 4 {
                    continue;
                }
            } else if *separator.get_or_insert(b) != b {
                return false;
            }
            groups_regular &= group.0 == 4;
            group = (0, 0);
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
        // Written in groups: groups of four, the last one shorter.
        let grouped = separator.is_none() || (groups_regular && group.0 <= 4);
        match length {
            Some(len) if n == len => return group_ends && grouped && iban_checksum_ok(candidate),
            Some(_) => {}
            // Any length from 15 to 34: only as written on one line.
            None if n >= MIN_IBAN
                && group_ends
                && grouped
                && line_breaks == 0
                && iban_checksum_ok(candidate) =>
            {
                return true;
            }
            None => {}
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
                format!("ref 2026/12 {a}{b}{c}-{d}-{e}"),
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
    fn valid_numbers_that_are_something_else_pass() {
        let n = insz("850730", "033", false);
        let (a, b, c, d, e) = (&n[0..2], &n[2..5], &n[5..7], &n[7..9], &n[9..]);
        for text in [
            // An international phone number: +85 073 00 33 28.
            format!("bel +{a} {b} {c} {d} {e}"),
            // A dotted quad (IPv4 address).
            format!("from [{}.{}.{}.{}]", &n[0..2], &n[2..5], &n[5..8], &n[8..]),
            // Inside a longer run with the same separator: a reader cannot tell it apart.
            format!(
                "0470 12 34 56 {} {} {} {} {}",
                &n[0..2],
                &n[2..4],
                &n[4..6],
                &n[6..9],
                &n[9..]
            ),
            // A VAT number and a phone number are not a Belgian IBAN.
            "btw BE0123.456.789 0470 12 34 56".to_string(),
        ] {
            assert_eq!(find(&text), None, "{text}");
        }
        assert_eq!(
            find(&format!("ref 2026/12 {}-{}-{}", &n[..6], &n[6..9], &n[9..])),
            Some(Identifier::NationalNumber)
        );
    }

    #[test]
    fn normalised_text_keeps_digits_letters_and_separator_kinds() {
        let out = normalise("８５\u{ad}0\u{200b}7 -\r\n> 3a€€b");
        assert_eq!(&out[..4], b"8507");
        assert!(is_separator_kind(out[4]) && out[4] & LINE_BREAK != 0);
        assert_eq!(&out[5..], b"3a#b");
        assert_eq!(normalise("1.2")[1], DOT);
        assert_eq!(normalise("\u{0668}\u{0665}"), b"85");
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
