#!/usr/bin/env python3
"""sealgate under abuse (issue 12): hostile sessions while ordinary mail keeps flowing.

Starts a next hop (a subprocess that counts what it receives by an X-Abuse-Id header: a
streaming counter, or aiosmtpd with --sink aiosmtpd) and sealgate (STARTTLS with a certificate made here by openssl, one AUTH user), then runs
phases alternately, so the two conditions share the machine's state:

  quiet    only ordinary 5 KB mail (S concurrent senders, a new connection per message);
  attack   the same ordinary mail while N hostile sessions run: idle (greeting, EHLO, sit),
           trickling (SIZE=37748736, then 100 bytes a second), failing AUTH over STARTTLS
           (reconnecting after each 421), 36 MB messages, and nested-MIME protected messages.

Hostile sessions come from 127.0.1.x .. 127.0.7.x (so the per-address limits apply to each
address as they would to a botnet), ordinary mail from 127.0.0.1. All traffic stays on
loopback; every phase has a fixed length; every process started here is stopped at the end.

Reports (one JSON object on stdout): the gateway's peak RSS (VmHWM from /proc/PID/status)
against limits.memory_budget, ordinary throughput under attack as a ratio of quiet
throughput, the hostile sessions' reply codes, and whether the sink got every message that
was answered 250 exactly once (and nothing that was not).

A reply the gateway sends before the client has finished writing (421 4.4.2 to a trickler
below the minimum data rate, in the middle of its DATA) is read while the client writes, so
it counts as that reply code; a trickler still trickling when the phase ends stops and waits
for the gateway's 421. `closed` is only a connection that ended with no reply to read; the
report lists up to 50 of them (class, SMTP step, error, seconds, local address:port, to find
the session in the gateway's log with --log-level debug --gateway-log FILE).

    python3 bench/abuse.py --sealgate target/release/sealgate            # 1,000 hostile sessions
    python3 bench/abuse.py --sealgate BIN --scale 0.3 --phase-seconds 20 # reduced
    python3 bench/abuse.py --sealgate BIN --gateway-env MALLOC_MMAP_THRESHOLD_=1048576
Needs: python3, openssl (and aiosmtpd for --sink aiosmtpd: pip install aiosmtpd).
"""

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

# The next hop: by default a streaming sink that only counts (asyncio.Protocol, a C-speed
# search for the end of data on each chunk, the X-Abuse-Id header read from the first bytes),
# so the bench measures the gateway, not its sink; `--sink aiosmtpd` is the earlier one (it
# parses every line: ~3 GB of 36 MB messages took about a core from the 2 the gateway has).
FAST_SINK_CODE = r"""
import asyncio, json, signal, sys
counts = {}
HEAD = 16384
END = b"\r\n.\r\n"

def count(head):
    at = head.find(b"X-Abuse-Id: ")
    key = head[at + 12: head.find(b"\r\n", at)].decode(errors="replace") if at >= 0 else "none"
    counts[key] = counts.get(key, 0) + 1

class Sink(asyncio.Protocol):
    def connection_made(self, transport):
        self.t, self.buf, self.data = transport, b"", False
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, chunk):
        if self.data:
            self.in_data(chunk)
        else:
            self.buf += chunk
            self.commands()

    def commands(self):
        while not self.data:
            i = self.buf.find(b"\n")
            if i < 0:
                if len(self.buf) > 65536:
                    self.t.close()
                return
            line, self.buf = self.buf[:i + 1], self.buf[i + 1:]
            verb = line[:4].upper()
            if verb == b"DATA":
                self.t.write(b"354 go\r\n")
                self.data, self.head, self.tail = True, b"", b"\r\n"
                rest, self.buf = self.buf, b""
                if rest:
                    self.in_data(rest)
                return
            if verb in (b"EHLO", b"HELO"):
                self.t.write(b"250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 67108864\r\n")
            elif verb == b"QUIT":
                self.t.write(b"221 bye\r\n")
                self.t.close()
                return
            else:
                self.t.write(b"250 Ok\r\n")

    def in_data(self, chunk):
        if len(self.head) < HEAD:
            self.head += chunk[:HEAD]
        seam = self.tail + chunk[:4]
        at = seam.find(END)
        if at >= 0:
            end = at - len(self.tail) + 5
        else:
            at = chunk.find(END)
            if at < 0:
                self.tail = (self.tail + chunk)[-4:]
                return
            end = at + 5
        count(self.head)
        self.t.write(b"250 2.0.0 Ok\r\n")
        self.data, self.head = False, b""
        self.buf = chunk[end:]
        self.commands()

async def main(port, out):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Sink, "127.0.0.1", port, backlog=1024)
    done = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    await done.wait()
    server.close()
    with open(out, "w") as f:
        json.dump(counts, f)

asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
"""

