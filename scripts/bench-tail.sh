#!/usr/bin/env bash
# Measures `chorus tail` (issue: operators): --json over a 1,000,000-event log (events/s, peak memory), and
# --follow lag (publish accepted -> line read, so commit included) p50/p99 while a publisher sends a steady 10,000 events/s.
# Needs a release build and agents/python/.venv (for pyzmq). Usage: scripts/bench-tail.sh [EVENTS] [RATE]
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-1000000}
rate=${2:-10000}
bin="$(swift build -c release --show-bin-path)/chorus"
py=agents/python/.venv/bin/python
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT
printf '[broker]\ndata_dir = "%s/data"\nlog_level = "warning"\n' "$dir" > "$dir/b.toml"
"$bin" broker --config "$dir/b.toml" --endpoint 'tcp://127.0.0.1:*' --firehose 'tcp://127.0.0.1:*' --ready-file "$dir/ready" &
for _ in $(seq 300); do [ -s "$dir/ready" ] && break; kill -0 $! 2>/dev/null || break; sleep 0.1; done
[ -s "$dir/ready" ] || { echo "bench-tail.sh: the broker did not start" >&2; exit 1; }
ep=$(head -1 "$dir/ready")
echo "filling the log with $events events..."
seq 1 "$events" | sed 's/.*/{"n":&}/' | "$bin" publish bench.fill --lines --window 5000 --endpoint "$ep" > /dev/null
echo "tail --json over the whole log:"
/usr/bin/time -f "  %e s wall, %M KiB peak RSS" "$bin" tail --log "$dir/data/chorus.sqlite" --from 1 --json > "$dir/out.json"
lines=$(wc -l < "$dir/out.json")
echo "  $lines lines"
echo "tail --follow lag (publish accepted -> line read) at $rate events/s for 10 s:"
"$py" - "$ep" "$rate" "$bin" "$dir/data/chorus.sqlite" <<'PY'
import json, subprocess, sys, threading, time, zmq
ep, rate, binary, log = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
tail = subprocess.Popen([binary, "tail", "--log", log, "--follow", "--json", "-n", "0", "--topic", "lag.>"], stdout=subprocess.PIPE)
lags = []
following = threading.Event()
def read():
    for line in tail.stdout:
        arrived = time.time() * 1000
        event = json.loads(line)
        if event["topic"] == "lag.ready":
            following.set()
            continue
        lags.append(arrived - event["time"])
threading.Thread(target=read, daemon=True).start()
s = zmq.Context().socket(zmq.DEALER); s.connect(ep)
# Timing starts once the tail is following: a marker event it has printed.
for _ in range(150):
    s.send_multipart([b"CHORUS1", b"PUBLISH", b"", b"lag.ready", b"", b""])
    if following.wait(0.2): break
    while s.poll(0): s.recv_multipart()
else:
    sys.exit("the tail printed nothing within 30 s")
n = rate * 10; start = time.time(); sent = 0
while sent < n:
    due = int((time.time() - start) * rate)
    while sent < min(due, n):
        s.send_multipart([b"CHORUS1", b"PUBLISH", b"", b"lag.e", b"", b"x" * 256]); sent += 1
    while s.poll(0): s.recv_multipart()
    time.sleep(0.0005)
deadline = time.time() + 10
while len(lags) < n and time.time() < deadline: time.sleep(0.05)
tail.terminate()
lags.sort()
print(f"  {len(lags)} of {n} events seen; lag p50 {lags[len(lags)//2]:.0f} ms, p99 {lags[int(len(lags)*0.99)-1]:.0f} ms, max {lags[-1]:.0f} ms")
PY
