# Shared by bench/run.sh and bench/instructions.sh (sourced, not run): one configuration for the
# gateway under test, so every measurement of the ordinary path judges the same settings.

# A free TCP port on 127.0.0.1. Needs $PY.
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The gateway's configuration on stdout: listen PORT, metrics METRICS_PORT, next hop on
# 127.0.0.1:SINK_PORT without TLS, the audit in AUDIT_DB; limits high enough that only the
# machine bounds the load; the seed protocol registered.
#   bench_config PORT METRICS_PORT SINK_PORT AUDIT_DB
bench_config() {
    cat <<EOF
[smtp]
listen = ["127.0.0.1:$1"]
hostname = "sealgate.bench.test"

[limits]
max_sessions = 20000
max_sessions_per_client = 20000
memory_budget = 4294967296

[access]
client_networks = ["127.0.0.0/8"]

[relay]
next_hop = "smtp://127.0.0.1:$3"
tls = "none"

[metrics]
listen = "127.0.0.1:$2"

[audit]
store = "sqlite:$4"

[log]
level = "info"

[policy]
own_domains = ["opgroeien.be", "kindengezin.be"]

[[protocols]]
id = "opgroeien-menen-ocmw-wervik"
title = "Opgroeien regie (lokaal team Kind en Gezin Menen) -> OCMW Wervik"
mailboxes = ["kindengezin@wervik.be"]
in_force_from = 2023-12-01
EOF
}
