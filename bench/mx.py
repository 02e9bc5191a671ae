#!/usr/bin/env python3
"""Ordinary mail with `relay.next_hop = "mx"` against the smarthost route, in one run.

Two sealgate processes of the same binary, differing only in `relay.next_hop`: "smarthost" has
`smtp://127.0.1.25:25`, "mx" has `"mx"` and asks a DNS server of this script's own (UDP on
loopback) for the MX and address of the recipient domain, which name the same smtp-sink on
127.0.1.25:25. Plus "direct" (smtp-source straight to the sink) for the ratios BENCHMARKS.md
uses. Workloads and the clock are bench/measure.py's (the clock stops when the sink has counted
every message); paths alternate, the order rotating per repetition; medians of the repetitions.

The DNS server counts the queries it answers, per name and type: with answers cached as their
TTL allows (300 s here), the whole run needs one MX and one A/AAAA lookup per resolver, not one
per message. It answers MX and A for the zone, AAAA with no data (SOA in the authority section,
so the "no such record" is cached too), and anything else NXDOMAIN.

Protected mail (TLS to the receiver, TLSA and MTA-STS lookups, DANE) is bench/mx_protected.py,
which uses this file's DNS server (`Zone`), `start_sealgate` and `run_rotation`.

Needs: postfix (smtp-source, smtp-sink), python3 (stdlib only), a release build of sealgate.
Run as root (port 25; smtp-sink -u nobody), under the machine's benchmark lock:
    cargo build --release --bin sealgate
    flock /work/wt/bench.lock python3 bench/mx.py --reps 3
Everything listens on loopback only; every process started here is stopped on exit.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import measure  # noqa: E402  (bench/measure.py: workloads, run_once)

DOMAIN = "example.net"  # measure.RECIPIENT's domain
MX_HOST = "mx.example.net"
SINK_IP = "127.0.1.25"
TTL = 300
QTYPE = {1: "A", 2: "NS", 6: "SOA", 15: "MX", 16: "TXT", 28: "AAAA", 52: "TLSA"}


# ---------------------------------------------------------------- a tiny authoritative DNS server

def read_name(packet, offset):
    """The (uncompressed) question name at `offset` and the offset after it."""
    labels = []
    while True:
        length = packet[offset]
        offset += 1
        if length == 0:
            return ".".join(labels).lower(), offset
        if length & 0xC0:
            raise ValueError("compressed question name")
        labels.append(packet[offset:offset + length].decode("ascii"))
        offset += length


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def record(rtype, rdata, owner=b"\xc0\x0c"):
    """One resource record; the owner defaults to a pointer to the question name."""
    return owner + struct.pack("!HHIH", rtype, 1, TTL, len(rdata)) + rdata


class Zone:
    """What the DNS server knows: `mx` maps a mail domain to its MX host, `hosts` an MX host to
    its IPv4 address, `tlsa` an owner (`_25._tcp.host`) to TLSA rdata; `ad` sets the AD bit in
    every answer (sealgate believes it only from a resolver on loopback, which this one is)."""

    def __init__(self, mx, hosts, tlsa=None, ad=False):
        self.mx, self.hosts, self.tlsa, self.ad = mx, hosts, tlsa or {}, ad

    def apex(self, name):
        """The zone apex (a mail domain) that `name` is under, for the SOA of a negative answer."""
        under = [d for d in self.mx if name == d or name.endswith("." + d)]
        return max(under, key=len) if under else next(iter(self.mx))

    def names(self):
        return set(self.mx) | set(self.hosts) | set(self.tlsa)


def ordinary_zone():
    return Zone({DOMAIN: MX_HOST}, {MX_HOST: SINK_IP})


def soa(apex):
    rdata = (encode_name(f"ns.{apex}") + encode_name(f"hostmaster.{apex}")
             + struct.pack("!IIIII", 1, 3600, 600, 86400, TTL))
    return record(6, rdata, owner=encode_name(apex))


def answer(query, zone):
    """The response to `query` from `zone`: (bytes, question name, type) or None when it is no
    query."""
    if len(query) < 12:
        return None
    ident, flags, qdcount = struct.unpack("!HHH", query[:6])
    if flags & 0x8000 or qdcount != 1:
        return None
    name, end = read_name(query, 12)
    qtype, _qclass = struct.unpack("!HH", query[end:end + 4])
    question = query[12:end + 4]
    answers, authority, rcode = [], [], 0
    if name in zone.mx and qtype == 15:
        answers.append(record(15, struct.pack("!H", 10) + encode_name(zone.mx[name])))
    elif name in zone.hosts and qtype == 1:
        answers.append(record(1, socket.inet_aton(zone.hosts[name])))
    elif name in zone.tlsa and qtype == 52:
        answers += [record(52, rdata) for rdata in zone.tlsa[name]]
    elif name in zone.names():
        authority.append(soa(zone.apex(name)))  # the name exists, no record of that type
    else:
        authority.append(soa(zone.apex(name)))
        rcode = 3  # NXDOMAIN
    rd = flags & 0x0100
    ad = 0x0020 if zone.ad else 0
    header = struct.pack("!HHHHHH", ident, 0x8000 | 0x0400 | rd | 0x0080 | ad | rcode, 1,
                         len(answers), len(authority), 0)
    return header + question + b"".join(answers) + b"".join(authority), name, qtype


class DnsServer:
    def __init__(self, zone=None):
        self.zone = zone or ordinary_zone()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.address = self.sock.getsockname()
        self.queries = {}
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while self.running:
            try:
                query, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            try:
                got = answer(query, self.zone)
            except (ValueError, IndexError, struct.error, UnicodeDecodeError):
                continue
            if got is None:
                continue
            response, name, qtype = got
            key = f"{name} {QTYPE.get(qtype, qtype)}"
            self.queries[key] = self.queries.get(key, 0) + 1
            self.sock.sendto(response, peer)

    def stop(self):
        self.running = False
        self.thread.join()
        self.sock.close()


# ---------------------------------------------------------------- processes

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(host, port, what):
    for _ in range(400):
        try:
            socket.create_connection((host, port), 1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"mx.py: nothing listens on {host}:{port} ({what})")


def sealgate_config(tmp, name, port, metrics_port, next_hop, dns, relay_tls='tls = "none"'):
    """A config file for one bench sealgate; `relay_tls` holds the `[relay]` TLS lines."""
    path = os.path.join(tmp, f"{name}.toml")
    with open(path, "w") as f:
        f.write(f"""[smtp]
