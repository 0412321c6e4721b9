#!/usr/bin/env bash
# Load benchmark of the pages and lists a long-lived store serves (issue 18): fills a fresh store
# with COUNT edit requests by bulk SQL (crates/cli/examples/store_fill.rs, not HTTP), serves it
# with the release binary, and measures with wrk (THREADS threads, CONNECTIONS connections,
# DURATION each, one untimed warm-up second first): `/healthz`, the unfiltered list, every list
# filter with a common, a rare and an absent value, the dashboard of a reviewer with much and with
# nothing waiting, and a request page — on SQLite and on PostgreSQL. Lists and pages asked
# again are answered from what the server keeps against the store's version; three more rows
# ask a different page at each call (a random cursor), which is read from the store every time
# (compared with the unfiltered list's random page). Each figure is given as a ratio to
# `/healthz` of the same run, with its p99 latency.
#
#   benches/load.sh                              # COUNT=1000000 BACKENDS="sqlite postgres"
#   COUNT=100000 DURATION=3s benches/load.sh     # a quicker look
#   WRITE=1 benches/load.sh                      # also replace the tables in BENCHMARKS.md
#
# What the store holds (countersign_store::testing::Fill): authors alice (most) and frank (every
# 5,000th); targets shop and billing, archive every 10,000th; a tenth executed (reviewed by carol,
# the one named), a thousandth failed, the rest of i % 10 == 1 withdrawn, the others (80 %)
# pending review by bob (and dave on a third of them). So bob has 80 % of the store waiting, carol
# was named on a tenth of it and has nothing waiting, erin was never named.
#
# PostgreSQL: the scratch database cs_bench_load (dropped at the end) on the server of
# COUNTERSIGN_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test).
# Needs: cargo (unless NO_BUILD=1), wrk (Debian: apt-get install wrk), curl, psql, python3.
set -euo pipefail

COUNT="${COUNT:-1000000}"
BACKENDS="${BACKENDS:-sqlite postgres}"
DURATION="${DURATION:-5s}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
PORT="${PORT:-18081}"
ADMIN_URL="${COUNTERSIGN_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
DB=cs_bench_load
PW="a long password for the load bench"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="$(mktemp -d)"
SERVER_PID=""

need() { command -v "$1" >/dev/null || { echo "load: $1 is required" >&2; exit 1; }; }
need wrk
need curl
need python3

