#!/usr/bin/env bash
# Property-based API testing: schemathesis (PyPI) generates requests from /openapi.json of a
# live switchboard and checks that no response is a 5xx and every response fits the schema.
# Usage: scripts/schemathesis.sh [MAX_EXAMPLES]   (starts its own server on free ports)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
examples=${1:-30}
# In a virtualenv under target/: Debian's pip refuses system installs
# (externally-managed-environment, PEP 668). Needs python3-venv.
venv="$here/target/schemathesis-venv"
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q schemathesis
fi
schemathesis="$venv/bin/schemathesis"
# deleteApiKey is left out: its stateful phase would revoke the very key it tests with
# (tests/api.rs covers revocation).
cargo build --quiet --manifest-path "$here/Cargo.toml"
work=$(mktemp -d /tmp/switchboard-st.XXXX)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sip=$(port); tls=$(port); http=$(port)
cat > "$work/switchboard.toml" <<TOML
[sip]
udp_listen = "127.0.0.1:$sip"
tcp_listen = "127.0.0.1:$sip"
tls_listen = "127.0.0.1:$tls"
[api]
listen = "127.0.0.1:$http"
[tls]
dev_cert_dir = "$work/tls"
TOML
(cd "$work" && exec "$here/target/debug/switchboard" serve --config "$work/switchboard.toml" > "$work/out.log" 2> "$work/err.log") &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q 'API key is in' "$work/out.log" 2>/dev/null && break; sleep 0.1; done
keyfile=$(sed -n 's/.*API key is in \(.*\) (mode 0600).*/\1/p' "$work/out.log")
key=$(cd "$work" && cat "$keyfile")
"$schemathesis" run "http://127.0.0.1:$http/openapi.json" \
  --header "Authorization: Bearer $key" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --exclude-operation-id deleteApiKey \
  --max-examples "$examples" --seed 7
