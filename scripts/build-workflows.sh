#!/usr/bin/env bash
# Builds the example routing workflows written in Rust into routing-workflows/build/<name>.wasm
# (what tests/workflow_examples.rs and the bench load). The WAT examples need no build: the
# engine accepts WAT text as uploaded.
set -euo pipefail
cd "$(dirname "$0")/../routing-workflows"

rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || rustup target add wasm32-unknown-unknown

export CARGO_TARGET_DIR="$PWD/target"
mkdir -p build
for crate in area-code ab-split; do
  # Built from the crate's own directory so its .cargo/config.toml (stack size) applies.
  (cd "$crate" && cargo build --quiet --release --target wasm32-unknown-unknown)
  cp "target/wasm32-unknown-unknown/release/${crate//-/_}.wasm" "build/$crate.wasm"
  echo "routing-workflows/build/$crate.wasm ($(wc -c <"build/$crate.wasm") bytes)"
done
