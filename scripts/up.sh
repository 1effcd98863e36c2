#!/usr/bin/env bash
# Brings Chorus up on the embedded default: installs what is missing, builds, and runs the broker with
# brokers/default.toml (loopback endpoints, log in ./data). Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
swift build -c release --product chorus
bin="$(swift build -c release --show-bin-path)/chorus"
echo "chorus: broker starting; in another terminal try:"
echo "  $bin subscribe 'demo.>' --group demo"
echo "  $bin publish demo.hello --data '{\"hello\":\"world\"}'"
exec "$bin" broker --config brokers/default.toml "$@"