base="${ADMIN_URL%%\?*}"
query=""
[ "$base" != "$ADMIN_URL" ] && query="?${ADMIN_URL#*\?}"
authority="${base#*://}"
if [[ "$authority" == */* ]]; then base="${base%/*}"; fi
PG_URL="$base/$DB$query"
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
cleanup() {
    stop_server
    if [[ " $BACKENDS " == *" postgres "* ]]; then
        psql "$ADMIN_URL" -X -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if [ "${NO_BUILD:-0}" != 1 ]; then
    echo "== building countersign and the store_fill example (release)" >&2
    (cd "$ROOT" && cargo build --quiet --release -p countersign --bin countersign --example store_fill)
fi
BIN="$TARGET/release/countersign"
FILL="$TARGET/release/examples/store_fill"

# "12.34ms" / "850.00us" / "1.20s" → milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n = n / 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n = n * 1000
        printf "%.1f", n }'
}

# bench NAME PATH [HEADER…]: one wrk run (with the Lua script WRK_SCRIPT, if set); appends
# "NAME|PATH|req/s|p99 ms|non-2xx" to $ROWS.
bench() {
    local name="$1" path="$2"; shift 2
    local headers=()
    for h in "$@"; do headers+=(-H "$h"); done
    local url="http://127.0.0.1:$PORT$path"
    local wrk_opts=(-t "$THREADS" -c "$CONNECTIONS")
    [ -n "${WRK_SCRIPT:-}" ] && wrk_opts+=(-s "$WRK_SCRIPT")
    local code
    code="$(curl -s -o /dev/null -w "%{http_code}" "${headers[@]}" "$url")"
    [ "$code" = 200 ] || { echo "load: $path answered $code" >&2; exit 1; }
    wrk "${wrk_opts[@]}" -d 1s "${headers[@]}" "$url" >/dev/null
    local out
    out="$(wrk "${wrk_opts[@]}" -d "$DURATION" --latency "${headers[@]}" "$url")"
    local rps p99 bad
    rps="$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")"
    p99="$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")"
    bad="$(awk '/Non-2xx or 3xx responses:/ { print $5 }' <<<"$out")"
    echo "$name|$path|$rps|$p99|${bad:-0}" >>"$ROWS"
    printf '   %-40s %10s req/s  p99 %7s ms\n' "$name" "$rps" "$p99" >&2
}

# bench_pages NAME PATH [HEADER…]: as bench, but each call asks a different page of PATH (a
# cursor drawn at random below COUNT): lists kept in memory are then of no help, so the row
# shows what reading a page from the store costs. Each wrk thread draws from a generator seeded
# apart (the same seed would ask the same pages at the same time, and one would find the
# other's kept).
bench_pages() {
    local script="$WORK/pages.lua"
    cat >"$script" <<LUA
local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("seed", threads)
end
function init(args)
    math.randomseed(os.time() * 1000 + seed)
end
request = function()
    return wrk.format(nil, "$2&cursor=" .. math.random(2, $COUNT))
end
LUA
    WRK_SCRIPT="$script" bench "$@"
}

# sign_in NAME → a Cookie header value for NAME's session.
sign_in() {
    local jar="$WORK/$1.jar"
    curl -s -c "$jar" "http://127.0.0.1:$PORT/login" >"$WORK/login.html"
    local csrf
    csrf="$(sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' "$WORK/login.html" | head -n1)"
    curl -s -o /dev/null -b "$jar" -c "$jar" --data-urlencode "username=$1" \
        --data-urlencode "password=$PW" --data-urlencode "csrf_token=$csrf" \
        "http://127.0.0.1:$PORT/login"
    sed -n 's/^#HttpOnly_//; /^#/d; /^$/d; p' "$jar" |
        awk -F'\t' '{ printf "%s%s=%s", (n++ ? "; " : ""), $6, $7 }'
}

TABLES="$WORK/tables.md"
: >"$TABLES"
for backend in $BACKENDS; do
    case "$backend" in
        sqlite) STORE_URL="sqlite://$WORK/store.db" ;;
        postgres)
            need psql
            psql "$ADMIN_URL" -X -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
                -c "CREATE DATABASE $DB" >/dev/null
            STORE_URL="$PG_URL" ;;
        *) echo "load: unknown backend $backend" >&2; exit 2 ;;
    esac
    CONFIG="$WORK/$backend.toml"
    cat >"$CONFIG" <<TOML
[server]
listen = "127.0.0.1:$PORT"

[store]
url = "$STORE_URL"
TOML
    for t in shop billing archive; do
        printf '\n[[target]]\nname = "%s"\ndriver = "sqlite"\nurl = "sqlite://%s/target.db?mode=rwc"\n' \
            "$t" "$WORK" >>"$CONFIG"
    done
    echo "== $backend: $COUNT requests" >&2
    "$BIN" --config "$CONFIG" migrate >/dev/null
    for u in alice frank; do
        "$BIN" --config "$CONFIG" user add "$u" --role author --password-stdin <<<"$PW" >/dev/null
    done
    for u in bob carol dave erin; do
        "$BIN" --config "$CONFIG" user add "$u" --role reviewer --password-stdin <<<"$PW" >/dev/null
    done
    TOKEN="$("$BIN" --config "$CONFIG" token create alice | tail -n1)"
    fill_start=$(date +%s.%N)
    "$FILL" "$STORE_URL" "$COUNT"
    fill_s=$(awk -v a="$fill_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')

    RUST_LOG=warn "$BIN" --config "$CONFIG" serve >"$WORK/$backend.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
        sleep 0.2
    done
    curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null || { cat "$WORK/$backend.log" >&2; exit 1; }
    BOB="Cookie: $(sign_in bob)"
    CAROL="Cookie: $(sign_in carol)"
    AUTH="Authorization: Bearer $TOKEN"
    mid=$((COUNT / 2)); PAGE_ID=$((mid - mid % 10 + 2))

    ROWS="$WORK/$backend.rows"
    : >"$ROWS"
    bench "/healthz" "/healthz"
    bench "list, unfiltered" "/api/v1/requests?limit=50" "$AUTH"
    bench "status: executed (10 %)" "/api/v1/requests?limit=50&status=executed" "$AUTH"
    bench "status: failed (0.1 %)" "/api/v1/requests?limit=50&status=failed" "$AUTH"
    bench "status: approved (none)" "/api/v1/requests?limit=50&status=approved" "$AUTH"
    bench "author: alice (most)" "/api/v1/requests?limit=50&author=alice" "$AUTH"
    bench "author: frank (0.02 %)" "/api/v1/requests?limit=50&author=frank" "$AUTH"
    bench "author: erin (none)" "/api/v1/requests?limit=50&author=erin" "$AUTH"
    bench "target: shop (half)" "/api/v1/requests?limit=50&target=shop" "$AUTH"
    bench "target: archive (0.01 %)" "/api/v1/requests?limit=50&target=archive" "$AUTH"
    bench "reviewer: bob (80 %)" "/api/v1/requests?limit=50&reviewer=bob" "$AUTH"
    bench "reviewer: carol (10 %)" "/api/v1/requests?limit=50&reviewer=carol" "$AUTH"
    bench "reviewer: erin (none)" "/api/v1/requests?limit=50&reviewer=erin" "$AUTH"
    bench "dashboard: bob (80 % waiting)" "/" "$BOB"
    bench "dashboard: carol (nothing waiting)" "/" "$CAROL"
    bench "request page (#$PAGE_ID)" "/requests/$PAGE_ID" "$BOB"
    bench_pages "list, a random page each call (not kept)" "/api/v1/requests?limit=50" "$AUTH"
    bench_pages "status: executed, a random page each call" \
        "/api/v1/requests?limit=50&status=executed" "$AUTH"
    bench_pages "reviewer: bob, a random page each call" \
        "/api/v1/requests?limit=50&reviewer=bob" "$AUTH"
    stop_server

    {
        echo
        echo "**$backend**, $COUNT requests (filled in ${fill_s} s), wrk -t$THREADS -c$CONNECTIONS -d$DURATION:"
        echo
        echo "| what | req/s | ratio to /healthz | ratio to the unfiltered list (its random page) | p99 |"
        echo "|---|---:|---:|---:|---:|"
        # A random page's row is compared with the unfiltered list's random page.
        awk -F'|' 'NR == 1 { h = $3 } NR == 2 { l = $3 }
            $1 ~ /random page/ && !r { r = $3 }
            { base = ($1 ~ /random page/ ? r : l)
              printf "| %s | %.0f | %.2f | %s | %s ms%s |\n", $1, $3, $3 / h,
                (NR > 1 ? sprintf("%.2f", $3 / base) : ""), $4, ($5 > 0 ? " (" $5 " not 2xx)" : "") }' "$ROWS"
    } >>"$TABLES"
    if [ "$backend" = postgres ]; then
        psql "$ADMIN_URL" -X -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
    fi
done

cat "$TABLES"
if [ "${WRITE:-0}" = 1 ]; then
    python3 - "$ROOT/BENCHMARKS.md" "$TABLES" <<'PY'
import sys
path, tables = sys.argv[1], open(sys.argv[2]).read()
text = open(path).read()
start, end = "<!-- load.sh: start -->", "<!-- load.sh: end -->"
if start not in text or end not in text:
    sys.exit("load: BENCHMARKS.md has no load.sh markers")
head, rest = text.split(start, 1)
_, tail = rest.split(end, 1)
open(path, "w").write(head + start + "\n" + tables.strip() + "\n" + end + tail)
PY
    echo "== BENCHMARKS.md updated" >&2
fi