AIOSMTPD_SINK_CODE = r"""
import asyncio, json, signal, sys
from aiosmtpd.controller import Controller
counts = {}
class Handler:
    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or b""
        at = data.find(b"X-Abuse-Id: ")
        key = data[at + 12: data.find(b"\r\n", at)].decode() if at >= 0 else "none"
        counts[key] = counts.get(key, 0) + 1
        return "250 2.0.0 Ok"
port, out = int(sys.argv[1]), sys.argv[2]
c = Controller(Handler(), hostname="127.0.0.1", port=port, data_size_limit=64 * 1024 * 1024,
               decode_data=False)
c.start()
def stop(*_):
    c.stop()
    with open(out, "w") as f:
        json.dump(counts, f)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
signal.pause()
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def read_reply(reader):
    code = None
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("closed")
        code = int(line[:3])
        if line[3:4] != b"-":
            return code, line


async def command(reader, writer, line):
    writer.write(line + b"\r\n")
    await writer.drain()
    return await read_reply(reader)


def message(ident, body):
    """Head and body, written one after the other (a 36 MB body is not copied). Bodies made
    here have no line that starts with a dot, so they need no dot-stuffing."""
    head = (
        f"From: <bench@opgroeien.be>\r\nTo: <sink@example.net>\r\nSubject: abuse\r\n"
        f"X-Abuse-Id: {ident}\r\n\r\n"
    ).encode()
    return head, body


def ordinary_body(size=5000):
    line = b"x" * 78 + b"\r\n"
    return line * (size // len(line))


def nested_body(depth, total):
    """A multipart nested `depth` deep with base64 parts: about `total` bytes."""
    per = max(1, total // depth * 3 // 4)
    out = []
    for d in range(depth):
        out.append(
            f'Content-Type: multipart/mixed; boundary="b{d}"\r\n\r\n--b{d}\r\n'
            f"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
            f'Content-Disposition: attachment; filename="f{d}.bin"\r\n\r\n'.encode()
        )
        out.append(base64.encodebytes(os.urandom(per)).replace(b"\n", b"\r\n"))
        out.append(f"--b{d}\r\n".encode())
    for d in reversed(range(depth)):
        out.append(f"--b{d}--\r\n".encode())
    return b"".join(out)


class Stats:
    def __init__(self):
        self.accepted = []  # ids answered 250
        self.codes = {}
        self.closed = []  # how "closed" outcomes happened: the first CLOSED_KEPT of them

    def code(self, kind, code):
        key = f"{kind}:{code}"
        self.codes[key] = self.codes.get(key, 0) + 1

    def cut(self, kind, step, error, started, writer):
        """A session that ended with no reply to read: counted as `closed`, with where."""
        self.code(kind, "closed")
        if len(self.closed) < CLOSED_KEPT:
            local = writer.get_extra_info("sockname") if writer is not None else None
            self.closed.append({
                "kind": kind, "step": step, "error": f"{type(error).__name__}: {error}",
                "seconds": round(time.monotonic() - started, 1),
                "local": f"{local[0]}:{local[1]}" if local else None,
            })


# Examples of "closed" kept for the report (each with class, step, error, time, address).
CLOSED_KEPT = 50
# How long a client that stopped mid-DATA waits for the gateway's answer: the minimum data
# rate's grace (10 s by default) ends such a transaction with 421 4.4.2.
STOPPED_WAIT = 15


async def early_reply(reader):
    """Reads a reply that may come before the client has finished writing (a 421 mid-DATA):
    read while writing, a reply followed by a reset of the connection is still seen."""
    try:
        return await read_reply(reader)
    except (ConnectionError, OSError, ValueError) as e:
        return e


async def reply_after_cut(task, error):
    """After a write failed: the reply the gateway sent before closing, or the error."""
    try:
        got = await asyncio.wait_for(asyncio.shield(task), 2)
    except asyncio.TimeoutError:
        task.cancel()
        return error
    return got


async def send_one(host, port, sender, rcpt, data, ident, stats, kind, local=None):
    """One transaction on a new connection; records the final code; True when 250. The
    answer to the data is read while the data is written, so a reply the gateway sends before
    the end (421) is counted as that reply, not as a closed connection."""
    started, step = time.monotonic(), "connect"
    try:
        reader, writer = await asyncio.open_connection(
            host, port, local_addr=(local, 0) if local else None, limit=1 << 20
        )
    except OSError:
        stats.code(kind, "connect")
        return False
    answer = None
    try:
        step = "greeting"
        code, _ = await read_reply(reader)
        if code != 220:
            stats.code(kind, code)
            return False
        step = "EHLO"
        await command(reader, writer, b"EHLO bench.example")
        for line in (f"MAIL FROM:<{sender}>".encode(), f"RCPT TO:<{rcpt}>".encode(), b"DATA"):
            step = line.split(b":")[0].decode()
            code, _ = await command(reader, writer, line)
            if code not in (250, 354):
                stats.code(kind, code)
                return False
        step = "data"
        answer = asyncio.create_task(early_reply(reader))
        try:
            for part in data:
                writer.write(part)
            writer.write(b".\r\n")
            await writer.drain()
        except (ConnectionError, OSError) as e:
            got = await reply_after_cut(answer, e)
            if isinstance(got, Exception):
                raise got
            stats.code(kind, got[0])
            return False
        step = "end of data"
        got = await answer
        if isinstance(got, Exception):
            raise got
        code = got[0]
        stats.code(kind, code)
        if code == 250:
            stats.accepted.append(ident)
        writer.write(b"QUIT\r\n")
        await writer.drain()
        return code == 250
    except (ConnectionError, OSError, ValueError) as e:
        stats.cut(kind, step, e, started, writer)
        return False
    finally:
        if answer is not None and not answer.done():
            answer.cancel()
        writer.close()


async def ordinary(args, stats, stop, tag):
    sent = 0
    counter = 0

    async def sender(n):
        nonlocal sent, counter
        while not stop.is_set():
            counter += 1
            ident = f"{tag}-{n}-{counter}"
            if await send_one(
                "127.0.0.1", args.port, "bench@opgroeien.be", "sink@example.net",
                message(ident, ordinary_body()), ident, stats, "ordinary", "127.0.0.1",
            ):
                sent += 1

    await asyncio.gather(*(sender(n) for n in range(args.senders)))
    return sent


def attacker_address(i):
    return f"127.0.{1 + i % 7}.{1 + (i // 7) % 250}"


async def hostile(kind, i, args, stats, stop, tls_ctx):
    local = attacker_address(i)
    while not stop.is_set():
        writer = None
        started, step = time.monotonic(), "connect"
        try:
            if kind in ("big", "nested"):
                rcpt = "sink@example.net" if kind == "big" else "kindengezin@wervik.be"
                body = args.big_body if kind == "big" else args.nested_body
                ident = f"{kind}-{i}-{time.monotonic_ns()}"
                await send_one("127.0.0.1", args.port, "h@opgroeien.be", rcpt,
                               message(ident, body), ident, stats, kind, local)
                continue
            try:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", args.port, local_addr=(local, 0), limit=1 << 20
                )
            except OSError:
                stats.code(kind, "connect")
                await asyncio.sleep(1)
                continue
            step = "greeting"
            code, _ = await read_reply(reader)
            if code != 220:
                stats.code(kind, code)
                await asyncio.sleep(1)
                continue
            step = "EHLO"
            await command(reader, writer, b"EHLO hostile.example")
            if kind == "idle":
                step = "idle"
                await stop.wait()
            elif kind == "trickle":
                refused = None
                for line in (b"MAIL FROM:<t@opgroeien.be> SIZE=37748736", b"RCPT TO:<sink@example.net>", b"DATA"):
                    step = line.split(b":")[0].decode()
                    code, _ = await command(reader, writer, line)
                    if code not in (250, 354):
                        refused = code
                        break
                if refused is not None:
                    stats.code(kind, refused)
                    await asyncio.sleep(1)
                    continue
                step = "data"
                answer = asyncio.create_task(early_reply(reader))
                try:
                    writer.write(b"X-Abuse-Id: trickle\r\n\r\n")
                    while not stop.is_set() and not answer.done():
                        writer.write(b"y" * 98 + b"\r\n")
                        await writer.drain()
                        await asyncio.wait([answer], timeout=1)
                except (ConnectionError, OSError) as e:
                    got = await reply_after_cut(answer, e)
                else:
                    # Stopped mid-DATA: the gateway ends the transaction at the minimum rate.
                    step = "stopped mid-data"
                    done, _ = await asyncio.wait([answer], timeout=STOPPED_WAIT)
                    if not done:
                        answer.cancel()
                        stats.code(kind, "no answer")
                        continue
                    got = answer.result()
                if isinstance(got, Exception):
                    raise got
                stats.code(kind, got[0])
            elif kind == "auth":
                step = "STARTTLS"
                code, _ = await command(reader, writer, b"STARTTLS")
                await writer.start_tls(tls_ctx, server_hostname="sealgate.bench")
                step = "EHLO in TLS"
                await command(reader, writer, b"EHLO hostile.example")
                wrong = base64.b64encode(b"\0bench\0wrong-%d" % random.randrange(1 << 30))
                step = "AUTH"
                while not stop.is_set():
                    code, _ = await command(reader, writer, b"AUTH PLAIN " + wrong)
                    stats.code(kind, code)
                    if code == 421:
                        break
                await asyncio.sleep(0.5)
        except (ConnectionError, OSError, ValueError, asyncio.TimeoutError, ssl.SSLError) as e:
            stats.cut(kind, step, e, started, writer)
            await asyncio.sleep(0.5)
        finally:
            if writer is not None:
                writer.close()


def vm(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def client_tls():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def hostile_load(settings, seconds):
    """All hostile sessions for `seconds`, then a grace for replies; returns codes and ids."""
    args = argparse.Namespace(**settings)
    args.big_body = ordinary_body(int(args.big_mb * 1_000_000))
    args.nested_body = nested_body(40, int(args.nested_mb * 1_000_000))
    stats, stop, tls_ctx = Stats(), asyncio.Event(), client_tls()
    n = int(1000 * args.scale)
    # Per 20 sessions: 8 idle, 6 trickling, 4 failing AUTH, 1 big, 1 nested (interleaved).
    mix = ["idle", "trickle", "auth", "idle", "trickle", "big", "idle", "auth", "trickle",
           "idle", "nested", "trickle", "idle", "auth", "trickle", "idle", "auth", "idle",
           "trickle", "idle"]
    mix = [kind for kind in mix if kind in args.kinds]
    tasks = [asyncio.create_task(hostile(mix[i % len(mix)], i, args, stats, stop, tls_ctx))
             for i in range(n)]
    await asyncio.sleep(seconds)
    stop.set()
    # Transactions in flight get their answer, as a sending server waits for it (10 minutes
    # in RFC 5321; here `grace`): a client that gives up earlier is a duplicate waiting to
    # happen, not a loss.
    await asyncio.wait(tasks, timeout=args.grace)
    for t in tasks:
        t.cancel()
    return stats.codes, stats.accepted, stats.closed


def hostile_process(settings, seconds, queue):
    """The hostile load in a process of its own, so the ordinary senders keep their own CPU
    share of the client side and measure the gateway, not this script."""
    queue.put(asyncio.run(hostile_load(settings, seconds)))


async def phase(args, attack, stats, tag, pid):
    stop = asyncio.Event()
    child = None
    if attack:
        settings = {k: getattr(args, k)
                    for k in ("port", "scale", "kinds", "big_mb", "nested_mb", "grace")}
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        child = ctx.Process(target=hostile_process,
                            args=(settings, args.phase_seconds + 4, queue))
        child.start()
        await asyncio.sleep(4)  # let them connect and start
    ord_task = asyncio.create_task(ordinary(args, stats, stop, tag))
    started = time.monotonic()
    peak_rss = 0
    while time.monotonic() - started < args.phase_seconds:
        await asyncio.sleep(1)
        peak_rss = max(peak_rss, vm(pid, "VmRSS"))
    stop.set()
    sent = await ord_task
    elapsed = time.monotonic() - started
    if child is not None:
        codes, accepted, closed = await asyncio.get_running_loop().run_in_executor(None, queue.get)
        child.join(30)
        for key, count in codes.items():
            stats.codes[key] = stats.codes.get(key, 0) + count
        stats.accepted.extend(accepted)
        stats.closed.extend(closed[: max(0, CLOSED_KEPT - len(stats.closed))])
        await drain(args)
    return sent / elapsed, peak_rss


async def drain(args, limit=60):
    """Waits (up to `limit` seconds) until the gateway has no hostile session left, so the
    next quiet phase does not measure the attack's backlog (big messages still relaying)."""
    for _ in range(limit):
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", args.metrics_port)
            writer.write(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            await writer.drain()
            text = (await reader.read()).decode(errors="replace")
            writer.close()
            active = next(float(l.split()[1]) for l in text.splitlines()
                          if l.startswith("sealgate_sessions_active "))
            if active <= 1:
                return
        except (OSError, StopIteration, ValueError, IndexError):
            pass
        await asyncio.sleep(1)


async def main_async(args, pid):
    stats = Stats()
    rates = {"quiet": [], "attack": []}
    peaks = []
    for rep in range(args.reps):
        for attack in (False, True):
            name = "attack" if attack else "quiet"
            rate, peak = await phase(args, attack, stats, f"{name}{rep}", pid)
            rates[name].append(rate)
            peaks.append(peak)
            print(f"{name} {rep}: {rate:.1f} ordinary msg/s, RSS peak {peak / 2**20:.0f} MiB",
                  file=sys.stderr)
    return stats, rates, peaks


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sealgate", required=True)
    p.add_argument("--scale", type=float, default=1.0, help="1.0 = 1,000 hostile sessions")
    p.add_argument("--phase-seconds", type=float, default=30)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--senders", type=int, default=4, help="concurrent ordinary senders")
    p.add_argument("--big-mb", type=float, default=36)
    p.add_argument("--nested-mb", type=float, default=10)
    p.add_argument("--grace", type=float, default=120,
                   help="seconds hostile transactions in flight get for their answer")
    p.add_argument("--sink", choices=("fast", "aiosmtpd"), default="fast",
                   help="the next hop: a streaming counter (default) or aiosmtpd")
    p.add_argument("--gateway-env", action="append", default=[], metavar="KEY=VALUE",
                   help="environment for the gateway only (repeatable), e.g. "
                        "MALLOC_MMAP_THRESHOLD_=1048576 or SEALGATE__ACCESS__AUTH_MAX_CONCURRENT_CHECKS=2")
    p.add_argument("--kinds", default="idle,trickle,auth,big,nested",
                   help="hostile kinds to run (to see what costs what)")
    p.add_argument("--log-level", default="warn", help="the gateway's log.level")
    p.add_argument("--gateway-log", metavar="FILE",
                   help="keep the gateway's log (stderr) in FILE, to match 'closed' sessions")
    args = p.parse_args()
    args.kinds = args.kinds.split(",")

    tmp = tempfile.mkdtemp(prefix="sealgate-abuse.")
    procs = []
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=sealgate.bench", "-keyout", f"{tmp}/key.pem", "-out", f"{tmp}/cert.pem"],
            check=True, capture_output=True)
        hashed = subprocess.run([args.sealgate, "hash-password"], input=b"right-password\n",
                                check=True, capture_output=True).stdout.decode().strip()
        args.port, sink_port, args.metrics_port = free_port(), free_port(), free_port()
        budget = 1 << 30
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        fixture = open(os.path.join(root, "fixtures/messages/sealgate-test.toml")).read()
        policy = fixture[fixture.index("[policy]"):]
        with open(f"{tmp}/sealgate.toml", "w") as f:
            f.write(f"""[smtp]
listen = ["127.0.0.1:{args.port}"]
hostname = "sealgate.bench"
[smtp.tls]
cert = "{tmp}/cert.pem"
key = "{tmp}/key.pem"
[limits]
memory_budget = {budget}
max_sessions = 1500
[access]
client_networks = ["127.0.0.0/8"]
[[access.users]]
name = "bench"
password_hash = "{hashed}"
[relay]
next_hop = "smtp://127.0.0.1:{sink_port}"
tls = "none"
[metrics]
listen = "127.0.0.1:{args.metrics_port}"
[audit]
store = "sqlite:{tmp}/audit.db"
[log]
level = "{args.log_level}"
""" + policy)
        sink_out = f"{tmp}/sink.json"
        sink_code = FAST_SINK_CODE if args.sink == "fast" else AIOSMTPD_SINK_CODE
        sink = subprocess.Popen([sys.executable, "-c", sink_code, str(sink_port), sink_out])
        procs.append(sink)
        env = dict(os.environ)
        env.update(kv.split("=", 1) for kv in args.gateway_env)
        load_before = os.getloadavg()
        gateway_log = args.gateway_log or f"{tmp}/gateway.log"
        gw = subprocess.Popen([args.sealgate, "serve", "--config", f"{tmp}/sealgate.toml"],
                              stderr=open(gateway_log, "w"), env=env)
        procs.append(gw)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", args.port), 0.2).close()
                socket.create_connection(("127.0.0.1", sink_port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        if gw.poll() is not None:
            sys.exit(f"the gateway exited at start: {open(gateway_log).read()[-2000:]}")
        stats, rates, peaks = asyncio.run(main_async(args, gw.pid))
        hwm = vm(gw.pid, "VmHWM")
        time.sleep(2)
        sink.send_signal(signal.SIGTERM)
        sink.wait(10)
        got = json.load(open(sink_out))
        accepted = {}
        for ident in stats.accepted:
            accepted[ident] = accepted.get(ident, 0) + 1
        lost = [i for i in accepted if got.get(i, 0) == 0]
        duplicated = [i for i in got if i != "trickle" and got[i] > 1]
        unanswered = [i for i in got if i not in accepted and i not in ("none", "trickle")]
        unanswered_kinds = {}
        for i in unanswered:
            kind = i.split("-")[0]
            unanswered_kinds[kind] = unanswered_kinds.get(kind, 0) + 1
        quiet = sum(rates["quiet"]) / len(rates["quiet"])
        attack = sum(rates["attack"]) / len(rates["attack"])
        print(json.dumps({
            "hostile_sessions": int(1000 * args.scale),
            "kinds": args.kinds,
            "sink": args.sink,
            "gateway_env": args.gateway_env,
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "phase_seconds": args.phase_seconds,
            "reps": args.reps,
            "memory_budget_bytes": budget,
            "peak_rss_bytes": hwm,
            "peak_rss_over_budget_bytes": hwm - budget,
            "ordinary_msgs_per_s_quiet": rates["quiet"],
            "ordinary_msgs_per_s_attack": rates["attack"],
            "throughput_ratio": attack / quiet if quiet else None,
            "codes": dict(sorted(stats.codes.items())),
            "closed_examples": stats.closed,
            "accepted_250": len(accepted),
            "sink_received": sum(got.values()),
            "lost": len(lost),
            "duplicated_at_sink": len(duplicated),
            "at_sink_without_250": unanswered_kinds,
        }, indent=1))
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
