#!/usr/bin/env bash
# Brings Chorus up on the embedded default: installs what is missing, builds (release), and runs the broker
# with the three example agents (text, image, audio) from agents/, all on loopback, the log in ./data.
# Ctrl-C stops everything cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
swift build -c release --product chorus
bin="$(swift build -c release --show-bin-path)/chorus"
# Put `chorus` on the PATH for the second terminal, where that is allowed.
if [ -w /usr/local/bin ]; then
  ln -sf "$bin" /usr/local/bin/chorus
  echo "chorus: linked /usr/local/bin/chorus -> $bin"
else
  echo "chorus: add it to your PATH:  export PATH=\"$(dirname "$bin"):\$PATH\""
fi
exec "$bin" up --config brokers/default.toml --agents agents "$@"
