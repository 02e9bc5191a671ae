#!/usr/bin/env python3
"""Measures the identifier rule (identifier_in_text) both ways, through policy::evaluate.

False positives: a seeded corpus of ordinary Dutch/English business mail dense with digits
(phone numbers, dates, times, amounts, invoice/order/dossier numbers, postcodes, tracking
numbers, KBO numbers, structured bank references, version numbers, ISBNs, tables, signature
blocks, Message-IDs of real clients). Every message is flagged or not; the rate is reported in
all and per kind of number (from single-kind messages, dense in that one kind).

Detection: real INSZ (both check-digit variants, bis numbers) and IBANs (several countries),
in every spelling (groupings, separators, invisible characters, full-width digits, wraps) and
every place (body, format=flowed, HTML text, split by tags, attributes, <title>, CSS content,
every header field, display names, file names, nested message). Must be 100 %.

Usage: python3 bench/identifier-false-positives.py [--seed N] [--messages N] [--keep DIR]
Needs cargo (builds examples/identifier_scan). No other program.
"""

import argparse
import base64
import json
import os
import random
import subprocess
import sys
import tempfile
import urllib.parse
from collections import Counter, defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "fixtures/messages/sealgate-test.toml")
RCPT = "kindengezin@wervik.be"

# ---------------------------------------------------------------- identifiers


def insz(rng):
    """A valid INSZ: random birth date (or bis number), serial, either century."""
    born_2000 = rng.random() < 0.4
    year = rng.randrange(0, 27) if born_2000 else rng.randrange(20, 100)
    month = rng.randrange(1, 13)
    kind = rng.random()
    if kind < 0.1:
        month += 20  # bis number, sex unknown
    elif kind < 0.2:
        month += 40  # bis number, sex known
    day = rng.randrange(1, 29)
    serial = rng.randrange(1, 998)
    nine = int(f"{year:02d}{month:02d}{day:02d}{serial:03d}")
    base = 2_000_000_000 + nine if born_2000 else nine
    return f"{nine:09d}{97 - base % 97:02d}"


IBAN_COUNTRIES = {  # country: (length, bban generator)
    "BE": (16, lambda r: digits(r, 12)),
    "NL": (18, lambda r: r.choice(["ABNA", "RABO", "INGB", "TRIO"]) + digits(r, 10)),
    "DE": (22, lambda r: digits(r, 18)),
    "FR": (27, lambda r: digits(r, 23)),
    "GB": (22, lambda r: r.choice(["WEST", "NWBK", "BARC"]) + digits(r, 14)),
    "LU": (20, lambda r: digits(r, 16)),
}


def digits(rng, n):
    return "".join(rng.choice("0123456789") for _ in range(n))


def iban(rng):
    country = rng.choice(list(IBAN_COUNTRIES))
    bban = IBAN_COUNTRIES[country][1](rng)
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    return f"{country}{check:02d}{bban}"


FULLWIDTH = {str(d): chr(0xFF10 + d) for d in range(10)}


def insz_spellings(n, rng):
    a, b, c, d, e = n[0:2], n[2:4], n[4:6], n[6:9], n[9:11]
    cut = rng.randrange(1, 10)
    return {
        "straight": n,
        "6-5": f"{a}{b}{c} {d}{e}",
        "6-3-2": f"{a}{b}{c}-{d}-{e}",
        "2-2-2-3-2 dots": f"{a}.{b}.{c}-{d}.{e}",
        "2-2-2-3-2 spaces": f"{a} {b} {c} {d} {e}",
        "4-4-3": f"{n[0:4]} {n[4:8]} {n[8:11]}",
        "tabs": f"{a}{b}{c}\t{d}\t{e}",
        "commas": f"{a},{b},{c},{d},{e}",
        "dot space": f"{a}. {b}. {c}. {d}. {e}",
        "space dash space": f"{a}{b}{c} - {d} - {e}",
        "double spaces": f"{a}{b}{c}  {d}  {e}",
        "slashes": f"{a}/{b}/{c}/{d}/{e}",
        "en dash": f"{a}{b}{c}\u2013{d}\u2013{e}",
        "em dash": f"{a}{b}{c} \u2014 {d}.{e}",
        "nbsp": f"{a}{b}{c}\u00a0{d}\u00a0{e}",
        "soft hyphens": "\u00ad".join(n),
        "zero-width spaces": "\u200b".join(n),
        "zero-width joiners": "\u200d".join(n[:6]) + "\u2060" + n[6:] + "\ufeff",
        "full-width": "".join(FULLWIDTH[ch] for ch in n),
        "full-width grouped": "".join(FULLWIDTH.get(ch, ch) for ch in f"{a}.{b}.{c}-{d}.{e}"),
        "hard wrap inside": n[:cut] + "\r\n" + n[cut:],
        "hard wrap grouped": f"{a}.{b}.{c}-\r\n{d}.{e}",
    }


