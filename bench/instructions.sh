#!/usr/bin/env bash
# Instructions per message on the ordinary path, under valgrind's callgrind: deterministic, so a
# difference between two builds shows even on a busy machine where throughput runs are noisy.
#
#   bench/instructions.sh BINARY [BINARY...]      # one line per binary
#   COUNT=2000 SESSIONS=10 SIZE=5120 bench/instructions.sh ...
#
# Per binary: smtp-sink as next hop, the binary under callgrind (with the same configuration
# as bench/run.sh), WARMUP messages to fill the next-hop pool and the allocator, counters
# zeroed, COUNT messages from smtp-source (a new connection per message), counters dumped.
# Prints the instructions per message of the gateway process (all threads) and keeps the
# callgrind file (OUT, default /tmp) for `callgrind_annotate --inclusive=yes`.
# Needs: valgrind, postfix (smtp-source, smtp-sink), python3. Listens on 127.0.0.1 only.
set -euo pipefail

COUNT=${COUNT:-2000}
WARMUP=${WARMUP:-200}
SESSIONS=${SESSIONS:-10}
SIZE=${SIZE:-5120}
OUT=${OUT:-/tmp}
PY=${PYTHON:-python3}
[ $# -ge 1 ] || { echo "usage: $0 BINARY [BINARY...]" >&2; exit 2; }
for tool in valgrind callgrind_control smtp-source smtp-sink "$PY"; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

TMP=$(mktemp -d /tmp/sealgate-instr.XXXXXX)
chmod 755 "$TMP"
PIDS=()
cleanup() {
    set +e
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT

. "$(dirname "$0")/lib.sh"
wait_port() {
    for _ in $(seq 1 600); do
        if "$PY" -c "import socket; socket.create_connection(('127.0.0.1',$1),1).close()" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listens on 127.0.0.1:$1" >&2; exit 1
}
sink_count() { grep -ao 'mesg=[0-9]*' "$TMP/sink.log" | tail -1 | cut -d= -f2; }
wait_count() {   # wait until the sink counted $1 messages
    for _ in $(seq 1 3000); do
        [ "$(sink_count)" = "$1" ] && return 0
        sleep 0.1
    done
    echo "the sink counted $(sink_count), expected $1" >&2; exit 1
}

SINK_PORT=$(free_port)
smtp-sink -c -u nobody "127.0.0.1:$SINK_PORT" 4096 >"$TMP/sink.log" 2>/dev/null &
PIDS+=($!)
wait_port "$SINK_PORT"
SRC=(smtp-source -f bench@example.org -t sink@example.net -l "$SIZE")

n=0
for bin in "$@"; do
    n=$((n + 1))
    PORT=$(free_port); METRICS_PORT=$(free_port)
    bench_config "$PORT" "$METRICS_PORT" "$SINK_PORT" "$TMP/audit-$n.db" >"$TMP/sealgate-$n.toml"
    file=$OUT/callgrind.$n.$(echo "$bin" | tr -c 'A-Za-z0-9.\n-' _).out
    valgrind --tool=callgrind --callgrind-out-file="$file" --collect-atstart=yes \
        "$bin" serve --config "$TMP/sealgate-$n.toml" 2>"$TMP/sealgate-$n.log" &
    vg=$!
    PIDS+=("$vg")
    wait_port "$PORT"
    before=$(sink_count); before=${before:-0}
    "${SRC[@]}" -s "$SESSIONS" -m "$WARMUP" "127.0.0.1:$PORT"
    wait_count $((before + WARMUP))
    sleep 3   # pooled next-hop connections from the warm-up expire the same way in both
    callgrind_control -z "$vg" >/dev/null
    "${SRC[@]}" -s "$SESSIONS" -m "$COUNT" "127.0.0.1:$PORT"
    wait_count $((before + WARMUP + COUNT))
    callgrind_control -d "$vg" >/dev/null
    kill "$vg"; wait "$vg" 2>/dev/null || true
    dump=$(ls -t "$file".* 2>/dev/null | head -1)
    total=$(grep -m1 '^summary:' "$dump" | awk '{print $2}')
    echo "$bin: $((total / COUNT)) instructions per message ($COUNT x $SIZE B, $SESSIONS sessions; $dump)"
done
