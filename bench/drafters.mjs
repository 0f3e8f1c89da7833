#!/usr/bin/env node
// Drafters without a second model, and several at once, side by side in one run: specdec plain,
// with lookup (n-gram match in the prompt and the generated text), with retrieval from a
// datastore of Python's standard library (--corpus; built once, reused), with draft-q8_0, and with
// draft-q8_0 and lookup merged into one token tree; llama.cpp's llama-completion and llama-lookup
// (same pinned source, n-max 8); node-llama-cpp 3.21.1 plain and with its
// InputLookupTokenPredictor (on the first --peer-prompts prompts of each kind: it is slow). Systems take turns prompt by prompt; each speedup is a ratio
// within one round (per prompt, then the median over the prompts of a kind), reported as the
// median and range over rounds.
//
// usage: node bench/drafters.mjs [--temp 0] [--rounds 3] [--threads 2] [--ctx 2048] [--kind complete|grounded]
//        [--corpus /usr/lib/python3] [--no-peer] [--peer-prompts 1] [--out bench/results/drafters-t0.md]
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

import { buildDatastore, loadModel } from "../dist/index.js";
import { loadPrompts, machineLine, median, models, ratioRows, root, runRounds, setUp } from "./lib.mjs";

const { values: opt } = parseArgs({
  options: {
    temp: { type: "string", default: "0" },
    rounds: { type: "string", default: "3" },
    threads: { type: "string", default: "2" },
    ctx: { type: "string", default: "2048" },
    kind: { type: "string" },
    corpus: { type: "string", default: "/usr/lib/python3" },
    "no-peer": { type: "boolean", default: false },
    "peer-prompts": { type: "string", default: "1" },
    prompts: { type: "string", default: path.resolve(root, "../shared/bench/prompts.jsonl") },
    out: { type: "string" },
  },
});
const usePeer = !opt["no-peer"];
setUp({ peer: usePeer });
const prompts = loadPrompts(opt.prompts, opt.kind);
const temperature = Number(opt.temp);
const model = (name) => path.join(models, name);
const job = { model: model("main-q8_0.gguf"), threads: Number(opt.threads), ctx: Number(opt.ctx), temperature, seed: 1, prompts };
const lookup = [{ type: "lookup" }];
// node-llama-cpp runs the first --peer-prompts prompts of each kind only.
const peerIds = new Set(
  [...new Set(prompts.map((p) => p.kind))].flatMap((kind) => prompts.filter((p) => p.kind === kind).slice(0, Number(opt["peer-prompts"])).map((p) => p.id)),
);
// The retrieval corpus: the .py files under --corpus, as a datastore kept in bench/.datastore.
let retrieval = null;
if (fs.existsSync(opt.corpus)) {
  const files = [];
  const walk = (dir) => {
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, d.name);
      if (d.isDirectory()) walk(p);
      else if (d.isFile() && p.endsWith(".py")) files.push(p);
    }
  };
  walk(opt.corpus);
  files.sort();
  const vocab = await loadModel(model("main-q8_0.gguf"), { vocabOnly: true });
  fs.mkdirSync(path.join(root, "bench/.datastore"), { recursive: true });
  const store = await buildDatastore(vocab, { files, path: path.join(root, "bench/.datastore/corpus.specdec") });
  vocab.dispose();
  console.error(`retrieval corpus: ${files.length} files, ${(store.tokens / 1e6).toFixed(1)} M tokens (${store.rebuilt ? "built" : "reused"})`);
  retrieval = [{ type: "retrieval", storePath: store.path }];
}
const systems = [
  { name: "specdec plain", runner: "bench/systems/specdec.mjs" },
  { name: "specdec + lookup", runner: "bench/systems/specdec.mjs", job: { drafters: lookup } },
  ...(retrieval
    ? [
        { name: "specdec + retrieval", runner: "bench/systems/specdec.mjs", job: { drafters: retrieval } },
        { name: "specdec + lookup + retrieval", runner: "bench/systems/specdec.mjs", job: { drafters: [...lookup, ...retrieval] } },
      ]
    : []),
  { name: "specdec + draft", runner: "bench/systems/specdec.mjs", job: { draft: model("draft-q8_0.gguf") } },
  { name: "specdec + draft + lookup", runner: "bench/systems/specdec.mjs", job: { draft: model("draft-q8_0.gguf"), drafters: lookup } },
  { name: "llama.cpp plain", runner: "bench/systems/llama-completion.mjs" },
  { name: "llama.cpp lookup", runner: "bench/systems/llama-speculative.mjs", job: { lookup: true, draftMaxTokens: 8 } },
  ...(usePeer
    ? [
        { name: "nlc plain", runner: "bench/systems/node-llama-cpp.mjs", ids: peerIds },
        { name: "nlc + input lookup", runner: "bench/systems/node-llama-cpp.mjs", ids: peerIds, job: { inputLookup: true } },
      ]
    : []),
];
const rounds = Number(opt.rounds);
const results = await runRounds(systems, job, rounds);

const fmt = (x, d = 2) => (x === undefined || Number.isNaN(x) ? "-" : x.toFixed(d));
const lines = [];
lines.push(`# Drafters: lookup, retrieval, draft model, several in one tree; temperature ${temperature}`);
lines.push("");
lines.push(`- main \`main-q8_0.gguf\`, ${opt.threads} threads, context ${opt.ctx}, ${prompts.length} prompts, ${rounds} rounds`);
lines.push(`- machine: ${machineLine()}`);
if (retrieval) lines.push(`- retrieval corpus: the .py files under ${opt.corpus}`);
lines.push(`- command: \`node bench/drafters.mjs ${process.argv.slice(2).join(" ")}\``);
lines.push("");
lines.push("Tokens/s (median over rounds), and acceptance (median over rounds):");
lines.push("");
const shown = systems.map((s) => s.name);
lines.push(`| prompt | ${shown.join(" | ")} | ${shown.slice(1).map((s) => `${s} acceptance`).join(" | ")} |`);
lines.push(`| --- | ${shown.map(() => "---").join(" | ")} | ${shown.slice(1).map(() => "---").join(" | ")} |`);
for (const p of prompts) {
  const cells = shown.map((name) => (results[0][name].has(p.id) ? fmt(median(results.map((r) => r[name].get(p.id).tps)), 1) : "-"));
  const acc = shown.slice(1).map((name) => (results[0][name].has(p.id) ? fmt(median(results.map((r) => r[name].get(p.id).acceptance ?? NaN))) : "-"));
  lines.push(`| ${p.id} | ${cells.join(" | ")} | ${acc.join(" | ")} |`);
}
lines.push("");
lines.push("Speedups (per round: median over the prompts of a kind; then median and range over rounds; min = the lowest single prompt of any round):");
lines.push("");
lines.push("| ratio | kind | per round | median | min prompt |");
lines.push("| --- | --- | --- | --- | --- |");
for (const s of systems.filter((x) => x.name.startsWith("specdec +"))) lines.push(...ratioRows(results, prompts, s.name, "specdec plain"));
lines.push(...ratioRows(results, prompts, "llama.cpp lookup", "llama.cpp plain"));
lines.push(...ratioRows(results, prompts, "specdec + lookup", "llama.cpp lookup"));
lines.push(...ratioRows(results, prompts, "specdec plain", "llama.cpp plain"));
if (usePeer) lines.push(...ratioRows(results, prompts, "nlc + input lookup", "nlc plain"));
const report = lines.join("\n");
console.log(report);
const out = opt.out ?? path.join(root, `bench/results/drafters-t${temperature}.md`);
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, report + "\n");
