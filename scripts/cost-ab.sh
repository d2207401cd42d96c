#!/usr/bin/env bash
# What a setting costs in CPU per call, measured as A against B at the same time: two
# switchboards run side by side on the proxy CPU, each with its own SIPp carrier and agent on
# the other CPU, at the same rate. Whatever slows the machine during a round (other guests,
# frequency, the host) slows both, so their ratio holds still where back-to-back runs drift
# by tens of percent. Each round swaps the two setups' ports and SIPp processes.
# CPU time comes from the scheduler (/proc/<pid>/task/*/schedstat, nanoseconds), summed over
# the threads; the SIP thread, the call-record writer and A's dialog journal writer are also
# shown on their own.
# Usage: scripts/cost-ab.sh [ROUNDS] [CALLS] [RATE]   (default 8 rounds, 10,000 calls each at
#        500 calls/s each)
# Env: A and B, each "METRICS RECORDS [FLUSH_MS [JOURNAL [WORKERS]]]" (default A="true true",
#      B="false false": observability on against off; FLUSH_MS is the call-record writer's
#      interval, default 200; JOURNAL the dialog journal, default true; WORKERS [routing]
#      workers, default 4, 0 routing on the SIP thread), A_BIN and B_BIN (binaries to
#      compare; default this tree's release build), A_STORE_URL and B_STORE_URL (a
#      postgres:// url puts that side's directory in PostgreSQL; unset: SQLite), A_SIP and
#      B_SIP ("UDP_SOCKETS SHARDS": that side's [sip] udp_sockets and shards; default
#      SB_UDP_SOCKETS and SB_SHARDS, else 0 and 0), PROXY_CPUS (the CPUs both proxies run on,
#      default 1; 0 = one per CPU counts these: with the default that is one, so to compare
#      udp_sockets = 0 against 1 give PROXY_CPUS=0,1).
# Prints one line per round and then the median of the rounds' ratios A/B.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED:-$here/../shared/bench}
rounds=${1:-8}; calls=${2:-10000}; rate=${3:-500}
work=${BENCH_WORK:-$here/bench-work}
mkdir -p "$work"
for tool in sipp taskset curl python3; do
  command -v $tool >/dev/null || { echo "need $tool: apt-get install sip-tester util-linux curl python3" >&2; exit 1; }
done
[ "$(nproc)" -ge 2 ] || { echo "needs 2 CPUs: one for both proxies, one for SIPp" >&2; exit 1; }
[ -f "$work/numbers.csv" ] || python3 "$shared/gen-directory.py" 10000 "$work" >/dev/null
if [ -z "${A_BIN:-}" ] || [ -z "${B_BIN:-}" ]; then
  cargo build --release --quiet --manifest-path "$here/Cargo.toml"
fi
a_bin=${A_BIN:-$here/target/release/switchboard}; b_bin=${B_BIN:-$here/target/release/switchboard}
. "$here/scripts/lib/bench-config.sh"
if ss -lunH | grep -Eq ':(5070|5072|5090|5092) '; then
  echo "a SIP port of the bench (5070, 5072, 5090, 5092) is in use: is another bench running?" >&2; exit 1
fi

# CPU nanoseconds of every thread of a process, by thread id and name.
threads() { for t in /proc/"$1"/task/*; do
  [ -r "$t/schedstat" ] && echo "${t##*/} $(tr -d ' ' < "$t/comm") $(cut -d' ' -f1 "$t/schedstat")"; done; }

pids=()
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done; pids=(); }
trap stop_all EXIT

# One slot: a switchboard on 5070 + 2*slot, its agent on 5090 + 2*slot, its API on 8089 + 2*slot.
start_slot() { # slot bin metrics records flush_ms journal out [store_url [workers [sip]]]
  local slot=$1 bin=$2 metrics=$3 records=$4 flush=$5 journal=$6 out=$7 store_url=${8:-} workers=${9:-4} sip_knobs=${10:-}
  local udp_sockets shards
  read -r udp_sockets shards <<<"$sip_knobs" || true
  local sip=$(( 5070 + 2 * slot )) agent=$(( 5090 + 2 * slot )) api=$(( 8089 + 2 * slot ))
  # Each slot its own data directory: one live switchboard per directory.
  mkdir -p "$out/slot$slot"
  SB_UDP_SOCKETS=${udp_sockets:-${SB_UDP_SOCKETS:-0}} SB_SHARDS=${shards:-${SB_SHARDS:-0}} \
  STORE_URL=$store_url JOURNAL=$journal ROUTING_WORKERS=$workers bench_config "$work" $sip $api $agent "$out/slot$slot/switchboard.db" "$metrics" "$records" "$flush" \
    > "$out/slot$slot.toml"
  taskset -c 0 sipp -sf "$shared/agent-uas.xml" -i 127.0.0.1 -p $agent -nostdin >/dev/null 2>&1 &
  pids+=($!)
  taskset -c "${PROXY_CPUS:-1}" "$bin" serve --config "$out/slot$slot.toml" >"$out/slot$slot.log" 2>&1 &
  pids+=($!); echo $! > "$out/slot$slot.pid"
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$api/readyz" >/dev/null && return; sleep 0.1; done
  echo "switchboard in slot $slot did not become ready; its log: $out/slot$slot.log" >&2; exit 1
}

