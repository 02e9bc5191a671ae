//! Benchmark of the archive verdict (not a test: nothing is asserted).
//!
//!     cargo bench --bench archive_verdict
//!
//! Builds the large archives once with `fixtures/make-archives.sh --big` into
//! target/archive-bench/ (7zz, 7z and py7zr needed), then times `verdict` and `password_opens`
//! on them. Results are written down in bench/results/archive-verdict.md.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sealgate::sevenz;

fn corpus() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/archive-bench");
    if !dir.join("big-20000-files-nonsolid.7z").exists() {
        let status = Command::new("bash")
            .arg(root.join("fixtures/make-archives.sh"))
            .arg("--big")
            .arg(&dir)
            .status()
            .expect("bash");
        assert!(status.success(), "make-archives.sh --big failed");
    }
    dir
}

/// Median and maximum of `runs` calls.
fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .collect();
    times.sort();
    (times[runs / 2], times[runs - 1])
}

/// big-50mb.7z with the first byte of its data region set to 0x00, the start byte of LZMA and
/// PPMd streams: the ciphertext test then runs every decoder probe (75 LZMA property sets, 10
/// PPMd orders, Deflate) before its 64 windows. No checksum covers the region.
const WORST_CASE: &str = "big-50mb.7z, region starting 0x00";

fn worst_case(dir: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(dir.join("big-50mb.7z")).unwrap();
    bytes[32] = 0;
    bytes
}

fn main() {
    let dir = corpus();
    let password = std::fs::read_to_string(dir.join("password.txt")).unwrap();
    let password = password.trim_end();
    println!("| archive | size | verdict | files | median | max |");
    println!("|---|---:|---|---:|---:|---:|");
    for name in [
        "big-50mb.7z",
        "big-50mb-visible.7z",
        "big-25mb-visible.7z",
        "big-20000-files.7z",
        "big-20000-files-visible.7z",
        "big-20000-files-nonsolid.7z",
        "enc-hdr-lzma2.7z",
        "plain-lzma-header.7z",
        "py7zr-plain-hdr-enc-ppmd-aligned.7z",
        WORST_CASE,
    ] {
        let bytes = if name == WORST_CASE {
            worst_case(&dir)
        } else {
            std::fs::read(dir.join(name)).unwrap()
        };
        let v = sevenz::verdict(&bytes);
        let (median, max) = time(21, || sevenz::verdict(&bytes));
        println!(
            "| {name} | {:.1} MB | {} | {} | {:.3} ms | {:.3} ms |",
            bytes.len() as f64 / 1e6,
            v.verdict.as_str(),
            v.files.map_or("hidden".into(), |n| n.to_string()),
            median.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3
        );
    }
    println!();
    println!("| password_opens | result | median |");
    println!("|---|---|---:|");
    for name in ["big-20000-files.7z", "big-50mb.7z", "enc-lzma2.7z"] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let result = sevenz::password_opens(&bytes, password);
        let (median, _) = time(3, || sevenz::password_opens(&bytes, password));
        println!(
            "| {name} (2^19 rounds) | {result:?} | {:.0} ms |",
            median.as_secs_f64() * 1e3
        );
    }
}
