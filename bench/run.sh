#!/usr/bin/env bash
# sealgate benchmarks: throughput (end to end, counted at the sink), latency, memory, CPU and a
# profile, side by side with the direct path and a private Postfix relay, in one run.
#
# Needs (Debian 12): postfix (smtp-source, smtp-sink, the relay), 7zip (7zz), python3, cargo;
# optional: linux-perf (profile). Run as root (Postfix and smtp-sink drop privileges).
#   apt-get install -y postfix 7zip python3 linux-perf
#   bench/run.sh                       # everything, 3 repetitions
#   REPS=5 bench/run.sh                # more repetitions
#   QUICK=1 bench/run.sh               # one short repetition, to check the set-up
# Knobs: REPS, QUICK, PROTECTED=auto|1|0, PROFILE=auto|1|0, OUT (results dir), KEEP=1 (keep temp),
#   SEALGATE_BIN (measure that binary, no build), SEALGATE_B_BIN (a second build measured in the
#   same run, as path "sealgate-b"), ONLY=throughput|latency|memory|profile (one part),
#   MEASURE_ARGS (extra options for bench/measure.py: message counts, sessions).
# Everything listens on 127.0.0.1 only; every process started here is stopped on exit.
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
REPS=${REPS:-3}
QUICK=${QUICK:-0}
PROTECTED=${PROTECTED:-auto}
PROFILE=${PROFILE:-auto}
OUT=${OUT:-$BENCH/results/$(date -u +%Y%m%dT%H%M%SZ)}
PY=${PYTHON:-python3}

die() { echo "run.sh: $*" >&2; exit 1; }
log() { echo "== $(date -u +%H:%M:%S) $*"; }

for tool in smtp-source smtp-sink postfix postconf 7zz cargo "$PY"; do
    command -v "$tool" >/dev/null || die "missing $tool (apt-get install postfix 7zip python3; rustup for cargo)"
done
[ "$(id -u)" = 0 ] || die "run as root (private Postfix instance, smtp-sink -u nobody)"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
TMP=$(mktemp -d /tmp/sealgate-bench.XXXXXX)
chmod 755 "$TMP"    # Postfix's unprivileged daemons must reach their directories below
PIDS=()
POSTFIX_STARTED=0
cleanup() {
    set +e
    [ "$POSTFIX_STARTED" = 1 ] && postfix -c "$TMP/postfix/etc" stop >/dev/null 2>&1
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    cp "$TMP/sealgate.log" "$OUT/sealgate.log" 2>/dev/null
    [ "${KEEP:-0}" = 1 ] || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

. "$BENCH/lib.sh"
wait_port() {   # wait until something answers on 127.0.0.1:$1
    for _ in $(seq 1 200); do
        if "$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),1).close()" 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    die "nothing listens on 127.0.0.1:$1 ($2)"
}

# ------------------------------------------------------------------ build
if [ -n "${SEALGATE_BIN:-}" ]; then     # compare another build: SEALGATE_BIN=/path/to/sealgate
    SEALGATE=$SEALGATE_BIN
else
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release --bin sealgate)
    SEALGATE=$ROOT/target/release/sealgate
fi

ulimit -n "$(ulimit -Hn)"   # 5,000 idle sessions need descriptors, in sealgate and the client
[ "$(ulimit -n)" -ge 12000 ] || die "ulimit -n is $(ulimit -n): need >= 12000 for the idle-session test"

SINK_PORT=$(free_port); SEALGATE_PORT=$(free_port); POSTFIX_PORT=$(free_port); METRICS_PORT=$(free_port)

# ------------------------------------------------------------------ the sink (the next hop of all)
log "smtp-sink on 127.0.0.1:$SINK_PORT"
smtp-sink -c -u nobody "127.0.0.1:$SINK_PORT" 4096 >"$TMP/sink.log" 2>"$TMP/sink.err" &
PIDS+=($!)
wait_port "$SINK_PORT" smtp-sink

# ------------------------------------------------------------------ sealgate
bench_config "$SEALGATE_PORT" "$METRICS_PORT" "$SINK_PORT" "$TMP/audit.db" >"$TMP/sealgate.toml"
cp "$TMP/sealgate.toml" "$OUT/sealgate.toml"
log "sealgate on 127.0.0.1:$SEALGATE_PORT"
"$SEALGATE" serve --config "$TMP/sealgate.toml" 2>"$TMP/sealgate.log" &
SEALGATE_PID=$!
PIDS+=("$SEALGATE_PID")
wait_port "$SEALGATE_PORT" sealgate