def iban_spellings(n, rng):
    groups = [n[i:i + 4] for i in range(0, len(n), 4)]
    cut = rng.randrange(5, len(n) - 1)
    return {
        "compact": n,
        "groups of 4": " ".join(groups),
        "dots": ".".join(groups),
        "slashes": "/".join(groups),
        "double spaces": "  ".join(groups),
        "dashes": "-".join(groups),
        "lower case": " ".join(groups).lower(),
        "nbsp": "\u00a0".join(groups),
        "zero-width spaces": "\u200b".join(n),
        "soft hyphens": "\u00ad".join(groups),
        "full-width": "".join(chr(ord(c) + 0xFEE0) for c in " ".join(groups) if c != " ") ,
        "hard wrap inside": n[:cut] + "\r\n" + n[cut:],
        "wrapped groups": " ".join(groups[:2]) + " \r\n" + " ".join(groups[2:]),
    }


# ---------------------------------------------------------------- messages


def encoded_word(text):
    if all(ord(c) < 128 for c in text) and "\r" not in text and "\t" not in text:
        return text
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


def rfc2231(text):
    return "utf-8''" + urllib.parse.quote(text, safe="")


BOUNDARY = "----=_Part_8d2e4f1a"


def message(headers, parts):
    """headers: list of (name, value); parts: list of (header lines, body)."""
    out = [f"{k}: {v}" for k, v in headers]
    out.append("MIME-Version: 1.0")
    if len(parts) == 1:
        head, body = parts[0]
        out.extend(head)
        out.append("")
        out.append(body)
    else:
        out.append(f'Content-Type: multipart/alternative; boundary="{BOUNDARY}"')
        out.append("")
        for head, body in parts:
            out.append(f"--{BOUNDARY}")
            out.extend(head)
            out.append("")
            out.append(body)
        out.append(f"--{BOUNDARY}--")
    return ("\r\n".join(out) + "\r\n").encode()


def plain(body, flowed=False):
    ct = "Content-Type: text/plain; charset=utf-8" + ("; format=flowed" if flowed else "")
    return ([ct, "Content-Transfer-Encoding: 8bit"], body.replace("\r\n", "\n").replace("\n", "\r\n"))


def html_part(body):
    return (["Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 8bit"],
            body.replace("\r\n", "\n").replace("\n", "\r\n"))


def base_headers(rng, subject="Verslag", message_id=None):
    return [
        ("From", '"Team Kind en Gezin Menen" <team.menen@opgroeien.be>'),
        ("To", f"<{RCPT}>"),
        ("Subject", subject),
        ("Date", "Tue, 1 Dec 2026 09:46:11 +0100"),
        ("Message-ID", message_id or message_id_for(rng)),
    ]


