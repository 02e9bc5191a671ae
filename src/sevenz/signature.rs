//! The 32-byte signature header, and what lies around it: SFX stubs, zips, multi-volume parts.

use super::ParseError;

pub const MAGIC: [u8; 6] = [0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C];
pub(crate) const SIGNATURE_HEADER_LEN: u64 = 32;
/// A next header larger than this is refused (a 1,000,000-file header is well below it).
pub(crate) const MAX_NEXT_HEADER: u64 = 64 << 20;
/// How far into an executable to look for an embedded 7z signature.
const SFX_SEARCH_LEN: usize = 16 << 20;

#[derive(Debug, Clone, Copy)]
pub(crate) struct StartHeader {
    pub next_offset: u64,
    pub next_size: u64,
    pub next_crc: u32,
}

impl StartHeader {
    /// Where the packed streams end and the next header begins, from the file start.
    pub(crate) fn next_start(&self) -> u64 {
        SIGNATURE_HEADER_LEN + self.next_offset
    }
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(raw)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(raw)
}

/// Checks version and StartHeaderCRC; the caller has checked the magic.
pub(crate) fn parse_start_header(bytes: &[u8]) -> Result<StartHeader, ParseError> {
    let head = bytes
        .get(..32)
        .ok_or(ParseError::Truncated("signature header (under 32 bytes)"))?;
    if head[6] != 0 {
        return Err(ParseError::Unsupported(format!(
            "format version {}.{}",
            head[6], head[7]
        )));
    }
    if crc32fast::hash(&head[12..32]) != le_u32(head, 8) {
        return Err(ParseError::Crc("StartHeaderCRC"));
    }
    Ok(StartHeader {
        next_offset: le_u64(head, 12),
        next_size: le_u64(head, 20),
        next_crc: le_u32(head, 28),
    })
}

/// The next header's bytes, after checking where it lies and its CRC.
pub(crate) fn next_header<'a>(
    bytes: &'a [u8],
    start: &StartHeader,
) -> Result<&'a [u8], ParseError> {
    if start.next_size > MAX_NEXT_HEADER {
        return Err(ParseError::Limit(format!(
            "next header of {} bytes",
            start.next_size
        )));
    }
    let end = start
        .next_start()
        .checked_add(start.next_size)
        .ok_or_else(|| ParseError::Structure("next header offset out of range".into()))?;
    let len = bytes.len() as u64;
    if end > len {
        return Err(ParseError::BeyondEnd {
            multi_volume: looks_like_volume(len),
        });
    }
    if end < len {
        return Err(ParseError::Structure(format!(
            "{} bytes after the end of the archive",
            len - end
        )));
    }
    let from =
        usize::try_from(start.next_start()).map_err(|_| ParseError::Truncated("next header"))?;
    let header = bytes
        .get(from..)
        .ok_or(ParseError::Truncated("next header"))?;
    if crc32fast::hash(header) != start.next_crc {
        return Err(ParseError::Crc("NextHeaderCRC"));
    }
    Ok(header)
}

/// Volumes are cut at a fixed size that 7-Zip users give in k or m: a length that is a
/// multiple of 1024 and points past its end is most likely the first part of a set.
fn looks_like_volume(len: u64) -> bool {
    len >= 1024 && len.is_multiple_of(1024)
}

/// Why bytes without the 7z signature at offset 0 are not a 7z archive.
pub(crate) fn not_7z_reason(bytes: &[u8]) -> String {
    let executable = bytes.starts_with(b"MZ") || bytes.starts_with(b"\x7FELF");
    if executable && find_magic(&bytes[..bytes.len().min(SFX_SEARCH_LEN)]).is_some() {
        return "self-extracting executable (a program with a 7z archive inside): not accepted as an archive"
            .into();
    }
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return "a zip archive, not 7z (zip encryption is not 7zAES)".into();
    }
    if bytes.is_empty() {
        return "empty file".into();
    }
    "no 7z signature at the start".into()
}

fn find_magic(haystack: &[u8]) -> Option<usize> {
    haystack.windows(MAGIC.len()).position(|w| w == MAGIC)
}
