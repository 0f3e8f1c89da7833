#!/usr/bin/env bash
# The GPU check, on the lent machine (see bench/gpu-pack.sh): unpacks Node and the sources, builds
# the addon with CUDA for sm_90 (FlashAttention kernels off: they are most of the build time),
# unless a build is already there from an earlier call (the machine keeps build/, dist/ and
# node_modules/ while warm, but not .gpu/: a call carries what it needs of it), then runs
# bench/gpu-check.mjs with main-q4_0 as main when it is there, else draft-q8_0 as main and
# tiny-q8_0 as drafter.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
# Node and the build go under build/ (git-ignored): the machine keeps it between calls, not .gpu/.
mkdir -p build/bin
[ -x build/bin/node ] || { xz -dc .gpu/a/node.xz >build/bin/node && chmod +x build/bin/node; }
export PATH="$PWD/build/bin:$PATH"
node --version
if [ ! -f build/Release/specdec.node ]; then
  mkdir -p deps && tar -xJf .gpu/a/llama.tar.xz -C deps && tar -xzf .gpu/a/js.tgz
  start=$(date +%s)
  cmake -S . -B build -G Ninja -DSPECDEC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_CUDA_FA=OFF \
    -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$PWD/build/Release" \
    -DCMAKE_JS_INC="$PWD/node_modules/node-api-headers/include;$PWD/node_modules/node-addon-api" >"$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
  cmake --build build -j "$(nproc)" --target specdec >"$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
  echo "build: $(( $(date +%s) - start )) s ($(nproc) cores, CUDA sm_90, FA off)"
fi
ls -la build/Release/specdec.node
main=.gpu/b/main-q4_0.gguf draft=.gpu/c/draft-q8_0.gguf
[ -f .gpu/d/draft-q8_0.gguf ] && draft=.gpu/d/draft-q8_0.gguf
[ -f "$main" ] || { main=.gpu/c/draft-q8_0.gguf; draft=.gpu/c/tiny-q8_0.gguf; }
args=(--main "$main" --prompts-file .gpu/a/prompts.jsonl --out "$out/gpu-check-$(basename "$main" .gguf).md" "$@")
[ -f "$draft" ] && args+=(--draft "$draft")
node bench/gpu-check.mjs "${args[@]}"
