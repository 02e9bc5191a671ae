//! Does a byte window look like plain content? Known file signatures, runs of text, runs of one
//! repeated byte, and a byte histogram too skewed for a block cipher's output.
//!
//! Used on the data region of an archive whose header is encrypted (see `ciphertext.rs`) and on
//! what a decoder probe made of it (see `probe.rs`). Every test is calibrated so that uniformly
//! random bytes (AES-CBC output) trip it with a probability far below one in a billion per
//! archive; the figures are next to each constant. Nothing here copies or keeps the bytes.

/// A run of text this long, with at least `TEXT_DISTINCT_MIN` different characters, is plain.
/// Random bytes are text-like (printable ASCII, tab, line ends, valid UTF-8) with p < 0.41 per
/// byte: 0.41^48 < 3e-19 per position.
pub(crate) const TEXT_RUN_MIN: usize = 48;
/// Distinct byte values a text run needs: excludes a decoder's repetitive garbage.
pub(crate) const TEXT_DISTINCT_MIN: usize = 12;
/// A region too short for a text run of `TEXT_RUN_MIN` is plain when all of it is text, from
/// this length on (0.41^32 < 5e-13 at random) with `SHORT_TEXT_DISTINCT_MIN` characters.
pub(crate) const SHORT_TEXT_MIN: usize = 32;
const SHORT_TEXT_DISTINCT_MIN: usize = 8;
/// One byte value repeated this often in a row is plain (p = 256^-11 per position at random).
pub(crate) const REPEAT_RUN_MIN: usize = 12;
/// The chi-square statistic (255 degrees of freedom) above which a window's byte histogram is
/// too uneven for ciphertext: about p = 5e-11 for uniform bytes.
pub(crate) const CHI2_MAX: f64 = 430.0;
/// Below this many bytes the chi-square test is not used (fewer than 4 expected per value).
pub(crate) const CHI2_MIN_LEN: usize = 1024;

/// Why a window is not ciphertext. Never carries the bytes themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sign {
    Signature(&'static str),
    Text,
    Repeats,
    Skewed,
}

impl Sign {
    pub(crate) fn describe(self) -> String {
        match self {
            Sign::Signature(name) => format!("the signature of a {name} file"),
            Sign::Text => {
                format!("text ({TEXT_RUN_MIN}+ bytes in a row, or all of a short region)")
            }
            Sign::Repeats => format!("one byte value repeated {REPEAT_RUN_MIN}+ times"),
            Sign::Skewed => "a byte histogram far from uniform (chi-square)".into(),
        }
    }
}

