#!/usr/bin/env bash
# Side-by-side call-flow comparison: SIPp carrier(s) -> PROXY -> SIPp agent, for Kamailio (the
# shared baseline config) and switchboard, at the same call rates in the same run.
# Usage: scripts/bench-compare.sh [CALLS_PER_RATE] [RATES...]   (default: 6000 calls at 400 1000 1500 2000)
# Env: PAIRS (SIPp carrier processes per run, default: 1 below 1000 calls/s, 2 above),
#      SWITCHBOARD_EXTRA (TOML appended to switchboard's bench config), ONLY=kamailio|switchboard,
#      DIALED (one number every call dials, e.g. the demo number +15551234567, instead of
#      the 10,000 static routes), ROUTE=workflow (upload an org routing workflow, the
#      business-hours example answering with the demo agent, before the run: compare with
#      ROUTE=static on DIALED=+15551234567), METRICS=false and CALL_RECORDS=false (switch
#      them off, to measure what they cost), FLUSH_MS (the call-record writer's interval), PIN=1 (the proxy on CPU 1, every SIPp on CPU 0:
#      less interference between them, steadier CPU figures on a 2-core machine), THREADS=1
#      (also the proxy's CPU per call by thread), SWITCHBOARD_BIN (a binary to run instead of
#      building this tree's, e.g. a copy of an earlier build to compare against in one run).
# Prints one line per (proxy, rate): created, ok, failed, achieved calls/s, proxy CPU µs per call;
# then a summary per rate: switchboard's CPU per call against Kamailio's, and both against the
# kernel's floor measured in the same run (before each rate: a sendto/recv pair of a 700-byte
# datagram through loopback, scripts/lib/loopback-floor.c built with cc, median of 3, times the
# flow's 14 datagrams a call), and the floor of a proxy that sleeps between datagrams (a relay
# thread woken by each one, paced at the rate's 7 datagrams in a call-second, times 7:
# scripts/lib/relay-floor.c).
# Back-to-back runs drift by tens of percent on a shared machine: to measure what a setting
# or a build costs, scripts/cost-ab.sh runs both sides at the same time instead.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED:-$here/../shared/bench}
calls=${1:-6000}; shift || true
rates=("${@:-400 1000 1500 2000}"); rates=(${rates[@]})
work=${BENCH_WORK:-$here/bench-work}
mkdir -p "$work"
for tool in sipp kamailio python3 cc; do
  command -v $tool >/dev/null || [ -x /usr/sbin/$tool ] || { echo "need $tool: apt-get install sip-tester kamailio gcc" >&2; exit 1; }
done
cc -O2 -o "$work/loopback-floor" "$here/scripts/lib/loopback-floor.c"
cc -O2 -pthread -o "$work/relay-floor" "$here/scripts/lib/relay-floor.c"
[ -f "$work/numbers.csv" ] || python3 "$shared/gen-directory.py" 10000 "$work" >/dev/null
sed "s#BENCHDIR#$work#" "$shared/kamailio.cfg.in" > "$work/kamailio.cfg"
bin=${SWITCHBOARD_BIN:-$here/target/release/switchboard}
[ "${ONLY:-}" = kamailio ] || [ -n "${SWITCHBOARD_BIN:-}" ] || cargo build --release --quiet --manifest-path "$here/Cargo.toml"

. "$here/scripts/lib/bench-config.sh"
bench_config "$work" 5070 "${API_PORT:-8089}" 5090 "$work/switchboard-run.db" "${METRICS:-true}" \
  "${CALL_RECORDS:-true}" "${FLUSH_MS:-200}" "${SWITCHBOARD_EXTRA:-}" > "$work/switchboard.toml"

numbers=$work/numbers.csv
if [ -n "${DIALED:-}" ]; then
  numbers=$work/dialed.csv
  { echo SEQUENTIAL; echo "$DIALED;"; } > "$numbers"
fi
if [ "${ROUTE:-static}" = workflow ]; then
  python3 - "$here/routing-workflows/business-hours.wat" "$work/workflow.json" <<'PY'
import json, sys
wat = open(sys.argv[1]).read()
demo = "0f8b6a52-8a3c-4c1e-9d77-4b6f0f3f0a11"
for uuid in ("11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"):
    wat = wat.replace(uuid, demo)
json.dump({"enabled": True, "workflow_definition": wat, "tz": "America/New_York"}, open(sys.argv[2], "w"))
PY
fi

