//! Folders (7-Zip's coder graphs) and the question this crate exists for: does every path from
//! every pack stream to the folder's output pass through a 7zAES coder?
//!
//! A folder is a small graph: coders with numbered input and output streams, bind pairs that
//! feed one coder's output into another's input, and pack streams that feed the remaining
//! inputs from the file. Walking back from the one unbound output finds every path.

use super::reader::ByteReader;
use super::ParseError;

pub(crate) const AES_ID: &[u8] = &[0x06, 0xF1, 0x07, 0x01];
pub(crate) const LZMA_ID: &[u8] = &[0x03, 0x01, 0x01];
pub(crate) const LZMA2_ID: &[u8] = &[0x21];
pub(crate) const COPY_ID: &[u8] = &[0x00];

const MAX_CODERS: u64 = 32;
const MAX_STREAMS_PER_CODER: u64 = 32;
const MAX_PROPS: u64 = 1024;

#[derive(Debug, Clone)]
pub(crate) struct Coder {
    pub id: Vec<u8>,
    pub num_in: usize,
    pub num_out: usize,
    pub props: Vec<u8>,
}

impl Coder {
    pub(crate) fn is_aes(&self) -> bool {
        self.id == AES_ID
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Folder {
    pub coders: Vec<Coder>,
    /// (input stream index, output stream index): that output feeds that input.
    pub bind_pairs: Vec<(usize, usize)>,
    /// Input stream indices fed by pack streams, in pack-stream order.
    pub packed_streams: Vec<usize>,
    /// Size of every output stream, filled from CodersUnPackSize.
    pub unpack_sizes: Vec<u64>,
    pub crc: Option<u32>,
    /// Size and CRC of the folder's first file, when known: enough to test a password.
    pub first_stream: Option<(u64, u32)>,
}

/// The 7zAES coder's key-derivation parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AesProps {
    pub cycles_power: u8,
    pub salt: Vec<u8>,
    pub iv: [u8; 16],
}

impl AesProps {
    /// byte0: bits 0-5 NumCyclesPower, bit 6 IV present, bit 7 salt present;
    /// byte1: extra IV size (low nibble) and extra salt size (high nibble).
    pub(crate) fn parse(props: &[u8]) -> Result<AesProps, ParseError> {
        let b0 = *props
            .first()
            .ok_or_else(|| bad("7zAES coder without properties"))?;
        let cycles_power = b0 & 0x3F;
        if b0 & 0xC0 == 0 {
            return Ok(AesProps {
                cycles_power,
                salt: Vec::new(),
                iv: [0; 16],
            });
        }
        let b1 = *props
            .get(1)
            .ok_or_else(|| bad("7zAES properties truncated"))?;
        let salt_len = usize::from((b0 >> 7) & 1) + usize::from(b1 >> 4);
        let iv_len = usize::from((b0 >> 6) & 1) + usize::from(b1 & 0x0F);
        let salt = props
            .get(2..2 + salt_len)
            .ok_or_else(|| bad("7zAES salt truncated"))?;
        let iv_bytes = props
            .get(2 + salt_len..2 + salt_len + iv_len)
            .ok_or_else(|| bad("7zAES IV truncated"))?;
        let mut iv = [0u8; 16];
        iv[..iv_len].copy_from_slice(iv_bytes);
        Ok(AesProps {
            cycles_power,
            salt: salt.to_vec(),
            iv,
        })
    }
}

fn bad(reason: &str) -> ParseError {
    ParseError::Structure(reason.to_string())
}

impl Folder {
    pub(crate) fn parse(r: &mut ByteReader) -> Result<Folder, ParseError> {
        let num_coders = r.count(MAX_CODERS, "coders in a folder")?;
        if num_coders == 0 {
            return Err(bad("folder without coders"));
        }
        let mut coders = Vec::with_capacity(num_coders);
        for _ in 0..num_coders {
            coders.push(parse_coder(r)?);
        }
        let total_out: usize = coders.iter().map(|c| c.num_out).sum();
        let total_in: usize = coders.iter().map(|c| c.num_in).sum();
        let max_in = (total_in as u64)
            .checked_sub(1)
            .ok_or_else(|| bad("folder without inputs"))?;
        let num_bind_pairs = total_out
            .checked_sub(1)
            .ok_or_else(|| bad("folder without outputs"))?;
        let mut bind_pairs = Vec::with_capacity(num_bind_pairs);
        for _ in 0..num_bind_pairs {
            let input = r.count(max_in, "bind pair input index")?;
            let output = r.count(total_out as u64 - 1, "bind pair output index")?;
            bind_pairs.push((input, output));
        }
        let num_packed = total_in
            .checked_sub(num_bind_pairs)
            .filter(|n| *n > 0)
            .ok_or_else(|| bad("folder has more bind pairs than inputs"))?;
        let packed_streams = if num_packed == 1 {
            let free = (0..total_in).find(|i| bind_pairs.iter().all(|(input, _)| input != i));
            vec![free.ok_or_else(|| bad("folder has no unbound input"))?]
        } else {
            let mut packed = Vec::with_capacity(num_packed);
            for _ in 0..num_packed {
                packed.push(r.count(max_in, "packed stream index")?);
            }
            packed
        };
        let folder = Folder {
            coders,
            bind_pairs,
            packed_streams,
            unpack_sizes: Vec::new(),
            crc: None,
            first_stream: None,
        };
        folder.check_graph()?;
        Ok(folder)
    }

