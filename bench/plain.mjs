#!/usr/bin/env node
// Plain (non-speculative) greedy decoding, side by side in one run: specdec (exact numerics, the
// default, and fast), llama.cpp's own llama-completion built from the same pinned source, and
// node-llama-cpp 3.21.1. Same model,
// threads, context and prompts (../shared/bench/prompts.jsonl). The systems take turns, round
// after round, so that drift of the machine's speed hits all of them alike; the report gives, per
// round, the median over prompts of each system's tokens/s relative to llama.cpp, then the median
// and range over rounds.
//
// usage: node bench/plain.mjs [--rounds 3] [--threads 2] [--ctx 2048] [--model file] [--no-peer]
//        [--prompts file] [--kind complete|grounded] [--out bench/results/plain.md]
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

import { loadPrompts, machineLine, median, root, runRounds, setUp } from "./lib.mjs";

const { values: opt } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    threads: { type: "string", default: "2" },
    ctx: { type: "string", default: "2048" },
    model: { type: "string", default: path.resolve(root, "../shared/models/main-q8_0.gguf") },
    prompts: { type: "string", default: path.resolve(root, "../shared/bench/prompts.jsonl") },
    kind: { type: "string" },
    "no-peer": { type: "boolean", default: false },
    out: { type: "string", default: path.join(root, "bench/results/plain.md") },
  },
});

const usePeer = !opt["no-peer"];
setUp({ peer: usePeer });
const prompts = loadPrompts(opt.prompts, opt.kind);
const job = { model: opt.model, threads: Number(opt.threads), ctx: Number(opt.ctx), temperature: 0, prompts };
const systems = [
  { name: "llama.cpp", runner: "bench/systems/llama-completion.mjs" },
  { name: "specdec", runner: "bench/systems/specdec.mjs" },
  { name: "specdec fast", runner: "bench/systems/specdec.mjs", env: { SPECDEC_NUMERICS: "fast" } },
  ...(usePeer ? [{ name: "node-llama-cpp", runner: "bench/systems/node-llama-cpp.mjs" }] : []),
];

const rounds = Number(opt.rounds);
const results = await runRounds(systems, job, rounds);

const lines = [];
const fmt = (x, d = 1) => x.toFixed(d);
lines.push(`# Plain greedy decoding: specdec vs llama.cpp vs node-llama-cpp`);
lines.push("");
lines.push(`- model \`${path.basename(opt.model)}\`, ${opt.threads} threads, context ${opt.ctx}, ${prompts.length} prompts, ${rounds} rounds`);
lines.push(`- machine: ${machineLine()}`);
lines.push(`- command: \`node bench/plain.mjs ${process.argv.slice(2).join(" ")}\``);
lines.push("");
lines.push(`| prompt | ${systems.map((s) => `${s.name} t/s`).join(" | ")} | specdec / llama.cpp | same text as llama.cpp |`);
lines.push(`| --- | ${systems.map(() => "---").join(" | ")} | --- | --- |`);
for (const p of prompts) {
  const tps = (name) => median(results.map((round) => round[name].get(p.id).tps));
  const ratio = median(results.map((round) => round.specdec.get(p.id).tps / round["llama.cpp"].get(p.id).tps));
  // llama-completion ends its output with blank lines of its own: compare without trailing space.
  const same = results[0].specdec.get(p.id).text.trimEnd() === results[0]["llama.cpp"].get(p.id).text.trimEnd();
  lines.push(`| ${p.id} | ${systems.map((s) => fmt(tps(s.name))).join(" | ")} | ${fmt(ratio, 3)} | ${same ? "yes" : "no"} |`);
}
lines.push("");
for (const sys of systems.filter((s) => s.name !== "llama.cpp")) {
  const perRound = results.map((round) => median(prompts.map((p) => round[sys.name].get(p.id).tps / round["llama.cpp"].get(p.id).tps)));
  lines.push(
    `**${sys.name} / llama.cpp**: median over prompts per round ${perRound.map((x) => fmt(x, 3)).join(", ")}; ` +
      `median ${fmt(median(perRound), 3)} (range ${fmt(Math.min(...perRound), 3)}-${fmt(Math.max(...perRound), 3)})`,
  );
  lines.push("");
}
const report = lines.join("\n");
console.log(report);
fs.mkdirSync(path.dirname(opt.out), { recursive: true });
fs.writeFileSync(opt.out, report + "\n");
