#!/usr/bin/env bash
# A/B of two chorus builds on the joins benchmark (README, "Benchmark", figure O): alternating runs, each against a
# fresh broker of its own build with the bench's media join, and the median ratio B/A. A machine whose speed drifts
# by 30% within the hour makes single runs meaningless; alternating pairs keep the drift out of the ratio.
# Usage: scripts/joins-ab.sh BIN_A BIN_B [PAIRS] [BENCH OPTIONS...]
#   e.g. scripts/joins-ab.sh /tmp/old/chorus .build/release/chorus 8
#        scripts/joins-ab.sh /tmp/old/chorus .build/release/chorus 5 --batch 1 --joins 20000
# Default bench options: --joins 40000 --seconds 0 --batch 100. Each build runs with its own default --join-window.
set -euo pipefail
[ $# -ge 2 ] || { sed -n 2,8p "$0" >&2; exit 64; }
a=$1 b=$2 pairs=${3:-6}
shift $(($# < 3 ? $# : 3))
opts=("$@")
[ ${#opts[@]} -gt 0 ] || opts=(--joins 40000 --seconds 0 --batch 100)
dir=$(mktemp -d)
# Each run's broker writes its pid beside its data: an interrupted A/B stops them all before removing their files.
trap 'for p in "$dir"/*/pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done; rm -rf "$dir"' EXIT

# One run: a fresh broker of build $1 on free ports, one profiled joins run, prints joins/s (nothing if it failed,
# with the reason on stderr). The config is the bench's own (BrokerBench.init and JoinBench.config): keep it in
# step. It is copied rather than asked for, since the build under test may be older than any way to ask.
run() {
    local bin=$1 d
    d=$(mktemp -d -p "$dir")
    cat > "$d/b.toml" <<EOT
[broker]
log_level = "warning"
data_dir = "$d/data"
[delivery]
max_pending = 100000
[joins.media]
open = "gen.request"
emit = "gen.merged"
timeout = "1h"
max_open = 1000000
[joins.media.parts.text]
topic = "gen.result.text"
[joins.media.parts.image]
topic = "gen.result.image"
[joins.media.parts.audio]
topic = "gen.result.audio"
EOT
    "$bin" broker --config "$d/b.toml" --endpoint 'tcp://127.0.0.1:*' --firehose 'tcp://127.0.0.1:*' --ready-file "$d/ready" \
        > "$d/log" 2>&1 &
    local pid=$! out
    echo $pid > "$d/pid"
    for _ in $(seq 300); do [ -s "$d/ready" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
    if [ -s "$d/ready" ]; then
        out=$("$bin" bench --suite joins --profile "$(head -1 "$d/ready")" "${opts[@]}" 2>&1) || true
        awk '/^joins /{print $2}' <<< "$out" | tr -d '/s'
        grep -q '^joins ' <<< "$out" || echo "joins-ab.sh: the bench ($bin) failed: $out" >&2
    else
        echo "joins-ab.sh: the broker ($bin) did not start: $(cat "$d/log")" >&2
    fi
    kill $pid 2>/dev/null; wait $pid 2>/dev/null || true
    rm -rf "$d"
}

for _ in $(seq "$pairs"); do
    ra=$(run "$a"); rb=$(run "$b")
    [ -n "$ra" ] && [ -n "$rb" ] || exit 1
    echo "$ra $rb"
done | python3 -c '
import statistics, sys
ratios, A, B = [], [], []
for line in sys.stdin:
    a, b = map(float, line.split())
    A.append(a); B.append(b); ratios.append(b / a)
    print(f"A {a:.0f}  B {b:.0f}  B/A {b / a:.3f}", flush=True)
if not ratios: sys.exit("joins-ab.sh: no pair completed")
faster = sum(r > 1 for r in ratios)
print(f"median joins/s A {statistics.median(A):.0f}  B {statistics.median(B):.0f}  B/A {statistics.median(ratios):.3f}  ({faster} of {len(ratios)} pairs faster)")'
