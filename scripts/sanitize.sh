#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer build of the addon (llama.cpp included) in
# build-asan/, then the unit tests on it (SPECDEC_NATIVE_PATH points the loader there), then a
# leak check: LeakSanitizer over a loop of loads, sessions and generations, counting the leaks
# whose stack passes through specdec or llama.cpp (Node's own allocations at exit are not ours).
#
#   bash scripts/sanitize.sh [vitest file filters...]     (default: every test file except the
#                                                          long model runs)
set -euo pipefail
cd "$(dirname "$0")/.."
flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -g -O1"
npx cmake-js build --out build-asan --log-level warn --CDCMAKE_BUILD_TYPE=RelWithDebInfo \
  "--CDCMAKE_C_FLAGS=$flags" "--CDCMAKE_CXX_FLAGS=$flags" \
  "--CDCMAKE_SHARED_LINKER_FLAGS=-fsanitize=address,undefined" >build-asan.log 2>&1 || { tail -30 build-asan.log; exit 1; }
export SPECDEC_NATIVE_PATH="$PWD/build-asan/Release/specdec.node"
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
# Node is not built with ASan: its own allocations are not tracked, and V8 reserves big regions.
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:detect_odr_violation=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(test/tiny.test.ts test/errors.test.ts test/api-fuzz.test.ts test/generation.test.ts test/lookup.test.ts test/retrieval.test.ts test/lookahead.test.ts test/lifetime.test.ts test/workers.test.ts)
npx vitest run --testTimeout=900000 --hookTimeout=900000 "${tests[@]}"  # sanitized code runs 2-4x slower

rm -f build-asan/lsan.*
echo "leak check: loads, sessions with drafts, generations, disposal"
ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:detect_odr_violation=0:log_path=$PWD/build-asan/lsan" \
  node scripts/leak-loop.mjs || true
ours=0
for f in build-asan/lsan.*; do
  [ -f "$f" ] || continue
  # Ours: the stack passes through specdec or llama.cpp and the allocation is not Node's own
  # (frame #1 in the node binary: e.g. napi_create_external's bookkeeping for a handle that V8
  # had not collected yet when the process ended).
  ours=$((ours + $(awk -v RS= '/^(Direct|Indirect) leak/ && /specdec|llama|ggml/ && !/#1 0x[0-9a-f]+ in [^\n]*\([^)]*\/node\+0x/ {n++} END {print n+0}' "$f")))
done
echo "leaks through specdec or llama.cpp: $ours"
[ "$ours" -eq 0 ]