listen = ["127.0.0.1:{port}"]
hostname = "sealgate.bench.test"

[limits]
max_sessions = 20000
max_sessions_per_client = 20000
memory_budget = 4294967296

[access]
client_networks = ["127.0.0.0/8"]

[relay]
next_hop = "{next_hop}"
{relay_tls}
dns_servers = ["{dns[0]}:{dns[1]}"]

[metrics]
listen = "127.0.0.1:{metrics_port}"

[audit]
store = "sqlite:{tmp}/{name}-audit.db"

[log]
level = "warn"

[policy]
own_domains = ["opgroeien.be", "kindengezin.be"]

[[protocols]]
id = "opgroeien-menen-ocmw-wervik"
title = "Opgroeien regie (lokaal team Kind en Gezin Menen) -> OCMW Wervik"
mailboxes = ["kindengezin@wervik.be"]
in_force_from = 2023-12-01
""")
    return path


def preflight(script, tools, packages, sealgate):
    """Exits with what to do when a tool, root (port 25) or the release build is missing."""
    for tool in tools:
        if shutil.which(tool) is None:
            sys.exit(f"{script}: missing {tool} (apt-get install {packages})")
    if os.geteuid() != 0:
        sys.exit(f"{script}: run as root (the receiver listens on port 25)")
    if not os.access(sealgate, os.X_OK):
        sys.exit(f"{script}: no sealgate binary at {sealgate} (cargo build --release)")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sealgate", default=os.path.join(ROOT, "target/release/sealgate"))
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--small-count", type=int, default=2000)
    p.add_argument("--large-count", type=int, default=60)
    p.add_argument("--out", default=os.path.join(HERE, "results", "mx-" + time.strftime(
        "%Y%m%dT%H%M%SZ", time.gmtime())))
    p.add_argument("--pause", type=float, default=1.0)
    args = p.parse_args()
    preflight("mx.py", ("smtp-source", "smtp-sink"), "postfix", args.sealgate)
    os.makedirs(args.out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="sealgate-mx-bench.")
    procs, dns = [], None

    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        dns = DnsServer()
        sink_log = os.path.join(tmp, "sink.log")
        procs.append(subprocess.Popen(
            ["smtp-sink", "-c", "-u", "nobody", f"{SINK_IP}:25", "4096"],
            stdout=open(sink_log, "wb"), stderr=open(os.path.join(tmp, "sink.err"), "wb")))
        wait_port(SINK_IP, 25, "smtp-sink")
        ports = {}
        for name, next_hop in (("smarthost", f"smtp://{SINK_IP}:25"), ("mx", "mx")):
            port, proc = start_sealgate(args.sealgate, tmp, name, next_hop, dns.address)
            procs.append(proc)
            ports[name] = (port, proc.pid)
        run_args = argparse.Namespace(
            sink_log=sink_log, sealgate_pid=ports["smarthost"][1],
            sealgate_b_pid=ports["mx"][1], stall_seconds=15.0, run_timeout=600.0,
            small_count=args.small_count, large_count=args.large_count, protected=False)
        # measure.run_once knows the processes by these path names.
        paths = [("direct", "direct", 25), ("smarthost", "sealgate", ports["smarthost"][0]),
                 ("mx", "sealgate-b", ports["mx"][0])]
        machine = {
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "loadavg_before": open("/proc/loadavg").read().split()[:3],
            "sealgate": args.sealgate,
            "commit": subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                     capture_output=True, text=True).stdout.strip(),
        }
        print(json.dumps(machine), flush=True)
        with open(os.path.join(args.out, "throughput.jsonl"), "w") as out:
            results = run_rotation(run_args, paths, measure.workloads(run_args), args.reps,
                                   out, lambda: sum(dns.queries.values()), args.pause)
        machine["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
        machine["dns_queries"] = dict(dns.queries)
        summary = summarise(results, machine)
        with open(os.path.join(args.out, "summary.md"), "w") as f:
            f.write(summary)
        print(summary)
    finally:
        stop_processes(procs)
        keep_logs(tmp, args.out, ("smarthost", "mx"))
        if dns:
            dns.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def run_rotation(run_args, paths, works, reps, out, dns_count, pause, receiver_cpu=None):
    """Every workload over every path, `reps` times, the path order rotating per repetition.
    `paths` are (label, measure.run_once path name, port); "direct" goes to the receiver.
    `receiver_cpu`, when given, returns the receiver's CPU seconds so far.
    Each result is a JSON line in `out`; returns them all."""
    results = []
    for rep in range(reps):
        order = paths[rep % len(paths):] + paths[:rep % len(paths)]
        for work in works:
            for label, path, port in order:
                cpu0 = receiver_cpu() if receiver_cpu else None
                if path == "direct":
                    r = run_direct(run_args, work)
                else:
                    r = measure.run_once(run_args, work, path, port)
                if receiver_cpu:
                    r["receiver_cpu_ms_per_msg"] = round(
                        (receiver_cpu() - cpu0) * 1000 / work["count"], 3)
                r["path"] = label
                r["rep"] = rep + 1
                r["loadavg"] = open("/proc/loadavg").read().split()[:3]
                r["dns_queries_so_far"] = dns_count()
                out.write(json.dumps(r) + "\n")
                out.flush()
                results.append(r)
                mark = "ok" if r["count_ok"] else "COUNT MISMATCH/TIMEOUT"
                print(f"rep {rep + 1} {work['name']:28} {label:13} {r['seconds']}s "
                      f"{r['msgs_per_s']} msg/s {mark} load {' '.join(r['loadavg'])} "
                      f"dns {r['dns_queries_so_far']}", flush=True)
                time.sleep(pause)
    return results


def start_sealgate(binary, tmp, name, next_hop, dns_address, relay_tls='tls = "none"'):
    """Starts one sealgate (log in TMP/NAME.log); returns (SMTP port, process) once it listens.
    Its metrics port is the process's `metrics_port` attribute."""
    port, metrics_port = free_port(), free_port()
    config = sealgate_config(tmp, name, port, metrics_port, next_hop, dns_address, relay_tls)
    proc = subprocess.Popen([binary, "serve", "--config", config], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(tmp, f"{name}.log"), "wb"))
    proc.metrics_port = metrics_port
    wait_port("127.0.0.1", port, name)
    return port, proc


