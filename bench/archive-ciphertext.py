#!/usr/bin/env python3
"""Measures the ciphertext test of the archive verdict (src/sevenz/ciphertext.rs) on real archives.

Both sides:
  - false rejects: ENCRYPTED archives made by 7-Zip (`7zz`) and py7zr over varied content
    (text, PDF, DOCX, JPEG, PNG, gz, zip, random, empty and 1-byte files, many files), every
    method, levels, solid or not, header encryption on or off; each must be `encrypted`;
  - catches: NON-encrypted archives (Copy, LZMA, LZMA2, Deflate, BZip2, PPMd) over the same
    content, with an encrypted header (py7zr: password, header_encryption=True, no AES filter),
    the same padded with a random file until the data region is a multiple of 16 bytes (so the
    length test cannot decide), and with a plain header; each should not be `encrypted`.

Archives go to a temporary directory and are deleted. Needs 7zz (Debian `7zip`), py7zr and
pillow (PyPI) and a built sealgate binary:

    cargo build --release && python3 bench/archive-ciphertext.py --out bench/archive-ciphertext-results.md

Options: --encrypted N (default 1200), --seed S, --sealgate PATH, --keep DIR.
"""

import argparse
import collections
import gzip
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import py7zr
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fixtures"))
import make_archives_py7zr as fixtures  # noqa: E402  (region_len, pad_to_block)

PW = "correct horse battery staple"
SEVENZ_METHODS = ["Copy", "LZMA", "LZMA2", "PPMd", "BZip2", "Deflate"]
LEVELS = [0, 1, 3, 5, 7, 9]
PY7ZR_FILTERS = {
    "Copy": None,
    "LZMA": py7zr.FILTER_LZMA,
    "LZMA2": py7zr.FILTER_LZMA2,
    "Deflate": py7zr.FILTER_DEFLATE,
    "BZip2": py7zr.FILTER_BZIP2,
    "PPMd": py7zr.FILTER_PPMD,
}

LETTER = (
    "Beste collega,\n\nIn bijlage het verslag van het huisbezoek bij de familie Peeters, "
    "Kerkstraat 1, 8940 Wervik. Rijksregisternummer moeder: 85.07.30-033.61, "
    "IBAN BE71 0961 2345 6769. Volgende afspraak: dinsdag 14 januari om 10u30.\n"
    "Met vriendelijke groeten,\nKind en Gezin Menen\n"
)


def pdf_bytes(lines, compress=False):
    """A minimal valid PDF with one page of text."""
    content = "BT /F1 11 Tf 50 780 Td 14 TL\n" + "".join(
        f"({line.replace('(', '[').replace(')', ']')}) '\n" for line in lines
    ) + "ET\n"
    stream = content.encode("latin-1", "replace")
    extra = ""
    if compress:
        import zlib

        stream = zlib.compress(stream)
        extra = " /Filter /FlateDecode"
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(stream)}{extra} >>\nstream\n".encode() + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def docx_bytes(paragraphs):
    """A minimal DOCX: a zip of WordprocessingML parts."""
    body = "".join(f"<w:p><w:r><w:t>{p}</w:t></w:r></w:p>" for p in paragraphs)
    parts = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
        "word/document.xml": '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
        + body
        + "</w:body></w:document>",
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            z.writestr(name, text)
    return out.getvalue()


def image_bytes(rng, fmt, size):
    w, h = size
    img = Image.new("RGB", (w, h))
    px = img.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = ((x * 3 + rng.randrange(16)) % 256, (y * 2) % 256, (x + y + rng.randrange(32)) % 256)
    out = io.BytesIO()
    img.save(out, fmt, quality=85) if fmt == "JPEG" else img.save(out, fmt)
    return out.getvalue()


def make_contents(root: Path, rng: random.Random):
    """One directory per content set; returns {name: dir}."""
    sets = {}

    def put(name, files):
        d = root / name
        d.mkdir(parents=True)
        for fname, data in files.items():
            (d / fname).write_bytes(data)
        sets[name] = d

    letter = LETTER.encode()
    long_text = "".join(LETTER.replace("Peeters", f"Peeters-{i}") for i in range(1500)).encode()
    lines = [f"Dossier {i}: {LETTER[:70]}" for i in range(40)]
    put("text-small", {"brief.txt": letter})
    put("text-large", {"verslag.txt": long_text})
    put("pdf", {"verslag.pdf": pdf_bytes(lines)})
    put("pdf-flate", {"verslag.pdf": pdf_bytes(lines * 5, compress=True)})
    put("docx", {"verslag.docx": docx_bytes([LETTER] * 30)})
    put("jpeg", {"foto.jpg": image_bytes(rng, "JPEG", (160, 120))})
    put("png", {"scan.png": image_bytes(rng, "PNG", (64, 48))})
    put("gz", {"verslag.txt.gz": gzip.compress(long_text)})
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("verslag.txt", long_text)
    put("zip", {"bijlagen.zip": zbuf.getvalue()})
    put("random", {"data.bin": rng.randbytes(20000)})
    put("empty", {"leeg1.txt": b"", "leeg2.txt": b""})
    put("tiny", {"a.txt": b"x"})
    put("many", {f"brief-{i:03d}.txt": LETTER.replace("Peeters", f"Janssens {i}").encode() for i in range(60)})
    put(
        "mixed",
        {
            "brief.txt": letter,
            "foto.jpg": (root / "jpeg" / "foto.jpg").read_bytes(),
            "data.bin": rng.randbytes(3000),
            "leeg.txt": b"",
            "verslag.pdf": pdf_bytes(lines),
        },
    )
    return sets


