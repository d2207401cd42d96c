#!/usr/bin/env bash
# Instructions per call, counted by callgrind (deterministic: no noise from the machine), for
# the bench flow SIPp carrier -> switchboard -> SIPp agent. Each configuration runs twice,
# with LOW and HIGH calls; (I(HIGH) - I(LOW)) / (HIGH - LOW) is the cost of one call with
# start-up and shutdown cancelled out, for the whole process and for each thread.
# Usage: scripts/instructions-per-call.sh [LOW] [HIGH]   (default 200 600)
# Env: KEEP=1 (keep the callgrind files, for callgrind_annotate), CONFIGS (names among: on off records metrics; default "on off"), RATE (calls/s, default
#      20: callgrind runs the server ~50x slower), FLUSH_MS (the call-record writer's interval;
#      default 10000 makes batches of the size a 1,000 calls/s run writes every 200 ms).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED:-$here/../shared/bench}
low=${1:-200}; high=${2:-600}
rate=${RATE:-20}
work=${BENCH_WORK:-$here/bench-work}
mkdir -p "$work"
for tool in sipp valgrind callgrind_annotate python3; do
  command -v $tool >/dev/null || { echo "need $tool: apt-get install sip-tester valgrind" >&2; exit 1; }
done
[ -f "$work/numbers.csv" ] || python3 "$shared/gen-directory.py" 10000 "$work" >/dev/null
bin=${SWITCHBOARD_BIN:-$here/target/release/switchboard}
[ -n "${SWITCHBOARD_BIN:-}" ] || cargo build --release --quiet --manifest-path "$here/Cargo.toml"

. "$here/scripts/lib/bench-config.sh"

config() { # name -> metrics records
  case $1 in
    on) echo "true true" ;; off) echo "false false" ;;
    records) echo "false true" ;; metrics) echo "true false" ;;
    *) echo "unknown configuration $1" >&2; exit 1 ;;
  esac
}

run() { # config calls -> "total thread=count ..."
  local name=$1 calls=$2 out; out=$(mktemp -d /tmp/sbcg.XXXX)
  read -r metrics records <<<"$(config "$name")"
  # Under valgrind the pooling allocator cannot reserve 1,000 slots of address space.
  bench_config "$work" 5070 "${API_PORT:-8089}" 5090 "$out/switchboard.db" "$metrics" "$records" \
    "${FLUSH_MS:-10000}" $'[workflow]\npool_instances = 2' > "$out/switchboard.toml"
  sipp -sf "$shared/agent-uas.xml" -i 127.0.0.1 -p 5090 -bg -nostdin >/dev/null 2>&1 || true
  local uas; uas=$(ss -lunpH 'sport = :5090' | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1)
  valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out/cg.%p" \
    "$bin" serve --config "$out/switchboard.toml" >"$out/proxy.log" 2>&1 &
  local proxy=$!
  for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:${API_PORT:-8089}/readyz" >/dev/null && break; sleep 1; done
  timeout $(( calls / rate + 120 )) sipp -sf "$shared/carrier-uac.xml" -inf "$work/numbers.csv" -i 127.0.0.1 -p 7100 \
    -mp 21000 127.0.0.1:5070 -r "$rate" -m "$calls" -l $(( rate * 3 + 100 )) -nostdin -trace_stat -stf "$out/uac.csv" \
    -fd 1000 >"$out/uac.out" 2>&1 || true
  # The writer flushes every FLUSH_MS: let it, so that every record is written and counted.
  sleep $(( ${FLUSH_MS:-10000} / 1000 + 2 ))
  kill -TERM $proxy; wait $proxy 2>/dev/null || true
  [ -n "$uas" ] && kill "$uas" 2>/dev/null || true
  local hdr last ok
  hdr=$(head -1 "$out/uac.csv"); last=$(tail -1 "$out/uac.csv")
  ok=$(echo "$last" | cut -d';' -f"$(echo "$hdr" | tr ';' '\n' | grep -nx 'SuccessfulCall(C)' | cut -d: -f1)")
  [ "$ok" = "$calls" ] || { echo "$name: $ok of $calls calls completed (see $out)" >&2; exit 1; }
  python3 - "$out" <<'PY'
import glob, re, sys, collections
by = collections.Counter()
for path in glob.glob(sys.argv[1] + "/cg.*"):
    text = open(path, errors="replace").read()
    total = re.search(r"^(?:summary|totals):\s*(\d+)", text, re.M)
    name = re.search(r"^thread:\s*(\d+)", text, re.M)
    cmd = re.search(r"^cmd:", text, re.M)
    if total:
        by[path.rsplit("-", 1)[-1] if "-" in path.rsplit("/", 1)[-1] else "1"] += int(total.group(1))
print(" ".join(f"{k}={v}" for k, v in sorted(by.items())))
PY
  if [ -n "${KEEP:-}" ]; then echo "kept $out" >&2; else rm -rf "$out"; fi
}

for name in ${CONFIGS:-on off}; do
  a=$(run "$name" "$low"); b=$(run "$name" "$high")
  python3 - "$name" "$low" "$high" "$a" "$b" <<'PY'
import sys
name, low, high, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
pa = dict(kv.split("=") for kv in a.split()); pb = dict(kv.split("=") for kv in b.split())
per = {t: (int(pb.get(t, 0)) - int(pa.get(t, 0))) / (high - low) for t in sorted(set(pa) | set(pb), key=int)}
total = sum(per.values())
threads = " ".join(f"t{t}={v:,.0f}" for t, v in per.items() if abs(v) >= 500)
print(f"{name:8s} instructions_per_call={total:,.0f}  by thread: {threads}")
PY
done
