#!/usr/bin/env bash
# Opens CONNECTIONS (default 3000) connections to `countersign serve` that each send half a
# request's headers and then nothing (slowloris), and reports how many sockets the server holds
# (from /proc/PID/fd), whether an ordinary request is still answered and how fast, and how many
# sockets it still holds once the header read timeout has passed. The server serves at most
# `server.max_connections` at once (MAX, default 512 here) and closes a connection that has not
# sent its headers within `server.header_read_timeout` (TIMEOUT, default 10s).
#
#   benches/slowloris.sh
#   CONNECTIONS=1000 MAX=100 TIMEOUT=3s BIN=$CARGO_TARGET_DIR/debug/countersign benches/slowloris.sh
#
# Needs: cargo (unless BIN is given), curl, python3 (the slow clients).
set -euo pipefail

CONNECTIONS="${CONNECTIONS:-3000}"
MAX="${MAX:-512}"
TIMEOUT="${TIMEOUT:-10s}"
PORT="${PORT:-18090}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="$(mktemp -d)"
PID=""
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

for tool in curl python3; do
    command -v "$tool" >/dev/null || { echo "slowloris: $tool is required" >&2; exit 1; }
done
if [ -z "${BIN:-}" ]; then
    (cd "$ROOT" && cargo build --release -q -p countersign)
    BIN="$TARGET/release/countersign"
fi
ulimit -n $((CONNECTIONS + 256)) 2>/dev/null || true

cat >"$WORK/countersign.toml" <<EOF
[server]
listen = "127.0.0.1:$PORT"
max_connections = $MAX
header_read_timeout = "$TIMEOUT"

[store]
url = "sqlite://$WORK/store.db"
EOF
"$BIN" serve --config "$WORK/countersign.toml" >"$WORK/serve.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.2
done

held() { find "/proc/$PID/fd" -lname 'socket:*' 2>/dev/null | wc -l; }

# The slow clients: one process holding every connection (2 s to connect each, at most).
python3 - "$PORT" "$CONNECTIONS" "$WORK/opened" <<'PY' &
import socket, sys, time
port, n, report = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
held = []
for _ in range(n):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        held.append(s)
    except OSError:
        pass
open(report, "w").write(str(len(held)))
time.sleep(3600)
PY
CLIENTS=$!
trap 'kill $CLIENTS 2>/dev/null; cleanup' EXIT
for _ in $(seq 1 600); do [ -s "$WORK/opened" ] && break; sleep 0.5; done
echo "half-open connections opened: $(cat "$WORK/opened") of $CONNECTIONS (server: max_connections $MAX, header_read_timeout $TIMEOUT)"
echo "sockets the server holds: $(held)"
answer="$(curl -s -o /dev/null -m 60 -w '%{http_code} in %{time_total}s' "http://127.0.0.1:$PORT/healthz" || true)"
echo "an ordinary request meanwhile: $answer"
seconds="${TIMEOUT%s}"
sleep $((seconds + 2))
echo "sockets the server holds one timeout later: $(held)"