def sevenzip(src: Path, out: Path, method, level, hdr, solid, password=True):
    args = ["7zz", "a", "-bd", "-bso0", "-bsp0", "-t7z", f"-m0={method}", f"-mx={level}", f"-ms={'on' if solid else 'off'}"]
    if password:
        args += [f"-p{PW}", f"-mhe={'on' if hdr else 'off'}"]
    subprocess.run(args + [str(out), "."], cwd=src, check=True)


def py7zr_write(src: Path, out: Path, method, hdr, aes):
    filt = PY7ZR_FILTERS[method]
    filters = ([{"id": filt}] if filt else [])
    if aes:
        filters.append({"id": py7zr.FILTER_CRYPTO_AES256_SHA256})
    if not filters:
        filters = [{"id": py7zr.FILTER_COPY}]
    password = PW if (aes or hdr) else None
    with py7zr.SevenZipFile(out, "w", password=password, header_encryption=hdr, filters=filters) as a:
        for f in sorted(src.iterdir()):
            a.write(f, f.name)


def aligned_variant(src: Path, out: Path, method, rng):
    """Pads the content with a random file until the region is a multiple of 16 bytes."""
    files = [(f.name, f.read_bytes()) for f in sorted(src.iterdir())]
    return fixtures.pad_to_block(out, PW, PY7ZR_FILTERS[method] or py7zr.FILTER_COPY, files, rng)


