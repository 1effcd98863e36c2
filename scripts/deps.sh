#!/usr/bin/env bash
# Installs the Debian packages Chorus needs, only when something is missing.
#   libzmq3-dev     ZeroMQ (the transport)
#   libsqlite3-dev  SQLite (the log)
#   sqlite3         the SQLite shell: operators read the log with it (docs/STORAGE.md), and so do the tests
#   espeak-ng       speech for the example audio agent
#   python3-venv    the Python agent's and the neural tier's virtual environments (packages from PyPI)
set -euo pipefail
need=()
pkg-config --exists libzmq 2>/dev/null || need+=(libzmq3-dev)
pkg-config --exists sqlite3 2>/dev/null || need+=(libsqlite3-dev)
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  echo "chorus: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
