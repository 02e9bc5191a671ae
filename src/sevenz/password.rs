//! 7zAES with a known password: key derivation and AES-256-CBC decryption.
//!
//! Used only to tell whether a password found in the same message opens the archive. The key
//! derivation costs 2^NumCyclesPower SHA-256 rounds, so the caller refuses powers above
//! `MAX_CYCLES_POWER` instead of burning CPU on a crafted archive.

use std::io::{self, Read};

use aes::cipher::{Array, BlockModeDecrypt, KeyIvInit};
use aes::Aes256;
use sha2::{Digest, Sha256};

use super::folder::AesProps;

/// 2^24 rounds take about a second; 7-Zip writes 19.
pub const MAX_CYCLES_POWER: u8 = 24;
/// NumCyclesPower 63: the key is salt || password, zero-padded, without hashing.
pub const RAW_KEY_POWER: u8 = 63;

/// The AES-256 key for `password` (UTF-16LE, as 7-Zip encodes it). None when too costly.
pub(crate) fn derive_key(props: &AesProps, password: &str) -> Option<[u8; 32]> {
    let utf16: Vec<u8> = password.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut key = [0u8; 32];
    if props.cycles_power == RAW_KEY_POWER {
        for (slot, byte) in key.iter_mut().zip(props.salt.iter().chain(&utf16)) {
            *slot = *byte;
        }
        return Some(key);
    }
    if props.cycles_power > MAX_CYCLES_POWER {
        return None;
    }
    let mut sha = Sha256::new();
    for round in 0..(1u64 << props.cycles_power) {
        sha.update(&props.salt);
        sha.update(&utf16);
        sha.update(round.to_le_bytes());
    }
    key.copy_from_slice(&sha.finalize());
    Some(key)
}

/// Decrypts an AES-256-CBC stream block by block as it is read (the `cbc` crate chains).
pub(crate) struct AesCbcReader<R> {
    inner: R,
    cbc: cbc::Decryptor<Aes256>,
    block: [u8; 16],
    available: usize,
    done: bool,
}

impl<R: Read> AesCbcReader<R> {
    pub(crate) fn new(inner: R, key: &[u8; 32], iv: [u8; 16]) -> Self {
        let cbc = cbc::Decryptor::<Aes256>::new(&Array::from(*key), &Array::from(iv));
        AesCbcReader {
            inner,
            cbc,
            block: [0; 16],
            available: 0,
            done: false,
        }
    }

    fn next_block(&mut self) -> io::Result<bool> {
        let mut block = [0u8; 16];
        let mut filled = 0;
        while filled < 16 {
            let n = self.inner.read(&mut block[filled..])?;
            if n == 0 {
                return Ok(false); // a partial last block cannot be decrypted: end of stream
            }
            filled += n;
        }
        let mut block = Array::from(block);
        self.cbc.decrypt_block(&mut block);
        self.block = block.into();
        self.available = 16;
        Ok(true)
    }
}
impl<R: Read> Read for AesCbcReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.available == 0 && !self.done && !self.next_block()? {
            self.done = true;
        }
        let n = self.available.min(out.len());
        let start = 16 - self.available;
        out[..n].copy_from_slice(&self.block[start..start + n]);
        self.available -= n;
        Ok(n)
    }
}
