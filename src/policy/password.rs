//! Is the archive's password in the same message? Staff often write "wachtwoord: ..." in the
//! body or the subject, which makes the encryption worthless.
//!
//! Candidate tokens come from the subjects and texts and from short values that may be a
//! password as a whole (attachment file names, display names, HTML attribute values), most
//! likely ones first: what follows a password label ("wachtwoord: ...", or the line below a
//! label that ends its line), then tokens that mix letters with digits or symbols, then the
//! names whole, then a word alone on its line. Ordinary words in running text are not tried.
//!
//! Every try costs a full key derivation: 2^19 SHA-256 rounds with 7-Zip's default, measured
//! at about 50 ms on a 2-core test machine (2026-12-01). So the number of candidates, the
//! number of tries and the time spent are all bounded: 64 tries take about 3 s of one core
//! (inspections run one per core), far inside the sender's end-of-data wait (10 minutes,
//! RFC 5321 4.5.3.2.6). When a bound is hit the check stops and the message is judged on the
//! other rules. docs/policy.md states the same bounds; a test keeps the two equal.

use std::time::{Duration, Instant};

/// Candidate passwords taken from one message.
pub const MAX_CANDIDATES: usize = 64;
/// Tries of (archive, candidate) pairs per message.
pub const MAX_TRIES: usize = 64;
/// Time spent trying per message.
pub const TIME_BUDGET: Duration = Duration::from_secs(4);
/// Archives with a costlier key derivation than this are not tried (one try would take
/// seconds); 7-Zip writes 19.
#[cfg(not(fuzzing))]
pub const MAX_TRIED_KDF_CYCLES_POWER: u8 = 22;
/// Under the fuzzer only cheap key derivations are tried, so it runs millions of messages
/// through the whole decision path instead of hashing.
#[cfg(fuzzing)]
pub const MAX_TRIED_KDF_CYCLES_POWER: u8 = 8;
/// Longest candidate, in characters.
const MAX_LEN: usize = 128;
/// Bytes of each text looked at.
const MAX_TEXT: usize = 256 * 1024;
/// Lines looked at below a label that ends its line ("Wachtwoord:" and the password below).
const LINES_AFTER_LABEL: usize = 2;

const LABELS: [&str; 10] = [
    "wachtwoord",
    "paswoord",
    "passwoord",
    "password",
    "passwort",
    "mot de passe",
    "pwd",
    "pw",
    "ww",
    "code",
];

/// Candidate passwords from `texts` (subjects and text parts, subject first) and `names`
/// (attachment file names, display names, HTML attribute values: short values that may be a
/// password as a whole), most likely first, without duplicates.
pub fn candidates(texts: &[&str], names: &[&str]) -> Vec<String> {
    let texts: Vec<&str> = texts.iter().map(|t| truncate(t, MAX_TEXT)).collect();
    let names: Vec<&str> = names.iter().map(|t| truncate(t, MAX_TEXT)).collect();
    let mut out = Candidates::default();
    for text in texts.iter().chain(&names) {
        labelled(text, &mut out);
    }
    for text in texts.iter().chain(&names) {
        for token in text.split_whitespace() {
            if mixes_classes(token) {
                out.push_variants(token);
                out.push_variants(without_extension(token));
            }
        }
    }
    for name in &names {
        out.push_variants(name);
        out.push_variants(without_extension(name));
    }
    for text in &texts {
        for line in text.lines() {
            let mut tokens = line.split_whitespace();
            if let (Some(token), None) = (tokens.next(), tokens.next()) {
                if token.chars().count() >= 4 {
                    out.push_variants(token);
                }
            }
        }
    }
    out.list
}

