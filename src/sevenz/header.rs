//! The property records of a 7z header (7zFormat.txt): streams info, folders, files.
//!
//! Only what the verdict needs is kept; the rest is read past with bounds checks. Counts are
//! capped and also bounded by the bytes left, so memory stays proportional to the header.

use super::folder::Folder;
use super::reader::ByteReader;
use super::ParseError;

pub(crate) const ID_END: u8 = 0x00;
pub(crate) const ID_HEADER: u8 = 0x01;
const ID_ARCHIVE_PROPERTIES: u8 = 0x02;
const ID_ADDITIONAL_STREAMS: u8 = 0x03;
const ID_MAIN_STREAMS: u8 = 0x04;
const ID_FILES: u8 = 0x05;
const ID_PACK_INFO: u8 = 0x06;
const ID_UNPACK_INFO: u8 = 0x07;
const ID_SUBSTREAMS: u8 = 0x08;
const ID_SIZE: u8 = 0x09;
const ID_CRC: u8 = 0x0A;
const ID_FOLDER: u8 = 0x0B;
const ID_CODERS_UNPACK_SIZE: u8 = 0x0C;
const ID_NUM_UNPACK_STREAM: u8 = 0x0D;
const ID_EMPTY_STREAM: u8 = 0x0E;
pub(crate) const ID_ENCODED_HEADER: u8 = 0x17;

const MAX_PACK_STREAMS: u64 = 1_000_000;
/// Each folder costs a few hundred bytes of memory: 100,000 bound it to some 40 MB.
const MAX_FOLDERS: u64 = 100_000;
/// Coders over all folders (a folder holds 1 to 8 in practice): bounds memory with MAX_FOLDERS.
const MAX_TOTAL_CODERS: usize = 400_000;
const MAX_FILES: u64 = 1_000_000;
const MAX_SUBSTREAMS: u64 = 1_000_000;
const MAX_PROPERTIES: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct StreamsInfo {
    pub pack_pos: u64,
    pub pack_sizes: Vec<u64>,
    pub folders: Vec<Folder>,
    /// Files (substreams) per folder; 1 each when SubStreamsInfo is absent.
    pub substreams: Vec<u64>,
}

impl StreamsInfo {
    pub(crate) fn parse(r: &mut ByteReader) -> Result<StreamsInfo, ParseError> {
        let mut info = StreamsInfo::default();
        let mut id = r.u8()?;
        if id == ID_PACK_INFO {
            parse_pack_info(r, &mut info)?;
            id = r.u8()?;
        }
        if id == ID_UNPACK_INFO {
            parse_unpack_info(r, &mut info)?;
            id = r.u8()?;
        }
        info.substreams = vec![1; info.folders.len()];
        if id == ID_SUBSTREAMS {
            parse_substreams(r, &mut info)?;
            id = r.u8()?;
        }
        if id != ID_END {
            return Err(unexpected(id, "streams info"));
        }
        let wanted: usize = info.folders.iter().map(|f| f.packed_streams.len()).sum();
        if wanted != info.pack_sizes.len() {
            return Err(ParseError::Structure(format!(
                "folders use {wanted} pack streams but {} are declared",
                info.pack_sizes.len()
            )));
        }
        Ok(info)
    }
}

fn unexpected(id: u8, place: &str) -> ParseError {
    ParseError::Structure(format!("unexpected property 0x{id:02X} in {place}"))
}

/// A count that is also bounded by the bytes left (each item takes at least one byte).
fn bounded_count(r: &mut ByteReader, cap: u64, what: &'static str) -> Result<usize, ParseError> {
    let n = r.count(cap, what)?;
    if n > r.remaining() {
        return Err(ParseError::Truncated("header"));
    }
    Ok(n)
}

fn parse_pack_info(r: &mut ByteReader, info: &mut StreamsInfo) -> Result<(), ParseError> {
    info.pack_pos = r.number()?;
    let n = bounded_count(r, MAX_PACK_STREAMS, "pack streams")?;
    loop {
        match r.u8()? {
            ID_END => break,
            ID_SIZE => {
                info.pack_sizes = (0..n).map(|_| r.number()).collect::<Result<_, _>>()?;
            }
            ID_CRC => {
                r.digests(n)?;
            }
            other => return Err(unexpected(other, "pack info")),
        }
    }
    if info.pack_sizes.len() != n {
        return Err(ParseError::Structure("pack info without sizes".into()));
    }
    Ok(())
}

fn parse_unpack_info(r: &mut ByteReader, info: &mut StreamsInfo) -> Result<(), ParseError> {
    if r.u8()? != ID_FOLDER {
        return Err(ParseError::Structure("unpack info without folders".into()));
    }
    let n = bounded_count(r, MAX_FOLDERS, "folders")?;
    if r.u8()? != 0 {
        return Err(ParseError::Unsupported(
            "external folder definitions".into(),
        ));
    }
    let mut folders = Vec::with_capacity(n);
    let mut coders = 0usize;
    for _ in 0..n {
        let folder = Folder::parse(r)?;
        coders += folder.coders.len();
        if coders > MAX_TOTAL_CODERS {
            return Err(ParseError::Limit(format!(
                "more than {MAX_TOTAL_CODERS} coders"
            )));
        }
        folders.push(folder);
    }
    if r.u8()? != ID_CODERS_UNPACK_SIZE {
        return Err(ParseError::Structure("folders without unpack sizes".into()));
    }
    for folder in &mut folders {
        folder.unpack_sizes = (0..folder.total_out())
            .map(|_| r.number())
            .collect::<Result<_, _>>()?;
    }
    loop {
        match r.u8()? {
            ID_END => break,
            ID_CRC => {
                for (folder, crc) in folders.iter_mut().zip(r.digests(n)?) {
                    folder.crc = crc;
                }
            }
            other => return Err(unexpected(other, "unpack info")),
        }
    }
    info.folders = folders;
    Ok(())
}

