#!/usr/bin/env bash
# The whole test suite, both tiers, on a fresh Debian 12 machine (as root).
#   1. install the real peers when one is missing (.ci/install-deps; idempotent)
#   2. the in-process tier and the real-peer tier: cargo test --features real-peers
# `cargo test` alone runs the in-process tier only and needs nothing but a Rust toolchain.
set -euo pipefail

cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

if ! .ci/install-deps --check >/dev/null 2>&1; then
    step "install the real peers (.ci/install-deps)"
    .ci/install-deps
fi

step "cargo test --features real-peers --no-fail-fast (in-process and real-peer tiers; every failure reported)"
exec cargo test --features real-peers --no-fail-fast "$@"
