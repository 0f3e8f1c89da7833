#!/usr/bin/env node
// Draft-model speculative decoding, side by side in one run: specdec plain and with each draft
// (draft-q8_0, tiny-q8_0, main-q4_0 with the adaptive draft length; draft-q8_0 with a fixed 4
// too), llama.cpp's llama-completion and llama-speculative-simple (same pinned source, draft-q8_0,
// n-max 4; as built, and with the batch-invariant kernels switched on by
// GGML_BATCH_INVARIANT_MAX=64, "spec bi"), node-llama-cpp 3.21.1 plain and with its
// DraftSequenceTokenPredictor (draft-q8_0; on the first --peer-prompts prompts only: it is slow).
// Systems take turns round after round; each speedup is a ratio within one round (per prompt,
// then the median over the prompts of a kind), reported as the median and range over rounds.
//
// usage: node bench/speculative.mjs [--temp 0] [--rounds 3] [--threads 2] [--ctx 2048]
//        [--kind complete|grounded] [--no-peer] [--peer-prompts 2] [--out bench/results/speculative-t0.md]
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

import { loadPrompts, machineLine, median, models, ratioRows, root, runRounds, setUp } from "./lib.mjs";

const { values: opt } = parseArgs({
  options: {
    temp: { type: "string", default: "0" },
    rounds: { type: "string", default: "3" },
    threads: { type: "string", default: "2" },
    ctx: { type: "string", default: "2048" },
    kind: { type: "string" },
    prompts: { type: "string", default: path.resolve(root, "../shared/bench/prompts.jsonl") },
    "no-peer": { type: "boolean", default: false },
    "peer-prompts": { type: "string", default: "2" },
    out: { type: "string" },
  },
});
const usePeer = !opt["no-peer"];
setUp({ peer: usePeer });
const prompts = loadPrompts(opt.prompts, opt.kind);
const temperature = Number(opt.temp);
const model = (name) => path.join(models, name);
const job = { model: model("main-q8_0.gguf"), threads: Number(opt.threads), ctx: Number(opt.ctx), temperature, seed: 1, prompts };
const peerPrompts = Number(opt["peer-prompts"]);
const systems = [
  { name: "specdec plain", runner: "bench/systems/specdec.mjs" },
  { name: "specdec + draft", runner: "bench/systems/specdec.mjs", job: { draft: model("draft-q8_0.gguf") } },
  { name: "specdec + draft k4", runner: "bench/systems/specdec.mjs", job: { draft: model("draft-q8_0.gguf"), draftMaxTokens: 4, draftAdaptive: false } },
  { name: "specdec + tiny", runner: "bench/systems/specdec.mjs", job: { draft: model("tiny-q8_0.gguf") } },
  { name: "specdec + q4_0", runner: "bench/systems/specdec.mjs", job: { draft: model("main-q4_0.gguf") } },
  { name: "llama.cpp plain", runner: "bench/systems/llama-completion.mjs" },
  {
    name: "llama.cpp spec",
    runner: "bench/systems/llama-speculative.mjs",
    job: { draft: model("draft-q8_0.gguf"), draftMaxTokens: 4 },
  },
  {
    name: "llama.cpp spec bi",
    runner: "bench/systems/llama-speculative.mjs",
    job: { draft: model("draft-q8_0.gguf"), draftMaxTokens: 4 },
    env: { GGML_BATCH_INVARIANT_MAX: "64" },
  },
  ...(usePeer
    ? [
        { name: "nlc plain", runner: "bench/systems/node-llama-cpp.mjs", maxPrompts: peerPrompts },
        { name: "nlc + draft", runner: "bench/systems/node-llama-cpp.mjs", maxPrompts: peerPrompts, job: { draft: model("draft-q8_0.gguf") } },
      ]
    : []),
];
const rounds = Number(opt.rounds);
const results = await runRounds(systems, job, rounds);

const fmt = (x, d = 2) => (x === undefined || Number.isNaN(x) ? "-" : x.toFixed(d));
const tps = (round, name, id) => round[name].get(id)?.tps;
const lines = [];
lines.push(`# Speculative decoding with a draft model, temperature ${temperature}`);
lines.push("");
lines.push(`- main \`main-q8_0.gguf\`, ${opt.threads} threads, context ${opt.ctx}, ${prompts.length} prompts, ${rounds} rounds`);
lines.push(`- machine: ${machineLine()}`);
lines.push(`- command: \`node bench/speculative.mjs ${process.argv.slice(2).join(" ")}\``);
lines.push("");
lines.push("Tokens/s (median over rounds) and specdec's speedup over its own plain decoding:");
lines.push("");
const shown = systems.map((s) => s.name);
lines.push(`| prompt | ${shown.join(" | ")} | draft / plain | draft acceptance |`);
lines.push(`| --- | ${shown.map(() => "---").join(" | ")} | --- | --- |`);
for (const p of prompts) {
  const cells = shown.map((name) => {
    const xs = results.map((r) => tps(r, name, p.id)).filter((x) => x !== undefined);
    return xs.length ? fmt(median(xs), 1) : "-";
  });
  const speedup = median(results.map((r) => tps(r, "specdec + draft", p.id) / tps(r, "specdec plain", p.id)));
  const acc = median(results.map((r) => r["specdec + draft"].get(p.id).acceptance));
  lines.push(`| ${p.id} | ${cells.join(" | ")} | ${fmt(speedup)} | ${fmt(acc)} |`);
}
lines.push("");
lines.push("Speedups (per round: median over the prompts of a kind; then median and range over rounds; min = the lowest single prompt of any round):");
lines.push("");
lines.push("| ratio | kind | per round | median | min prompt |");
lines.push("| --- | --- | --- | --- | --- |");
const ratio = (num, den) => lines.push(...ratioRows(results, prompts, num, den));
for (const d of ["specdec + draft", "specdec + draft k4", "specdec + tiny", "specdec + q4_0"]) ratio(d, "specdec plain");
ratio("llama.cpp spec", "llama.cpp plain");
ratio("llama.cpp spec bi", "llama.cpp plain");
ratio("specdec + draft", "llama.cpp spec");
ratio("specdec + draft", "llama.cpp spec bi");
ratio("specdec plain", "llama.cpp plain");
if (usePeer) ratio("nlc + draft", "nlc plain");
const report = lines.join("\n");
console.log(report);
const out = opt.out ?? path.join(root, `bench/results/speculative-t${temperature}.md`);
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, report + "\n");
