#!/usr/bin/env bash
# The GPU check, on a lent CUDA machine (what it needs is packed by bench/gpu-pack.sh into .gpu/):
# builds specdec's C++ GPU check and llama.cpp's tools for sm_90 with FlashAttention kernels off
# (most of the build time; specdec's exact numerics turn flash attention off on CUDA anyway),
# while the 7 B-class model is inflated from main-q4_0; then, each stage time-boxed and its table
# written to $OUT as it ends:
#   1. the 7 B-class Q4_0 main with draft-q8_0, exact numerics: batched logits against single
#      tokens, and every system at temperature 0 and 0.8
#   2. llama.cpp's tools on the same pair and device (plain, draft-simple n-max 4, ngram-mod)
#   3. the 7 B-class pair in fast numerics (llama.cpp's kernels): logits, temperature 0, 6 prompts
#   4. main-q4_0 itself with draft-q8_0, exact numerics (the small pair of the earlier GPU check)
# SPECDEC_GPU_DEADLINE_S (default 550): the stages share what is left of it after the build.
# SPECDEC_GPU_STAGES (default "1 2 3 4"): the stages to run.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/gpu-out}
mkdir -p "$out"
deadline=$(( $(date +%s) + ${SPECDEC_GPU_DEADLINE_S:-550} ))
stages=" ${SPECDEC_GPU_STAGES:-1 2 3 4} "
stamp() { echo "[$(date +%T)] $*"; }
# a stage's time: at most $1 seconds, and never past the deadline
box() { local left=$(( deadline - $(date +%s) )); echo $(( left < $1 ? (left > 5 ? left : 5) : $1 )); }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
stamp "cores $(nproc); node: $(command -v node || echo none)"
work=/tmp/specdec-gpu
mkdir -p deps "$work"
tar -xJf .gpu/llama.tar.xz -C deps
(
  xz -dc .gpu/main-q4_0.gguf.xz >"$work/main-q4_0.gguf" && xz -dc .gpu/draft-q8_0.gguf.xz >"$work/draft-q8_0.gguf" &&
    python3 .gpu/inflate-gguf.py "$work/main-q4_0.gguf" "$work/main-7b-q4_0.gguf" --width 4096 --heads 64 --ffn 11008 --layers 32
  echo "inflate rc=$?"
) >"$out/inflate.log" 2>&1 &
inflate=$!

start=$(date +%s)
cmake -S . -B build-gpu -G Ninja -DSPECDEC_CUDA=ON -DSPECDEC_BENCH_TOOLS=ON -DSPECDEC_NATIVE=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_CUDA_FA=OFF -DNODE_ADDON_API_DIR=/none >"$out/configure.log" 2>&1 ||
  { tail -30 "$out/configure.log"; exit 1; }
targets=(specdec_gpu_check)
[[ $stages == *" 2 "* ]] && targets+=(llama-completion llama-speculative-simple)
cmake --build build-gpu -j "$(nproc)" --target "${targets[@]}" >"$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
stamp "build: $(( $(date +%s) - start )) s ($(nproc) cores, CUDA sm_90, FA off)"
wait "$inflate"
tail -2 "$out/inflate.log"
ls -la "$work"

bin=build-gpu/bin
check="$bin/specdec_gpu_check --draft $work/draft-q8_0.gguf --prompts .gpu/prompts.jsonl"
main7=$work/main-7b-q4_0.gguf
[[ $stages == *" 1 "* ]] && stamp "1. 7B exact" &&
  timeout "$(box 230)" $check --main "$main7" --numerics exact --logits --temps 0,0.8 --out "$out/gpu-check.md" 2>"$out/check-7b-exact.err"
[[ $stages == *" 2 "* ]] && {
stamp "2. llama.cpp's tools"
python3 - "$work" >"$work/prompt-ids" <<'EOF'
import json, sys
for p in [json.loads(l) for l in open(".gpu/prompts.jsonl")]:
    if p["id"] in ("trio-complete-0", "trio-complete-4", "trio-grounded-7", "trio-grounded-9"):
        open(f"{sys.argv[1]}/{p['id']}.txt", "w").write(p["prompt"])
        print(p["id"], p["n_predict"])
EOF
{
  echo "## llama.cpp's tools, 7B-class Q4_0 main, draft-q8_0, all layers on the GPU, temperature 0"
  echo
  echo "| prompt | llama-completion t/s | speculative-simple draft n-max 4 t/s | ngram-mod t/s |"
  echo "| --- | --- | --- | --- |"
} >>"$out/gpu-check.md"
common=(-m "$main7" -ngl 99 -fa off --temp 0 --seed 1 -c 2048)
while read -r id n; do
  plain=$(timeout "$(box 30)" $bin/llama-completion "${common[@]}" -f "$work/$id.txt" -n "$n" -no-cnv --no-display-prompt 2>&1 |
    grep -oP '(?<!prompt )eval time =\s*[\d.]+ ms /\s*\d+ runs' | awk '{print $7*1000/$4}' | head -1)
  draft=$(timeout "$(box 30)" $bin/llama-speculative-simple "${common[@]}" -f "$work/$id.txt" -n "$n" -md "$work/draft-q8_0.gguf" -ngld 99 \
    --spec-type draft-simple --spec-draft-n-max 4 2>&1 | grep -oP 'decoded\s+\d+ tokens in\s+[\d.]+ seconds' | awk '{print $2/$5}')
  ngram=$(timeout "$(box 30)" $bin/llama-speculative-simple "${common[@]}" -f "$work/$id.txt" -n "$n" --spec-type ngram-mod 2>&1 |
    grep -oP 'decoded\s+\d+ tokens in\s+[\d.]+ seconds' | awk '{print $2/$5}')
  echo "| $id | ${plain:-?} | ${draft:-?} | ${ngram:-?} |" | tee -a "$out/gpu-check.md"
done <"$work/prompt-ids"
}
[[ $stages == *" 3 "* ]] && stamp "3. 7B fast" &&
  timeout "$(box 120)" $check --main "$main7" --numerics fast --logits --temps 0 --n-prompts 6 --out "$out/gpu-check.md" 2>"$out/check-7b-fast.err"
[[ $stages == *" 4 "* ]] && stamp "4. small pair exact" &&
  timeout "$(box 90)" $check --main "$work/main-q4_0.gguf" --numerics exact --logits --temps 0 --out "$out/gpu-check.md" 2>"$out/check-small-exact.err"
stamp "done"
