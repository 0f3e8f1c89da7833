// Two builds of the addon generating side by side in one process (as ab-builds.mjs, but whole
// generations): each .node file loaded on its own, the same models, prompts, drafters and seeds,
// generations in turns A B A B (--lookup: which of them add the lookup drafter; the same build
// twice compares drafters), and per generation the ratio of B's tokens per second to A's. For
// changes of drafting policy, whose effect a few prompts in separate processes would drown in the
// machine's drift. Sampled text is the same for both when the change leaves the draft model's
// path alone; the script says how many texts differed.
//
//   node bench/ab-generate.mjs --a /tmp/a.node --b build/Release/specdec.node --model M.gguf \
//     [--draft D.gguf] [--lookup ab|a|b] [--prompts ../shared/bench/prompts.jsonl] [--kind grounded] \
//     [--max-prompts 6] [--temp 0.8] [--seeds 1,2,3] [--tokens 128]
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

import { loadPrompts, median, models, root } from "./lib.mjs";

const { values } = parseArgs({
  options: {
    a: { type: "string" },
    b: { type: "string" },
    model: { type: "string" },
    draft: { type: "string" },
    lookup: { type: "string", default: "" },
    prompts: { type: "string", default: path.join(models, "../bench/prompts.jsonl") },
    kind: { type: "string" },
    "max-prompts": { type: "string", default: "6" },
    temp: { type: "string", default: "0" },
    seeds: { type: "string", default: "1" },
    tokens: { type: "string", default: "128" },
    threads: { type: "string", default: "2" },
  },
});
if (!values.a || !values.b || !values.model || !/^(a?b?)$/.test(values.lookup)) {
  console.error("usage: node bench/ab-generate.mjs --a <addon.node> --b <addon.node> --model <gguf> [--draft <gguf>] [--lookup ab|a|b] [--kind k] [--max-prompts n] [--temp t] [--seeds 1,2] [--tokens n]");
  process.exit(2);
}

// The package's API over one addon file: a copy of dist/ in a folder of its own, whose
// build/Release/ holds that file (the API loads the addon beside it, lib/binary.ts).
async function build(file, lookup) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "specdec-ab-"));
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  fs.cpSync(path.join(root, "dist"), path.join(dir, "dist"), { recursive: true });
  fs.copyFileSync(path.join(root, "package.json"), path.join(dir, "package.json"));
  fs.symlinkSync(path.join(root, "node_modules"), path.join(dir, "node_modules"));
  fs.mkdirSync(path.join(dir, "build/Release"), { recursive: true });
  fs.copyFileSync(path.resolve(file), path.join(dir, "build/Release/specdec.node"));
  const api = await import(pathToFileURL(path.join(dir, "dist/index.js")).href);
  const model = await api.loadModel(values.model);
  const draft = values.draft ? await api.loadModel(values.draft) : undefined;
  return { model, draft, lookup };
}

async function generate({ model, draft, lookup }, prompt, seed) {
  const session = await model.createSession({
    contextSize: 2048,
    threads: Number(values.threads),
    draft: draft ? { model: draft } : undefined,
    drafters: lookup ? [{ type: "lookup" }] : [],
  });
  const r = await session.complete(prompt, { maxTokens: Number(values.tokens), temperature: Number(values.temp), seed });
  session.dispose();
  return { text: r.text, tps: r.stats.tokensPerSecond, steps: r.stats.mainDecodes, draftMs: r.stats.draftMs, mainMs: r.stats.mainMs };
}

const byKind = new Map();
for (const p of loadPrompts(values.prompts, values.kind)) {
  const list = byKind.get(p.kind) ?? [];
  if (list.length < Number(values["max-prompts"])) byKind.set(p.kind, [...list, p]);
}
const a = await build(values.a, values.lookup.includes("a"));
const b = await build(values.b, values.lookup.includes("b"));
await generate(a, "warm up", 1);
await generate(b, "warm up", 1);
const seeds = values.seeds.split(",").map(Number);
let differed = 0;
for (const [kind, prompts] of byKind) {
  const ratios = [];
  for (const p of prompts) {
    for (const seed of seeds) {
      const ra = await generate(a, p.prompt, seed);
      const rb = await generate(b, p.prompt, seed);
      if (ra.text !== rb.text) differed++;
      ratios.push(rb.tps / ra.tps);
      const figures = (r) => `${r.tps.toFixed(1)} t/s (${r.steps} steps, main ${r.mainMs.toFixed(0)} ms, draft ${r.draftMs.toFixed(0)} ms)`;
      console.log(`${kind} ${p.id} seed ${seed}: A ${figures(ra)}, B ${figures(rb)}, B/A ${(rb.tps / ra.tps).toFixed(3)}`);
    }
  }
  ratios.sort((x, y) => x - y);
  console.log(`${kind}: B/A median ${median(ratios).toFixed(3)}, range ${ratios[0].toFixed(3)}-${ratios.at(-1).toFixed(3)} (${ratios.length} generations)`);
}
console.log(`texts that differed between A and B: ${differed}`);
