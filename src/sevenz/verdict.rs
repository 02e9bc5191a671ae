//! The five verdict words from a parsed archive, and the password test.

use super::archive::{pack_slice, unpack_header, Archive, Contents, MAX_UNPACKED_HEADER};
use super::ciphertext::{plain_evidence, Evidence};
use super::folder::{AesProps, Folder, AES_ID, COPY_ID, LZMA2_ID, LZMA_ID};
use super::signature::not_7z_reason;
use super::unpack::decode_prefix;
use super::{has_signature, ArchiveVerdict, ParseError, VerdictKind};

/// Judges `bytes`. Never panics; bounded in time and memory for any input.
pub fn verdict(bytes: &[u8]) -> ArchiveVerdict {
    if !has_signature(bytes) {
        return plain(VerdictKind::NotSevenZ, not_7z_reason(bytes));
    }
    match Archive::parse(bytes).and_then(|a| judge(bytes, &a)) {
        Ok(v) => v,
        Err(e) => plain(VerdictKind::Corrupt, e.to_string()),
    }
}

fn all_folders(n: u64) -> String {
    if n == 1 {
        "the one folder is".into()
    } else {
        format!("all {n} folders are")
    }
}

fn plain(verdict: VerdictKind, reason: String) -> ArchiveVerdict {
    ArchiveVerdict {
        verdict,
        reason,
        header_encrypted: None,
        kdf_cycles_power: None,
        folders: None,
        encrypted_folders: None,
        files: None,
    }
}

/// Why the content streams in front of an encrypted header are not ciphertext, if they are not.
fn hidden_region_evidence(bytes: &[u8], archive: &Archive) -> Result<Option<Evidence>, ParseError> {
    let Some(packed) = &archive.packed_header else {
        return Err(ParseError::Structure(
            "an encrypted header without its folder".into(),
        ));
    };
    let region = pack_slice(bytes, &archive.start, 0, packed.pack_pos)?;
    Ok(plain_evidence(region))
}

/// The weakest key derivation over the given folders' 7zAES coders.
fn min_cycles<'a>(folders: impl Iterator<Item = &'a Folder>) -> Result<Option<u8>, ParseError> {
    let mut min: Option<u8> = None;
    for folder in folders {
        for coder in folder.aes_coders() {
            let power = AesProps::parse(&coder.props)?.cycles_power;
            min = Some(min.map_or(power, |m| m.min(power)));
        }
    }
    Ok(min)
}

fn judge(bytes: &[u8], archive: &Archive) -> Result<ArchiveVerdict, ParseError> {
    let header_folder = archive.packed_header.as_ref().map(|p| &p.folder);
    let header = match &archive.contents {
        Contents::Hidden
            if archive
                .packed_header
                .as_ref()
                .is_some_and(|p| p.pack_pos == 0) =>
        {
            // The encrypted header is the only stream: no file has content.
            return Ok(ArchiveVerdict {
                verdict: VerdictKind::Unencrypted,
                reason: "holds no data stream besides its encrypted header (only empty files or directories): no content is encrypted".into(),
                header_encrypted: Some(true),
                kdf_cycles_power: min_cycles(header_folder.into_iter())?,
                folders: Some(0),
                encrypted_folders: Some(0),
                files: None,
            });
        }
        Contents::Hidden => {
            let (verdict, reason) = match hidden_region_evidence(bytes, archive)? {
                Some(evidence) => (
                    VerdictKind::Unencrypted,
                    format!(
                        "the header is encrypted but the content is not ciphertext: {}",
                        evidence.describe()
                    ),
                ),
                None => (
                    VerdictKind::Encrypted,
                    "the header is AES-256 encrypted and the content looks like ciphertext: file names and contents are hidden".into(),
                ),
            };
            return Ok(ArchiveVerdict {
                verdict,
                reason,
                header_encrypted: Some(true),
                kdf_cycles_power: min_cycles(header_folder.into_iter())?,
                folders: None,
                encrypted_folders: None,
                files: None,
            });
        }
        Contents::Visible(h) => h,
    };
    let folders = &header.main.folders;
    let total = folders.len() as u64;
    let encrypted = folders.iter().filter(|f| f.is_encrypted()).count() as u64;
    let packed_note = if header_folder.is_some() {
        " (the header is packed, not encrypted)"
    } else {
        ""
    };
    let (verdict, reason) = if total == 0 {
        let what = if header.files == 0 {
            "an empty archive"
        } else {
            "only empty files or directories"
        };
        (
            VerdictKind::Unencrypted,
            format!("holds no data stream ({what}): nothing in it is encrypted"),
        )
    } else if encrypted == total {
        (
            VerdictKind::Encrypted,
            format!(
                "{} AES-256 encrypted; file names are visible",
                all_folders(total)
            ),
        )
    } else if encrypted == 0 {
        (
            VerdictKind::Unencrypted,
            format!("no folder of {total} is encrypted{packed_note}"),
        )
    } else {
        (VerdictKind::PartiallyEncrypted, format!("{encrypted} of {total} folders are AES-256 encrypted, the rest is readable without a password"))
    };
    Ok(ArchiveVerdict {
        verdict,
        reason,
        header_encrypted: Some(false),
        kdf_cycles_power: min_cycles(header_folder.into_iter().chain(folders))?,
        folders: Some(total),
        encrypted_folders: Some(encrypted),
        files: Some(header.files),
    })
}

