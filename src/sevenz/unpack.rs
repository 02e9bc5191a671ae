//! Decoding a folder whose coders form a simple chain (Copy, LZMA, LZMA2, and 7zAES when a
//! password is given): the packed header, or a prefix of an encrypted stream to test a password.
//!
//! The output is bounded by the caller's cap before anything is allocated, and the LZMA
//! dictionary by the declared output size, so a small header cannot demand gigabytes.

use std::io::{self, Read};

use lzma_rust2::{Lzma2Reader, LzmaReader};

use super::folder::{AesProps, Folder, AES_ID, COPY_ID, LZMA2_ID, LZMA_ID};
use super::password::{derive_key, AesCbcReader};
use super::ParseError;

/// Decodes the first `want` bytes of the folder's output from its packed bytes.
pub(crate) fn decode_prefix(
    folder: &Folder,
    packed: &[u8],
    want: u64,
    cap: u64,
    password: Option<&str>,
) -> Result<Vec<u8>, ParseError> {
    if want > cap {
        return Err(ParseError::Limit(format!(
            "{want} bytes to unpack exceed the cap of {cap}"
        )));
    }
    let chain = folder
        .simple_chain()
        .ok_or_else(|| ParseError::Unsupported("coder graph of the header".into()))?;
    let mut stream: Box<dyn Read + '_> = Box::new(packed);
    for &index in &chain {
        let coder = folder
            .coders
            .get(index)
            .ok_or(ParseError::Truncated("coders"))?;
        let size = *folder
            .unpack_sizes
            .get(index)
            .ok_or(ParseError::Truncated("unpack sizes"))?;
        stream = match coder.id.as_slice() {
            COPY_ID => Box::new(stream.take(size)),
            LZMA_ID => lzma(stream, &coder.props, size)?,
            LZMA2_ID => lzma2(stream, &coder.props, size)?,
            AES_ID => {
                let password =
                    password.ok_or_else(|| ParseError::Unsupported("encrypted header".into()))?;
                let props = AesProps::parse(&coder.props)?;
                let key = derive_key(&props, password).ok_or_else(|| {
                    ParseError::Limit(format!(
                        "key derivation with 2^{} rounds",
                        props.cycles_power
                    ))
                })?;
                Box::new(AesCbcReader::new(stream, &key, props.iv).take(size))
            }
            other => {
                return Err(ParseError::Unsupported(format!(
                    "header coder {}",
                    hex::encode(other)
                )))
            }
        };
    }
    read_bounded(stream, want)
}

fn read_bounded(stream: Box<dyn Read + '_>, want: u64) -> Result<Vec<u8>, ParseError> {
    let want_usize = usize::try_from(want).map_err(|_| ParseError::Limit("unpack size".into()))?;
    let run = std::panic::AssertUnwindSafe(move || {
        let mut out = Vec::with_capacity(want_usize);
        stream.take(want).read_to_end(&mut out).map(|_| out)
    });
    // lzma-rust2 is not ours; a panic inside it must not take the gateway down.
    match std::panic::catch_unwind(run) {
        Ok(Ok(out)) if out.len() as u64 == want => Ok(out),
        Ok(Ok(_)) => Err(ParseError::Truncated("packed stream")),
        Ok(Err(e)) => Err(ParseError::Decode(e.to_string())),
        Err(_) => Err(ParseError::Decode("decoder failed".into())),
    }
}

fn bounded_dict(declared: u32, size: u64) -> u32 {
    let needed = u32::try_from(size.max(4096)).unwrap_or(u32::MAX);
    declared.clamp(4096, needed.max(4096))
}

fn lzma<'a>(
    input: Box<dyn Read + 'a>,
    props: &[u8],
    size: u64,
) -> Result<Box<dyn Read + 'a>, ParseError> {
    let [p, d0, d1, d2, d3] = props else {
        return Err(ParseError::Structure(
            "LZMA properties must be 5 bytes".into(),
        ));
    };
    let dict = bounded_dict(u32::from_le_bytes([*d0, *d1, *d2, *d3]), size);
    let mut reader =
        LzmaReader::new_with_props(input, size, *p, dict, None).map_err(decode_error)?;
    // As 7-Zip does: the range coder must end in its final state, not just the output size.
    reader.set_relaxed_end_condition(false);
    Ok(Box::new(reader))
}

fn lzma2<'a>(
    input: Box<dyn Read + 'a>,
    props: &[u8],
    size: u64,
) -> Result<Box<dyn Read + 'a>, ParseError> {
    let p = *props
        .first()
        .ok_or_else(|| ParseError::Structure("LZMA2 without properties".into()))?;
    if p > 40 {
        return Err(ParseError::Structure(
            "LZMA2 dictionary size out of range".into(),
        ));
    }
    let declared = if p == 40 {
        u32::MAX
    } else {
        (2 | u32::from(p & 1)) << (p / 2 + 11)
    };
    let reader = Lzma2Reader::new(input, bounded_dict(declared, size), None);
    Ok(Box::new(reader.take(size)))
}

fn decode_error(e: io::Error) -> ParseError {
    ParseError::Decode(e.to_string())
}
