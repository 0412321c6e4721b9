#!/usr/bin/env bash
# Times one approved revision of 10,000 single-row UPDATEs run with undo — every row's before-
# and after-image captured in the run's transaction and written to a SQLite store before the
# commit (crates/server/examples/run_with_undo.rs, the server's own code path) — against
# `psql -1 -f` on the same PostgreSQL database, and prints the ratio ours/psql of the median
# times (goal: <= 1.3) and the run's peak memory (goal: <= 64 MiB).
#
#   benches/undo_vs_psql.sh            # URL from COUNTERSIGN_TEST_POSTGRES_URL, or the default
#   ROUNDS=6 RUNS=3 benches/undo_vs_psql.sh
#
# hyperfine alternates the two sides (ROUNDS rounds, order swapped each round), with an untimed
# VACUUM and a fresh store before every run. Peak memory is the maximum resident set size of one
# run, from GNU time. Needs: psql, cargo, jq, hyperfine (apt-get install -y hyperfine), GNU time.
set -euo pipefail

URL="${COUNTERSIGN_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
ROWS="${ROWS:-10000}"
ROUNDS="${ROUNDS:-4}"
RUNS="${RUNS:-3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d)"
cleanup() {
    rm -rf "$WORK"
    psql "$URL" -X -q -c 'DROP TABLE IF EXISTS bench_undo' >/dev/null 2>&1 || true
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { echo "undo_vs_psql: $1 is required" >&2; exit 1; }; }
need psql
need cargo
need jq
need hyperfine
[ -x /usr/bin/time ] || { echo "undo_vs_psql: GNU time (/usr/bin/time) is required" >&2; exit 1; }

echo "== building the run_with_undo example (release)"
(cd "$ROOT" && cargo build --quiet --release -p countersign-server --example run_with_undo)
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/run_with_undo"

echo "== seeding bench_undo with $ROWS rows and writing $ROWS UPDATEs"
psql "$URL" -X -q -v ON_ERROR_STOP=1 <<SQL
SET client_min_messages TO warning;
DROP TABLE IF EXISTS bench_undo;
CREATE TABLE bench_undo (id integer PRIMARY KEY, balance bigint NOT NULL DEFAULT 0,
                         note text NOT NULL DEFAULT 'a customer''s note');
INSERT INTO bench_undo (id) SELECT g FROM generate_series(1, $ROWS) AS g;
VACUUM ANALYZE bench_undo;
SQL
SCRIPT="$WORK/script.sql"
seq 1 "$ROWS" | awk '{ printf "UPDATE bench_undo SET balance = balance + 1 WHERE id = %d;\n", $1 }' >"$SCRIPT"

# As the server does: the script is analyzed once, at submission; a run reads the analysis.
"$BIN" analyze "$SCRIPT" >"$WORK/analysis.json"
export COUNTERSIGN_TARGET_URL="$URL"
STORE="$WORK/store.db"
TEMPLATE="$WORK/template.db"
OURS="$BIN run $SCRIPT $WORK/analysis.json sqlite://$STORE"
THEIRS="psql $URL -X -q -1 -v ON_ERROR_STOP=1 -o /dev/null -f $SCRIPT"
# A store as a running server has it: migrated, the request submitted (copied afresh each run).
"$BIN" submit "$SCRIPT" "$WORK/analysis.json" "sqlite://$TEMPLATE"
rm -f "$TEMPLATE"-wal "$TEMPLATE"-shm
PREPARE="rm -f $STORE $STORE-wal $STORE-shm; cp $TEMPLATE $STORE; psql $URL -X -q -c 'VACUUM bench_undo'"

echo "== checking that both commit every row, and the images"
sum() { psql "$URL" -X -qtA -c "SELECT sum(balance) FROM bench_undo"; }
rm -f "$STORE"; cp "$TEMPLATE" "$STORE"
before="$(sum)"
line="$(/usr/bin/time -f 'peak_kib=%M' -o "$WORK/time.txt" $OURS)"
after_ours="$(sum)"
echo "   $line"
case "$line" in *"images=$ROWS "*) ;; *) echo "undo_vs_psql: not every row has its image" >&2; exit 1;; esac
$THEIRS; after_psql="$(sum)"
if [ $((after_ours - before)) -ne "$ROWS" ] || [ $((after_psql - after_ours)) -ne "$ROWS" ]; then
    echo "undo_vs_psql: a run did not update every row" >&2
    exit 1
fi
peak_kib="$(sed -n 's/^peak_kib=//p' "$WORK/time.txt")"

echo "== timing: $ROUNDS rounds x $RUNS runs each, order alternating"
for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) -eq 1 ]; then order=(countersign psql); else order=(psql countersign); fi
    args=()
    for name in "${order[@]}"; do
        if [ "$name" = countersign ]; then args+=(-n countersign "$OURS"); else args+=(-n psql "$THEIRS"); fi
    done
    hyperfine -N --style basic --warmup 1 --runs "$RUNS" --prepare "sh -c \"$PREPARE\"" \
        --export-json "$WORK/round-$round.json" "${args[@]}" >/dev/null
done

times_of() { jq -r --arg name "$1" '.results[] | select(.command == $name) | .times[]' "$WORK"/round-*.json; }
median() { sort -g | awk '{ t[NR] = $1 } END { print (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2 }'; }
ours="$(times_of countersign | median)"
theirs="$(times_of psql | median)"
samples="$(times_of psql | wc -l)"

printf 'median over %d runs each:  countersign with undo %.3f s   psql -1 -f %.3f s\n' "$samples" "$ours" "$theirs"
awk -v o="$ours" -v p="$theirs" 'BEGIN {
    r = o / p
    printf "ratio countersign/psql: %.3f (goal <= 1.3) %s\n", r, (r <= 1.3) ? "OK" : "OVER"
}'
awk -v k="$peak_kib" 'BEGIN {
    m = k / 1024
    printf "peak memory of the run: %.1f MiB (goal <= 64) %s\n", m, (m <= 64) ? "OK" : "OVER"
}'
