#!/usr/bin/env bash
# Runs every test: installs what is missing, builds (debug), then unit and integration tests.
# Integration tests start real broker and client processes on 127.0.0.1 with temporary data folders.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
# The Python agent's and the neural tier's virtual environments (pyzmq, Piper, SmolLM2, the GAN) are installed
# before the tests, so their downloads and the model conversion do not compete with timed tests for the CPU.
agents/python/setup.sh
scripts/neural-tier.sh
swift build --build-tests
swift test --skip-build