/// Whether any candidate opens any of the archives (bytes, KDF cycles power).
pub fn found_in_message(archives: &[(&[u8], Option<u8>)], candidates: &[String]) -> bool {
    let started = Instant::now();
    let mut tries = 0;
    let triable: Vec<&[u8]> = archives
        .iter()
        .filter(|(_, kdf)| kdf.is_none_or(|k| k <= MAX_TRIED_KDF_CYCLES_POWER))
        .map(|(bytes, _)| *bytes)
        .collect();
    for candidate in candidates {
        for archive in &triable {
            if tries >= MAX_TRIES || started.elapsed() > TIME_BUDGET {
                return false;
            }
            tries += 1;
            if crate::sevenz::password_opens(archive, candidate) == Some(true) {
                return true;
            }
        }
    }
    false
}

#[derive(Default)]
struct Candidates {
    list: Vec<String>,
}

impl Candidates {
    fn push(&mut self, candidate: &str) {
        let candidate = candidate.trim();
        if candidate.is_empty()
            || candidate.chars().count() > MAX_LEN
            || self.list.len() >= MAX_CANDIDATES
            || self.list.iter().any(|c| c == candidate)
        {
            return;
        }
        self.list.push(candidate.to_string());
    }

    /// The token as written, without quotes and brackets, and without sentence punctuation.
    fn push_variants(&mut self, token: &str) {
        self.push(token);
        let unquoted = token
            .trim_matches(|c: char| "\"'`()[]<>{}\u{201c}\u{201d}\u{2018}\u{2019}".contains(c));
        self.push(unquoted);
        self.push(unquoted.trim_end_matches(['.', ',', ';', ':', '!', '?']));
    }
}

/// The rest of the line after a label such as "Wachtwoord:" or "password is", and its first
/// token; when the label ends its line ("Wachtwoord:" and the password below it), the next
/// non-blank line instead.
fn labelled(text: &str, out: &mut Candidates) {
    // ASCII lower-casing keeps every byte where it was: offsets in `lower` are offsets in
    // `text`, and both are sliced only through `get`, so no offset can split a character.
    let lower = text.to_ascii_lowercase();
    for label in LABELS {
        for (at, _) in lower.match_indices(label) {
            let before_ok = lower
                .get(..at)
                .and_then(|b| b.chars().next_back())
                .is_none_or(|c| !c.is_alphanumeric());
            let Some(rest) = text.get(at + label.len()..) else {
                continue;
            };
            let after_ok = rest.chars().next().is_none_or(|c| !c.is_alphanumeric());
            if !before_ok || !after_ok {
                continue;
            }
            let mut lines = rest.lines();
            let mut value = strip_connector(lines.next().unwrap_or_default());
            if value.is_empty() {
                value = lines
                    .take(LINES_AFTER_LABEL)
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .unwrap_or_default();
            }
            out.push_variants(value);
            if let Some(first) = value.split_whitespace().next() {
                out.push_variants(first);
            }
        }
    }
}

/// Drops what joins a label to its value: spaces, ":", "=", "-", "is", "luidt", "was".
fn strip_connector(line: &str) -> &str {
    let mut value = line.trim_start();
    loop {
        let before = value;
        value = value.trim_start_matches([':', '=', '-', ' ', '\t']);
        for word in ["is", "luidt", "was"] {
            // `get` is None when `word.len()` falls inside a character ("één"): no match.
            let Some(rest) = value
                .get(..word.len())
                .filter(|head| head.eq_ignore_ascii_case(word))
                .and_then(|_| value.get(word.len()..))
            else {
                continue;
            };
            if rest
                .chars()
                .next()
                .is_none_or(|c| matches!(c, ' ' | '\t' | ':'))
            {
                value = rest;
            }
        }
        if value == before {
            return value.trim_end();
        }
    }
}

/// "Zon-Maan-47!.txt" without ".txt": the last extension of up to five letters or digits.
fn without_extension(name: &str) -> &str {
    match name.trim().rsplit_once('.') {
        Some((stem, ext))
            if !stem.is_empty()
                && (1..=5).contains(&ext.len())
                && ext.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            stem
        }
        _ => name,
    }
}