def message_id_for(rng):
    hexs = lambda n: "".join(rng.choice("0123456789abcdef") for _ in range(n))
    styles = [
        lambda: f"<{hexs(8)}-{hexs(4)}-{hexs(4)}-{hexs(4)}-{hexs(12)}@opgroeien.be>",
        lambda: f"<AM0PR0{rng.randrange(1, 9)}MB{rng.randrange(1000, 9999)}{hexs(12).upper()}@AM0PR0{rng.randrange(1, 9)}MB{rng.randrange(1000, 9999)}.eurprd0{rng.randrange(1, 9)}.prod.outlook.com>",
        lambda: f"<CA+{base64.b64encode(bytes(rng.randrange(256) for _ in range(24))).decode().rstrip('=')}@mail.gmail.com>",
        lambda: f"<{rng.randrange(10**9, 10**10)}.{rng.randrange(10**4, 10**5)}.{rng.randrange(1, 9)}.camel@opgroeien.be>",
        lambda: f"<2026120{rng.randrange(1, 9)}{rng.randrange(10**5, 10**6)}.GA{rng.randrange(10**4, 10**5)}@mail.opgroeien.be>",
        lambda: f"<{rng.randrange(10**12, 10**13)}.{rng.randrange(10**6, 10**7)}@opgroeien.be>",
    ]
    return rng.choice(styles)()


# ---------------------------------------------------------------- ordinary numbers


def d(rng, n):
    return digits(rng, n)


def phone(rng):
    z, a = d(rng, 2), d(rng, 2)
    return rng.choice([
        f"+32 {z} {d(rng, 2)} {d(rng, 2)} {d(rng, 2)}",
        f"0{z}/{d(rng, 2)}.{d(rng, 2)}.{d(rng, 2)}",
        f"047{d(rng, 1)} {d(rng, 2)} {d(rng, 2)} {d(rng, 2)}",
        f"+32 (0){z} {d(rng, 2)} {d(rng, 2)} {d(rng, 2)}",
        f"0{z} {d(rng, 2)} {d(rng, 2)} {d(rng, 2)}",
        f"04{d(rng, 2)}/{d(rng, 2)}.{d(rng, 2)}.{d(rng, 2)}",
        f"+32 4{d(rng, 2)} {d(rng, 2)} {d(rng, 2)} {d(rng, 2)}",
        f"0032 {z} {d(rng, 2)} {d(rng, 2)} {d(rng, 2)}",
        f"+31 6 {d(rng, 8)}",
        f"+44 20 {d(rng, 4)} {d(rng, 4)}",
        f"0{z}-{d(rng, 6)}",
        f"04{d(rng, 2)} {d(rng, 3)} {d(rng, 3)}",
    ])


def date(rng):
    y = rng.choice([2024, 2025, 2026, 2027])
    m, day = rng.randrange(1, 13), rng.randrange(1, 29)
    return rng.choice([
        f"{day:02d}.{m:02d}.{y}", f"{y}-{m:02d}-{day:02d}", f"{day}/{m}/{y}",
        f"{day:02d}-{m:02d}-{y}", f"{day} december {y}", f"{m:02d}/{day:02d}/{y}",
        f"{day:02d}/{m:02d}/{y % 100:02d}", f"{day:02d}.{m:02d}.{y} - {rng.randrange(1, 29):02d}.{m:02d}.{y}",
    ])


def time_(rng):
    h, mi = rng.randrange(7, 20), rng.choice([0, 15, 30, 45])
    return rng.choice([f"{h}:{mi:02d}", f"{h}u{mi:02d}", f"{h}.{mi:02d} uur",
                       f"{h}.{mi:02d}-{h + 1}.{mi:02d}", f"{h}h{mi:02d}"])


def amount(rng):
    v = rng.randrange(100, 10_000_000)
    eu = f"{v // 100:,}".replace(",", ".") + f",{v % 100:02d}"
    us = f"{v // 100:,}.{v % 100:02d}"
    return rng.choice([f"\u20ac {eu}", f"EUR {eu}", f"{us} EUR", f"\u20ac{v // 100},{v % 100:02d}",
                       f"{eu} euro", f"\u20ac {v // 100},-"])


