#!/usr/bin/env python3
"""Builds a protected message for the benchmark: an email to the protocol's mailbox that carries
one AES-256 encrypted 7z archive with encrypted headers (7zz -mhe=on -p...), made over random
data so it neither compresses nor repeats. The message is what the protocol asks for: a neutral
subject, a short body without identifiers or the password, the archive as the only attachment.

usage: make_protected.py OUT.eml ARCHIVE_BYTES [--to kindengezin@wervik.be]
"""

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid


def build_archive(workdir, target_bytes):
    """An encrypted 7z of about target_bytes (random content: the archive is ~ the data size)."""
    data = os.path.join(workdir, "dossier.bin")
    with open(data, "wb") as f:
        f.write(os.urandom(max(1, target_bytes - 256)))
    archive = os.path.join(workdir, "dossier.7z")
    password = secrets.token_urlsafe(18)
    # -mx=0: store (random data does not compress); the archive is still AES-256 encrypted,
    # header included, with 7-Zip's default key derivation (2^19 SHA-256 cycles).
    subprocess.run(["7zz", "a", "-t7z", "-mx=0", "-mhe=on", f"-p{password}", archive, data],
                   check=True, stdout=subprocess.DEVNULL)
    with open(archive, "rb") as f:
        return f.read()


def build_message(archive, to):
    msg = EmailMessage(policy=SMTP)
    msg["From"] = "Lokaal team Menen <team.menen@kindengezin.be>"
    msg["To"] = to
    msg["Subject"] = "Gegevensdeling"
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="kindengezin.be")
    msg.set_content("Beste,\n\nIn bijlage vindt u het dossier.\n\nMet vriendelijke groeten,\n"
                    "Lokaal team Menen\n")
    msg.add_attachment(archive, maintype="application", subtype="x-7z-compressed",
                       filename="dossier.7z")
    return msg.as_bytes(policy=SMTP)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("archive_bytes", type=int)
    p.add_argument("--to", default="kindengezin@wervik.be")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as work:
        archive = build_archive(work, args.archive_bytes)
    raw = build_message(archive, args.to)
    with open(args.out, "wb") as f:
        f.write(raw)
    print(f"{args.out}: archive {len(archive)} bytes, message {len(raw)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