    pub(crate) fn total_out(&self) -> usize {
        self.coders.iter().map(|c| c.num_out).sum()
    }

    /// The coder and its first input/output stream index, for every coder.
    fn stream_bases(&self) -> Vec<(usize, usize)> {
        let mut bases = Vec::with_capacity(self.coders.len());
        let (mut i, mut o) = (0, 0);
        for coder in &self.coders {
            bases.push((i, o));
            i += coder.num_in;
            o += coder.num_out;
        }
        bases
    }

    fn coder_of_output(&self, output: usize) -> Option<usize> {
        let mut first = 0;
        for (index, coder) in self.coders.iter().enumerate() {
            if output >= first && output - first < coder.num_out {
                return Some(index);
            }
            first += coder.num_out;
        }
        None
    }

    /// The one output that leaves the folder: the output no bind pair consumes.
    pub(crate) fn main_output(&self) -> Option<usize> {
        (0..self.total_out()).find(|o| self.bind_pairs.iter().all(|(_, out)| out != o))
    }

    /// For every coder and each of its inputs: the coder feeding it, or None for a pack stream.
    fn feeders(&self) -> Vec<Vec<Option<usize>>> {
        let bases = self.stream_bases();
        self.coders
            .iter()
            .zip(&bases)
            .map(|(coder, &(in_base, _))| {
                (in_base..in_base + coder.num_in)
                    .map(|input| {
                        self.bind_pairs
                            .iter()
                            .find(|(i, _)| *i == input)
                            .and_then(|&(_, out)| self.coder_of_output(out))
                    })
                    .collect()
            })
            .collect()
    }

    /// Each input is fed exactly once (by a bind pair or a pack stream), each output is used at
    /// most once, and every coder lies on the way to the main output, without cycles.
    fn check_graph(&self) -> Result<(), ParseError> {
        let total_in: usize = self.coders.iter().map(|c| c.num_in).sum();
        let mut fed = vec![0u8; total_in];
        for input in self
            .bind_pairs
            .iter()
            .map(|(i, _)| *i)
            .chain(self.packed_streams.iter().copied())
        {
            let slot = fed
                .get_mut(input)
                .ok_or_else(|| bad("stream index out of range"))?;
            *slot = slot.saturating_add(1);
        }
        if fed.iter().any(|&n| n != 1) {
            return Err(bad("a coder input is fed twice or not at all"));
        }
        let mut outputs: Vec<usize> = self.bind_pairs.iter().map(|(_, o)| *o).collect();
        outputs.sort_unstable();
        if outputs.windows(2).any(|w| w[0] == w[1]) {
            return Err(bad("a coder output is bound twice"));
        }
        let main = self
            .main_output()
            .ok_or_else(|| bad("folder has no unbound output"))?;
        let root = self
            .coder_of_output(main)
            .ok_or_else(|| bad("stream index out of range"))?;
        let feeders = self.feeders();
        let mut state = vec![Visit::New; self.coders.len()];
        visit(root, &feeders, &mut state)?;
        if state.iter().any(|s| *s != Visit::Done) {
            return Err(bad("a coder does not lead to the folder's output"));
        }
        Ok(())
    }