def invoice(rng):
    return rng.choice([
        f"factuur 2026/{d(rng, 5)}", f"INV-2026-{d(rng, 6)}", f"order {d(rng, 10)}",
        f"bestelbon nr. 2026{d(rng, 4)}", f"PO 4500{d(rng, 4)}", f"klantnummer {d(rng, 6)}",
        f"dossier 2026/{d(rng, 4)}", f"ref. {d(rng, 5)}/2026", f"ons kenmerk: KG/2026/{d(rng, 5)}",
        f"uw referentie {d(rng, 3)}-{d(rng, 4)}-{d(rng, 3)}", f"contract {d(rng, 8)}",
        f"offerte {d(rng, 4)}.{d(rng, 3)}", f"artikel {d(rng, 3)}.{d(rng, 3)}.{d(rng, 2)}",
    ])


def postcode(rng):
    return rng.choice([f"{rng.randrange(1000, 9999)} Wervik", f"B-{rng.randrange(1000, 9999)} Ieper",
                       f"Kerkstraat {rng.randrange(1, 200)}, {rng.randrange(1000, 9999)} Menen",
                       f"Postbus {rng.randrange(1, 999)}, {rng.randrange(1000, 9999)} Brussel"])


def tracking(rng):
    letters = lambda n: "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(n))
    return rng.choice([
        f"1Z{letters(3)}{d(rng, 3)}{d(rng, 10)}", f"3S{letters(4)}{d(rng, 9)}",
        f"JVGL{d(rng, 16)}", f"CD{d(rng, 9)}BE", f"00{d(rng, 18)}", f"3232{d(rng, 20)}",
        f"DHL {d(rng, 10)}", f"zending {d(rng, 12)}", f"GLS {d(rng, 11)}",
    ])


def kbo(rng):
    n = d(rng, 9)
    base = int("0" + n[:7]) if False else int(n[:7])
    num = f"0{n[:7]}{97 - base % 97:02d}"
    return rng.choice([f"{num[:4]}.{num[4:7]}.{num[7:]}", f"BE {num[:4]}.{num[4:7]}.{num[7:]}",
                       f"BE{num}", f"ondernemingsnummer {num[:4]} {num[4:7]} {num[7:]}",
                       f"KBO {num}", f"btw BE{num[:4]}.{num[4:7]}.{num[7:]}"])


def ogm(rng):
    n = d(rng, 10)
    check = int(n) % 97 or 97
    full = f"{n}{check:02d}"
    return rng.choice([f"+++{full[:3]}/{full[3:7]}/{full[7:]}+++", f"***{full[:3]}/{full[3:7]}/{full[7:]}***",
                       f"mededeling {full[:3]}/{full[3:7]}/{full[7:]}"])


def version(rng):
    return rng.choice([f"v{rng.randrange(1, 20)}.{rng.randrange(0, 30)}.{rng.randrange(0, 99)}",
                       f"versie 10.0.{d(rng, 5)}", f"build {d(rng, 5)}.{d(rng, 4)}",
                       f"release 2026.{rng.randrange(1, 13)}.{rng.randrange(1, 9)}"])


def isbn(rng):
    return rng.choice([f"978-90-{d(rng, 4)}-{d(rng, 3)}-{d(rng, 1)}", f"ISBN 978-1-{d(rng, 4)}-{d(rng, 4)}-{d(rng, 1)}",
                       f"90-{d(rng, 4)}-{d(rng, 3)}-{d(rng, 1)}", f"ISBN {d(rng, 13)}"])


def ip(rng):
    return ".".join(str(rng.randrange(1, 255)) for _ in range(4))


KINDS = {
    "phone": phone, "date": date, "time": time_, "amount": amount, "invoice": invoice,
    "postcode": postcode, "tracking": tracking, "kbo": kbo, "ogm": ogm, "version": version,
    "isbn": isbn, "ip": ip,
}

SENTENCES = [
    "Zoals afgesproken stuur ik u {x}.", "Kunt u {x} nog even nakijken?", "Bel gerust op {x}.",
    "Ons kenmerk is {x}, uw kenmerk {y}.", "Please find {x} attached, see also {y}.",
    "De afspraak staat op {x} om {y}.", "Betaling van {x} voor {y}.", "Reference: {x}",
    "{x}", "{x} / {y}", "{x} - {y}", "{x}, {y}", "Regarding {x} and {y}, {z}.",
    "Meeting moved to {x} ({y}).", "Totaal: {x}", "Zie ook {x}\n{y}\n{z}",
]