fn parse_substreams(r: &mut ByteReader, info: &mut StreamsInfo) -> Result<(), ParseError> {
    let mut id = r.u8()?;
    if id == ID_NUM_UNPACK_STREAM {
        let mut total: u64 = 0;
        for slot in info.substreams.iter_mut() {
            *slot = r.number()?;
            total = total.saturating_add(*slot);
        }
        if total > MAX_SUBSTREAMS || total > r.remaining() as u64 + info.folders.len() as u64 {
            return Err(ParseError::Limit(format!("{total} substreams")));
        }
        id = r.u8()?;
    }
    let mut first_sizes: Vec<Option<u64>> = info
        .folders
        .iter()
        .zip(&info.substreams)
        .map(|(f, &n)| if n == 1 { f.unpack_size() } else { None })
        .collect();
    if id == ID_SIZE {
        for (n, first) in info.substreams.iter().zip(first_sizes.iter_mut()) {
            for i in 1..*n {
                let size = r.number()?;
                if i == 1 {
                    *first = Some(size);
                }
            }
        }
        id = r.u8()?;
    }
    let unknown_crcs: u64 = info
        .folders
        .iter()
        .zip(&info.substreams)
        .map(|(f, &n)| if n == 1 && f.crc.is_some() { 0 } else { n })
        .sum();
    loop {
        match id {
            ID_END => return Ok(()),
            ID_CRC => {
                let count =
                    usize::try_from(unknown_crcs).map_err(|_| ParseError::Truncated("header"))?;
                let mut digests = r.digests(count)?.into_iter();
                for ((folder, &n), first) in info
                    .folders
                    .iter_mut()
                    .zip(&info.substreams)
                    .zip(&first_sizes)
                {
                    let known = n == 1 && folder.crc.is_some();
                    let crcs: Vec<Option<u32>> = if known {
                        vec![folder.crc]
                    } else {
                        digests.by_ref().take(n as usize).collect()
                    };
                    if let (Some(size), Some(Some(crc))) = (first, crcs.first()) {
                        folder.first_stream = Some((*size, *crc));
                    }
                }
            }
            other => return Err(unexpected(other, "substreams info")),
        }
        id = r.u8()?;
    }
}

/// What the plain (decoded) header tells.
#[derive(Debug, Default)]
pub(crate) struct Header {
    pub main: StreamsInfo,
    pub files: u64,
    pub empty_stream_files: u64,
}

impl Header {
    /// Parses from just after the `Header` id.
    pub(crate) fn parse(r: &mut ByteReader) -> Result<Header, ParseError> {
        let mut header = Header::default();
        let mut id = r.u8()?;
        if id == ID_ARCHIVE_PROPERTIES {
            skip_properties(r)?;
            id = r.u8()?;
        }
        if id == ID_ADDITIONAL_STREAMS {
            return Err(ParseError::Unsupported("additional streams".into()));
        }
        if id == ID_MAIN_STREAMS {
            header.main = StreamsInfo::parse(r)?;
            id = r.u8()?;
        }
        if id == ID_FILES {
            parse_files(r, &mut header)?;
            id = r.u8()?;
        }
        if id != ID_END {
            return Err(unexpected(id, "header"));
        }
        header.check_streams()?;
        Ok(header)
    }

    /// Files with data must match the substreams, one for one.
    fn check_streams(&self) -> Result<(), ParseError> {
        let streams = self
            .main
            .substreams
            .iter()
            .fold(0u64, |sum, n| sum.saturating_add(*n));
        let with_data = self.files.saturating_sub(self.empty_stream_files);
        if streams != with_data {
            return Err(ParseError::Structure(format!(
                "{with_data} files have data but the folders hold {streams} streams"
            )));
        }
        Ok(())
    }
}

fn skip_properties(r: &mut ByteReader) -> Result<(), ParseError> {
    for _ in 0..MAX_PROPERTIES {
        if r.number()? == 0 {
            return Ok(());
        }
        let size = r.number()?;
        r.bytes(size)?;
    }
    Err(ParseError::Limit("archive properties".into()))
}

fn parse_files(r: &mut ByteReader, header: &mut Header) -> Result<(), ParseError> {
    let n = r.count(MAX_FILES, "files")?;
    header.files = n as u64;
    for _ in 0..MAX_PROPERTIES {
        let kind = r.number()?;
        if kind == 0 {
            return Ok(());
        }
        let size = r.number()?;
        let data = r.bytes(size)?;
        if kind == u64::from(ID_EMPTY_STREAM) {
            let empty = ByteReader::new(data).bits(n)?;
            header.empty_stream_files = empty.iter().filter(|e| **e).count() as u64;
        }
    }
    Err(ParseError::Limit("file properties".into()))
}
