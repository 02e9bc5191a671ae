//! Hostile input: header mutations with the CRCs recomputed (so the parser goes deep instead of
//! stopping at the first checksum), random bytes, and hand-built archives with lying sizes,
//! cyclic coder graphs and BCJ2 folders with an unencrypted path. Every call must return a
//! verdict with a reason; no timing is asserted (see benches/ for speed).

use std::path::Path;

use sealgate::sevenz::{self, VerdictKind};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/archives")
            .join(name),
    )
    .unwrap()
}

/// An archive from packed bytes and a next header, with both CRCs right.
fn build(packed: &[u8], header: &[u8]) -> Vec<u8> {
    let mut out = vec![0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C, 0, 4];
    let mut start = Vec::new();
    start.extend_from_slice(&(packed.len() as u64).to_le_bytes());
    start.extend_from_slice(&(header.len() as u64).to_le_bytes());
    start.extend_from_slice(&crc32fast::hash(header).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&start).to_le_bytes());
    out.extend_from_slice(&start);
    out.extend_from_slice(packed);
    out.extend_from_slice(header);
    out
}

/// (packed bytes, next header) of an archive.
fn split(archive: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let offset = u64::from_le_bytes(archive[12..20].try_into().unwrap()) as usize;
    (
        archive[32..32 + offset].to_vec(),
        archive[32 + offset..].to_vec(),
    )
}

fn mutate(rng: &mut Rng, header: &[u8]) -> Vec<u8> {
    let mut h = header.to_vec();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(h.len());
        match rng.below(6) {
            0 => h[at] ^= 1 << rng.below(8),
            1 => h[at] = rng.next() as u8,
            2 => h[at] = [0x00, 0x01, 0x7F, 0x80, 0xFF][rng.below(5)],
            3 => {
                h.remove(at);
            }
            4 => h.insert(at, rng.next() as u8),
            _ => {
                // A huge 7z number: 0xFF followed by eight bytes.
                let big = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F];
                h.splice(at..at, big.iter().copied());
            }
        }
        if h.is_empty() {
            h.push(0);
        }
    }
    h
}

#[test]
fn thousands_of_header_mutations_each_get_a_verdict() {
    let bases = [
        "plain-raw-header.7z",
        "enc-raw-header.7z",
        "enc-bcj2-raw-header.7z",
        "only-empty.7z",
        "plain-lzma-header.7z",
        "enc-hdr-lzma2.7z",
        "py7zr-hdr-enc-c12.7z",
        "mixed.7z",
    ];
    let mut rng = Rng(0x5EA1_6A7E);
    let mut seen = std::collections::BTreeMap::new();
    for base in bases {
        let (packed, header) = split(&fixture(base));
        for _ in 0..500 {
            let archive = build(&packed, &mutate(&mut rng, &header));
            let v = sevenz::verdict(&archive);
            assert!(!v.reason.is_empty());
            if v.verdict == VerdictKind::Encrypted && v.header_encrypted == Some(false) {
                assert_eq!(
                    v.folders, v.encrypted_folders,
                    "{base}: encrypted needs every folder encrypted"
                );
                assert!(v.folders.unwrap_or(0) > 0);
            }
            *seen.entry(v.verdict.as_str()).or_insert(0) += 1;
        }
    }
    eprintln!("verdicts over the mutations: {seen:?}");
    // The mutations reached past the CRC checks: some still parse, most are refused.
    assert!(seen.get("corrupt").copied().unwrap_or(0) > 1000, "{seen:?}");
    assert!(seen.len() >= 3, "{seen:?}");
}

#[test]
fn mutations_of_the_packed_header_get_a_verdict() {
    // Mutate bytes inside the LZMA-packed header (the next header keeps its CRC).
    let archive = fixture("plain-lzma-header.7z");
    let (packed, header) = split(&archive);
    let mut rng = Rng(42);
    for _ in 0..300 {
        let mut p = packed.clone();
        let from = p.len().saturating_sub(200);
        let at = from + rng.below(p.len() - from);
        p[at] = rng.next() as u8;
        let v = sevenz::verdict(&build(&p, &header));
        assert!(
            matches!(v.verdict, VerdictKind::Corrupt | VerdictKind::Unencrypted),
            "{v:?}"
        );
    }
}