tree() { echo "$1"; for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do tree "$c"; done; }
# THREADS=1: also the proxy's CPU per call by thread name (where a call's cost goes).
threads() { for t in /proc/"$1"/task/*; do [ -r "$t/stat" ] && sed 's/^[0-9]* (\(.*\)) [A-Z] \(.*\)/\1 \2/' "$t/stat" | awk -v id="${t##*/}" '{print id, $1, $12+$13}'; done; }
ticks() { local s=0; for p in $(tree "$1"); do [ -r /proc/$p/stat ] && s=$((s + $(awk '{print $14+$15}' /proc/$p/stat))); done; echo $s; }

# PIN=1: the proxy gets CPU 1 to itself, SIPp runs on CPU 0.
# Runs in the background subshell of its caller: exec, so that $! is the proxy itself.
on_proxy_cpu() { if [ "${PIN:-}" = 1 ]; then exec taskset -c 1 "$@"; else exec "$@"; fi; }
on_sipp_cpu() { if [ "${PIN:-}" = 1 ]; then taskset -c 0 "$@"; else "$@"; fi; }

run_one() { # name rate command...
  local name=$1 rate=$2; shift 2
  local out; out=$(mktemp -d /tmp/sbbench.XXXX)
  on_sipp_cpu sipp -sf "$shared/agent-uas.xml" -i 127.0.0.1 -p 5090 -bg -nostdin >/dev/null 2>&1 || true
  sleep 0.3
  local uas; uas=$(ss -lunpH 'sport = :5090' | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1)
  rm -f "$work"/switchboard-run.db*
  on_proxy_cpu "$@" >"$out/proxy.log" 2>&1 &
  local proxy=$!
  sleep 2
  if [ "$name" = switchboard ] && [ "${ROUTE:-static}" = workflow ]; then
    local key; key=$(cat "$(sed -n 's/.*API key is in \(.*\) (mode 0600).*/\1/p' "$out/proxy.log" | head -1)")
    curl -sf -X PUT -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
      -d @"$work/workflow.json" "http://127.0.0.1:${API_PORT:-8089}/core/inbound-routing-config" >/dev/null \
      || { echo "uploading the workflow failed" >&2; exit 1; }
  fi
  local pairs=${PAIRS:-$(( rate > 1000 ? 2 : 1 ))}
  local per=$(( rate / pairs )) per_calls=$(( calls / pairs ))
  [ "${THREADS:-}" = 1 ] && threads $proxy > "$out/threads0"
  local t0; t0=$(ticks $proxy); local start; start=$(date +%s.%N)
  local pids=()
  for i in $(seq 1 "$pairs"); do
    timeout $(( per_calls / per + 60 )) taskset -c "$([ "${PIN:-}" = 1 ] && echo 0 || echo 0,1)" sipp -sf "$shared/carrier-uac.xml" -inf "$numbers" -i 127.0.0.1 -p $(( 7000 + i * 100 )) -mp $(( 20000 + i * 1000 )) 127.0.0.1:5070 \
      -r "$per" -m "$per_calls" -l $(( per * 3 + 100 )) -nostdin -trace_stat -stf "$out/uac$i.csv" -fd 1000 \
      -timeout_error -timeout $(( per_calls / per + 30 ))s >"$out/uac$i.out" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || true; done
  local end; end=$(date +%s.%N); local t1; t1=$(ticks $proxy)
  [ "${THREADS:-}" = 1 ] && threads $proxy > "$out/threads1"
  kill $proxy 2>/dev/null || true; [ -n "$uas" ] && kill "$uas" 2>/dev/null || true; wait $proxy 2>/dev/null || true
  local ok=0 fail=0 total=0
  for i in $(seq 1 "$pairs"); do
    local hdr last col
    hdr=$(head -1 "$out/uac$i.csv"); last=$(tail -1 "$out/uac$i.csv")
    col() { echo "$hdr" | tr ';' '\n' | grep -nx "$1" | cut -d: -f1; }
    ok=$(( ok + $(echo "$last" | cut -d';' -f"$(col 'SuccessfulCall(C)')") ))
    fail=$(( fail + $(echo "$last" | cut -d';' -f"$(col 'FailedCall(C)')") ))
    total=$(( total + $(echo "$last" | cut -d';' -f"$(col 'TotalCallCreated')") ))
  done
  python3 - "$name" "$rate" "$pairs" "$total" "$ok" "$fail" "$t0" "$t1" "$(getconf CLK_TCK)" "$start" "$end" <<'PY' > "$out/line"
import sys
name, rate, pairs, total, ok, fail, t0, t1, hz, start, end = sys.argv[1:]
ok, fail = int(ok), int(fail)
cpu = (int(t1) - int(t0)) / int(hz)
wall = float(end) - float(start)
print(f"{name:12s} rate={rate:>5} pairs={pairs} created={total} ok={ok} failed={fail} wall={wall:.1f}s "
      f"cps={ok/wall:.0f} cpu={cpu:.2f}s us_per_call={cpu*1e6/max(ok,1):.1f}")
PY
  cat "$out/line"
  results+=("$(cat "$out/line")")
  if [ "${THREADS:-}" = 1 ]; then
    python3 - "$out/threads0" "$out/threads1" "$ok" "$(getconf CLK_TCK)" <<'PY'
import sys, collections
def load(p):
    return {l.split()[0]: (l.split()[1], int(l.split()[2])) for l in open(p) if l.strip()}
a, b, ok, hz = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
by = collections.Counter()
for tid, (name, t) in b.items():
    by[name] += t - a.get(tid, (name, 0))[1]
for name, t in by.most_common():
    if t: print(f"    {name:20s} us_per_call={t / hz * 1e6 / max(ok, 1):.1f}")
PY
  fi
  sleep 1
}