# An optional second build, measured alongside in the same run (A/B of a change):
# SEALGATE_B_BIN=/path/to/other/sealgate. It gets its own port, metrics port and audit store.
B_ARGS=()
if [ -n "${SEALGATE_B_BIN:-}" ]; then
    SEALGATE_B_PORT=$(free_port); METRICS_B_PORT=$(free_port)
    sed -e "s|127.0.0.1:$SEALGATE_PORT|127.0.0.1:$SEALGATE_B_PORT|" \
        -e "s|127.0.0.1:$METRICS_PORT|127.0.0.1:$METRICS_B_PORT|" \
        -e "s|$TMP/audit.db|$TMP/audit-b.db|" "$TMP/sealgate.toml" >"$TMP/sealgate-b.toml"
    log "sealgate-b ($SEALGATE_B_BIN) on 127.0.0.1:$SEALGATE_B_PORT"
    "$SEALGATE_B_BIN" serve --config "$TMP/sealgate-b.toml" 2>"$TMP/sealgate-b.log" &
    PIDS+=($!)
    B_ARGS=(--sealgate-b-port "$SEALGATE_B_PORT" --sealgate-b-pid "$!")
    wait_port "$SEALGATE_B_PORT" sealgate-b
fi

# ------------------------------------------------------------------ a private Postfix relay
PF=$TMP/postfix
mkdir -p "$PF/etc" "$PF/spool" "$PF/data"
cp /etc/postfix/master.cf.proto "$PF/etc/master.cf"
: >"$PF/etc/main.cf"
postconf -c "$PF/etc" -e compatibility_level=3.6 myhostname=postfix-bench.localdomain \
    queue_directory="$PF/spool" data_directory="$PF/data" inet_interfaces=127.0.0.1 \
    inet_protocols=ipv4 mynetworks=127.0.0.0/8 mydestination= "relayhost=[127.0.0.1]:$SINK_PORT" \
    maillog_file="$PF/maillog" "maillog_file_prefixes=/var,/dev/stdout,$TMP" \
    message_size_limit=52428800 smtputf8_enable=no
postconf -c "$PF/etc" -F '*/*/chroot = n'
postconf -c "$PF/etc" -MX smtp/inet
postconf -c "$PF/etc" -M "127.0.0.1:$POSTFIX_PORT/inet = 127.0.0.1:$POSTFIX_PORT inet n - n - - smtpd"
postconf -c "$PF/etc" -M "postlog/unix-dgram = postlog unix-dgram n - n - 1 postlogd"
chown postfix "$PF/data"
log "Postfix relay on 127.0.0.1:$POSTFIX_PORT"
postfix -c "$PF/etc" start >/dev/null 2>&1 || { cat "$PF/maillog" >&2; die "Postfix did not start"; }
POSTFIX_STARTED=1
wait_port "$POSTFIX_PORT" Postfix
postconf -c "$PF/etc" -n >"$OUT/postfix-main.cf"

# ------------------------------------------------------------------ machine facts
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "kernel: $(uname -srm)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
    echo "memory: $(free -m | awk '/Mem:/ {print $2 " MiB"}')"
    echo "os: $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "postfix: $(postconf -d -h mail_version)"
    echo "python: $("$PY" --version 2>&1)"
    echo "rustc: $(rustc --version)"
    echo "sealgate: $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown) ${SEALGATE_BIN:+(binary $SEALGATE_BIN)}"
    echo "loadavg before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "busiest processes before the run (other users of the machine):"
    top -b -n 2 -d 1 -o %CPU -w 120 | awk '/^top -/ {n++} n == 2' | sed -n '3p;8,13p' | sed 's/^/    /'
} >"$OUT/machine.txt"
cat "$OUT/machine.txt"

# ------------------------------------------------------------------ protected messages
log "building protected messages (7zz -mhe=on over random data)"
"$PY" "$BENCH/make_protected.py" "$TMP/protected-100k.eml" 102400
"$PY" "$BENCH/make_protected.py" "$TMP/protected-25m.eml" 25000000
if [ "$PROTECTED" = auto ]; then
    probe=$("$PY" "$BENCH/smtpload.py" send --port "$SEALGATE_PORT" --message "$TMP/protected-100k.eml" \
        --from team.menen@kindengezin.be --to kindengezin@wervik.be --count 1)
    if echo "$probe" | grep -q '"ok": 1'; then PROTECTED=1; else PROTECTED=0; fi
    echo "protected probe through sealgate: $probe" | tee "$OUT/protected-probe.txt"
