//! Is this the start of a stream a compressor wrote? Tried on the first bytes of the data region
//! of an archive whose header is encrypted, where the coders are unknown.
//!
//! A compressed stream is not random: LZMA, LZMA2 and Deflate decoders stop with an error within
//! a few dozen bytes on random input, BZip2 starts with a fixed block magic, and what a PPMd
//! decoder makes of a real stream is the original file (text, a file signature) while random
//! input gives garbage. Every probe reads at most `PROBE_INPUT` bytes, produces at most
//! `PROBE_OUTPUT` bytes with a dictionary or model of a fixed small size, and runs inside
//! `catch_unwind` (the decoders are not ours).

use std::io::{self, Read};

use lzma_rust2::{Lzma2Reader, LzmaReader};
use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;
use ppmd_rust::Ppmd7Decoder;

use super::plain::{decoded_looks_plain, window_sign};

/// The most a probe reads of the data region.
pub(crate) const PROBE_INPUT: usize = 64 << 10;
/// A decoder that produces this much without an error has found a real stream.
pub(crate) const PROBE_OUTPUT: usize = 4 << 10;
/// Dictionary for the LZMA probes: no match can reach further back than the probe's output.
const PROBE_DICT: u32 = 64 << 10;
/// PPMd model orders tried: those 7-Zip's levels use (3, 4, 5, 6, 8, 16, 24, 32), py7zr's
/// default (8) and the extremes.
const PPMD_ORDERS: [u32; 10] = [2, 3, 4, 5, 6, 8, 16, 24, 32, 64];
/// What the PPMd probe decodes: enough for a file signature or a run of text, and PPMd is the
/// slowest decoder (a few microseconds per byte on garbage at high orders).
const PPMD_PROBE_OUTPUT: usize = 1 << 10;
/// PPMd model memory for the probe. The model is the same as the encoder's until either runs
/// out of memory, which a few KiB of output does not cause at 7-Zip's smallest size (64 KiB).
const PPMD_PROBE_MEM: u32 = 1 << 20;

/// The compressors a 7z content stream may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    Lzma,
    Lzma2,
    Deflate,
    Bzip2,
    Ppmd,
}

impl Codec {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Codec::Lzma => "LZMA",
            Codec::Lzma2 => "LZMA2",
            Codec::Deflate => "Deflate",
            Codec::Bzip2 => "BZip2",
            Codec::Ppmd => "PPMd",
        }
    }
}

/// How a probe's decoding stopped.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// `PROBE_OUTPUT` bytes came out without an error.
    Full,
    /// The stream ended as a valid stream ends.
    Clean,
    /// An error, or the input ran out.
    Error,
}

/// The compressor whose stream `start` begins with, if any.
pub(crate) fn compressed_stream(start: &[u8]) -> Option<Codec> {
    let start = &start[..start.len().min(PROBE_INPUT)];
    if is_bzip2(start) {
        return Some(Codec::Bzip2);
    }
    // The range coders of LZMA and PPMd (7z variant) always write a zero byte first.
    if start.first() == Some(&0) {
        if lzma(start) {
            return Some(Codec::Lzma);
        }
        if ppmd(start) {
            return Some(Codec::Ppmd);
        }
    }
    if lzma2(start) {
        return Some(Codec::Lzma2);
    }
    if deflate(start) {
        return Some(Codec::Deflate);
    }
    None
}

/// "BZh1".."BZh9", then the magic of a block (pi) or of the end of the stream (sqrt(pi)).
fn is_bzip2(start: &[u8]) -> bool {
    const BLOCK: [u8; 6] = [0x31, 0x41, 0x59, 0x26, 0x53, 0x59];
    const END: [u8; 6] = [0x17, 0x72, 0x45, 0x38, 0x50, 0x90];
    match start.get(..10) {
        Some([b'B', b'Z', b'h', level, magic @ ..]) => {
            (b'1'..=b'9').contains(level) && (magic == BLOCK || magic == END)
        }
        _ => false,
    }
}

/// Raw LZMA with any lc/lp/pb (7-Zip and py7zr write lc=3 lp=0 pb=2; others are allowed).
fn lzma(start: &[u8]) -> bool {
    for pb in 0..=4u8 {
        for lp in 0..=4u8 {
            for lc in 0..=(4 - lp) {
                let props = (pb * 5 + lp) * 9 + lc;
                let Ok(reader) =
                    LzmaReader::new_with_props(start, u64::MAX, props, PROBE_DICT, None)
                else {
                    continue;
                };
                if decoded_stream(reader) {
                    return true;
                }
            }
        }
    }
    false
}

/// LZMA2 whose first chunk is LZMA-compressed (control byte 0xE0..=0xFF: dictionary reset and
/// new properties). A first chunk stored uncompressed (0x01) is plain bytes the region tests see.
fn lzma2(start: &[u8]) -> bool {
    if start.first().is_none_or(|c| *c < 0xE0) {
        return false;
    }
    decoded_stream(Lzma2Reader::new(start, PROBE_DICT, None))
}

/// Whether a decoder's output says it read a real stream.
fn decoded_stream(reader: impl Read) -> bool {
    let (out, end) = read_prefix(reader, PROBE_OUTPUT);
    end != End::Error || decoded_looks_plain(&out).is_some()
}

/// PPMd (the 7z variant of PPMdH): decoding never fails on its own, so what it produced must
/// look like a file, under one of the usual model orders.
fn ppmd(start: &[u8]) -> bool {
    PPMD_ORDERS.iter().any(|&order| {
        let Ok(reader) = Ppmd7Decoder::new(start, order, PPMD_PROBE_MEM) else {
            return false;
        };
        let (out, _) = read_prefix(reader, PPMD_PROBE_OUTPUT);
        decoded_looks_plain(&out).is_some()
    })
}

/// Raw Deflate (the 7z Deflate coder has no zlib header). A stored block copies plain bytes,
/// so decoding alone proves nothing: the output must look like a file.
fn deflate(start: &[u8]) -> bool {
    let run = std::panic::AssertUnwindSafe(|| {
        let mut state = Box::<DecompressorOxide>::default();
        let mut out = vec![0u8; PROBE_OUTPUT];
        let flags = inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF
            | inflate_flags::TINFL_FLAG_HAS_MORE_INPUT;
        let (status, _, written) = decompress(&mut state, start, &mut out, 0, flags);
        out.truncate(written);
        let end = match status {
            TINFLStatus::HasMoreOutput => End::Full,
            TINFLStatus::Done => End::Clean,
            _ => End::Error,
        };
        (out, end)
    });
    let Ok((out, end)) = std::panic::catch_unwind(run) else {
        return false;
    };
    // A stream that decodes in full or to its end is judged like a window of plain bytes
    // (a stored block of random bytes stays random); a broken one only by text or signature.
    let sign = if end == End::Error {
        decoded_looks_plain(&out)
    } else {
        window_sign(&out)
    };
    sign.is_some()
}

/// Up to `max` bytes of a decoder's output, and how it stopped.
fn read_prefix(reader: impl Read, max: usize) -> (Vec<u8>, End) {
    let run = std::panic::AssertUnwindSafe(move || {
        let mut out = Vec::with_capacity(max);
        let limit = u64::try_from(max).unwrap_or(u64::MAX);
        let mut limited = reader.take(limit);
        let mut buf = [0u8; 1024];
        loop {
            match limited.read(&mut buf) {
                Ok(0) if out.len() >= max => return (out, End::Full),
                Ok(0) => return (out, End::Clean),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return (out, End::Error),
            }
        }
    });
    std::panic::catch_unwind(run).unwrap_or((Vec::new(), End::Error))
}
