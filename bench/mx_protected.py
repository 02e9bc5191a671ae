#!/usr/bin/env python3
"""Protected mail over the smarthost route with TLS against MX delivery (with and without DANE).

bench/mx.py measures ordinary mail with `next_hop = "mx"` against a plain smtp-sink. Mail for a
protected mailbox never leaves in cleartext (src/relay/floor.rs), and smtp-sink has no STARTTLS,
so the receiver here is a private Postfix smtpd on 127.0.1.25:25 with a self-signed certificate
(openssl, in a temp dir), `smtpd_tls_security_level = may`, and every message discarded
(`default_transport = relay_transport = discard`). Five paths, one run:

  direct         the generator straight to that Postfix (cleartext): what the receiver takes
  smarthost      sealgate, `next_hop = smtp://127.0.1.25:25`, `relay.tls = "none"`: cleartext
                 (allowed: a smarthost on loopback is exempt from the floor); the baseline
  smarthost-tls  sealgate, `next_hop = smtp://127.0.1.25:25`, `relay.tls = "required"`,
                 `tls_verify = false` (route tls `encrypt`: a smarthost on loopback is exempt
                 from the protected floor, so the route asks for TLS itself)
  mx             sealgate, `next_hop = "mx"`, DNS: wervik.be MX mx.wervik.be A 127.0.1.25; no
                 AD bit, so the TLSA answer is not believed and protected mail gets the floor
                 (`encrypt`, any certificate) after the TLSA and MTA-STS lookups
  mx-dane        the same with a second DNS server that sets the AD bit and answers
                 `_25._tcp.mx.wervik.be TLSA 3 1 1 <SHA-256 of the receiver's SPKI>`: DANE-EE

Workloads: protected (bench/make_protected.py: an AES-256 7z with encrypted header, sent by
bench/smtpload.py to the protocol's mailbox kindengezin@wervik.be) on every path, and ordinary
mail of the same size (smtp-source to sink@example.net, STARTTLS when offered) for reference.
The clock (bench/measure.py's run_once) stops when the receiver has counted every message: the
count is the number of `status=sent` lines (the discard agent's deliveries) in the private
Postfix's maillog_file, so it includes Postfix's queue step after its 250. The DNS servers count
the questions they answer, per name and type; sealgate's metrics give deliveries per TLS outcome;
the receiver's CPU per message is the Postfix instance's (master, reaped and live children).

Needs: postfix, openssl, 7zz, python3 (stdlib), a release build of sealgate. Run as root, under
the machine's benchmark lock:
    cargo build --release --bin sealgate
    flock /work/wt/bench.lock python3 bench/mx_protected.py --reps 3
Everything listens on loopback only; every process started here is stopped on exit.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import measure  # noqa: E402  (CLK_TCK; run_once through mx)
import mx  # noqa: E402  (the DNS server, sealgate processes, the rotation)

PROTECTED_DOMAIN = "wervik.be"  # measure.PROTECTED_RECIPIENT's domain
PROTECTED_MX = "mx.wervik.be"
TLSA_OWNER = f"_25._tcp.{PROTECTED_MX}"
SENT = b"status=sent"


# ---------------------------------------------------------------- the receiving Postfix

def run(*command):
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_certificate(tmp):
    """A self-signed RSA certificate for mx.wervik.be; returns (cert, key, SPKI SHA-256)."""
    cert, key = os.path.join(tmp, "mx.crt"), os.path.join(tmp, "mx.key")
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", f"/CN={PROTECTED_MX}", "-keyout", key, "-out", cert)
    pubkey = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-pubkey"], check=True,
                            capture_output=True).stdout
    spki = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pubkey,
                          check=True, capture_output=True).stdout
    os.chmod(key, 0o600)
    return cert, key, hashlib.sha256(spki).digest()


class ReceivingPostfix:
    """A private Postfix instance: smtpd with STARTTLS on SINK_IP:25, everything discarded."""

    def __init__(self, tmp, cert, key):
        self.root = os.path.join(tmp, "postfix")
        self.config = os.path.join(self.root, "etc")
        data = os.path.join(self.root, "data")
        self.queue = queue = os.path.join(self.root, "spool")
        for d in (self.config, data, queue):
            os.makedirs(d)
        os.chmod(tmp, 0o755)
        os.chmod(self.root, 0o755)
        run("chown", "postfix", data)
        shutil.copy("/etc/postfix/master.cf.proto", os.path.join(self.config, "master.cf"))
        open(os.path.join(self.config, "main.cf"), "w").close()
        self.maillog = os.path.join(self.root, "maillog")
        run("postconf", "-c", self.config, "-e",
            "compatibility_level=3.6", "myhostname=mx.wervik.be", "mydomain=wervik.be",
            "mydestination=", "inet_interfaces=127.0.0.1", "inet_protocols=ipv4",
            "mynetworks=127.0.0.0/8", f"queue_directory={queue}", f"data_directory={data}",
            f"maillog_file={self.maillog}", f"maillog_file_prefixes={tmp}",
            "smtpd_relay_restrictions=permit_mynetworks,reject_unauth_destination",
            "default_transport=discard", "relay_transport=discard", "local_transport=discard",
            "alias_maps=", "alias_database=", "biff=no", "smtpd_peername_lookup=no",
            "message_size_limit=52428800", "smtpd_tls_security_level=may",
            f"smtpd_tls_cert_file={cert}", f"smtpd_tls_key_file={key}",
            "smtpd_tls_loglevel=0")
        run("postconf", "-c", self.config, "-F", "*/*/chroot = n")
        run("postconf", "-c", self.config, "-MX", "smtp/inet")
        run("postconf", "-c", self.config, "-M",
            f"{mx.SINK_IP}:25/inet = {mx.SINK_IP}:25 inet n - n - - smtpd")
        run("postfix", "-c", self.config, "start")
        self.offset, self.sent, self.tail = 0, 0, b""
        mx.wait_port(mx.SINK_IP, 25, "receiving postfix")

    def cpu_seconds(self):
        """CPU of the whole instance so far: the master with its reaped children (every
        daemon is the master's child) plus the live children."""
        with open(os.path.join(self.queue, "pid", "master.pid")) as f:
            master = int(f.read().split()[0])
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile: its time is in the master's reaped children now
            pid, ppid = int(entry), int(fields[1])
            if pid == master:
                total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
            elif ppid == master:
                total += int(fields[11]) + int(fields[12])
        return total / measure.CLK_TCK

    def received(self):
        """Messages the discard agent delivered so far (read incrementally from the maillog)."""
        try:
            with open(self.maillog, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return 0
        self.offset += len(chunk)
        lines = (self.tail + chunk).split(b"\n")
        self.tail = lines.pop()
        self.sent += sum(1 for line in lines if SENT in line)
        return self.sent

    def stop(self, out):
        subprocess.run(["postfix", "-c", self.config, "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        if os.path.exists(self.maillog):
            with open(self.maillog, "rb") as f, open(os.path.join(out, "postfix-tail.log"),
                                                     "wb") as keep:
                f.seek(max(0, os.path.getsize(self.maillog) - 20000))
                keep.write(f.read())


# ---------------------------------------------------------------- what sealgate says

def deliveries(metrics_port):
    """sealgate_delivery_total and _failures_total by label set, from /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    found = {}
    for m in re.finditer(r'^(sealgate_delivery(?:_failures)?_total)\{([^}]*)\} (\S+)$', text,
                         re.M):
        found[f"{m.group(1)}{{{m.group(2)}}}"] = float(m.group(3))
    return found


# ---------------------------------------------------------------- the run

def workloads(args):
    size = os.path.getsize(args.message)
    return [
        {"name": f"protected {size // 1024} KB (7z {args.kib} KB) x{args.count} s{args.sessions}",
         "kind": "smtpload", "count": args.count, "sessions": args.sessions,
         "message": args.message},
        {"name": f"ordinary {size // 1024} KB x{args.count} s{args.sessions}",
         "kind": "smtp-source", "count": args.count, "sessions": args.sessions, "size": size},
    ]


def dns_snapshot(servers):
    """Questions answered so far per DNS server: all of them, and TLSA alone."""
    return {label: {"all": sum(s.queries.values()),
                    "tlsa": sum(n for k, n in s.queries.items() if k.endswith(" TLSA"))}
            for label, s in servers.items()}


def tlsa_per_run(results):
    """TLSA questions each run caused, per (workload, path): differences of the snapshots."""
    per, before = {}, None
    for r in results:
        now = r["dns_queries_so_far"]
        if before is not None and r["path"] in now:
            key = (r["workload"], r["path"])
            per.setdefault(key, []).append(now[r["path"]]["tlsa"] - before[r["path"]]["tlsa"])
        before = now
    return per


CPU = ("smarthost", "smarthost-tls", "mx", "mx-dane")


def summarise(results, machine):
    labels = [label for label, _ in PATHS]
    works = list(dict.fromkeys(r["workload"] for r in results))

    def values(work, label, key="msgs_per_s"):
        return [r[key] for r in results if r["workload"] == work and r["path"] == label
                and r.get(key) is not None and (key != "msgs_per_s" or r["count_ok"])]

    def med(work, label, key="msgs_per_s"):
        v = values(work, label, key)
        return statistics.median(v) if v else None

    def fmt(v, digits=0):
        return "-" if v is None else f"{v:,.{digits}f}"

    def ratio(a, b):
        return f"{a / b:.2f}" if a and b else "-"

    lines = [
        f"Run {machine['date']}, sealgate {machine['commit']}, {machine['reps']} repetitions, "
        f"load average before {' '.join(machine['loadavg_before'])}, after "
        f"{' '.join(machine['loadavg_after'])}. Messages per second, medians (all repetitions "
        "in brackets):",
        "",
        "| workload | " + " | ".join(labels) + " | mx / smarthost-tls | mx-dane / smarthost-tls "
        "| mx-dane / mx | smarthost-tls / smarthost | sealgate CPU ms/msg " + " | ".join(CPU)
        + " | receiver CPU ms/msg " + " | ".join(labels) + " |",
        "| --- | " + " | ".join("---:" for _ in labels) + " | ---: | ---: | ---: | ---: | "
        + " | ".join("---:" for _ in CPU + tuple(labels)) + " |",
    ]
    for w in works:
        m = {label: med(w, label) for label in labels}
        cells = [f"{fmt(m[label])} ({', '.join(fmt(v) for v in values(w, label))})"
                 for label in labels]
        cpu = [fmt(med(w, label, "sealgate_cpu_ms_per_msg"), 2) for label in CPU]
        cpu += [fmt(med(w, label, "receiver_cpu_ms_per_msg"), 2) for label in labels]
        lines.append(f"| {w} | " + " | ".join(cells) + f" | **{ratio(m['mx'], m['smarthost-tls'])}**"
                     f" | **{ratio(m['mx-dane'], m['smarthost-tls'])}** | "
                     f"{ratio(m['mx-dane'], m['mx'])} | {ratio(m['smarthost-tls'], m['smarthost'])}"
                     " | " + " | ".join(cpu) + " |")
    bad = [r for r in results if not r["count_ok"]]
    tlsa = tlsa_per_run(results)
    lines += ["", "TLSA questions per run (one run = one workload over one path; first "
              "repetition's first run of a path included):", ""]
    for (work, label), counts in sorted(tlsa.items()):
        if any(counts):
            lines.append(f"- {work}, {label}: {', '.join(map(str, counts))}")
    lines += [
        "",
        f"Runs with a count mismatch or timeout: {len(bad)} of {len(results)}; messages the "
        f"receiver counted: {sum(r['counted'] for r in results)} of "
        f"{sum(r['messages'] for r in results)} sent.",
        "",
        f"DNS questions answered, server without AD (mx): {machine['dns_queries']['mx']}.",
        f"DNS questions answered, server with AD and TLSA (mx-dane): "
        f"{machine['dns_queries']['mx-dane']}.",
        "",
        "sealgate's delivery counters at the end:",
        "",
    ]
    for label, counters in machine["deliveries"].items():
        lines.append(f"- {label}: " + ", ".join(f"`{k}` {v:.0f}" for k, v in counters.items()))
    lines.append("")
    return "\n".join(lines)


PATHS = [("direct", None), ("smarthost", f"smtp://{mx.SINK_IP}:25"),
         ("smarthost-tls", f"smtp://{mx.SINK_IP}:25"), ("mx", "mx"), ("mx-dane", "mx")]
RELAY_TLS = {
    # A smarthost on loopback is exempt from the floor: protected mail goes in cleartext here.
    "smarthost": 'tls = "none"',
    "smarthost-tls": 'tls = "required"\ntls_verify = false',
}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sealgate", default=os.path.join(mx.ROOT, "target/release/sealgate"))
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--count", type=int, default=300)
    p.add_argument("--sessions", type=int, default=10)
    p.add_argument("--kib", type=int, default=100, help="archive size of the protected message")
    p.add_argument("--out", default=os.path.join(HERE, "results", "mx-protected-" + time.strftime(
        "%Y%m%dT%H%M%SZ", time.gmtime())))
    p.add_argument("--pause", type=float, default=1.0)
    args = p.parse_args()
    mx.preflight("mx_protected.py", ("postfix", "postconf", "smtp-source", "openssl", "7zz"),
                 "postfix openssl 7zip", args.sealgate)
    os.makedirs(args.out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="sealgate-mx-protected.")
    procs, servers, postfix = [], {}, None

    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        args.message = os.path.join(tmp, "protected.eml")
        subprocess.run([sys.executable, os.path.join(HERE, "make_protected.py"), args.message,
                        str(args.kib * 1024)], check=True)
        cert, key, spki_sha256 = make_certificate(tmp)
        postfix = ReceivingPostfix(tmp, cert, key)
        hosts = {mx.MX_HOST: mx.SINK_IP, PROTECTED_MX: mx.SINK_IP}
        domains = {mx.DOMAIN: mx.MX_HOST, PROTECTED_DOMAIN: PROTECTED_MX}
        servers["mx"] = mx.DnsServer(mx.Zone(domains, hosts))
        servers["mx-dane"] = mx.DnsServer(mx.Zone(
            domains, hosts, tlsa={TLSA_OWNER: [bytes([3, 1, 1]) + spki_sha256]}, ad=True))
        paths, pids, metrics = [], {}, {}
        for label, next_hop in PATHS:
            if next_hop is None:
                paths.append((label, "direct", 25))
                continue
            relay_tls = RELAY_TLS.get(label, 'tls = "opportunistic"')
            dns = servers.get(label, servers["mx"]).address
            port, proc = mx.start_sealgate(args.sealgate, tmp, label, next_hop, dns, relay_tls)
            procs.append(proc)
            paths.append((label, label, port))
            pids[label] = proc.pid
            metrics[label] = proc.metrics_port
        run_args = argparse.Namespace(
            received=postfix.received, receiver_queues=True, pids=pids, stall_seconds=15.0,
            run_timeout=600.0, sink_log=None, sealgate_pid=None, sealgate_b_pid=None)
        machine = {
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "loadavg_before": open("/proc/loadavg").read().split()[:3],
            "sealgate": args.sealgate, "reps": args.reps,
            "message_bytes": os.path.getsize(args.message),
            "commit": subprocess.run(["git", "-C", mx.ROOT, "rev-parse", "--short", "HEAD"],
                                     capture_output=True, text=True).stdout.strip(),
        }
        print(json.dumps(machine), flush=True)
        with open(os.path.join(args.out, "throughput.jsonl"), "w") as out:
            results = mx.run_rotation(
                run_args, paths, workloads(args), args.reps, out,
                lambda: dns_snapshot(servers), args.pause, postfix.cpu_seconds)
        machine["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
        machine["dns_queries"] = {k: dict(s.queries) for k, s in servers.items()}
        machine["deliveries"] = {label: deliveries(port) for label, port in metrics.items()}
        with open(os.path.join(args.out, "machine.json"), "w") as f:
            json.dump(machine, f, indent=1)
        summary = summarise(results, machine)
        with open(os.path.join(args.out, "summary.md"), "w") as f:
            f.write(summary)
        print(summary)
    finally:
        mx.stop_processes(procs)
        mx.keep_logs(tmp, args.out, [label for label, _ in PATHS])
        if postfix:
            postfix.stop(args.out)
        for server in servers.values():
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