#[test]
fn random_and_truncated_input_is_never_accepted() {
    let mut rng = Rng(7);
    for len in [0usize, 1, 5, 6, 31, 32, 33, 100, 4096] {
        for _ in 0..50 {
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if len >= 6 && rng.below(2) == 0 {
                bytes[..6].copy_from_slice(&[0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C]);
            }
            let v = sevenz::verdict(&bytes);
            assert!(
                matches!(v.verdict, VerdictKind::NotSevenZ | VerdictKind::Corrupt),
                "{len}: {v:?}"
            );
        }
    }
    let whole = fixture("enc-raw-header.7z");
    for cut in (0..whole.len()).step_by(97) {
        let v = sevenz::verdict(&whole[..cut]);
        assert!(
            matches!(v.verdict, VerdictKind::NotSevenZ | VerdictKind::Corrupt),
            "cut {cut}: {v:?}"
        );
    }
}

/// A 7z number.
fn num(v: u64) -> Vec<u8> {
    if v < 0x80 {
        return vec![v as u8];
    }
    let mut out = vec![0xFF];
    out.extend_from_slice(&v.to_le_bytes());
    out
}

/// A complex coder record: id, inputs, outputs, properties.
fn coder(id: &[u8], num_in: u64, num_out: u64, props: &[u8]) -> Vec<u8> {
    let mut out = vec![id.len() as u8 | 0x10 | if props.is_empty() { 0 } else { 0x20 }];
    out.extend_from_slice(id);
    out.extend(num(num_in));
    out.extend(num(num_out));
    if !props.is_empty() {
        out.extend(num(props.len() as u64));
        out.extend_from_slice(props);
    }
    out
}

const AES: &[u8] = &[0x06, 0xF1, 0x07, 0x01];
const LZMA: &[u8] = &[0x03, 0x01, 0x01];
const BCJ2: &[u8] = &[0x03, 0x03, 0x01, 0x1B];
const AES_PROPS: &[u8] = &[
    0x53, 0x0F, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
];

/// A raw header with one folder (given as its coder records, bind pairs and packed inputs),
/// `pack` pack streams of 16 bytes and one file.
fn one_folder_archive(
    coders: &[Vec<u8>],
    binds: &[(u64, u64)],
    packed: &[u64],
    outputs: usize,
) -> Vec<u8> {
    let mut h = vec![0x01, 0x04, 0x06, 0x00];
    h.extend(num(packed.len() as u64));
    h.push(0x09);
    for _ in packed {
        h.extend(num(16));
    }
    h.extend([0x00, 0x07, 0x0B, 0x01, 0x00]);
    h.extend(num(coders.len() as u64));
    for c in coders {
        h.extend_from_slice(c);
    }
    for (i, o) in binds {
        h.extend(num(*i));
        h.extend(num(*o));
    }
    if packed.len() > 1 {
        for p in packed {
            h.extend(num(*p));
        }
    }
    h.push(0x0C);
    for _ in 0..outputs {
        h.extend(num(10));
    }
    h.extend([0x00, 0x00, 0x05, 0x01, 0x00, 0x00]);
    build(&vec![0u8; 16 * packed.len()], &h)
}

/// BCJ2 with three LZMA inputs behind AES; the fourth (range coder) input as given.
fn bcj2_archive(fourth_encrypted: bool) -> Vec<u8> {
    let mut coders = vec![
        coder(BCJ2, 4, 1, &[]),
        coder(LZMA, 1, 1, &[0x5D, 0, 0, 1, 0]),
        coder(LZMA, 1, 1, &[0x5D, 0, 0, 1, 0]),
        coder(LZMA, 1, 1, &[0x5D, 0, 0, 1, 0]),
    ];
    coders.extend((0..3).map(|_| coder(AES, 1, 1, AES_PROPS)));
    let mut binds = vec![(0, 1), (1, 2), (2, 3), (4, 4), (5, 5), (6, 6)];
    let packed = if fourth_encrypted {
        coders.push(coder(AES, 1, 1, AES_PROPS));
        binds.push((3, 7));
        vec![7, 8, 9, 10]
    } else {
        vec![7, 8, 9, 3]
    };
    let outputs = coders.len();
    one_folder_archive(&coders, &binds, &packed, outputs)
}

