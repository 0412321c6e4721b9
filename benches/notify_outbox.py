#!/usr/bin/env python3
"""Outbox benchmarks (issue 17): a `countersign serve` over a SQLite store with one generic
webhook pointing at a local receiver (Python's http.server, threaded, answering 200 at once).

1. Throughput: THROUGHPUT_MESSAGES comments are posted (16 at a time); the figure is the
   messages the receiver got per second, from the first to the last arrival.
2. Delay: RATE submissions a second for SECONDS seconds, each approved by its reviewer at once;
   the figure is the time from the approval's answer (committed) to its `request.approved`
   webhook arriving, p50 and p99.

    benches/notify_outbox.py                # uses $CARGO_TARGET_DIR/debug/countersign
    BIN=target/release/countersign RATE=50 SECONDS=20 benches/notify_outbox.py

Needs: python3, a built `countersign` binary.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BIN = os.environ.get("BIN", os.path.join(TARGET, "debug", "countersign"))
RATE = int(os.environ.get("RATE", "50"))
SECONDS = int(os.environ.get("SECONDS", "20"))
THROUGHPUT_MESSAGES = int(os.environ.get("THROUGHPUT_MESSAGES", "2000"))

arrivals = []  # (time, event, request id, delivery id)
lock = threading.Lock()


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        now = time.monotonic()
        event = json.loads(body)
        with lock:
            arrivals.append((now, event["event"], event["request"]["id"], event["delivery"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Receiver(ThreadingHTTPServer):
    # http.server's listen backlog is 5: the dispatcher's concurrent sends (one per request)
    # overflowed it, and each connection dropped was retried by TCP a second later — the
    # receiver's delay, not the outbox's.
    request_queue_size = 1024


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(args, config, stdin=None):
    env = dict(os.environ, BENCH_HOOK_URL="http://127.0.0.1:9/unused", BENCH_HOOK_KEY="k")
    out = subprocess.run([BIN, *args, "--config", config], input=stdin, capture_output=True,
                         text=True, check=True, env=env)
    return out.stdout


def call(base, token, method, path, body):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode(),
                                 headers={"Authorization": "Bearer " + token,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.loads(res.read())


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    work = tempfile.mkdtemp()
    hook = Receiver(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    port = free_port()
    config = os.path.join(work, "countersign.toml")
    with open(config, "w") as f:
        f.write(f"""[store]
url = "sqlite://{work}/cs.db"
[[target]]
name = "shop"
driver = "sqlite"
url = "sqlite://{work}/shop.db?mode=rwc"
[[notify]]
kind = "webhook"
url_env = "BENCH_HOOK_URL"
secret_env = "BENCH_HOOK_KEY"
""")
    run(["migrate"], config)
    run(["user", "add", "alice", "--role", "author", "--password-stdin"], config, "a long password\n")
    run(["user", "add", "bob", "--role", "reviewer", "--password-stdin"], config, "a long password\n")
    alice = run(["token", "create", "alice"], config).strip().splitlines()[-1]
    bob = run(["token", "create", "bob"], config).strip().splitlines()[-1]
    env = dict(os.environ, COUNTERSIGN_SERVER_LISTEN=f"127.0.0.1:{port}",
               BENCH_HOOK_URL=f"http://127.0.0.1:{hook.server_port}/hook",
               BENCH_HOOK_KEY="bench-key", RUST_LOG="warn")
    server = subprocess.Popen([BIN, "serve", "--config", config], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        sql = "UPDATE t SET v = 1 WHERE id = 1"
        first = call(base, alice, "POST", "/api/v1/requests",
                     {"title": "bench", "intent": "bench", "sql": sql, "target": "shop",
                      "reviewers": ["bob"]})
        time.sleep(1.5)

        # 1. Throughput.
        with lock:
            arrivals.clear()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: call(base, alice, "POST",
                                         f"/api/v1/requests/{first['id']}/comments",
                                         {"text": f"comment {i}"}),
                          range(THROUGHPUT_MESSAGES)))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with lock:
                if len(arrivals) >= THROUGHPUT_MESSAGES:
                    break
            time.sleep(0.05)
        with lock:
            got = list(arrivals)
        span = got[-1][0] - got[0][0]
        print(f"throughput: {len(got)} messages in {span:.2f} s = "
              f"{len(got) / span:.0f} messages/s (ids unique: {len({a[3] for a in got}) == len(got)})")

        # 2. Approval → webhook delay under RATE submissions a second.
        with lock:
            arrivals.clear()
        approved_at = {}
        errors = []

        def one(i):
            try:
                r = call(base, alice, "POST", "/api/v1/requests",
                         {"title": f"load {i}", "intent": "bench", "sql": sql, "target": "shop",
                          "reviewers": ["bob"]})
                call(base, bob, "POST", f"/api/v1/requests/{r['id']}/reviews",
                     {"decision": "approve", "comment": "", "revision": 1})
                approved_at[r["id"]] = time.monotonic()
            except Exception as e:  # noqa: BLE001 - counted and shown
                errors.append(repr(e))

        start = time.monotonic()
        with ThreadPoolExecutor(64) as pool:
            for i in range(RATE * SECONDS):
                time.sleep(max(0.0, start + i / RATE - time.monotonic()))
                pool.submit(one, i)
        achieved = RATE * SECONDS / (time.monotonic() - start)
        time.sleep(5)
        with lock:
            got = {a[2]: a[0] for a in arrivals if a[1] == "request.approved"}
        delays = [(got[i] - t) * 1000 for i, t in approved_at.items() if i in got]
        print(f"load: {RATE * SECONDS} submissions+approvals at {achieved:.1f}/s, "
              f"{len(errors)} errors, {len(delays)} approvals heard of")
        print(f"approval → webhook delay: p50 {percentile(delays, 50):.0f} ms, "
              f"p99 {percentile(delays, 99):.0f} ms, max {max(delays):.0f} ms")
    finally:
        server.terminate()
        server.wait()
        hook.shutdown()


if __name__ == "__main__":
    sys.exit(main())
