# Sourced by the bench scripts: switchboard's config for the bench flow, SIPp carrier ->
# switchboard -> SIPp agent, with the 10,000 static routes of the shared bench directory.
# Usage: bench_config WORK SIP_PORT API_PORT AGENT_PORT DB METRICS RECORDS FLUSH_MS [EXTRA_TOML]
# (the TLS listener takes SIP_PORT + 1). JOURNAL=false turns the dialog journal off;
# ROUTING_WORKERS sets [routing] workers (0: routes decided on the SIP thread, no handoff);
# STORE_URL=postgres://... puts the directory in PostgreSQL (DB's folder keeps the rest).
# SB_UDP_SOCKETS and SB_SHARDS set [sip] udp_sockets and shards (default 0: one per CPU, each).
bench_config() {
  local work=$1 sip=$2 api=$3 agent=$4 db=$5 metrics=$6 records=$7 flush=$8 extra=${9:-}
  local store_url=${STORE_URL:+url = \"$STORE_URL\"}
  cat <<TOML
[sip]
udp_listen = "127.0.0.1:$sip"
udp_sockets = ${SB_UDP_SOCKETS:-0}
shards = ${SB_SHARDS:-0}
tcp_listen = "127.0.0.1:$sip"
tls_listen = "127.0.0.1:$(( sip + 1 ))"
[b2bua]
advertised = "127.0.0.1:$sip"
[store]
path = "$db"
$store_url
[routing]
livekit_host = "127.0.0.1:$agent"
static_routes = "$work/agents.tsv"
workers = ${ROUTING_WORKERS:-4}
[tls]
dev_cert_dir = "$work/tls-$sip"
[log]
filter = "warn"
[api]
listen = "127.0.0.1:$api"
metrics = $metrics
[call_records]
enabled = $records
flush_ms = $flush
[journal]
enabled = ${JOURNAL:-true}
[security]
# The bench offers hundreds of calls/s from one source on one trunk: above the shipped rates.
source_calls_per_sec = 100000.0
source_burst = 100000.0
trunk_calls_per_sec = 100000.0
trunk_burst = 100000.0
$extra
TOML
}
