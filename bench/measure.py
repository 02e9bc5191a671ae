#!/usr/bin/env python3
"""The measuring half of bench/run.sh (stdlib only). run.sh starts the sink, sealgate and the
private Postfix; this script drives the load, stops the clock and checks the counts.

  throughput  for each repetition, each workload, each path (order rotated per repetition):
              note the sink's message count, start the generator, stop the clock when the sink
              has counted every message of the run, then check the count is exact.
  latency     sequential client, direct vs via sealgate, p50/p99 per transaction.
  memory      sealgate's RSS with N idle sessions, and its peak with S sessions each sending one
              large message (VmHWM reset through /proc/PID/clear_refs).
  summary     medians, ratios and the targets, as Markdown.

Results are JSON lines in OUT/*.jsonl; `summary` turns them into OUT/summary.md.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SMTPLOAD = os.path.join(HERE, "smtpload.py")
CLK_TCK = os.sysconf("SC_CLK_TCK")
MESG = re.compile(rb"mesg=(\d+)")

SENDER = "bench@example.org"
RECIPIENT = "sink@example.net"
PROTECTED_SENDER = "team.menen@kindengezin.be"
PROTECTED_RECIPIENT = "kindengezin@wervik.be"


# ---------------------------------------------------------------- observing processes

def sink_count(log):
    """The last `mesg=N` that `smtp-sink -c` wrote (it rewrites its counter line with CR)."""
    with open(log, "rb") as f:
        f.seek(0, os.SEEK_END)
        end = f.tell()
        f.seek(max(0, end - 256))
        found = MESG.findall(f.read())
    return int(found[-1]) if found else 0


def cpu_seconds(pid):
    """utime + stime of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def reset_peak(pid):
    """Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


# ---------------------------------------------------------------- workloads

def workloads(args):
    w = []
    for size, label, count in ((5120, "5KB", args.small_count), (1048576, "1MB", args.large_count)):
        for s in (10, 50):
            w.append({"name": f"ordinary {label} x{count} s{s}", "kind": "smtp-source",
                      "count": count, "sessions": s, "size": size})
    if args.protected:
        w.append({"name": f"protected 100KB-7z x{args.p100k_count} s10", "kind": "smtpload",
                  "count": args.p100k_count, "sessions": 10, "message": args.p100k})
        w.append({"name": f"protected 25MB-7z x{args.p25m_count} s5", "kind": "smtpload",
                  "count": args.p25m_count, "sessions": 5, "message": args.p25m})
    return w


def generator(work, port):
    if work["kind"] == "smtp-source":
        return ["smtp-source", "-s", str(work["sessions"]), "-m", str(work["count"]),
                "-l", str(work["size"]), "-f", SENDER, "-t", RECIPIENT, f"127.0.0.1:{port}"]
    return [sys.executable, SMTPLOAD, "send", "--port", str(port), "--sessions",
            str(work["sessions"]), "--count", str(work["count"]), "--message", work["message"],
            "--from", PROTECTED_SENDER, "--to", PROTECTED_RECIPIENT]


def run_once(args, work, path, port):
    """One timed run: start the generator, stop the clock when the sink counted all messages."""
    # The receiver's count: smtp-sink's by default; `args.received` (a callable) for another.
    received = getattr(args, "received", None) or (lambda: sink_count(args.sink_log))
    base = received()
    target = base + work["count"]
    pids = getattr(args, "pids", None) or {"sealgate": args.sealgate_pid,
                                            "sealgate-b": args.sealgate_b_pid}
    pid = pids.get(path)
    cpu0 = cpu_seconds(pid) if pid else None
    t0 = time.monotonic()
    proc = subprocess.Popen(generator(work, port), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    t_end = None
    last_progress, last_count = t0, base
    while True:
        now = time.monotonic()
        count = received()
        if count >= target:
            t_end = now
            break
        if count != last_count:
            last_progress, last_count = now, count
        # The generator is done and the sink stalls: messages were refused or lost.
        # (Only Postfix queues: elsewhere the sink has the message before the client's 250;
        # a Postfix receiver counts at delivery, after its 250: `args.receiver_queues`.)
        stall = (args.stall_seconds if path == "postfix" or getattr(args, "receiver_queues", False)
                 else 3.0)
        if proc.poll() is not None and now - last_progress > stall:
            break
        if now - t0 > args.run_timeout:
            break
        time.sleep(0.002)
    out, err = proc.communicate()
    cpu1 = cpu_seconds(pid) if pid else None
    time.sleep(0.3)
    final = received() - base
    client = None
    if work["kind"] == "smtpload":
        try:
            client = json.loads(out.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            client = {"raw": out.decode(errors="replace")[-300:]}
    result = {
        "workload": work["name"], "path": path, "messages": work["count"],
        "sessions": work["sessions"], "counted": final,
        "count_ok": final == work["count"] and t_end is not None,
        "seconds": round(t_end - t0, 4) if t_end else None,
        "msgs_per_s": round(work["count"] / (t_end - t0), 2) if t_end else None,
        "generator_rc": proc.returncode,
        "generator_stderr": err.decode(errors="replace")[-300:],
        "client": client,
    }
    if cpu0 is not None:
        result["sealgate_cpu_s"] = round(cpu1 - cpu0, 3)
        result["sealgate_cpu_ms_per_msg"] = round((cpu1 - cpu0) * 1000 / work["count"], 4)
    return result


def cmd_throughput(args):
    paths = [("direct", args.direct_port), ("sealgate", args.sealgate_port),
             ("postfix", args.postfix_port)]
    if args.sealgate_b_port:
        paths.insert(2, ("sealgate-b", args.sealgate_b_port))
    out = open(os.path.join(args.out, "throughput.jsonl"), "a")
    for rep in range(args.reps):
        if args.order == "mirror":
            # Every other repetition backwards: no path always runs right after the same one.
            order = paths if rep % 2 == 0 else paths[::-1]
        else:
            order = paths[rep % len(paths):] + paths[:rep % len(paths)]
        for work in workloads(args):
            for path, port in order:
                r = run_once(args, work, path, port)
                r["rep"] = rep + 1
                r["loadavg"] = open("/proc/loadavg").read().split()[:3]
                out.write(json.dumps(r) + "\n")
                out.flush()
                mark = "ok" if r["count_ok"] else "COUNT MISMATCH/TIMEOUT"
                print(f"rep {rep + 1} {work['name']:32} {path:8} {r['seconds']}s "
                      f"{r['msgs_per_s']} msg/s counted {r['counted']}/{r['messages']} {mark}",
                      flush=True)
                time.sleep(args.pause)


# ---------------------------------------------------------------- latency

def cmd_latency(args):
    out = open(os.path.join(args.out, "latency.jsonl"), "a")
    for reuse in (False, True):
        paths = [("direct", args.direct_port), ("sealgate", args.sealgate_port)]
        if args.sealgate_b_port:
            paths.append(("sealgate-b", args.sealgate_b_port))
        for path, port in paths:
            cmd = [sys.executable, SMTPLOAD, "latency", "--port", str(port), "--count",
                   str(args.latency_count), "--size", "5120"]
            if reuse:
                cmd.append("--reuse")
            r = json.loads(subprocess.run(cmd, check=True, capture_output=True).stdout)
            r["path"] = path
            out.write(json.dumps(r) + "\n")
            print(f"latency {r['mode']:34} {path:8} p50 {fmt(r['p50_ms'], 3)} ms "
                  f"p99 {fmt(r['p99_ms'], 3)} ms failures {r['failures']}", flush=True)


# ---------------------------------------------------------------- memory

def cmd_memory(args):
    pid = args.sealgate_pid
    out = open(os.path.join(args.out, "memory.jsonl"), "a")
    time.sleep(0.5)
    before = status_kib(pid, "VmRSS")
    reset_peak(pid)
    idle = subprocess.Popen([sys.executable, SMTPLOAD, "idle", "--port", str(args.sealgate_port),
                             "--count", str(args.idle_sessions)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    ready = json.loads(idle.stdout.readline())
    time.sleep(1.0)
    rss, hwm = status_kib(pid, "VmRSS"), status_kib(pid, "VmHWM")
    idle.stdin.close()
    idle.wait()
    r = {"test": "idle sessions", "sessions": ready["ready"], "failures": ready["failures"],
         "rss_before_kib": before, "rss_kib": rss, "hwm_kib": hwm,
         "kib_per_session": round((rss - before) / max(1, ready["ready"]), 2)}
    out.write(json.dumps(r) + "\n")
    print(f"memory idle: {r}", flush=True)

    big = [("ordinary 25MB", None)]
    if args.protected:
        big.append(("protected 25MB-7z", args.p25m))
    for label, message in big:
        time.sleep(1.0)
        before = status_kib(pid, "VmRSS")
        reset_peak(pid)
        cmd = [sys.executable, SMTPLOAD, "send", "--port", str(args.sealgate_port),
               "--sessions", str(args.big_sessions), "--count", str(args.big_sessions)]
        if message:
            cmd += ["--message", message, "--from", PROTECTED_SENDER, "--to", PROTECTED_RECIPIENT]
        else:
            cmd += ["--size", str(25 * 1000 * 1000)]
        cpu0 = cpu_seconds(pid)
        client = json.loads(subprocess.run(cmd, check=True, capture_output=True).stdout)
        cpu1 = cpu_seconds(pid)
        hwm = status_kib(pid, "VmHWM")
        in_flight_kib = args.big_sessions * client["message_bytes"] / 1024
        r = {"test": f"{args.big_sessions} sessions x {label}", "client": client,
             "rss_before_kib": before, "hwm_kib": hwm, "data_in_flight_kib": round(in_flight_kib),
             "hwm_growth_over_data": round((hwm - before) / in_flight_kib, 3),
             "cpu_ms_per_msg": round((cpu1 - cpu0) * 1000 / args.big_sessions, 2)}
        out.write(json.dumps(r) + "\n")
        print(f"memory {label}: {r}", flush=True)


# ---------------------------------------------------------------- summary

def load(path):
    if not os.path.exists(path):
        return []
    return [json.loads(l) for l in open(path) if l.strip()]


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=1):
    return "n/a" if v is None else f"{v:,.{digits}f}"


def cmd_summary(args):
    rows = load(os.path.join(args.out, "throughput.jsonl"))
    has_b = any(r["path"] == "sealgate-b" for r in rows)
    paths = ["direct", "sealgate", "postfix"] + (["sealgate-b"] if has_b else [])
    head = ("| workload | direct msg/s | sealgate msg/s | Postfix msg/s | sealgate/direct | "
            "sealgate/Postfix | sealgate CPU ms/msg |")
    rule = "|---|---:|---:|---:|---:|---:|---:|"
    if has_b:
        head += " sealgate-b msg/s | sealgate-b/direct | sealgate-b CPU ms/msg |"
        rule += "---:|---:|---:|"
    lines = [head + " runs ok |", rule + "---:|"]
    names = list(dict.fromkeys(r["workload"] for r in rows))
    for name in names:
        by = {p: [r for r in rows if r["workload"] == name and r["path"] == p] for p in paths}
        m = {p: med([r["msgs_per_s"] for r in rs if r["count_ok"]]) for p, rs in by.items()}
        cpu = {p: med([r.get("sealgate_cpu_ms_per_msg") for r in by[p] if r["count_ok"]])
               for p in paths if p.startswith("sealgate")}
        ok = sum(r["count_ok"] for rs in by.values() for r in rs)
        total = sum(len(rs) for rs in by.values())
        ratio = lambda a, b: m[a] / m[b] if m[a] and m[b] else None
        line = (f"| {name} | {fmt(m['direct'])} | {fmt(m['sealgate'])} | {fmt(m['postfix'])} | "
                f"{fmt(ratio('sealgate', 'direct'), 2)} | {fmt(ratio('sealgate', 'postfix'), 1)} | "
                f"{fmt(cpu['sealgate'], 3)} |")
        if has_b:
            line += (f" {fmt(m['sealgate-b'])} | {fmt(ratio('sealgate-b', 'direct'), 2)} | "
                     f"{fmt(cpu['sealgate-b'], 3)} |")
        lines.append(line + f" {ok}/{total} |")
    lines.append("")
    lines.append("Per-run values (msg/s, in run order):")
    lines.append("")
    for name in names:
        for p in paths:
            vals = [str(r["msgs_per_s"]) if r["count_ok"] else f"FAIL({r['counted']})"
                    for r in rows if r["workload"] == name and r["path"] == p]
            lines.append(f"- {name}, {p}: {', '.join(vals)}")
    lat = load(os.path.join(args.out, "latency.jsonl"))
    if lat:
        lines += ["", "| latency, 5 KB, sequential | path | p50 ms | p99 ms | mean ms | failures |",
                  "|---|---|---:|---:|---:|---:|"]
        for r in lat:
            lines.append(f"| {r['mode']} | {r['path']} | {fmt(r['p50_ms'], 3)} | "
                         f"{fmt(r['p99_ms'], 3)} | {fmt(r['mean_ms'], 3)} | {r['failures']} |")
        for mode in dict.fromkeys(r["mode"] for r in lat):
            d = next((r for r in lat if r["mode"] == mode and r["path"] == "direct"), None)
            for p in ("sealgate", "sealgate-b"):
                s = next((r for r in lat if r["mode"] == mode and r["path"] == p), None)
                if d and s and d["count"] and s["count"]:
                    lines.append(f"\nAdded by {p} ({mode}): p50 {s['p50_ms'] - d['p50_ms']:+.3f} ms,"
                                 f" p99 {s['p99_ms'] - d['p99_ms']:+.3f} ms")
    mem = load(os.path.join(args.out, "memory.jsonl"))
    if mem:
        lines += ["", "Memory:", ""]
        for r in mem:
            if r["test"] == "idle sessions":
                lines.append(f"- {r['sessions']} idle sessions ({r['failures']} failed): RSS "
                             f"{r['rss_before_kib']} KiB -> {r['rss_kib']} KiB "
                             f"(peak {r['hwm_kib']} KiB): {r['kib_per_session']} KiB per session")
            else:
                lines.append(f"- {r['test']}: RSS before {r['rss_before_kib']} KiB, peak "
                             f"{r['hwm_kib']} KiB, data in flight {r['data_in_flight_kib']} KiB: "
                             f"peak growth = {r['hwm_growth_over_data']} x data; client "
                             f"{r['client']['ok']} ok, codes {r['client']['codes']}; "
                             f"CPU {r['cpu_ms_per_msg']} ms/msg")
    text = "\n".join(lines) + "\n"
    open(os.path.join(args.out, "summary.md"), "w").write(text)
    print(text)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("command", choices=["throughput", "latency", "memory", "summary"])
    p.add_argument("--out", required=True)
    p.add_argument("--sink-log")
    p.add_argument("--direct-port", type=int)
    p.add_argument("--sealgate-port", type=int)
    p.add_argument("--postfix-port", type=int)
    p.add_argument("--sealgate-pid", type=int)
    p.add_argument("--sealgate-b-port", type=int, help="a second sealgate build to compare")
    p.add_argument("--sealgate-b-pid", type=int)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--order", choices=["rotate", "mirror"], default="rotate",
                   help="rotate: the path order rotates per repetition (so each path always "
                        "follows the same one); mirror: every other repetition runs backwards")
    p.add_argument("--small-count", type=int, default=2000)
    p.add_argument("--large-count", type=int, default=200)
    p.add_argument("--protected", action="store_true")
    p.add_argument("--p100k")
    p.add_argument("--p25m")
    p.add_argument("--p100k-count", type=int, default=100)
    p.add_argument("--p25m-count", type=int, default=20)
    p.add_argument("--latency-count", type=int, default=5000)
    p.add_argument("--idle-sessions", type=int, default=5000)
    p.add_argument("--big-sessions", type=int, default=50)
    p.add_argument("--pause", type=float, default=1.0)
    p.add_argument("--stall-seconds", type=float, default=15.0)
    p.add_argument("--run-timeout", type=float, default=600.0)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    {"throughput": cmd_throughput, "latency": cmd_latency, "memory": cmd_memory,
     "summary": cmd_summary}[args.command](args)


if __name__ == "__main__":
    main()
