#!/usr/bin/env node
// The GPU check: on a machine with a GPU backend built in, every system generates the benchmark
// prompts with the models offloaded, greedy outputs are compared with plain decoding's, and
// tokens/s and speedups are tabled. Made to run in one short call on a lent GPU machine, where
// neither vitest nor the 66 MiB main-q8_0 can travel: it needs only dist/, the addon and models.
//
//   node bench/gpu-check.mjs --main M.gguf --draft D.gguf [--prompts-file F] [--prompts 12] [--rounds 2] [--temps 0,0.8] [--out FILE]
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

import { loadModel, systemInfo } from "../dist/index.js";
import { loadPrompts, median, root } from "./lib.mjs";

const { values } = parseArgs({
  options: {
    main: { type: "string" },
    draft: { type: "string" },
    "prompts-file": { type: "string", default: path.resolve(root, "../shared/bench/prompts.jsonl") },
    prompts: { type: "string", default: "12" },
    rounds: { type: "string", default: "2" },
    temps: { type: "string", default: "0,0.8" },
    out: { type: "string" },
  },
});
if (!values.main) {
  console.error("usage: node bench/gpu-check.mjs --main M.gguf [--draft D.gguf] [--prompts N] [--rounds R] [--out FILE]");
  process.exit(2);
}

const lines = [];
const say = (s = "") => {
  console.log(s);
  lines.push(s);
};

const info = systemInfo();
say(`# GPU check: ${path.basename(values.main)}${values.draft ? ` with ${path.basename(values.draft)}` : ""}`);
say();
say(`- ${JSON.stringify(info)}`);
const t0 = performance.now();
const main = await loadModel(values.main, { gpuLayers: "auto" });
// The draft model twice: offloaded, and kept on the CPU beside the offloaded main model.
const draftGpu = values.draft ? await loadModel(values.draft, { gpuLayers: "auto" }) : undefined;
const draftCpu = values.draft ? await loadModel(values.draft, { gpuLayers: 0 }) : undefined;
say(`- models loaded in ${(performance.now() - t0).toFixed(0)} ms`);

const prompts = loadPrompts(values["prompts-file"]).slice(0, Number(values.prompts));
const systems = [
  { name: "plain", options: { drafters: [] } },
  { name: "lookup", options: {} },
  ...(values.draft
    ? [
        { name: "draft (GPU)", options: { drafters: [], draft: { model: draftGpu } } },
        { name: "draft (GPU) + lookup", options: { draft: { model: draftGpu } } },
        { name: "draft (CPU) + lookup", options: { draft: { model: draftCpu } } },
      ]
    : []),
];

for (const temperature of values.temps.split(",").map(Number)) {
  // tps[system][prompt] = [tokens/s per round]; text[system][prompt] from the first round.
  const tps = systems.map(() => prompts.map(() => []));
  const text = systems.map(() => []);
  const steps = systems.map(() => []);
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const [pi, p] of prompts.entries()) {
      const order = systems.map((_, i) => i);
      if (round % 2) order.reverse();
      for (const si of order) {
        const session = await main.createSession({ contextSize: 2048, ...systems[si].options });
        const r = await session.complete(p.prompt, { maxTokens: p.n_predict, temperature, seed: 1 + round });
        tps[si][pi].push(r.stats.tokensPerSecond);
        if (round === 0) {
          text[si][pi] = r.text;
          steps[si][pi] = r.stats.tokensPerStep;
        }
        session.dispose();
      }
    }
  }
  say();
  say(`## temperature ${temperature} (${prompts.length} prompts, ${values.rounds} rounds, fresh session per prompt)`);
  say();
  say("| system | tokens/s (median) | speedup vs plain: median, min prompt | tokens per step | greedy text equal to plain |");
  say("| --- | --- | --- | --- | --- |");
  for (const [si, s] of systems.entries()) {
    const perPrompt = prompts.map((_, pi) => median(tps[si][pi]));
    const ratios = prompts.map((_, pi) => median(tps[si][pi]) / median(tps[0][pi]));
    let equal = "-";
    if (temperature === 0) {
      const diverged = prompts
        .map((p, pi) => ({ id: p.id, a: text[0][pi], b: text[si][pi] }))
        .filter((x) => x.a !== x.b)
        .map((x) => {
          let i = 0;
          while (x.a[i] === x.b[i]) i++;
          return `${x.id}@${i}`;
        });
      equal = `${prompts.length - diverged.length}/${prompts.length}${diverged.length ? ` (differ: ${diverged.join(", ")})` : ""}`;
    }
    say(
      `| ${s.name} | ${median(perPrompt).toFixed(0)} | ${si ? `${median(ratios).toFixed(2)}, ${Math.min(...ratios).toFixed(2)}` : "-"} | ${median(steps[si]).toFixed(2)} | ${equal} |`,
    );
  }
}

if (values.out) fs.writeFileSync(values.out, lines.join("\n") + "\n");
for (const m of [main, draftGpu, draftCpu]) m?.dispose();