def judge(sealgate, files):
    results = {}
    for i in range(0, len(files), 200):
        chunk = [str(f) for f in files[i : i + 200]]
        proc = subprocess.run([sealgate, "check-archive", "--json", *chunk], capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            obj = json.loads(line)
            results[obj["file"]] = obj
    return results


def which_test(reason):
    if "multiple of the 16-byte" in reason:
        return "length"
    if "starts with the signature" in reason:
        return "file signature"
    if "plain " in reason and "stream" in reason:
        return reason.split("plain ")[1].split(" ")[0] + " decoder"
    if "at offset" in reason:
        for key, name in [("signature", "signature in window"), ("text", "text"), ("repeated", "repeats"), ("chi-square", "histogram")]:
            if key in reason:
                return name
    if "no data stream" in reason:
        return "nothing stored"
    return "structure"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--encrypted", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--sealgate", default="target/release/sealgate")
    ap.add_argument("--out", default=None)
    ap.add_argument("--keep", default=None)
    args = ap.parse_args()
    for tool in ("7zz", args.sealgate):
        if shutil.which(tool) is None and not Path(tool).exists():
            sys.exit(f"archive-ciphertext: {tool} missing (apt-get install 7zip; cargo build --release)")
    rng = random.Random(args.seed)
    started = time.time()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="archive-ciphertext-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        sets = make_contents(work / "src", rng)
        arch = work / "archives"
        arch.mkdir()
        enc = []  # (path, producer, hdr, description)
        n7 = args.encrypted * 2 // 3
        for i in range(args.encrypted):
            name = rng.choice(sorted(sets))
            hdr = rng.random() < 0.75
            method = rng.choice(SEVENZ_METHODS)
            if i < n7:
                level = rng.choice(LEVELS)
                solid = rng.random() < 0.5
                path = arch / f"enc-7zz-{i:05d}.7z"
                sevenzip(sets[name], path, method, level, hdr, solid)
                enc.append((path, "7zz", hdr, method, name))
            else:
                path = arch / f"enc-py7zr-{i:05d}.7z"
                py7zr_write(sets[name], path, method, hdr, True)
                enc.append((path, "py7zr", hdr, method, name))
        plain = []  # (path, producer, kind, method, content)
        for name in sorted(sets):
            for method in PY7ZR_FILTERS:
                p = arch / f"plain-hdr-{method}-{name}.7z"
                py7zr_write(sets[name], p, method, True, False)
                plain.append((p, "py7zr", "encrypted header", method, name))
                p = arch / f"plain-aligned-{method}-{name}.7z"
                if aligned_variant(sets[name], p, method, rng):
                    plain.append((p, "py7zr", "encrypted header, region padded to 16", method, name))
                p = arch / f"plain-{method}-{name}.7z"
                py7zr_write(sets[name], p, method, False, False)
                plain.append((p, "py7zr", "plain header", method, name))
                p = arch / f"plain-7zz-{method}-{name}.7z"
                sevenzip(sets[name], p, method, 5, False, True, password=False)
                plain.append((p, "7zz", "plain header", method, name))
        results = judge(args.sealgate, [e[0] for e in enc] + [p[0] for p in plain])
        report = render(enc, plain, results, len(sets), time.time() - started, args)
        if args.out:
            Path(args.out).write_text(report)
        print(report)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def render(enc, plain, results, nsets, elapsed, args):
    out = []
    w = out.append
    w("# Archive verdict: ciphertext test, measured\n")
    w(f"Made by `bench/archive-ciphertext.py --encrypted {args.encrypted} --seed {args.seed}` "
      f"({nsets} content sets, {elapsed:.0f} s on this machine). 7-Zip: {subprocess.run(['7zz'], capture_output=True, text=True).stdout.strip().splitlines()[0] if shutil.which('7zz') else '?'}; py7zr {py7zr.__version__}.\n")
    w("## Encrypted archives (false rejects must be 0)\n")
    w("| producer | header encrypted | archives | `encrypted` | false rejects |")
    w("|---|---|---:|---:|---:|")
    def by_design(r, name):
        # An archive of only empty files encrypts nothing: `unencrypted` on purpose.
        return name == "empty" and "no data stream" in r.get("reason", "")

    groups = collections.defaultdict(list)
    for path, producer, hdr, method, name in enc:
        r = results.get(str(path), {})
        if not by_design(r, name):
            groups[(producer, hdr)].append(r.get("verdict"))
    fr_all = []
    for (producer, hdr), verdicts in sorted(groups.items()):
        ok = sum(v == "encrypted" for v in verdicts)
        w(f"| {producer} | {'yes' if hdr else 'no'} | {len(verdicts)} | {ok} | {len(verdicts) - ok} |")
    empty = 0
    for path, producer, hdr, method, name in enc:
        r = results.get(str(path), {})
        if by_design(r, name):
            empty += 1
        elif r.get("verdict") != "encrypted":
            fr_all.append(f"- {producer} {method} hdr={hdr} {name}: {r.get('verdict')} ({r.get('reason')})")
    total = len(enc) - empty
    bad = len(fr_all)
    w(f"| **all** | | **{total}** | **{total - bad}** | **{bad}** |\n")
    w(f"Not counted: {empty} archives of only empty files (`unencrypted` by design: nothing in them is encrypted).\n")
    by_method = collections.Counter((e[3]) for e in enc)
    w("Methods: " + ", ".join(f"{m} {n}" for m, n in sorted(by_method.items())) + ". Content sets: "
      + ", ".join(sorted({e[4] for e in enc})) + ".\n")
    if fr_all:
        w("False rejects:\n")
        out.extend(fr_all)
        w("")
    w("## Non-encrypted archives (which are caught)\n")
    w("Caught = any verdict but `encrypted`. The test that decided is the first that fired.\n")
    w("| method | kind | producer | caught | deciding tests | missed (content) |")
    w("|---|---|---|---:|---|---|")
    groups = collections.defaultdict(list)
    for path, producer, kind, method, name in plain:
        groups[(method, kind, producer)].append((name, results.get(str(path), {})))
    totals = collections.Counter()
    for (method, kind, producer), items in sorted(groups.items()):
        caught = [(n, r) for n, r in items if r.get("verdict") not in ("encrypted", None)]
        missed = [n for n, r in items if r.get("verdict") in ("encrypted", None)]
        tests = collections.Counter(which_test(r.get("reason", "")) for _, r in caught)
        totals[kind, "all"] += len(items)
        totals[kind, "caught"] += len(caught)
        w(f"| {method} | {kind} | {producer} | {len(caught)}/{len(items)} | "
          + ", ".join(f"{t} {n}" for t, n in tests.most_common()) + f" | {', '.join(missed) or '-'} |")
    w("")
    for kind in sorted({k for k, _ in totals}):
        w(f"- {kind}: {totals[kind, 'caught']} of {totals[kind, 'all']} caught")
    w("")
    return "\n".join(out)


if __name__ == "__main__":
    main()