def filler(rng, kinds, n):
    lines = []
    for _ in range(n):
        t = rng.choice(SENTENCES)
        vals = {k: KINDS[rng.choice(kinds)](rng) for k in "xyz"}
        lines.append(t.format(**vals))
    return lines


def signature(rng):
    return "\n".join([
        "Met vriendelijke groeten,", "", "An Peeters", "Team Kind en Gezin Menen",
        postcode(rng), phone(rng), phone(rng), rng.choice([phone(rng), "", kbo(rng)]),
        "www.kindengezin.be",
    ])


def table_text(rng, kinds):
    rows = []
    for _ in range(rng.randrange(3, 10)):
        rows.append("  ".join(KINDS[rng.choice(kinds)](rng) for _ in range(rng.randrange(2, 5))))
    return "\n".join(rows)


def table_html(rng, kinds):
    rows = []
    for _ in range(rng.randrange(3, 10)):
        cells = "".join(f"<td>{KINDS[rng.choice(kinds)](rng)}</td>" for _ in range(rng.randrange(2, 5)))
        rows.append(f"<tr>{cells}</tr>")
    return '<table border="0" cellpadding="2" width="600">' + "".join(rows) + "</table>"


def ordinary(rng, kinds):
    body = ["Beste," if rng.random() < 0.6 else "Dear colleague,", ""]
    body.extend(filler(rng, kinds, rng.randrange(8, 25)))
    if rng.random() < 0.5:
        body.extend(["", table_text(rng, kinds)])
    body.extend(["", signature(rng)])
    text = "\n".join(body)
    subject = rng.choice(["Verslag", "Factuur", "Afspraak", "RE: dossier", "FW: bestelling"]) + " " + \
        KINDS[rng.choice(kinds)](rng)
    headers = base_headers(rng, subject)
    headers.append(("X-Mailer", rng.choice(["Microsoft Outlook 16.0", "Mozilla Thunderbird 128.5.0"])))
    headers.insert(0, ("Received", f"from [{ip(rng)}] (unknown [{ip(rng)}]) by mail.opgroeien.be (Postfix) "
                                   f"with ESMTPSA id 4{d(rng, 3)}A{d(rng, 4)}; Tue, 1 Dec 2026 09:46:11 +0100 (CET)"))
    if rng.random() < 0.5:
        return message(headers, [plain(text, flowed=rng.random() < 0.5)])
    html = "<html><head><title>" + subject + "</title><style>p{margin:0 0 12px 0;font-size:11pt}</style></head><body>"
    html += "".join(f"<p>{line}</p>" if line else "<br>" for line in text.split("\n"))
    if rng.random() < 0.6:
        html += table_html(rng, kinds)
    html += f'<img src="https://www.kindengezin.be/logo.png" width="120" height="40" alt="Kind en Gezin">'
    html += "</body></html>"
    return message(headers, [plain(text), html_part(html)])


# ---------------------------------------------------------------- places


