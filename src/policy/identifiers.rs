//! Identifying numbers that must not travel in clear text: the Belgian national register
//! number (rijksregisternummer / INSZ) and bank account numbers (IBAN).
//!
//! Only numbers whose check digits are valid count, so ordinary numbers (phone numbers,
//! amounts, dossier numbers) rarely trip the rule. The value found is never returned: it would
//! end up in a reply or a log.

/// Which kind of identifier was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identifier {
    NationalNumber,
    Iban,
}

/// The first valid identifier in `text`, if any.
pub fn find(text: &str) -> Option<Identifier> {
    if contains_national_number(text) {
        Some(Identifier::NationalNumber)
    } else if contains_iban(text) {
        Some(Identifier::Iban)
    } else {
        None
    }
}

/// Group shapes in which people write the 11 digits: 85073003328, 850730-033-28,
/// 85.07.30-033.28, 850730 03328.
const INSZ_SHAPES: [&[usize]; 4] = [&[11], &[6, 3, 2], &[2, 2, 2, 3, 2], &[6, 5]];

fn is_digit_separator(c: char) -> bool {
    matches!(c, ' ' | '.' | '-' | '/' | '\u{a0}')
}

/// Scans digit groups split by single separators (a run ends at any other character), keeping
/// only the last five groups: constant memory, one pass.
fn contains_national_number(text: &str) -> bool {
    let mut window: Vec<&str> = Vec::with_capacity(5);
    let mut start: Option<usize> = None;
    let mut after_separator = false;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), '\0')))
    {
        if c.is_ascii_digit() {
            start.get_or_insert(i);
            after_separator = false;
            continue;
        }
        if let Some(s) = start.take() {
            if window.len() == 5 {
                window.remove(0);
            }
            window.push(&text[s..i]);
            if ends_with_national_number(&window) {
                return true;
            }
        }
        if is_digit_separator(c) && !after_separator && !window.is_empty() {
            after_separator = true;
            continue;
        }
        after_separator = false;
        window.clear();
    }
    false
}

/// Whether the last groups have one of the shapes and form a valid number.
fn ends_with_national_number(groups: &[&str]) -> bool {
    INSZ_SHAPES.iter().any(|shape| {
        groups.len() >= shape.len() && {
            let tail = &groups[groups.len() - shape.len()..];
            tail.iter()
                .zip(shape.iter())
                .all(|(g, &len)| g.len() == len)
                && is_national_number(&tail.concat())
        }
    })
}

/// Valid INSZ: a plausible date part (bis numbers add 20 or 40 to the month) and check digits
/// 97 - (first nine digits mod 97), with "2" in front of the nine digits for births from 2000.
pub fn is_national_number(digits: &str) -> bool {
    if digits.len() != 11 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let number = |s: &str| s.parse::<u64>().unwrap_or(u64::MAX);
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

fn contains_iban(text: &str) -> bool {
    let bytes = text.as_bytes();
    (0..bytes.len()).any(|i| iban_at(bytes, i))
}

/// Length of an IBAN group separator at `bytes[j]`: space, dash or no-break space (UTF-8).
fn separator_len(bytes: &[u8], j: usize) -> usize {
    match bytes[j..] {
        [b' ' | b'-', ..] => 1,
        [0xC2, 0xA0, ..] => 2,
        _ => 0,
    }
}

/// An IBAN starting at `bytes[i]`: two letters, two digits, then letters and digits, in one
/// block or in groups split by single separators. Works on bytes: no copy of long texts.
fn iban_at(bytes: &[u8], i: usize) -> bool {
    let starts = bytes.len() >= i + 4
        && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
        && bytes[i].is_ascii_alphabetic()
        && bytes[i + 1].is_ascii_alphabetic()
        && bytes[i + 2].is_ascii_digit()
        && bytes[i + 3].is_ascii_digit();
    if !starts {
        return false;
    }
    // The characters collected, and whether a word boundary follows each one.
    let mut body = String::new();
    let mut boundaries = Vec::new();
    let mut j = i;
    while j < bytes.len() && body.len() < 34 {
        let b = bytes[j];
        if b.is_ascii_alphanumeric() {
            body.push(char::from(b.to_ascii_uppercase()));
            boundaries.push(!bytes.get(j + 1).is_some_and(u8::is_ascii_alphanumeric));
            j += 1;
            continue;
        }
        let sep = separator_len(bytes, j);
        if sep > 0 && bytes.get(j + sep).is_some_and(u8::is_ascii_alphanumeric) {
            j += sep;
        } else {
            break;
        }
    }
    let country = &body[..2];
    match IBAN_LENGTHS.iter().find(|(c, _)| *c == country) {
        Some(&(_, len)) => body.len() >= len && iban_checksum_ok(&body[..len]),
        None => (15..=body.len().min(34))
            .any(|len| boundaries[len - 1] && iban_checksum_ok(&body[..len])),
    }
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