def stop_processes(procs):
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def keep_logs(tmp, out, names):
    for name in names:
        log = os.path.join(tmp, f"{name}.log")
        if os.path.exists(log):
            shutil.copy(log, os.path.join(out, f"{name}.log"))


def run_direct(run_args, work, path="direct"):
    """measure.run_once for the generator straight to the receiver on SINK_IP:25."""
    saved = measure.generator

    def to_sink(w, _port):
        command = saved(w, 25)
        if w["kind"] == "smtp-source":
            command[-1] = f"{SINK_IP}:25"
        else:
            command += ["--host", SINK_IP]
        return command

    measure.generator = to_sink
    try:
        return measure.run_once(run_args, work, path, 25)
    finally:
        measure.generator = saved


def summarise(results, machine):
    workloads = []
    for r in results:
        if r["workload"] not in workloads:
            workloads.append(r["workload"])

    def median(workload, path):
        values = [r["msgs_per_s"] for r in results
                  if r["workload"] == workload and r["path"] == path and r["count_ok"]]
        return statistics.median(values) if values else None

    def cpu(workload, path):
        values = [r["sealgate_cpu_ms_per_msg"] for r in results
                  if r["workload"] == workload and r["path"] == path
                  and "sealgate_cpu_ms_per_msg" in r]
        return statistics.median(values) if values else None

    def ratio(a, b):
        return f"{a / b:.2f}" if a and b else "-"

    lines = [
        f"Run {machine['date']}, sealgate {machine['commit']}, load average before "
        f"{' '.join(machine['loadavg_before'])}, after {' '.join(machine['loadavg_after'])}.",
        "",
        "| workload | direct | smarthost | mx | mx / smarthost | smarthost / direct | mx / direct "
        "| CPU ms/msg smarthost | CPU ms/msg mx |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for w in workloads:
        d, s, m = median(w, "direct"), median(w, "smarthost"), median(w, "mx")
        fmt = lambda v: f"{v:,.0f}" if v else "-"  # noqa: E731
        cs, cm = cpu(w, "smarthost"), cpu(w, "mx")
        lines.append(f"| {w} | {fmt(d)} | {fmt(s)} | {fmt(m)} | **{ratio(m, s)}** | "
                     f"{ratio(s, d)} | {ratio(m, d)} | {cs if cs is not None else '-'} | "
                     f"{cm if cm is not None else '-'} |")
    bad = [r for r in results if not r["count_ok"]]
    lines += ["", f"Runs with a count mismatch or timeout: {len(bad)}.",
              f"DNS queries answered during the whole run: {machine['dns_queries']}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