    /// True when every path from a pack stream to the main output passes a 7zAES coder.
    pub(crate) fn is_encrypted(&self) -> bool {
        let Some(root) = self.main_output().and_then(|o| self.coder_of_output(o)) else {
            return false;
        };
        let feeders = self.feeders();
        let mut memo = vec![None; self.coders.len()];
        self.protected(root, &feeders, &mut memo, 0)
    }

    /// A coder's output is protected when the coder is 7zAES or all its inputs come from
    /// protected coders (a pack stream input is unprotected).
    fn protected(
        &self,
        coder: usize,
        feeders: &[Vec<Option<usize>>],
        memo: &mut [Option<bool>],
        depth: usize,
    ) -> bool {
        if let Some(known) = memo.get(coder).copied().flatten() {
            return known;
        }
        let answer = if self.coders.get(coder).is_some_and(Coder::is_aes) {
            true
        } else if depth > self.coders.len() {
            false
        } else {
            feeders.get(coder).is_some_and(|inputs| {
                inputs
                    .iter()
                    .all(|f| f.is_some_and(|c| self.protected(c, feeders, memo, depth + 1)))
            })
        };
        if let Some(slot) = memo.get_mut(coder) {
            *slot = Some(answer);
        }
        answer
    }

    pub(crate) fn aes_coders(&self) -> impl Iterator<Item = &Coder> {
        self.coders.iter().filter(|c| c.is_aes())
    }

    /// Size of the folder's main output (the unpacked data).
    pub(crate) fn unpack_size(&self) -> Option<u64> {
        self.main_output()
            .and_then(|o| self.unpack_sizes.get(o).copied())
    }

    /// For a chain of single-input coders: the coders from the pack stream to the output.
    pub(crate) fn simple_chain(&self) -> Option<Vec<usize>> {
        if self.coders.iter().any(|c| c.num_in != 1 || c.num_out != 1) {
            return None;
        }
        let mut chain = Vec::with_capacity(self.coders.len());
        let mut input = *self.packed_streams.first()?;
        // The coder whose input is the pack stream comes first; follow its output via bind pairs.
        loop {
            let coder = input; // with one input and one output per coder, stream index = coder index
            chain.push(coder);
            match self.bind_pairs.iter().find(|(_, out)| *out == coder) {
                Some(&(next_in, _)) if chain.len() <= self.coders.len() => input = next_in,
                Some(_) => return None,
                None => return Some(chain),
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Visit {
    New,
    Open,
    Done,
}

/// Depth-first walk towards the pack streams; meeting an open coder again means a cycle.
fn visit(
    coder: usize,
    feeders: &[Vec<Option<usize>>],
    state: &mut [Visit],
) -> Result<(), ParseError> {
    match state.get(coder) {
        Some(Visit::Done) => return Ok(()),
        Some(Visit::Open) => return Err(bad("coder graph has a cycle")),
        Some(Visit::New) => state[coder] = Visit::Open,
        None => return Err(bad("stream index out of range")),
    }
    for feeder in feeders.get(coder).into_iter().flatten().flatten() {
        visit(*feeder, feeders, state)?;
    }
    state[coder] = Visit::Done;
    Ok(())
}

fn parse_coder(r: &mut ByteReader) -> Result<Coder, ParseError> {
    let flags = r.u8()?;
    if flags & 0x80 != 0 {
        return Err(ParseError::Unsupported("alternative coder methods".into()));
    }
    let id = r.bytes(u64::from(flags & 0x0F))?.to_vec();
    let (num_in, num_out) = if flags & 0x10 != 0 {
        let num_in = r.count(MAX_STREAMS_PER_CODER, "coder inputs")?;
        let num_out = r.count(MAX_STREAMS_PER_CODER, "coder outputs")?;
        (num_in, num_out)
    } else {
        (1, 1)
    };
    if num_out == 0 {
        return Err(bad("coder without outputs"));
    }
    let props = if flags & 0x20 != 0 {
        let len = r.number()?;
        if len > MAX_PROPS {
            return Err(ParseError::Limit(format!(
                "coder properties of {len} bytes"
            )));
        }
        r.bytes(len)?.to_vec()
    } else {
        Vec::new()
    };
    Ok(Coder {
        id,
        num_in,
        num_out,
        props,
    })
}