carrier() { # slot out
  local slot=$1 out=$2
  timeout $(( calls / rate + 60 )) taskset -c 0 sipp -sf "$shared/carrier-uac.xml" -inf "$work/numbers.csv" \
    -i 127.0.0.1 -p $(( 7100 + 100 * slot )) -mp $(( 21000 + 1000 * slot )) 127.0.0.1:$(( 5070 + 2 * slot )) \
    -r "$rate" -m "$calls" -l $(( rate * 3 + 100 )) -nostdin -trace_stat -stf "$out/uac$slot.csv" -fd 1000 \
    -timeout_error -timeout $(( calls / rate + 30 ))s >"$out/uac$slot.out" 2>&1
}

results=()
for round in $(seq 1 "$rounds"); do
  out=$(mktemp -d /tmp/sbab.XXXX)
  # Odd rounds: A in slot 0; even rounds: A in slot 1.
  a_slot=$(( (round + 1) % 2 )); b_slot=$(( round % 2 ))
  read -r am ar af aj aw <<<"${A:-true true}"; read -r bm br bf bj bw <<<"${B:-false false}"
  start_slot $a_slot "$a_bin" "$am" "$ar" "${af:-200}" "${aj:-true}" "$out" "${A_STORE_URL:-}" "${aw:-4}" "${A_SIP:-}"
  start_slot $b_slot "$b_bin" "$bm" "$br" "${bf:-200}" "${bj:-true}" "$out" "${B_STORE_URL:-}" "${bw:-4}" "${B_SIP:-}"
  a_pid=$(cat "$out/slot$a_slot.pid"); b_pid=$(cat "$out/slot$b_slot.pid")
  threads "$a_pid" > "$out/a0"; threads "$b_pid" > "$out/b0"
  carrier 0 "$out" & c0=$!
  carrier 1 "$out" & c1=$!
  wait $c0 || true; wait $c1 || true
  threads "$a_pid" > "$out/a1"; threads "$b_pid" > "$out/b1"
  stop_all
  line=$(python3 - "$out" "$a_slot" "$b_slot" "$round" <<'PY'
import sys, collections
out, a_slot, b_slot, round_ = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
def calls(slot):
    rows = [l.strip().split(";") for l in open(f"{out}/uac{slot}.csv") if l.strip()]
    head, last = rows[0], rows[-1]
    return int(last[head.index("SuccessfulCall(C)")]), int(last[head.index("FailedCall(C)")])
def cpu(name):
    def load(p):
        return {l.split()[0]: (l.split()[1], int(l.split()[2])) for l in open(p) if l.strip()}
    before, after = load(f"{out}/{name}0"), load(f"{out}/{name}1")
    by = collections.Counter()
    for tid, (thread, ns) in after.items():
        by[thread] += ns - before.get(tid, (thread, 0))[1]
    return by
(a_ok, a_failed), (b_ok, b_failed) = calls(a_slot), calls(b_slot)
a, b = cpu("a"), cpu("b")
us = lambda by, ok, key=None: (sum(by.values()) if key is None else by.get(key, 0)) / 1e3 / max(ok, 1)
ratio = us(a, a_ok) / us(b, b_ok)
writer = lambda by, ok, name="call-rec": sum(v for k, v in by.items() if k.startswith(name)) / 1e3 / max(ok, 1)
print(f"round {round_}: A {us(a, a_ok):6.1f} us/call (sip {writer(a, a_ok, 'sip-udp-'):5.1f}, timers {writer(a, a_ok, 'sip-time'):4.1f}, writer {writer(a, a_ok):4.1f}, "
      f"journal {writer(a, a_ok, 'dialog-j'):4.1f}, routing {writer(a, a_ok, 'routing-'):4.1f}, "
      f"ok {a_ok}, failed {a_failed})  B {us(b, b_ok):6.1f} us/call (sip {writer(b, b_ok, 'sip-udp-'):5.1f}, timers {writer(b, b_ok, 'sip-time'):4.1f}, "
      f"routing {writer(b, b_ok, 'routing-'):4.1f}, ok {b_ok}, "
      f"failed {b_failed})  A/B {ratio:.3f}")
PY
)
  echo "$line"
  results+=("$(echo "$line" | sed 's#.*A/B ##')")
  rm -rf "$out"
  sleep 1
done
python3 - "${results[@]}" <<'PY'
import statistics, sys
r = sorted(float(x) for x in sys.argv[1:])
print(f"A/B over {len(r)} rounds: median {statistics.median(r):.3f} (min {r[0]:.3f}, max {r[-1]:.3f})")
PY
