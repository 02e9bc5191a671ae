//! Is the archive's password in the same message? Staff often write "wachtwoord: ..." in the
//! body or the subject, which makes the encryption worthless.
//!
//! Candidate tokens come from the subject and the texts, most likely ones first (after a
//! password label, then tokens that mix letters with digits or symbols). Every try costs a full
//! key derivation (2^19 SHA-256 rounds with 7-Zip's default), so the number of candidates, the
//! number of tries and the time spent are all bounded; when a bound is hit the check stops and
//! the message is judged on the other rules.

use std::time::{Duration, Instant};

/// Candidate passwords taken from one message.
pub const MAX_CANDIDATES: usize = 64;
/// Tries of (archive, candidate) pairs per message.
pub const MAX_TRIES: usize = 64;
/// Time spent trying per message.
pub const TIME_BUDGET: Duration = Duration::from_secs(5);
/// Archives with a costlier key derivation than this are not tried (one try would take
/// seconds); 7-Zip writes 19.
pub const MAX_TRIED_KDF_CYCLES_POWER: u8 = 22;
/// Longest candidate, in characters.
const MAX_LEN: usize = 128;
/// Bytes of each text looked at.
const MAX_TEXT: usize = 256 * 1024;

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

/// Candidate passwords from `texts` (subject first), most likely first, without duplicates.
pub fn candidates(texts: &[&str]) -> Vec<String> {
    let texts: Vec<&str> = texts.iter().map(|t| truncate(t, MAX_TEXT)).collect();
    let mut out = Candidates::default();
    for text in &texts {
        labelled(text, &mut out);
    }
    for text in &texts {
        for token in text.split_whitespace() {
            if mixes_classes(token) {
                out.push_variants(token);
            }
        }
    }
    for text in &texts {
        for token in text.split_whitespace() {
            if token.chars().count() >= 4 {
                out.push_variants(token);
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
/// token.
fn labelled(text: &str, out: &mut Candidates) {
    let lower = text.to_ascii_lowercase();
    for label in LABELS {
        for (at, _) in lower.match_indices(label) {
            let before_ok = lower[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric());
            let rest = &text[at + label.len()..];
            let after_ok = rest.chars().next().is_none_or(|c| !c.is_alphanumeric());
            if !before_ok || !after_ok {
                continue;
            }
            let line = rest.lines().next().unwrap_or_default();
            let value = strip_connector(line);
            out.push_variants(value);
            if let Some(first) = value.split_whitespace().next() {
                out.push_variants(first);
            }
        }
    }
}

/// Drops what joins a label to its value: spaces, ":", "=", "-", "is", "luidt".
fn strip_connector(line: &str) -> &str {
    let mut value = line.trim_start();
    loop {
        let before = value;
        value = value.trim_start_matches([':', '=', '-', ' ', '\t']);
        for word in ["is ", "is:", "luidt ", "was "] {
            if value.len() >= word.len() && value[..word.len()].eq_ignore_ascii_case(word) {
                value = &value[word.len()..];
            }
        }
        if value == before {
            return value.trim_end();
        }
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
        let found = candidates(&[
            "Dossier Jansen",
            "Beste,\r\nIn bijlage het dossier.\r\nHet wachtwoord is: Zomer-Wervik-2024!\r\nGroeten",
        ]);
        assert_eq!(found[0], "Zomer-Wervik-2024!");
        let found = candidates(&["", "password=hunter2 thanks"]);
        assert_eq!(found[0], "hunter2 thanks");
        assert!(found.contains(&"hunter2".to_string()));
    }

    #[test]
    fn tokens_are_cleaned_and_bounded() {
        let found = candidates(&["Dossier (Zon-Maan-47!)", ""]);
        assert!(found.contains(&"Zon-Maan-47!".to_string()), "{found:?}");
        let long: String = (0..1000).map(|i| format!("tok{i}x ")).collect();
        assert_eq!(candidates(&[&long]).len(), MAX_CANDIDATES);
        assert!(candidates(&["a b c"]).is_empty());
    }

    #[test]
    fn labels_inside_words_do_not_count() {
        let found = candidates(&["zwwoord abc"]);
        assert!(!found.iter().any(|c| c == "abc"), "{found:?}");
    }
}