#[test]
fn bcj2_with_one_unencrypted_input_is_not_encrypted() {
    let v = sevenz::verdict(&bcj2_archive(false));
    assert_eq!(v.verdict, VerdictKind::Unencrypted, "{v:?}");
    assert_eq!(
        v.kdf_cycles_power,
        Some(19),
        "the AES coders that are there still count"
    );
    let v = sevenz::verdict(&bcj2_archive(true));
    assert_eq!(v.verdict, VerdictKind::Encrypted, "{v:?}");
    assert_eq!((v.folders, v.encrypted_folders), (Some(1), Some(1)));
}

#[test]
fn cyclic_and_dangling_coder_graphs_are_corrupt() {
    // Coder 0 (inputs 0-1, outputs 0-1) and coder 1 (input 2, output 2) feed each other.
    let coders = [
        coder(LZMA, 2, 2, &[0x5D, 0, 0, 1, 0]),
        coder(AES, 1, 1, AES_PROPS),
    ];
    let v = sevenz::verdict(&one_folder_archive(&coders, &[(0, 2), (2, 0)], &[1], 3));
    assert_eq!(v.verdict, VerdictKind::Corrupt, "{v:?}");
    assert!(v.reason.contains("cycle"), "{}", v.reason);
    // The same two coders as a proper chain: LZMA's output feeds AES, AES's output leaves.
    let coders = [
        coder(LZMA, 2, 1, &[0x5D, 0, 0, 1, 0]),
        coder(AES, 1, 1, AES_PROPS),
    ];
    let v = sevenz::verdict(&one_folder_archive(&coders, &[(2, 0)], &[0, 1], 2));
    assert_eq!(v.verdict, VerdictKind::Encrypted, "{v:?}");
    // AES first, LZMA last, but LZMA's second input comes straight from the file.
    let coders = [
        coder(LZMA, 2, 1, &[0x5D, 0, 0, 1, 0]),
        coder(AES, 1, 1, AES_PROPS),
    ];
    let v = sevenz::verdict(&one_folder_archive(&coders, &[(0, 1)], &[1, 2], 2));
    assert_eq!(v.verdict, VerdictKind::Unencrypted, "{v:?}");
    // Every input bound (one coder feeds itself): no input is left for a pack stream.
    let coders = [
        coder(LZMA, 1, 1, &[0x5D, 0, 0, 1, 0]),
        coder(AES, 1, 2, AES_PROPS),
    ];
    let v = sevenz::verdict(&one_folder_archive(&coders, &[(1, 2), (0, 1)], &[], 3));
    assert_eq!(v.verdict, VerdictKind::Corrupt, "{v:?}");
}

#[test]
fn lying_sizes_are_refused_without_allocating() {
    // 2^60 files, 2^60 pack streams, 2^60 folders.
    for header in [
        [&[0x01u8, 0x05][..], &num(1 << 60), &[0x00, 0x00]].concat(),
        [&[0x01u8, 0x04, 0x06, 0x00][..], &num(1 << 60), &[0x00]].concat(),
        [&[0x01u8, 0x04, 0x07, 0x0B][..], &num(1 << 60), &[0x00]].concat(),
    ] {
        let v = sevenz::verdict(&build(&[], &header));
        assert_eq!(v.verdict, VerdictKind::Corrupt, "{v:?}");
    }
    // An LZMA-packed header that claims 2^40 unpacked bytes (bomb).
    let mut h = vec![
        0x17, 0x06, 0x00, 0x01, 0x09, 0x10, 0x00, 0x07, 0x0B, 0x01, 0x00, 0x01,
    ];
    h.extend([
        0x23, 0x03, 0x01, 0x01, 0x05, 0x5D, 0x00, 0x00, 0x00, 0x40, 0x0C,
    ]);
    h.extend(num(1 << 40));
    h.extend([0x00, 0x00]);
    let v = sevenz::verdict(&build(&[0u8; 16], &h));
    assert_eq!(v.verdict, VerdictKind::Corrupt);
    assert!(v.reason.contains("limit"), "{}", v.reason);
    // A next header size of 2^62.
    let mut a = build(&[], &[0x01, 0x00]);
    a[20..28].copy_from_slice(&(1u64 << 62).to_le_bytes());
    let crc = crc32fast::hash(&a[12..32]);
    a[8..12].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(sevenz::verdict(&a).verdict, VerdictKind::Corrupt);
}

