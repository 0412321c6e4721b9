#!/usr/bin/env bash
# Times one approved revision of 10,000 single-row UPDATEs run through Countersign's executor
# (crates/executor/examples/run_script.rs) against `psql -1 -f` on the same PostgreSQL database,
# and prints the ratio ours/psql of the median times (goal: <= 1.10).
#
#   benches/execute_vs_psql.sh            # URL from COUNTERSIGN_TEST_POSTGRES_URL, or the default
#   ROUNDS=6 RUNS=3 benches/execute_vs_psql.sh
#
# Both sides run the same script in one transaction, one round trip per statement, over the same
# connection parameters. Measured with hyperfine (installed with apt-get when missing and we are
# root), in ROUNDS rounds whose command order alternates, so that drift on a shared machine (other
# builds, table bloat) falls on both sides alike; VACUUM runs before every timed run, untimed.
# Needs: psql, cargo, jq.
set -euo pipefail

URL="${COUNTERSIGN_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
ROWS="${ROWS:-10000}"
ROUNDS="${ROUNDS:-4}"
RUNS="${RUNS:-3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d)"
cleanup() {
    rm -rf "$WORK"
    psql "$URL" -X -q -c 'DROP TABLE IF EXISTS bench_accounts' >/dev/null 2>&1 || true
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { echo "execute_vs_psql: $1 is required" >&2; exit 1; }; }
need psql
need cargo
need jq
if ! command -v hyperfine >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get install -y hyperfine >/dev/null
    else
        echo "execute_vs_psql: hyperfine is required (apt-get install -y hyperfine)" >&2
        exit 1
    fi
fi

echo "== building the executor's run_script example (release)"
(cd "$ROOT" && cargo build --quiet --release -p countersign-executor --example run_script)
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/run_script"

echo "== seeding bench_accounts with $ROWS rows and writing $ROWS UPDATEs"
psql "$URL" -X -q -v ON_ERROR_STOP=1 <<SQL
SET client_min_messages TO warning;
DROP TABLE IF EXISTS bench_accounts;
CREATE TABLE bench_accounts (id integer PRIMARY KEY, balance bigint NOT NULL DEFAULT 0);
INSERT INTO bench_accounts (id) SELECT g FROM generate_series(1, $ROWS) AS g;
VACUUM ANALYZE bench_accounts;
SQL
SCRIPT="$WORK/script.sql"
seq 1 "$ROWS" | awk '{ printf "UPDATE bench_accounts SET balance = balance + 1 WHERE id = %d;\n", $1 }' >"$SCRIPT"

# The executor reads its URL from the environment, never from its command line.
export COUNTERSIGN_TARGET_URL="$URL"
OURS="$BIN $SCRIPT $ROWS"
THEIRS="psql $URL -X -q -1 -v ON_ERROR_STOP=1 -o /dev/null -f $SCRIPT"

echo "== checking that both commit every row"
sum() { psql "$URL" -X -qtA -c "SELECT sum(balance) FROM bench_accounts"; }
before="$(sum)"; $OURS; after_ours="$(sum)"
$THEIRS; after_psql="$(sum)"
if [ $((after_ours - before)) -ne "$ROWS" ] || [ $((after_psql - after_ours)) -ne "$ROWS" ]; then
    echo "execute_vs_psql: a run did not update every row" >&2
    exit 1
fi

echo "== timing: $ROUNDS rounds x $RUNS runs each, order alternating"
for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) -eq 1 ]; then order=(countersign psql); else order=(psql countersign); fi
    args=()
    for name in "${order[@]}"; do
        if [ "$name" = countersign ]; then args+=(-n countersign "$OURS"); else args+=(-n psql "$THEIRS"); fi
    done
    hyperfine -N --style basic --warmup 1 --runs "$RUNS" \
        --prepare "psql $URL -X -q -c 'VACUUM bench_accounts'" \
        --export-json "$WORK/round-$round.json" "${args[@]}" >/dev/null
done

times_of() { jq -r --arg name "$1" '.results[] | select(.command == $name) | .times[]' "$WORK"/round-*.json; }
median() { sort -g | awk '{ t[NR] = $1 } END { print (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2 }'; }
ours="$(times_of countersign | median)"
theirs="$(times_of psql | median)"
samples="$(times_of psql | wc -l)"

printf 'median over %d runs each:  countersign %.3f s   psql -1 -f %.3f s\n' "$samples" "$ours" "$theirs"
awk -v o="$ours" -v p="$theirs" 'BEGIN {
    r = o / p
    printf "ratio countersign/psql: %.3f (goal <= 1.10) %s\n", r, (r <= 1.10) ? "OK" : "OVER"
}'
