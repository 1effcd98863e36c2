#!/usr/bin/env bash
# Runs every test: installs what is missing, builds (debug), then unit and integration tests.
# Integration tests start real broker and client processes on 127.0.0.1 with temporary data folders.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
swift build --build-tests
swift test --skip-build