#[test]
fn bytes_outside_every_stream_are_corrupt() {
    // Trailing bytes after the header, and a gap before the header that no stream claims.
    let mut a = fixture("enc-raw-header.7z");
    a.extend_from_slice(b"PK\x03\x04 smuggled");
    let v = sevenz::verdict(&a);
    assert_eq!(v.verdict, VerdictKind::Corrupt);
    assert!(v.reason.contains("after the end"), "{}", v.reason);
    let (mut packed, header) = split(&fixture("enc-raw-header.7z"));
    packed.extend_from_slice(b"hidden plain text");
    let v = sevenz::verdict(&build(&packed, &header));
    assert_eq!(v.verdict, VerdictKind::Corrupt);
    assert!(v.reason.contains("no stream"), "{}", v.reason);
}

#[test]
fn an_empty_archive_holds_nothing_encrypted() {
    let mut a = vec![0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C, 0, 4];
    let start = [0u8; 20];
    a.extend_from_slice(&crc32fast::hash(&start).to_le_bytes());
    a.extend_from_slice(&start);
    let v = sevenz::verdict(&a);
    assert_eq!(v.verdict, VerdictKind::Unencrypted);
    assert_eq!(v.files, Some(0));
}

#[test]
fn an_executable_carrying_a_7z_archive_is_a_self_extractor() {
    for stub in [&b"MZ\x90\x00"[..], &b"\x7FELF\x02\x01\x01"[..]] {
        let mut sfx = stub.to_vec();
        sfx.resize(4096, 0);
        sfx.extend_from_slice(&fixture("enc-hdr-lzma2.7z"));
        let v = sevenz::verdict(&sfx);
        assert_eq!(v.verdict, VerdictKind::NotSevenZ);
        assert!(v.reason.contains("self-extracting"), "{}", v.reason);
    }
    // A 7z archive after some other bytes is not an archive either, nor called an SFX.
    let mut padded = b"hello".to_vec();
    padded.extend_from_slice(&fixture("enc-hdr-lzma2.7z"));
    let v = sevenz::verdict(&padded);
    assert_eq!(v.verdict, VerdictKind::NotSevenZ);
    assert!(!v.reason.contains("self-extracting"));
}

#[test]
fn coders_over_all_folders_are_capped() {
    // Folders of 32 chained one-byte coders: 12,500 of them reach the cap of 400,000 coders.
    let folder: Vec<u8> = [
        vec![32u8],
        vec![0u8; 32],
        (0..31u8).flat_map(|i| [i + 1, i]).collect(),
    ]
    .concat();
    let header_for = |folders: u64| {
        let mut h = vec![0x01, 0x04, 0x06, 0x00];
        h.extend(num(folders));
        h.push(0x09);
        h.extend(std::iter::repeat_n(0u8, folders as usize));
        h.extend([0x00, 0x07, 0x0B]);
        h.extend(num(folders));
        h.push(0x00);
        for _ in 0..folders {
            h.extend_from_slice(&folder);
        }
        h.push(0x0C);
        h.extend(std::iter::repeat_n(0u8, 32 * folders as usize));
        h.extend([0x00, 0x00, 0x05]);
        h.extend(num(folders));
        h.extend([0x00, 0x00]);
        build(&[], &h)
    };
    let v = sevenz::verdict(&header_for(12_500));
    assert_eq!(v.verdict, VerdictKind::Unencrypted, "{v:?}");
    let v = sevenz::verdict(&header_for(12_501));
    assert_eq!(v.verdict, VerdictKind::Corrupt);
    assert!(v.reason.contains("coders"), "{}", v.reason);
}
