#!/usr/bin/env bash
# Brings Chorus up on the embedded default: installs what is missing, builds (release), and runs the broker
# with the three example agents (text, image, audio) from agents/, all on loopback, the log in ./data.
# Ctrl-C stops everything cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
swift build -c release --product chorus
bin="$(swift build -c release --show-bin-path)/chorus"
# Put `chorus` on the PATH for the second terminal, where that is allowed. Another checkout's link (or a real
# file) is left alone: replacing it would leave a dangling link behind when this checkout goes. A link that
# already dangles is taken over.
link=/usr/local/bin/chorus
current="$(readlink "$link" 2>/dev/null || true)"
ours_to_set() {
  [ -w /usr/local/bin ] || return 1
  [ ! -e "$link" ] && [ ! -L "$link" ] && return 0   # nothing there
  [ "$current" = "$bin" ] && return 0                # already this build
  [ -L "$link" ] && [ ! -e "$link" ] && return 0     # a dangling link
  return 1
}
if ours_to_set; then
  ln -sf "$bin" "$link"
  echo "chorus: linked $link -> $bin"
elif [ -e "$link" ]; then
  echo "chorus: $link is another build (${current:-a file}, left as it is); for this one:  export PATH=\"$(dirname "$bin"):\$PATH\""
else
  echo "chorus: add it to your PATH:  export PATH=\"$(dirname "$bin"):\$PATH\""
fi
exec "$bin" up --config brokers/default.toml --agents agents "$@"
