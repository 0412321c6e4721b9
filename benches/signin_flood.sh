#!/usr/bin/env bash
# Floods the demo with CONCURRENCY (default 500) failed sign-ins at once and records the server's
# peak RSS (VmHWM from /proc/PID/status) against its idle baseline measured in the same run.
# Every sign-in verifies a password with argon2id (about 19 MiB and tens of milliseconds each);
# the server runs at most one verification per core and turns the rest away with 503 and
# Retry-After after a short wait (429 once an address or a user name has failed too often), so
# the peak should stay a small multiple of the idle figure whatever the flood.
#
#   benches/signin_flood.sh                       # builds the release binary
#   CONCURRENCY=200 BIN=target/debug/countersign benches/signin_flood.sh
#
# Prints the idle and peak figures, the ratio peak/idle, and how many answers had each status.
# Needs: cargo (unless BIN is given), curl, xargs.
set -euo pipefail

CONCURRENCY="${CONCURRENCY:-500}"
PORT="${PORT:-18089}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="$(mktemp -d)"
PID=""
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { echo "signin_flood: $1 is required" >&2; exit 1; }; }
need curl
need xargs

if [ -z "${BIN:-}" ]; then
    need cargo
    (cd "$ROOT" && cargo build --release -q -p countersign)
    BIN="$TARGET/release/countersign"
fi

"$BIN" demo --dir "$WORK/demo" --listen "127.0.0.1:$PORT" >"$WORK/demo.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.2
done
curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null || { cat "$WORK/demo.log" >&2; exit 1; }

kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$PID/status"; }

# The sign-in form's CSRF pair (double submit: the cookie and the form field carry one value).
curl -s -c "$WORK/cookies" "http://127.0.0.1:$PORT/login" >"$WORK/login.html"
CSRF="$(sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' "$WORK/login.html" | head -n1)"
[ -n "$CSRF" ] || { echo "signin_flood: no CSRF token on the sign-in page" >&2; exit 1; }

# Idle baseline: the server up, the sign-in page served a few times, nothing else.
for _ in 1 2 3 4 5; do curl -s -o /dev/null "http://127.0.0.1:$PORT/login"; done
sleep 1
IDLE_KIB="$(kib VmHWM)"

# The flood: CONCURRENCY failed sign-ins at once, each as a different (unknown) user name.
export PORT CSRF WORK
seq 1 "$CONCURRENCY" | xargs -P "$CONCURRENCY" -I{} sh -c \
    'curl -s -o /dev/null -w "%{http_code}\n" -b "$WORK/cookies" \
        --data-urlencode "username=flood{}" --data-urlencode "password=wrong password {}" \
        --data-urlencode "csrf_token=$CSRF" "http://127.0.0.1:$PORT/login"' \
    >"$WORK/codes" 2>/dev/null || true
PEAK_KIB="$(kib VmHWM)"

echo "concurrent failed sign-ins: $CONCURRENCY"
echo "idle peak RSS:  $((IDLE_KIB / 1024)) MiB ($IDLE_KIB KiB)"
echo "flood peak RSS: $((PEAK_KIB / 1024)) MiB ($PEAK_KIB KiB)"
awk -v p="$PEAK_KIB" -v i="$IDLE_KIB" 'BEGIN { printf "peak/idle: %.2f\n", p / i }'
echo "answers by status:"
sort "$WORK/codes" | uniq -c | sed 's/^/  /'
curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && echo "server still answers /healthz"