fn mixes_classes(token: &str) -> bool {
    let letters = token.chars().any(char::is_alphabetic);
    let digits = token.chars().any(|c| c.is_ascii_digit());
    let symbols = token
        .trim_end_matches(['.', ',', ';', ':', '!', '?'])
        .chars()
        .any(|c| !c.is_alphanumeric());
    token.chars().count() >= 6 && letters && (digits || symbols)
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labelled_passwords_come_first() {
        let found = candidates(
            &[
                "Dossier Jansen",
                "Beste,\r\nIn bijlage het dossier.\r\nHet wachtwoord is: Zomer-Wervik-2024!\r\nGroeten",
            ],
            &[],
        );
        assert_eq!(found[0], "Zomer-Wervik-2024!");
        let found = candidates(&["", "password=hunter2 thanks"], &[]);
        assert_eq!(found[0], "hunter2 thanks");
        assert!(found.contains(&"hunter2".to_string()));
    }

    #[test]
    fn tokens_are_cleaned_and_bounded() {
        let found = candidates(&["Dossier (Zon-Maan-47!)", ""], &[]);
        assert!(found.contains(&"Zon-Maan-47!".to_string()), "{found:?}");
        let long: String = (0..1000).map(|i| format!("tok{i}x\n")).collect();
        assert_eq!(candidates(&[&long], &[]).len(), MAX_CANDIDATES);
        assert!(candidates(&["a b c"], &[]).is_empty());
        let found = candidates(
            &["Beste collega,\nhier het verslag\nZonnebloem\nGroeten"],
            &[],
        );
        assert_eq!(
            found,
            ["Zonnebloem", "Groeten"],
            "words in running text are not tried"
        );
    }

    #[test]
    fn labels_inside_words_do_not_count() {
        let found = candidates(&["zwwoord abc"], &[]);
        assert!(!found.iter().any(|c| c == "abc"), "{found:?}");
    }

    #[test]
    fn dutch_text_after_a_label_does_not_panic() {
        // "één" starts with a two-byte character: "is " must not be sliced inside it.
        let found = candidates(&["", "Het wachtwoord is: één keer per week"], &[]);
        assert_eq!(found[0], "één keer per week");
        for text in [
            "wachtwoord: é",
            "wachtwoord:é",
            "wachtwoord ïs ü",
            "code\u{2028}x",
            "ww: luidt\u{00a0}ë",
            "pw",
            "wachtwoord:\n\n",
            "Wachtwoord\u{0301}: x",
        ] {
            let _ = candidates(&[text], &[text]);
        }
    }

    #[test]
    fn the_line_after_a_label_is_a_candidate() {
        let found = candidates(&["Beste,\nWachtwoord:\n  Zon-Maan-47!\nGroeten"], &[]);
        assert_eq!(found[0], "Zon-Maan-47!", "{found:?}");
        let found = candidates(&["Het wachtwoord is\n\nZon-Maan-47!"], &[]);
        assert_eq!(found[0], "Zon-Maan-47!", "{found:?}");
    }

    #[test]
    fn names_are_candidates_whole_and_without_extension() {
        let found = candidates(&["Zie bijlage."], &["Zon-Maan-47!.txt", "Jan Peeters"]);
        for expected in ["Zon-Maan-47!.txt", "Zon-Maan-47!", "Jan Peeters"] {
            assert!(
                found.contains(&expected.to_string()),
                "{expected}: {found:?}"
            );
        }
        let found = candidates(&[], &["Wachtwoord: geheim123"]);
        assert_eq!(found[0], "geheim123", "{found:?}");
    }

    #[test]
    fn the_bounds_in_the_docs_are_the_bounds_in_the_code() {
        let docs = include_str!("../../docs/policy.md");
        for written in [
            format!("at most {MAX_CANDIDATES} candidates"),
            format!("{MAX_TRIES} tries per message"),
            format!("{} seconds", TIME_BUDGET.as_secs()),
            format!("2^{MAX_TRIED_KDF_CYCLES_POWER} rounds"),
        ] {
            assert!(
                docs.contains(&written),
                "docs/policy.md must say {written:?}"
            );
        }
    }
}
