#!/usr/bin/env bash
# Times a rehearsal against the execution of the same 4,000 single-row UPDATEs on PostgreSQL
# (crates/executor/examples/rehearse_vs_execute.rs), rounds alternating, and prints the medians
# and the ratios rehearsal/execution (goal: <= 1.2).
#
#   benches/rehearse_vs_execute.sh                 # URL from COUNTERSIGN_TEST_POSTGRES_URL
#   ROUNDS=10 STATEMENTS=4000 benches/rehearse_vs_execute.sh
set -euo pipefail

URL="${COUNTERSIGN_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
ROUNDS="${ROUNDS:-6}"
STATEMENTS="${STATEMENTS:-4000}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

echo "== building the executor's rehearse_vs_execute example (release)"
(cd "$ROOT" && cargo build --quiet --release -p countersign-executor --example rehearse_vs_execute)
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/rehearse_vs_execute"

# The executor reads its URL from the environment, never from its command line.
COUNTERSIGN_TARGET_URL="$URL" "$BIN" "$ROUNDS" "$STATEMENTS"