def detection_message(rng, value, place):
    """`value` written in `place` of an otherwise harmless message."""
    headers = base_headers(rng)
    body = "Beste,\n\nIn bijlage het verslag.\n\nGroeten,\nAn"
    parts = None
    if place == "plain body":
        body = f"Beste,\n\nHet gaat over {value}, zie bijlage.\n\nGroeten,\nAn"
    elif place == "flowed body (soft break)":
        words = f"Het dossier van de betrokkene met nummer {value} werd vandaag afgesloten".split(" ")
        k = rng.randrange(1, len(words))
        body = "Beste,\n\n" + " ".join(words[:k]) + " \n" + " ".join(words[k:]) + "\n\nGroeten"
        parts = [plain(body, flowed=True)]
    elif place == "quoted reply wrapped":
        half = len(value) // 2
        body = f"Beste,\n\nZie hieronder.\n\n> Het nummer is {value[:half]}\n> {value[half:]} graag\n"
    elif place.startswith("html"):
        v = value.replace("\r\n", "\n")
        esc = v.replace("&", "&amp;").replace("<", "&lt;")
        half = len(v) // 2
        doc = {
            "html text": f"<p>Het gaat over {esc}.</p>",
            "html split by <br>": f"<p>{v[:half]}<br>{v[half:]}</p>",
            "html split by <span>": f"<p>nr <span>{v[:half]}</span><b>{v[half:]}</b></p>",
            "html table cells": f"<table><tr><td>{v[:half]}</td><td>{v[half:]}</td></tr></table>",
            "html alt": f'<p>Zie logo</p><img src="https://x.be/a.png" alt="{esc}">',
            "html title attribute": f'<p title="{esc}">Zie dossier</p>',
            "html value": f'<form><input type="text" value="{esc}"></form>',
            "html placeholder": f'<input placeholder="{esc}">',
            "html aria-label": f'<a href="https://x.be" aria-label="{esc}">link</a>',
            "html meta content": f'<meta name="description" content="{esc}">',
            "html <title>": f"<html><head><title>{esc}</title></head><body><p>Zie bijlage</p></body></html>",
            "html css content": f'<style>p.x::after{{content:"{esc}"}}</style><p class=x>Zie</p>',
            "html entities": "<p>" + "".join(f"&#{ord(c)};" for c in v) + "</p>",
            "html comment": f"<p>Zie bijlage</p><!-- {esc} -->",
        }[place]
        parts = [plain("Zie bijlage."), html_part(f"<html><body>{doc}</body></html>" if "<html>" not in doc else doc)]
    else:
        folded = value.replace("\r\n", "\r\n ")
        ew = encoded_word(value.replace("\r\n", ""))
        if place == "subject":
            headers[2] = ("Subject", "Verslag " + (folded if value.isascii() else ew))
        elif place == "second subject":
            headers.append(("Subject", "Dossier " + ew))
        elif place == "subject encoded word":
            headers[2] = ("Subject", encoded_word("Dossier \u00e9 " + value.replace("\r\n", "")))
        elif place == "from display name":
            headers[0] = ("From", f'"{ew}" <an@opgroeien.be>' if ew == value else f"{ew} <an@opgroeien.be>")
        elif place == "to display name":
            headers[1] = ("To", f"{ew} <{RCPT}>")
        elif place == "cc display name":
            headers.append(("Cc", f"{ew} <team@opgroeien.be>"))
        elif place == "thread-topic":
            headers.append(("Thread-Topic", folded if value.isascii() else ew))
        elif place == "x- field":
            headers.append(("X-Dossier", folded if value.isascii() else ew))
        elif place == "message-id":
            headers[4] = ("Message-ID", "<" + value.replace("\r\n", "").replace(" ", ".") + "@opgroeien.be>")
        elif place == "content-description":
            parts = [(["Content-Type: text/plain; charset=utf-8", "Content-Description: " + ew], body)]
        elif place == "content-type name":
            parts = [(["Content-Type: text/plain; charset=utf-8; name*=" + rfc2231(value.replace("\r\n", "") + ".txt")], body)]
        elif place == "content-disposition filename":
            parts = [(["Content-Type: text/plain; charset=utf-8",
                       "Content-Disposition: inline; filename*=" + rfc2231("rr " + value.replace("\r\n", "") + ".txt")], body)]
        elif place == "nested message subject":
            nested = f"Subject: {ew}\r\nFrom: a@b.be\r\n\r\nx\r\n"
            return message(headers, [plain(body), (["Content-Type: message/rfc822"], nested)])
        elif place == "nested message body":
            nested = f"Subject: fw\r\nFrom: a@b.be\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nnummer {value}\r\n"
            return message(headers, [plain(body), (["Content-Type: message/rfc822"], nested)])
        else:
            raise ValueError(place)
    return message(headers, parts or [plain(body)])


