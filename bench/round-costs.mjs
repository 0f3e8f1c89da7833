// Where a round's time goes, for several session setups in one process: generations in turns per
// prompt and seed (a fresh session each), then per setup the tokens/s over all generations, tokens
// per main-model step, and a step's milliseconds split into the main model's decodes, drafting
// (the draft model's catch-up and steps, lookup) and the rest (sampling, verification, the tree);
// drafted and kept tokens by drafter; the slowest generation. For drafting-policy comparisons,
// which separate processes hours apart would drown in the machine's drift (6 generations a setup
// swing by 10%: use 18 or more). Greedy texts are checked against the first setup's. --each prints
// every generation's tokens/s, steps and kept/drafted to stderr.
//
// A setup is NAME=JSON: session options, with "draft": {...} for the draft model (draft-q8_0
// unless "model" names another file) and "env": {...} set around each of its generations.
//
//   node bench/round-costs.mjs --model 1b:Q4_K_M --kind grounded --temp 0.8 --seeds 1,2,3 \
//     'plain={"drafters":[]}' 'draft={"drafters":[],"draft":{}}' 'draft+lookup={"draft":{}}'
import path from "node:path";
import { parseArgs } from "node:util";

import { loadPrompts, machineLine, models } from "./lib.mjs";
import { scaledModel } from "./scale.mjs";

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    model: { type: "string", default: "1b:Q4_K_M" },
    prompts: { type: "string", default: path.join(models, "../bench/prompts.jsonl") },
    kind: { type: "string" },
    temp: { type: "string", default: "0" },
    seeds: { type: "string", default: "1" },
    tokens: { type: "string", default: "128" },
    threads: { type: "string", default: "2" },
    each: { type: "boolean", default: false },
  },
});
if (positionals.length === 0) {
  console.error("usage: node bench/round-costs.mjs [--model 1b:Q4_K_M|FILE] [--kind K] [--temp T] [--seeds 1,2] NAME=JSON...");
  process.exit(2);
}
const { loadModel } = await import("../dist/index.js");
const [size, format] = opt.model.split(":");
const mainFile = format ? await scaledModel(size, format) : opt.model;
const main = await loadModel(mainFile);
const drafts = new Map();
const draftModel = async (file = path.join(models, "draft-q8_0.gguf")) => {
  if (!drafts.has(file)) drafts.set(file, await loadModel(file));
  return drafts.get(file);
};
const setups = positionals.map((s) => {
  const at = s.indexOf("=");
  if (at <= 0) throw new Error(`a setup is NAME=JSON, not ${s}`);
  return { name: s.slice(0, at), options: JSON.parse(s.slice(at + 1)) };
});
const prompts = loadPrompts(opt.prompts, opt.kind);
const temperature = Number(opt.temp);
const seeds = opt.seeds.split(",").map(Number);
const sums = new Map(setups.map((s) => [s.name, { tokens: 0, ms: 0, steps: 0, mainMs: 0, draftMs: 0, slowest: Infinity, by: {} }]));
const firstText = new Map();
let differing = 0;

try {
  for (const seed of seeds) {
    for (const prompt of prompts) {
      for (const { name, options } of setups) {
        const { env = {}, draft, ...sessionOptions } = options;
        if (draft) sessionOptions.draft = { ...draft, model: await draftModel(draft.model) };
        Object.assign(process.env, env);
        const session = await main.createSession({ contextSize: 2048, threads: Number(opt.threads), ...sessionOptions });
        try {
          const { text } = await session.complete(prompt.prompt, { maxTokens: Number(opt.tokens), temperature, seed });
          const st = session.stats;
          const a = sums.get(name);
          a.tokens += st.generatedTokens;
          a.ms += st.generationMs;
          a.steps += st.mainDecodes;
          a.mainMs += st.mainMs;
          a.draftMs += st.draftMs;
          const tokensPerSecond = (st.generatedTokens / st.generationMs) * 1000;
          a.slowest = Math.min(a.slowest, tokensPerSecond);
          if (opt.each) {
            const drafted = st.drafters.map((d) => `${d.name} ${d.accepted}/${d.proposed}`).join(", ");
            console.error(`${prompt.id ?? prompts.indexOf(prompt)} seed ${seed} ${name}: ` +
              `${tokensPerSecond.toFixed(1)} tokens/s, ${st.mainDecodes} steps, ${drafted || "-"}`);
          }
          for (const d of st.drafters) {
            const b = (a.by[d.name] ??= { proposed: 0, kept: 0 });
            b.proposed += d.proposed;
            b.kept += d.accepted;
          }
          if (temperature === 0) {
            const key = `${prompt.id ?? prompt.prompt}:${seed}`;
            if (!firstText.has(key)) firstText.set(key, text);
            else if (firstText.get(key) !== text) differing++;
          }
        } finally {
          session.dispose();
          for (const key of Object.keys(env)) delete process.env[key];
        }
      }
    }
  }
} finally {
  main.dispose();
  for (const d of drafts.values()) d.dispose();
}

const f = (x, d = 1) => x.toFixed(d);
console.log(`${path.basename(mainFile)}, ${prompts.length} prompts (${opt.kind ?? "all kinds"}), seeds ${opt.seeds}, ` +
  `${opt.tokens} tokens, temperature ${opt.temp}, ${opt.threads} threads; ${machineLine()}\n`);
console.log("| setup | tokens/s | slowest generation | tokens per step | ms per step | main model | drafting | rest | kept / drafted |");
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
for (const [name, a] of sums) {
  const kept = Object.entries(a.by).map(([d, b]) => `${d} ${b.kept}/${b.proposed}`).join(", ") || "-";
  const step = (x) => f(x / a.steps, 2);
  console.log(`| ${name} | ${f((a.tokens / a.ms) * 1000)} | ${f(a.slowest)} | ${step(a.tokens)} | ${step(a.ms)} | ` +
    `${step(a.mainMs)} | ${step(a.draftMs)} | ${step(a.ms - a.mainMs - a.draftMs)} | ${kept} |`);
}
if (temperature === 0) console.log(`\nGreedy texts differing from the first setup's: ${differing}`);
