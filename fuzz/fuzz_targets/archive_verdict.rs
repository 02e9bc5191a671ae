//! Any bytes: `verdict` must return (never panic, never allocate from a declared size), and
//! `password_opens` likewise. Structured mutations help: when the input starts with the 7z
//! magic, the CRCs are fixed up so the fuzzer explores the header parser instead of the
//! checksum check.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate::sevenz;

fn fix_crcs(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < 32 || !sevenz::has_signature(data) {
        return None;
    }
    let mut out = data.to_vec();
    let offset = u64::from_le_bytes(out[12..20].try_into().ok()?);
    let offset = usize::try_from(offset).ok()?.min(out.len() - 32);
    let next = 32 + offset;
    let size = (out.len() - next) as u64;
    out[12..20].copy_from_slice(&(offset as u64).to_le_bytes());
    out[20..28].copy_from_slice(&size.to_le_bytes());
    let crc = crc32fast::hash(&out[next..]);
    out[28..32].copy_from_slice(&crc.to_le_bytes());
    let start = crc32fast::hash(&out[12..32]);
    out[8..12].copy_from_slice(&start.to_le_bytes());
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let v = sevenz::verdict(data);
    assert!(!v.reason.is_empty());
    if let Some(fixed) = fix_crcs(data) {
        let v = sevenz::verdict(&fixed);
        assert!(!v.reason.is_empty());
        // Cheap with a raw-key or low-cycle archive; None above 2^24 rounds.
        let _ = sevenz::password_opens(&fixed, "correct horse battery staple");
    }
});