fi
PROT_ARGS=()
[ "$PROTECTED" = 1 ] && PROT_ARGS=(--protected)

COMMON=(--out "$OUT" --sink-log "$TMP/sink.log" --direct-port "$SINK_PORT"
        --sealgate-port "$SEALGATE_PORT" --postfix-port "$POSTFIX_PORT" --sealgate-pid "$SEALGATE_PID"
        --p100k "$TMP/protected-100k.eml" --p25m "$TMP/protected-25m.eml" "${PROT_ARGS[@]}"
        "${B_ARGS[@]}")
# MEASURE_ARGS: more options for bench/measure.py, e.g. "--p25m-count 10 --small-count 5000".
read -r -a EXTRA <<<"${MEASURE_ARGS:-}"
COMMON+=("${EXTRA[@]}")
if [ "$QUICK" = 1 ]; then
    COMMON+=(--small-count 300 --large-count 30 --p100k-count 20 --p25m-count 4
             --latency-count 200 --idle-sessions 1000 --big-sessions 10)
    REPS=1
fi

# ------------------------------------------------------------------ measurements
ONLY=${ONLY:-all}
want() { [ "$ONLY" = all ] || [ "$ONLY" = "$1" ]; }
# Memory first, on a fresh process: after many large messages glibc keeps freed arenas and
# raises its mmap threshold, which blurs what one test adds.
if want memory; then
    log "memory"
    "$PY" "$BENCH/measure.py" memory "${COMMON[@]}"
fi
if want throughput; then
    log "throughput: $REPS repetitions, paths alternating"
    "$PY" "$BENCH/measure.py" throughput "${COMMON[@]}" --reps "$REPS"
fi
if want latency; then
    log "latency"
    "$PY" "$BENCH/measure.py" latency "${COMMON[@]}"
fi
want profile || PROFILE=0

# ------------------------------------------------------------------ profile of the hot path
if [ "$PROFILE" = auto ]; then
    if command -v perf >/dev/null && perf record -e cpu-clock -o "$TMP/probe.data" true >/dev/null 2>&1; then
        PROFILE=1; else PROFILE=0; fi
fi
profile() {   # profile NAME COMMAND... (the load to run while perf samples sealgate)
    local name=$1; shift
    perf record -e cpu-clock -F 1999 --call-graph dwarf,16384 -p "$SEALGATE_PID" \
        -o "$TMP/perf-$name.data" >/dev/null 2>&1 &
    local perf_pid=$!
    PIDS+=("$perf_pid")
    sleep 1
    "$@" >/dev/null
    sleep 0.5
    kill -INT "$perf_pid"; wait "$perf_pid" || true
    # Flat (self time per symbol), then inclusive time (children) per symbol.
    perf report -i "$TMP/perf-$name.data" --no-children --sort dso,symbol --stdio -g none \
        --percent-limit 0.5 >"$TMP/self.txt" 2>/dev/null || true
    grep -v '^$' "$TMP/self.txt" >"$OUT/profile-$name-self.txt" || true
    perf report -i "$TMP/perf-$name.data" --children --sort symbol --stdio -g none \
        --percent-limit 2 >"$TMP/children.txt" 2>/dev/null || true
    grep -v '^$' "$TMP/children.txt" >"$OUT/profile-$name-children.txt" || true
}
if [ "$PROFILE" = 1 ]; then
    log "profile (perf, cpu-clock, dwarf call graphs)"
    SRC=(smtp-source -f bench@example.org -t sink@example.net)
    profile 5k-s50 "${SRC[@]}" -s 50 -m 4000 -l 5120 "127.0.0.1:$SEALGATE_PORT"
    profile 1m-s10 "${SRC[@]}" -s 10 -m 300 -l 1048576 "127.0.0.1:$SEALGATE_PORT"
    if [ "$PROTECTED" = 1 ]; then
        profile protected-100k "$PY" "$BENCH/smtpload.py" send --port "$SEALGATE_PORT" \
            --sessions 10 --count 40 --message "$TMP/protected-100k.eml" \
            --from team.menen@kindengezin.be --to kindengezin@wervik.be
        profile protected-25m "$PY" "$BENCH/smtpload.py" send --port "$SEALGATE_PORT" \
            --sessions 2 --count 6 --message "$TMP/protected-25m.eml" \
            --from team.menen@kindengezin.be --to kindengezin@wervik.be
    fi
fi

echo "loadavg after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
"$PY" "$BENCH/measure.py" summary --out "$OUT"
log "results in $OUT"