/// Signatures looked for where a file would start (the first stream of the data region, or
/// what a decoder produced). 3 bytes or more: at random p <= 6e-8 each.
const START_SIGNATURES: &[(&[u8], &str)] = &[
    (b"%PDF-", "PDF"),
    (b"PK\x03\x04", "zip/DOCX/XLSX"),
    (b"PK\x05\x06", "zip"),
    (b"\xFF\xD8\xFF", "JPEG"),
    (b"\x89PNG\r\n\x1A\n", "PNG"),
    (b"GIF8", "GIF"),
    (b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", "OLE (DOC/XLS/MSG)"),
    (b"7z\xBC\xAF\x27\x1C", "7z"),
    (b"\x1F\x8B\x08", "gzip"),
    (b"Rar!\x1A\x07", "RAR"),
    (b"%!PS", "PostScript"),
    (b"{\\rtf", "RTF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"RIFF", "RIFF (WAV/AVI/WEBP)"),
    (b"\x7FELF", "ELF"),
    (b"<?xml", "XML"),
    (b"\xEF\xBB\xBF", "UTF-8 text (BOM)"),
    (b"BZh", "bzip2"),
    (b"\xFD7zXZ\x00", "xz"),
    (b"\x28\xB5\x2F\xFD", "zstd"),
];

/// Signatures long enough to look for at any offset of a window: 6 bytes or more, so about
/// 2^-48 per position at random.
const INNER_SIGNATURES: &[(&[u8], &str)] = &[
    (b"%PDF-1.", "PDF"),
    (b"\x89PNG\r\n\x1A\n", "PNG"),
    (b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", "OLE (DOC/XLS/MSG)"),
    (b"7z\xBC\xAF\x27\x1C", "7z"),
    (b"\xFF\xD8\xFF\xE0\x00\x10JFIF", "JPEG"),
    (b"Exif\x00\x00", "JPEG/TIFF (Exif)"),
    (b"[Content_Types].xml", "DOCX/XLSX"),
    (b"Rar!\x1A\x07", "RAR"),
    (b"\xFD7zXZ\x00", "xz"),
];

/// The signature a file starting at `bytes` carries, if any.
pub(crate) fn start_signature(bytes: &[u8]) -> Option<&'static str> {
    START_SIGNATURES
        .iter()
        .find(|(sig, _)| bytes.starts_with(sig))
        .map(|(_, name)| *name)
}

/// The first sign of plain content in `window`, cheapest test first.
pub(crate) fn window_sign(window: &[u8]) -> Option<Sign> {
    if let Some(name) = inner_signature(window) {
        return Some(Sign::Signature(name));
    }
    if has_repeat_run(window) {
        return Some(Sign::Repeats);
    }
    if has_text_run(window) {
        return Some(Sign::Text);
    }
    if window.len() >= CHI2_MIN_LEN && chi_square(window) > CHI2_MAX {
        return Some(Sign::Skewed);
    }
    None
}

/// Whether what a decoder produced looks like a file: a start signature or a run of text.
/// No histogram test: a decoder fed random bytes makes uneven output too.
pub(crate) fn decoded_looks_plain(decoded: &[u8]) -> Option<Sign> {
    if let Some(name) = start_signature(decoded) {
        return Some(Sign::Signature(name));
    }
    if let Some(name) = inner_signature(decoded) {
        return Some(Sign::Signature(name));
    }
    has_text_run(decoded).then_some(Sign::Text)
}

/// Whether a short region (`SHORT_TEXT_MIN` bytes up to `TEXT_RUN_MIN`) is text throughout.
pub(crate) fn is_short_text(region: &[u8]) -> bool {
    if !(SHORT_TEXT_MIN..TEXT_RUN_MIN).contains(&region.len()) {
        return false;
    }
    let mut at = 0usize;
    while at < region.len() {
        match text_char_len(&region[at..]) {
            0 => return false,
            width => at += width,
        }
    }
    let mut seen = [false; 256];
    region.iter().for_each(|&b| seen[usize::from(b)] = true);
    seen.iter().filter(|s| **s).count() >= SHORT_TEXT_DISTINCT_MIN
}

fn inner_signature(window: &[u8]) -> Option<&'static str> {
    INNER_SIGNATURES
        .iter()
        .find(|(sig, _)| memchr::memmem::find(window, sig).is_some())
        .map(|(_, name)| *name)
}

fn has_repeat_run(window: &[u8]) -> bool {
    let mut run = 0usize;
    let mut previous: Option<u8> = None;
    for &b in window {
        run = if previous == Some(b) { run + 1 } else { 1 };
        previous = Some(b);
        if run >= REPEAT_RUN_MIN {
            return true;
        }
    }
    false
}

/// Length of the text character at the start of `bytes` (printable ASCII, tab, CR, LF, or a
/// valid UTF-8 sequence of 2 to 4 bytes), or 0.
fn text_char_len(bytes: &[u8]) -> usize {
    let Some(&first) = bytes.first() else {
        return 0;
    };
    match first {
        b'\t' | b'\n' | b'\r' | 0x20..=0x7E => 1,
        0xC2..=0xF4 => {
            let width = if first < 0xE0 {
                2
            } else if first < 0xF0 {
                3
            } else {
                4
            };
            match bytes.get(..width).map(std::str::from_utf8) {
                Some(Ok(_)) => width,
                _ => 0,
            }
        }
        _ => 0,
    }
}

fn has_text_run(window: &[u8]) -> bool {
    let mut at = 0usize;
    let mut run_start = 0usize;
    // seen_in[b] == run: byte b occurred in the current run (no clearing between runs).
    let mut seen_in = [0u32; 256];
    let mut run = 1u32;
    let mut distinct = 0usize;
    while at < window.len() {
        let width = text_char_len(&window[at..]);
        if width == 0 {
            at += 1;
            run_start = at;
            run = run.wrapping_add(1);
            distinct = 0;
            continue;
        }
        for &b in &window[at..at + width] {
            let slot = &mut seen_in[usize::from(b)];
            if *slot != run {
                *slot = run;
                distinct += 1;
            }
        }
        at += width;
        if at - run_start >= TEXT_RUN_MIN && distinct >= TEXT_DISTINCT_MIN {
            return true;
        }
    }
    false
}

/// Pearson's chi-square of the byte histogram against the uniform distribution.
pub(crate) fn chi_square(window: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &b in window {
        counts[usize::from(b)] += 1;
    }
    let expected = window.len() as f64 / 256.0;
    if expected == 0.0 {
        return 0.0;
    }
    counts
        .iter()
        .map(|&c| {
            let d = f64::from(c) - expected;
            d * d / expected
        })
        .sum()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// xorshift64*: a deterministic stand-in for ciphertext.
    pub(crate) fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
        let mut s = seed | 1;
        (0..len)
            .map(|_| {
                s ^= s >> 12;
                s ^= s << 25;
                s ^= s >> 27;
                (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect()
    }

    #[test]
    fn random_windows_show_no_sign() {
        for seed in 1..200 {
            let w = random_bytes(seed, 4096);
            assert_eq!(window_sign(&w), None, "seed {seed}");
            assert_eq!(decoded_looks_plain(&w), None, "seed {seed}");
        }
    }

    #[test]
    fn plain_windows_are_recognised() {
        let text = "Beste, in bijlage het verslag van de vergadering van dinsdag.\n".repeat(3);
        assert_eq!(window_sign(text.as_bytes()), Some(Sign::Text));
        let dutch = "één keer per week, ça va: Ærø Øresund ünd so weiter, 12345 éèêë";
        assert_eq!(decoded_looks_plain(dutch.as_bytes()), Some(Sign::Text));
        let mut zeros = random_bytes(3, 100);
        zeros.extend([0u8; 12]);
        assert_eq!(window_sign(&zeros), Some(Sign::Repeats));
        let mut png = random_bytes(4, 100);
        png.extend(b"\x89PNG\r\n\x1A\n");
        assert_eq!(window_sign(&png), Some(Sign::Signature("PNG")));
        assert_eq!(start_signature(b"%PDF-1.4\n"), Some("PDF"));
        // Bytes 0..=127 only: uniform over half the values, far from uniform over all.
        let half: Vec<u8> = random_bytes(5, 4096).iter().map(|b| b & 0x7F).collect();
        assert!(window_sign(&half).is_some());
    }

    #[test]
    fn short_regions_of_text_are_plain() {
        assert!(is_short_text(b"Verslag huisbezoek, zie bijlage."));
        assert!(
            !is_short_text(b"Verslag huisbezoek, zie bijlage"),
            "31 bytes"
        );
        assert!(!is_short_text(&random_bytes(9, 32)));
    }

    #[test]
    fn repetitive_text_is_not_enough() {
        // A decoder's garbage often repeats one printable character: not text.
        assert_eq!(decoded_looks_plain(&[b'e'; 200][..]), None);
        assert_eq!(
            decoded_looks_plain(b"abababababababababababababababababababababababababab"),
            None
        );
    }
}
