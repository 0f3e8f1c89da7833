#!/usr/bin/env bash
# Packs what the GPU check (bench/gpu-run.sh) needs on a lent GPU machine that has no network and
# no Node.js into .gpu/ (git-ignored through .git/info/exclude; the device call carries it), within
# the 64 MiB a call may carry: the llama.cpp subset that the CUDA build, llama.cpp's tools and
# gguf-py need, the main-q4_0 and draft-q8_0 models (xz), the benchmark prompts and
# ../shared/tools/inflate-gguf.py (the 7 B-class model is built there, from main-q4_0). The check
# itself is C++ (bench/gpu-check.cpp): Node.js (22 MB as xz) would not fit beside the models.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || { mkdir -p .git/info && echo '/.gpu/' >>.git/info/exclude; }
node scripts/deps.mjs
rm -rf .gpu && mkdir -p .gpu
tar -C deps -cJf .gpu/llama.tar.xz --exclude='*.gguf' --exclude='tools/server/public*' \
  --exclude='ggml/src/ggml-'{vulkan,sycl,opencl,hexagon,et,metal,cann,webgpu,openvino,zdnn,zendnn,musa,hip,virtgpu,blas} \
  llama.cpp/{CMakeLists.txt,cmake,include,src,ggml,vendor,licenses,LICENSE,common,tools,examples,pocs,gguf-py}
xz -6 -T2 -c ../shared/models/main-q4_0.gguf >.gpu/main-q4_0.gguf.xz
xz -6 -T2 -c ../shared/models/draft-q8_0.gguf >.gpu/draft-q8_0.gguf.xz
cp ../shared/bench/prompts.jsonl ../shared/tools/inflate-gguf.py .gpu/
du -cb $(git ls-files) | tail -1 | sed 's/total/tracked files/'
du -cb .gpu/* | sort -n
