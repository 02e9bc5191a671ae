//! A bounds-checked cursor over header bytes with 7z's variable-length numbers.
//!
//! Every read goes through `get`, so a lying size field ends in `ParseError::Truncated`,
//! never in a panic or an allocation sized by the input.

use super::ParseError;

pub(crate) struct ByteReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        ByteReader { data, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, ParseError> {
        let byte = *self
            .data
            .get(self.pos)
            .ok_or(ParseError::Truncated("header"))?;
        self.pos += 1;
        Ok(byte)
    }

    pub(crate) fn bytes(&mut self, len: u64) -> Result<&'a [u8], ParseError> {
        let len = usize::try_from(len).map_err(|_| ParseError::Truncated("header"))?;
        let end = self
            .pos
            .checked_add(len)
            .ok_or(ParseError::Truncated("header"))?;
        let slice = self
            .data
            .get(self.pos..end)
            .ok_or(ParseError::Truncated("header"))?;
        self.pos = end;
        Ok(slice)
    }

    pub(crate) fn u32_le(&mut self) -> Result<u32, ParseError> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// 7z's number: the count of leading 1 bits of the first byte gives the extra bytes (0..8).
    pub(crate) fn number(&mut self) -> Result<u64, ParseError> {
        let first = self.u8()?;
        let extra = first.leading_ones() as usize;
        let mut value: u64 = 0;
        for i in 0..extra.min(8) {
            value |= u64::from(self.u8()?) << (8 * i);
        }
        if extra < 8 {
            let high = u64::from(first) & ((1u64 << (7 - extra)) - 1);
            value |= high << (8 * extra);
        }
        Ok(value)
    }

    /// A number that must not exceed `cap` (counts that size allocations or loops).
    pub(crate) fn count(&mut self, cap: u64, what: &'static str) -> Result<usize, ParseError> {
        let value = self.number()?;
        if value > cap {
            return Err(ParseError::Limit(format!(
                "{what}: {value} exceeds the cap of {cap}"
            )));
        }
        usize::try_from(value).map_err(|_| ParseError::Limit(what.to_string()))
    }

    /// `n` bits, most significant first.
    pub(crate) fn bits(&mut self, n: usize) -> Result<Vec<bool>, ParseError> {
        let bytes = self.bytes(n.div_ceil(8) as u64)?;
        Ok((0..n)
            .map(|i| bytes[i / 8] & (0x80 >> (i % 8)) != 0)
            .collect())
    }

    /// An "all defined" byte followed, when zero, by a bit vector.
    pub(crate) fn defined(&mut self, n: usize) -> Result<Vec<bool>, ParseError> {
        if self.u8()? != 0 {
            Ok(vec![true; n])
        } else {
            self.bits(n)
        }
    }

    /// A digest list: which of `n` items have a CRC, and the CRCs.
    pub(crate) fn digests(&mut self, n: usize) -> Result<Vec<Option<u32>>, ParseError> {
        let defined = self.defined(n)?;
        defined
            .into_iter()
            .map(|d| if d { self.u32_le().map(Some) } else { Ok(None) })
            .collect()
    }
}