PLACES = [
    "plain body", "flowed body (soft break)", "quoted reply wrapped", "html text", "html split by <br>",
    "html split by <span>", "html table cells", "html alt", "html title attribute", "html value",
    "html placeholder", "html aria-label", "html meta content", "html <title>", "html css content",
    "html entities", "html comment", "subject", "second subject", "subject encoded word",
    "from display name", "to display name", "cc display name", "thread-topic", "x- field", "message-id",
    "content-description", "content-type name", "content-disposition filename",
    "nested message subject", "nested message body",
]


# ---------------------------------------------------------------- run


def run_scan(paths):
    subprocess.run(["cargo", "build", "--quiet", "--example", "identifier_scan"], cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    exe = os.path.join(target, "debug/examples/identifier_scan")
    out = subprocess.run([exe, CONFIG, RCPT], input="\n".join(paths) + "\n", capture_output=True,
                         text=True, check=True).stdout
    result = {}
    for line in out.splitlines():
        path, _, codes = line.partition("\t")
        result[path] = codes.split(",") if codes else []
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--messages", type=int, default=5000, help="mixed ordinary messages")
    ap.add_argument("--per-kind", type=int, default=500, help="single-kind messages per kind")
    ap.add_argument("--detect-rounds", type=int, default=4,
                    help="fresh identifiers per (spelling, place)")
    ap.add_argument("--keep", help="write the corpus here and keep it")
    ap.add_argument("--json", help="write the figures as JSON to this file")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    work = args.keep or tempfile.mkdtemp(prefix="idfp-")
    os.makedirs(work, exist_ok=True)
    cases = []  # (path, set, label)

    def write(name, data, group, label):
        path = os.path.join(work, name)
        with open(path, "wb") as f:
            f.write(data)
        cases.append((path, group, label))

    for i in range(args.messages):
        write(f"fp-mixed-{i:05d}.eml", ordinary(rng, list(KINDS)), "fp-mixed", "mixed")
    for kind in KINDS:
        for i in range(args.per_kind):
            write(f"fp-{kind}-{i:04d}.eml", ordinary(rng, [kind]), "fp-kind", kind)
    for i in range(args.detect_rounds):
        for place in PLACES:
            for spelling, value in insz_spellings(insz(rng), rng).items():
                write(f"det-insz-{len(cases):06d}.eml", detection_message(rng, value, place), "detect",
                      f"insz|{spelling}|{place}")
            for spelling, value in iban_spellings(iban(rng), rng).items():
                write(f"det-iban-{len(cases):06d}.eml", detection_message(rng, value, place), "detect",
                      f"iban|{spelling}|{place}")

    flagged = run_scan([c[0] for c in cases])
    stats = defaultdict(Counter)
    missed = Counter()
    for path, group, label in cases:
        hit = "identifier_in_text" in flagged.get(path, [])
        stats[group]["total"] += 1
        stats[group]["flagged"] += hit
        if group == "fp-kind":
            stats["kind:" + label]["total"] += 1
            stats["kind:" + label]["flagged"] += hit
        if group == "detect":
            what, spelling, place = label.split("|")
            stats["detect:" + what]["total"] += 1
            stats["detect:" + what]["flagged"] += hit
            if not hit:
                missed[label] += 1

    figures = {k: dict(v) for k, v in sorted(stats.items())}
    print(f"seed {args.seed}, corpus in {work}")
    for key, v in figures.items():
        rate = 100.0 * v["flagged"] / v["total"] if v["total"] else 0.0
        print(f"{key:24s} {v['flagged']:6d} / {v['total']:6d}  {rate:7.3f} %")
    if missed:
        print("missed detections:")
        for label, n in missed.most_common(40):
            print(f"  {n:4d}  {label}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"seed": args.seed, "figures": figures, "missed": dict(missed)}, f, indent=1)
    if not args.keep:
        for path, _, _ in cases:
            os.unlink(path)
        os.rmdir(work)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
