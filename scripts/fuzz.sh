#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time, starting from the committed corpus
# (fuzz/corpus/<target>/) with the target's dictionary (fuzz/dict/<target>.dict) when it has
# one. Installs cargo-fuzz when it is missing. Fails on the first crash, hang or failed check;
# libFuzzer prints the input that did it, saved under fuzz/artifacts/<target>/.
#
# Settings (environment):
#   FUZZ_SECONDS=20         seconds per target
#   FUZZ_TARGETS="a b"      the targets to run (default: all of them)
#   FUZZ_SANITIZER=none     none or address (cargo fuzz --sanitizer)
#   FUZZ_UPDATE_CORPUS=1    afterwards, add the inputs that reach code the committed corpus
#                           does not (edges only, to keep it small) to fuzz/corpus/
#
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP=1 lets the stable toolchain use them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CARGO_FUZZ_VERSION=0.13.2
seconds="${FUZZ_SECONDS:-20}"
sanitizer="${FUZZ_SANITIZER:-none}"
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
echo "== cargo fuzz build ($(echo $targets | tr '\n' ' '))"
cargo fuzz build --sanitizer "$sanitizer"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in $targets; do
    echo "== fuzzing $target for ${seconds}s"
    # New inputs go to a scratch folder: the committed corpus is only read.
    mkdir -p "$scratch/$target" "fuzz/corpus/$target"
    dict=()
    if [ -f "fuzz/dict/$target.dict" ]; then
        dict=(-dict="fuzz/dict/$target.dict")
    fi
    cargo fuzz run --sanitizer "$sanitizer" "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 "${dict[@]}"
    if [ "${FUZZ_UPDATE_CORPUS:-0}" = 1 ]; then
        cargo fuzz run --sanitizer "$sanitizer" "$target" "fuzz/corpus/$target" "$scratch/$target" -- \
            -merge=1 -use_counters=0
    fi
done
echo "== no crash in $(echo $targets | wc -w) targets, ${seconds}s each"
