#!/usr/bin/env bash
# The same comparison as benches/undo_vs_psql.sh, through the real server: a release
# `countersign serve` (SQLite store, the PostgreSQL target with undo = "required", the default)
# runs an approved request of 10,000 single-row UPDATEs — `POST /api/v1/requests/{id}/execute`
# returns when the run has committed with its images stored — against `psql -1 -f` of the same
# file. Each round submits and approves a fresh request (untimed), then times the execute call
# and psql, in alternating order. Prints the median ratio (goal <= 1.3) and the server's peak
# resident memory during a run (VmHWM, reset through /proc/PID/clear_refs before each execute
# call; the highest of the rounds; goal <= 64 MiB).
#
#   benches/undo_server_vs_psql.sh                       # ROUNDS=8 by default
#   MALLOC_ARENA_MAX=8 benches/undo_server_vs_psql.sh    # more glibc malloc arenas
#
# `countersign serve` caps glibc's malloc arenas at one (MALLOC_ARENA_MAX=1) unless the variable
# is set (crates/cli/src/main.rs): glibc's default of an arena per thread keeps what each tokio
# worker once used, and the server's resident memory follows its busiest past, not its work.
#
# Needs: psql, cargo, curl, jq.
set -euo pipefail

URL="${COUNTERSIGN_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
ROWS="${ROWS:-10000}"
ROUNDS="${ROUNDS:-8}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    rm -rf "$WORK"
    psql "$URL" -X -q -c 'DROP TABLE IF EXISTS bench_undo' >/dev/null 2>&1 || true
}
trap cleanup EXIT

for tool in psql cargo curl jq; do
    command -v "$tool" >/dev/null || { echo "undo_server_vs_psql: $tool is required" >&2; exit 1; }
done

echo "== building countersign (release)"
(cd "$ROOT" && cargo build --quiet --release -p countersign)
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/countersign"

PORT=$((20000 + RANDOM % 20000))
BASE="http://127.0.0.1:$PORT"
CONFIG="$WORK/countersign.toml"
cat >"$CONFIG" <<TOML
[server]
listen = "127.0.0.1:$PORT"

[store]
url = "sqlite://$WORK/store.db"

[[target]]
name = "bench"
driver = "postgres"
url_env = "BENCH_TARGET_URL"
TOML
export BENCH_TARGET_URL="$URL"

echo "== users, tokens, the server"
echo 'a long bench password' | "$BIN" --config "$CONFIG" user add alice --role author --password-stdin >/dev/null
echo 'a long bench password' | "$BIN" --config "$CONFIG" user add bob --role reviewer --password-stdin >/dev/null
ALICE="$("$BIN" --config "$CONFIG" token create alice | tail -n 1)"
BOB="$("$BIN" --config "$CONFIG" token create bob | tail -n 1)"
"$BIN" --config "$CONFIG" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -fs "$BASE/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "$BASE/healthz" >/dev/null || { echo "the server did not start" >&2; cat "$WORK/server.log" >&2; exit 1; }

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
jq -Rs --argjson rows "$ROWS" '{title: "bench", intent: "benchmark of a run with undo", sql: .,
    target: "bench", reviewers: ["bob"], expected_rows: $rows}' "$SCRIPT" >"$WORK/request.json"

api() { # METHOD PATH TOKEN [BODY_FILE]
    local body=()
    [ $# -ge 4 ] && body=(-H 'Content-Type: application/json' --data-binary "@$4")
    curl -fsS -X "$1" "$BASE$2" -H "Authorization: Bearer $3" "${body[@]}"
}
now() { date +%s.%N; }

ours=(); theirs=(); run_peak_kib=0
echo "== timing: $ROUNDS rounds, order alternating"
for round in $(seq 1 "$ROUNDS"); do
    id="$(api POST /api/v1/requests "$ALICE" "$WORK/request.json" | jq -r .id)"
    echo '{"decision": "approve", "comment": "", "revision": 1}' >"$WORK/review.json"
    api POST "/api/v1/requests/$id/reviews" "$BOB" "$WORK/review.json" | jq -e '.status == "approved"' >/dev/null
    echo '{}' >"$WORK/empty.json"
    psql "$URL" -X -q -c 'VACUUM bench_undo'
    run_ours() {
        local t0 t1 hwm
        # The peak from here on: the run itself (Linux resets VmHWM on "5" > clear_refs).
        echo 5 >"/proc/$SERVER_PID/clear_refs"
        t0="$(now)"
        api POST "/api/v1/requests/$id/execute" "$ALICE" "$WORK/empty.json" >"$WORK/run.json"
        t1="$(now)"
        jq -e --argjson rows "$ROWS" '.status == "executed" and .execution.undo.available
            and .execution.undo.rows == $rows' "$WORK/run.json" >/dev/null \
            || { echo "the run did not commit with its images" >&2; jq .execution "$WORK/run.json" >&2; exit 1; }
        ours+=("$(echo "$t1 - $t0" | bc -l)")
        hwm="$(awk '/^VmHWM:/ { print $2 }' "/proc/$SERVER_PID/status")"
        if [ "$hwm" -gt "$run_peak_kib" ]; then run_peak_kib="$hwm"; fi
    }
    run_theirs() {
        local t0 t1
        t0="$(now)"
        psql "$URL" -X -q -1 -v ON_ERROR_STOP=1 -o /dev/null -f "$SCRIPT"
        t1="$(now)"
        theirs+=("$(echo "$t1 - $t0" | bc -l)")
    }
    if [ $((round % 2)) -eq 1 ]; then run_ours; psql "$URL" -X -q -c 'VACUUM bench_undo'; run_theirs
    else run_theirs; psql "$URL" -X -q -c 'VACUUM bench_undo'; run_ours; fi
done

median() { printf '%s\n' "$@" | sort -g | awk '{ t[NR] = $1 } END { print (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2 }'; }
m_ours="$(median "${ours[@]}")"
m_theirs="$(median "${theirs[@]}")"
peak_kib="$run_peak_kib"
echo "MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-1, the server default}"
printf 'median over %d rounds:  execute with undo (server) %.3f s   psql -1 -f %.3f s\n' "$ROUNDS" "$m_ours" "$m_theirs"
awk -v o="$m_ours" -v p="$m_theirs" 'BEGIN {
    r = o / p
    printf "ratio countersign/psql: %.3f (goal <= 1.3) %s\n", r, (r <= 1.3) ? "OK" : "OVER"
}'
awk -v k="$peak_kib" 'BEGIN {
    m = k / 1024
    printf "peak memory of the server during a run: %.1f MiB (goal <= 64) %s\n", m, (m <= 64) ? "OK" : "OVER"
}'
