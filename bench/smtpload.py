#!/usr/bin/env python3
"""A small SMTP load client for the benchmarks (stdlib only).

smtp-source cannot send a given message file, and it cannot hold sessions idle or time single
transactions, so this client does the three things the benchmark needs beyond it:

  send     N copies of a message file over S concurrent sessions (one connection per message,
           like smtp-source without -d), and count the replies;
  latency  a sequential client: per transaction, the time from connect (or from MAIL FROM on a
           reused connection) to the reply to the end of data; prints percentiles;
  idle     open N sessions, read each greeting, print "ready", and sit until stdin closes.

It speaks ESMTP the way a mail server does: EHLO, MAIL FROM with SIZE= when offered, MAIL, RCPT
and DATA pipelined when PIPELINING is offered, dot-stuffed data. Output is one JSON object.
"""

import argparse
import asyncio
import json
import resource
import statistics
import sys
import time


def load_message(path):
    """The message as it travels in DATA: CRLF line ends, dot-stuffed, with the final dot."""
    with open(path, "rb") as f:
        raw = f.read()
    raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    stuffed = raw.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return len(raw), stuffed + b".\r\n"


def synthetic_message(size):
    """A plain message of about `size` bytes, like smtp-source's: headers and lines of 'x'."""
    head = b"From: <bench@example.org>\r\nTo: <sink@example.net>\r\nSubject: bench\r\n\r\n"
    line = b"x" * 78 + b"\r\n"
    body = line * max(0, (size - len(head)) // len(line))
    raw = head + body
    return len(raw), raw + b".\r\n"


class SmtpError(Exception):
    def __init__(self, stage, code, text):
        super().__init__(f"{stage}: {code} {text}")
        self.stage = stage
        self.code = code


async def read_reply(reader):
    lines = []
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("connection closed by server")
        lines.append(line.rstrip(b"\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            break
    code = int(lines[-1][:3])
    return code, b"\n".join(lines).decode("latin-1")


async def expect(reader, stage, ok=(250,)):
    code, text = await read_reply(reader)
    if code not in ok:
        raise SmtpError(stage, code, text)
    return text


class Session:
    """One SMTP connection."""

    def __init__(self, args):
        self.args = args
        self.reader = None
        self.writer = None
        self.pipelining = False
        self.size_ok = False

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.args.host, self.args.port)
        await expect(self.reader, "greeting", (220,))
        self.writer.write(f"EHLO {self.args.helo}\r\n".encode())
        text = await expect(self.reader, "ehlo")
        caps = [l[4:].split(" ")[0].upper() for l in text.split("\n")[1:]]
        self.pipelining = "PIPELINING" in caps
        self.size_ok = "SIZE" in caps

    async def transaction(self, size, data):
        w, r = self.writer, self.reader
        mail = f"MAIL FROM:<{self.args.sender}>"
        if self.size_ok:
            mail += f" SIZE={size}"
        cmds = [mail] + [f"RCPT TO:<{t}>" for t in self.args.to] + ["DATA"]
        if self.pipelining:
            w.write("".join(c + "\r\n" for c in cmds).encode())
            await expect(r, "mail")
            for _ in self.args.to:
                await expect(r, "rcpt", (250, 251))
            await expect(r, "data", (354,))
        else:
            for c, stage, ok in zip(cmds, ["mail"] + ["rcpt"] * len(self.args.to) + ["data"],
                                    [(250,)] + [(250, 251)] * len(self.args.to) + [(354,)]):
                w.write(c.encode() + b"\r\n")
                await expect(r, stage, ok)
        w.write(data)
        await w.drain()
        await expect(r, "end of data")

    async def close(self):
        try:
            self.writer.write(b"QUIT\r\n")
            await self.writer.drain()
            await asyncio.wait_for(read_reply(self.reader), 5)
        except Exception:
            pass
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except Exception:
            pass


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def message_from_args(args):
    if args.message:
        return load_message(args.message)
    return synthetic_message(args.size)


async def cmd_send(args):
    size, data = message_from_args(args)
    stats = {"ok": 0, "tempfail": 0, "permfail": 0, "errors": 0, "codes": {}}
    remaining = [args.count]

    def note(code):
        stats["codes"][str(code)] = stats["codes"].get(str(code), 0) + 1

    async def worker():
        while remaining[0] > 0:
            remaining[0] -= 1
            s = Session(args)
            try:
                await s.open()
                await s.transaction(size, data)
                stats["ok"] += 1
                note(250)
                await s.close()
            except SmtpError as e:
                stats["tempfail" if e.code < 500 else "permfail"] += 1
                note(e.code)
                if args.verbose:
                    print(e, file=sys.stderr)
                await s.close()
            except (OSError, ConnectionError, ValueError) as e:
                stats["errors"] += 1
                if args.verbose:
                    print(f"error: {e}", file=sys.stderr)

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(args.sessions)))
    stats["elapsed"] = time.monotonic() - t0
    stats["message_bytes"] = size
    return stats


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


async def cmd_latency(args):
    size, data = message_from_args(args)
    times = []
    failures = 0
    s = None
    for i in range(args.warmup + args.count):
        try:
            if args.reuse:
                if s is None:
                    s = Session(args)
                    await s.open()
                t0 = time.perf_counter()
                await s.transaction(size, data)
                dt = time.perf_counter() - t0
            else:
                t0 = time.perf_counter()
                s = Session(args)
                await s.open()
                await s.transaction(size, data)
                dt = time.perf_counter() - t0
                await s.close()
                s = None
        except (SmtpError, OSError, ConnectionError) as e:
            failures += 1
            if args.verbose:
                print(e, file=sys.stderr)
            s = None
            continue
        if i >= args.warmup:
            times.append(dt * 1000)
    if s is not None:
        await s.close()
    times.sort()
    return {
        "count": len(times),
        "failures": failures,
        "mode": "per-transaction-on-one-connection" if args.reuse else "connection-per-message",
        "p50_ms": percentile(times, 50),
        "p90_ms": percentile(times, 90),
        "p99_ms": percentile(times, 99),
        "mean_ms": statistics.fmean(times) if times else None,
        "max_ms": times[-1] if times else None,
    }


async def cmd_idle(args):
    hard = raise_nofile()
    sessions = []
    failures = 0
    sem = asyncio.Semaphore(200)

    async def open_one():
        nonlocal failures
        async with sem:
            try:
                reader, writer = await asyncio.open_connection(args.host, args.port)
                code, _ = await read_reply(reader)
                if code != 220:
                    failures += 1
                    writer.close()
                    return
                sessions.append(writer)
            except (OSError, ConnectionError, ValueError):
                failures += 1

    t0 = time.monotonic()
    await asyncio.gather(*(open_one() for _ in range(args.count)))
    print(json.dumps({"ready": len(sessions), "failures": failures, "nofile": hard,
                      "open_seconds": round(time.monotonic() - t0, 3)}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    for w in sessions:
        w.close()
    return {"closed": len(sessions)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("mode", choices=["send", "latency", "idle"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--helo", default="client.bench.test")
    p.add_argument("--from", dest="sender", default="bench@example.org")
    p.add_argument("--to", action="append", default=None)
    p.add_argument("--message", help="message file (sent as is, CRLF-normalised, dot-stuffed)")
    p.add_argument("--size", type=int, default=5120, help="synthetic message size without --message")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--sessions", type=int, default=1)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--reuse", action="store_true", help="latency: one connection, many transactions")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()
    if args.to is None:
        args.to = ["sink@example.net"]
    raise_nofile()
    result = asyncio.run({"send": cmd_send, "latency": cmd_latency, "idle": cmd_idle}[args.mode](args))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
