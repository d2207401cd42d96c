#!/usr/bin/env bash
# Runs every test switchboard has. Installs what the tests need on a fresh Debian machine
# (SIPp and friends from Debian's packages, the wasm target) and then runs `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
need() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || missing+=("$2"); }
need sipp sip-tester
need promtool prometheus
need stunnel4 stunnel4
need sipsak sipsak
need nft nftables
need svmap sipvicious
need curl curl
python3 -c "import venv, ensurepip" 2>/dev/null || missing+=(python3-venv)
# tests/postgres.rs starts throwaway clusters with Debian's binaries (initdb, pg_ctl, psql).
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "missing tools; install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

# The example routing workflows written in Rust (tests/workflow_examples.rs loads them).
scripts/build-workflows.sh
# Integration tests start real servers and SIPp processes; two at a time suits 2 cores.
cargo test --lib --bins --tests -- --test-threads="${TEST_THREADS:-2}"
# Each criterion bench once, as a test (criterion takes no test-harness flags).
cargo test --benches
cargo test --doc
# The management API against its own OpenAPI document (no 5xx, every answer fits the schema).
scripts/schemathesis.sh "${SCHEMATHESIS_EXAMPLES:-20}"
