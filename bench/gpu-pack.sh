#!/usr/bin/env bash
# Packs what the GPU check (bench/gpu-run.sh) needs on a lent GPU machine that has no network and
# no Node.js, into .gpu/ (git-ignored through .git/info/exclude), sized for its 64 MiB per call:
#   .gpu/a  Node.js (stripped, xz), the llama.cpp subset a CUDA build needs, dist/ and the
#           node_modules the addon's build and loading need, the benchmark prompts (~25 MB)
#   .gpu/b  main-q4_0.gguf (the main model; main-q8_0 is too big to travel beside Node)
#   .gpu/c  draft-q8_0.gguf and tiny-q8_0.gguf
#   .gpu/d  draft-q8_0.gguf and the prompts
# Call 1 carries a + b: it builds, then runs main-q4_0 plain and with lookup. Call 2, while the
# machine is warm, carries b + d (--prompts-file .gpu/d/prompts.jsonl): main-q4_0 with draft-q8_0;
# Node, the build and dist/ stay under build/ and dist/ from call 1. (a + c: draft-q8_0 as main,
# tiny-q8_0 as drafter, when main-q4_0 cannot come along.)
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
rm -rf .gpu && mkdir -p .gpu/a .gpu/b .gpu/c .gpu/d
node_bin=$(command -v node)
cp "$node_bin" .gpu/node && strip .gpu/node && xz -9 -T2 -c .gpu/node >.gpu/a/node.xz && rm .gpu/node
tar -C deps -cJf .gpu/a/llama.tar.xz --exclude='ggml/src/ggml-'{vulkan,sycl,opencl,hexagon,et,metal,cann,webgpu,openvino,zdnn,zendnn,musa,hip,virtgpu,blas} \
  llama.cpp/{CMakeLists.txt,cmake,include,src,ggml,vendor,licenses,LICENSE}
npx tsc -p tsconfig.json
tar -czf .gpu/a/js.tgz dist node_modules/{node-addon-api,node-api-headers}
cp ../shared/bench/prompts.jsonl .gpu/a/
cp ../shared/models/main-q4_0.gguf .gpu/b/
cp ../shared/models/{draft,tiny}-q8_0.gguf .gpu/c/
cp ../shared/models/draft-q8_0.gguf ../shared/bench/prompts.jsonl .gpu/d/
du -cb $(git ls-files) | tail -1 | sed 's/total/tracked files/'
du -b .gpu/a .gpu/b .gpu/c .gpu/d