# One floor per call: the median of 3 runs of a floor program (its "name=ns" output) times
# the datagrams (or relays) a call makes. Usage: floor_per_call TIMES PROGRAM ARGS...
floor_per_call() {
  local times=$1 runs=() i; shift
  for i in 1 2 3; do
    runs+=("$(on_floor_cpu "$@" | sed 's/^[a-z_]*=//')")
  done
  printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p | awk -v t="$times" '{printf "%.1f", $1 * t / 1000}'
}
# The kernel's floor per call now: 14 datagrams, each a sendto/recv pair.
floor() { floor_per_call 14 "$work/loopback-floor" 200000 700; }
# The floor for a proxy that sleeps between datagrams, at this rate: a relay thread woken by
# each datagram, which receives it and sends it on (scripts/lib/relay-floor.c), paced at the
# rate's 7 datagrams in a second per call; 7 relays a call.
wake_floor() { floor_per_call 7 "$work/relay-floor" $(( $1 * 7 )) 3 700; }
on_floor_cpu() { if [ "${PIN:-}" = 1 ]; then taskset -c 1 "$@"; else "$@"; fi; }

results=()
floors=()
for rate in "${rates[@]}"; do
  f=$(floor); w=$(wake_floor "$rate")
  floors+=("rate=$rate floor_us_per_call=$f wake_floor_us_per_call=$w")
  echo "floor        rate=$rate 14 x sendto/recv through loopback: $f us per call; 7 x woken relay: $w us per call"
  [ "${ONLY:-}" = switchboard ] || run_one kamailio "$rate" kamailio -DD -E -m 1024 -M 32 -f "$work/kamailio.cfg"
  [ "${ONLY:-}" = kamailio ] || run_one switchboard "$rate" "$bin" serve --config "$work/switchboard.toml"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "${floors[@]}" -- "${results[@]}" <<'PY'
import re, sys
args = sys.argv[1:]
split = args.index("--")
def fields(line):
    return dict(re.findall(r"(\w+)=\s*(\S+)", line))
floors = {fields(l)["rate"]: float(fields(l)["floor_us_per_call"]) for l in args[:split]}
wakes = {fields(l)["rate"]: float(fields(l)["wake_floor_us_per_call"]) for l in args[:split]}
runs = {}
for line in args[split + 1:]:
    f = fields(line)
    runs[(line.split()[0], f["rate"])] = (float(f["us_per_call"]), int(f["ok"]), int(f["failed"]))
print("| rate (calls/s) | Kamailio ok / failed | Kamailio µs/call | switchboard ok / failed | switchboard µs/call "
      "| switchboard / Kamailio | floor µs/call | switchboard / floor | Kamailio / floor | woken-relay floor µs/call | switchboard / it |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for rate, floor in floors.items():
    k, s = runs.get(("kamailio", rate)), runs.get(("switchboard", rate))
    cell = lambda r: (f"{r[1]:,} / {r[2]:,}", f"{r[0]:.1f}") if r else ("—", "—")
    ratio = f"{s[0] / k[0]:.2f}" if k and s else "—"
    print(f"| {int(rate):,} | {cell(k)[0]} | {cell(k)[1]} | {cell(s)[0]} | {cell(s)[1]} | {ratio} | {floor:.1f} "
          f"| {f'{s[0] / floor:.2f}' if s else '—'} | {f'{k[0] / floor:.2f}' if k else '—'} "
          f"| {wakes[rate]:.1f} | {f'{s[0] / wakes[rate]:.2f}' if s else '—'} |")
PY
