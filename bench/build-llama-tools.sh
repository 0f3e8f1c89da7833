#!/usr/bin/env bash
# Builds llama.cpp's own tools (llama-completion, llama-speculative-simple, llama-bench) from the
# same pinned, patched source as the addon (deps/llama.cpp), with llama.cpp's default options,
# into build-tools/. Used by the benchmarks and to record test references. The batch-invariant
# kernels are off in these tools unless GGML_BATCH_INVARIANT_MAX is set (patch 0003); patch 0004
# (SIMD for f16 vector leftovers) is always on and changes only models whose head size is not a
# multiple of 64 (draft-q8_0, tiny-q8_0), which it makes faster.
set -euo pipefail
cd "$(dirname "$0")/.."
node scripts/deps.mjs
cmake -S deps/llama.cpp -B build-tools -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=ON \
  -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=ON >/dev/null
ninja -C build-tools -j"$(nproc)" llama-completion llama-speculative-simple llama-lookup llama-bench
