#!/usr/bin/env bash
# Times `countersign audit export --format csv` (release build) on a PostgreSQL store holding
# COUNT events, against psql's `\copy (SELECT … ORDER BY seq) TO … CSV HEADER` of the same
# columns, with /usr/bin/time -v: wall time, events/s and peak RSS of each, and the ratio of the
# wall times (ours/psql). The goal is a flat peak memory (under 64 MiB) whatever COUNT: the
# export streams the trail in keyset pages of 1,000 events.
#
#   benches/audit_export.sh                    # COUNTS="100000 1000000"
#   COUNTS="10000" RUNS=1 benches/audit_export.sh
#
# For each COUNT it creates the scratch database cs_bench_audit (dropped again at the end) on the
# server of COUNTERSIGN_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test), brings
# its schema up with `countersign migrate`, and loads a valid chain of COUNT events made by
# crates/cli/examples/audit_fill.rs (sealed by core's AuditEntry::seal) with `\copy … FROM STDIN`.
# It then checks that `countersign audit verify` passes, times RUNS runs of each export (the best
# wall time and the largest peak RSS are reported; one untimed run of each warms the caches
# first), and checks that the two CSV files are identical.
# Needs: cargo, psql, /usr/bin/time (GNU time).
set -euo pipefail

ADMIN_URL="${COUNTERSIGN_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
COUNTS="${COUNTS:-100000 1000000}"
RUNS="${RUNS:-3}"
DB=cs_bench_audit
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="$(mktemp -d)"
OURS_CSV=/tmp/x.csv
PSQL_CSV=/tmp/y.csv

need() { command -v "$1" >/dev/null || { echo "audit_export: $1 is required" >&2; exit 1; }; }
need cargo
need psql
[ -x /usr/bin/time ] || { echo "audit_export: GNU time (/usr/bin/time) is required" >&2; exit 1; }

# The admin URL with its database replaced by the scratch one (query options kept).
base="${ADMIN_URL%%\?*}"
query=""
[ "$base" != "$ADMIN_URL" ] && query="?${ADMIN_URL#*\?}"
authority="${base#*://}"
if [[ "$authority" == */* ]]; then base="${base%/*}"; fi
DB_URL="$base/$DB$query"

# Keep psql's NOTICEs ("database … does not exist, skipping") out of the report.
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
admin() { psql "$ADMIN_URL" -X -q -v ON_ERROR_STOP=1 "$@" >/dev/null; }
cleanup() {
    admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" 2>/dev/null || true
    rm -rf "$WORK" "$OURS_CSV" "$PSQL_CSV"
}
trap cleanup EXIT

echo "== building countersign and the audit_fill example (release)"
(cd "$ROOT" && cargo build --quiet --release -p countersign --bin countersign --example audit_fill)
BIN="$TARGET/release/countersign"
FILL="$TARGET/release/examples/audit_fill"
CONFIG="$WORK/countersign.toml"
printf '[store]\nurl = "%s"\n' "$DB_URL" >"$CONFIG"

# "h:mm:ss" or "m:ss.ss" from `time -v` → seconds.
seconds() { awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }'; }
field() { grep -F "$1" "$2" | sed 's/.*: //'; }

# measure NAME COMMAND… → sets WALL (best of RUNS, seconds) and RSS (largest, KiB).
measure() {
    local name="$1"; shift
    "$@" >/dev/null 2>&1 # warm-up, untimed
    WALL=""; RSS=0
    for run in $(seq 1 "$RUNS"); do
        /usr/bin/time -v -o "$WORK/$name.time" "$@" >/dev/null 2>"$WORK/$name.err" || {
            cat "$WORK/$name.err" >&2; exit 1; }
        local wall rss
        wall="$(field 'Elapsed (wall clock)' "$WORK/$name.time" | seconds)"
        rss="$(field 'Maximum resident set size' "$WORK/$name.time")"
        if [ -z "$WALL" ] || awk -v a="$wall" -v b="$WALL" 'BEGIN { exit !(a < b) }'; then WALL="$wall"; fi
        if [ "$rss" -gt "$RSS" ]; then RSS="$rss"; fi
    done
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }

RESULTS=()
for count in $COUNTS; do
    echo "== $count events: creating $DB and loading a valid chain"
    admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
    "$BIN" --config "$CONFIG" migrate >/dev/null
    "$FILL" "$count" | psql "$DB_URL" -X -q -v ON_ERROR_STOP=1 -c \
        "\\copy audit_events (seq, at, actor, action, request_id, revision, details, prev_hash, hash) FROM PSTDIN CSV HEADER"
    psql "$DB_URL" -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
UPDATE audit_head SET seq = last.seq, hash = last.hash
FROM (SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1) AS last WHERE id = 1;
VACUUM ANALYZE audit_events;
SQL
    /usr/bin/time -v -o "$WORK/verify.time" "$BIN" --config "$CONFIG" audit verify
    verify_wall="$(field 'Elapsed (wall clock)' "$WORK/verify.time" | seconds)"
    verify_rss="$(field 'Maximum resident set size' "$WORK/verify.time")"

    echo "== $count events: timing $RUNS runs of each export"
    measure ours "$BIN" --config "$CONFIG" audit export --format csv --output "$OURS_CSV"
    ours_wall="$WALL"; ours_rss="$RSS"
    measure psql psql "$DB_URL" -X -q -c \
        "\\copy (SELECT seq, at, actor, action, request_id, revision, details, prev_hash, hash FROM audit_events ORDER BY seq) TO '$PSQL_CSV' CSV HEADER"
    psql_wall="$WALL"; psql_rss="$RSS"
    if cmp -s "$OURS_CSV" "$PSQL_CSV"; then same="identical"; else same="DIFFERENT"; fi
    ratio="$(awk -v a="$ours_wall" -v b="$psql_wall" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
    RESULTS+=("$(printf '| %9s | %7ss | %9s/s | %7s MiB | %7ss | %9s/s | %7s MiB | %5s | %9s | %6ss, %5s MiB |' \
        "$count" "$ours_wall" "$(rate "$count" "$ours_wall")" "$(mib "$ours_rss")" \
        "$psql_wall" "$(rate "$count" "$psql_wall")" "$(mib "$psql_rss")" "$ratio" "$same" \
        "$verify_wall" "$(mib "$verify_rss")")")
done

echo
echo "| events | ours: wall | ours: events/s | ours: peak RSS | psql: wall | psql: events/s | psql: peak RSS | ours/psql | CSV files | audit verify |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
printf '%s\n' "${RESULTS[@]}"