/// The most a password test decrypts and unpacks of one content stream.
const MAX_PASSWORD_TEST_BYTES: u64 = 16 << 20;

/// Whether `password` opens the archive. `None` when it cannot be told (not encrypted, corrupt,
/// a key derivation above 2^24 rounds, or no stream with a checksum within reach).
pub fn password_opens(bytes: &[u8], password: &str) -> Option<bool> {
    if !has_signature(bytes) {
        return None;
    }
    let archive = Archive::parse(bytes).ok()?;
    if let (Contents::Hidden, Some(packed)) = (&archive.contents, &archive.packed_header) {
        let slice = pack_slice(bytes, &archive.start, packed.pack_pos, packed.pack_size).ok()?;
        return match unpack_header(&packed.folder, slice, Some(password)) {
            Ok(_) => Some(true),
            Err(ParseError::Limit(_)) | Err(ParseError::Unsupported(_)) => None,
            Err(_) => Some(false),
        };
    }
    let Contents::Visible(header) = &archive.contents else {
        return None;
    };
    let mut candidates: Vec<(usize, u64, u32)> = header
        .main
        .folders
        .iter()
        .enumerate()
        .filter(|(_, f)| f.is_encrypted() && testable_chain(f))
        .filter_map(|(i, f)| f.first_stream.map(|(size, crc)| (i, size, crc)))
        .filter(|(_, size, _)| *size > 0 && *size <= MAX_PASSWORD_TEST_BYTES)
        .collect();
    candidates.sort_by_key(|(_, size, _)| *size);
    let (index, size, crc) = *candidates.first()?;
    let folder = header.main.folders.get(index)?;
    let first_pack = first_pack_index(header, index);
    let mut before = header.main.pack_sizes.iter().take(first_pack);
    let pos = before.try_fold(header.main.pack_pos, |pos, size| pos.checked_add(*size))?;
    let pack_size = *header.main.pack_sizes.get(first_pack)?;
    let slice = pack_slice(bytes, &archive.start, pos, pack_size).ok()?;
    match decode_prefix(folder, slice, size, MAX_UNPACKED_HEADER, Some(password)) {
        Ok(plain) => Some(crc32fast::hash(&plain) == crc),
        Err(ParseError::Limit(_)) | Err(ParseError::Unsupported(_)) => None,
        Err(_) => Some(false),
    }
}

fn testable_chain(folder: &Folder) -> bool {
    folder.simple_chain().is_some()
        && folder
            .coders
            .iter()
            .all(|c| [AES_ID, COPY_ID, LZMA_ID, LZMA2_ID].contains(&c.id.as_slice()))
}

/// Index of the folder's first pack stream in the archive's list.
fn first_pack_index(header: &super::header::Header, folder: usize) -> usize {
    header
        .main
        .folders
        .iter()
        .take(folder)
        .map(|f| f.packed_streams.len())
        .sum()
}
