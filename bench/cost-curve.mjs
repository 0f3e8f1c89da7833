#!/usr/bin/env node
// The cost curve V(n): how long one main-model evaluation of n tokens takes (logits for every
// position, as verification needs), n = 1..17, at a given context depth and thread count, median
// of repeats; printed as a table with V(n)/V(1), for every model given.
//
// Models are ../shared/models' names, or SIZE:FORMAT for a realistic-cost main model (bench/scale.mjs,
// e.g. 1b:Q4_K_M), built into the cache first if missing.
//
// usage: node bench/cost-curve.mjs [--models main-q8_0,main-q4_0,draft-q8_0,tiny-q8_0,1b:Q8_0,1b:Q4_K_M] [--depth 400]
//        [--threads 2] [--repeats 25] [--max 17] [--numerics exact|fast] [--flash-attention auto|on|off] [--out FILE: also write the table there]
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

import { loadModel, setNumerics } from "../dist/index.js";
import { machineLine, models } from "./lib.mjs";
import { scaledModel } from "./scale.mjs";

const { values: opt } = parseArgs({
  options: {
    models: { type: "string", default: "main-q8_0,main-q4_0,draft-q8_0,tiny-q8_0" },
    depth: { type: "string", default: "400" },
    threads: { type: "string", default: "2" },
    repeats: { type: "string", default: "25" },
    max: { type: "string", default: "17" },
    numerics: { type: "string", default: "exact" },
    "flash-attention": { type: "string", default: "auto" },
    out: { type: "string" },
  },
});
setNumerics(opt.numerics);
const sizes = Array.from({ length: Number(opt.max) }, (_, i) => i + 1);
const rows = [];
for (const name of opt.models.split(",")) {
  const [size, format] = name.split(":");
  const model = await loadModel(format ? await scaledModel(size, format) : path.join(models, `${name}.gguf`));
  const session = await model.createSession({ contextSize: 2048, threads: Number(opt.threads), flashAttention: opt["flash-attention"] });
  await session.measureDecode({ depth: Number(opt.depth), sizes: [1, 4], repeats: 5 }); // warm-up
  const curve = await session.measureDecode({ depth: Number(opt.depth), sizes, repeats: Number(opt.repeats) });
  rows.push({ name, curve });
  session.dispose();
  model.dispose();
}
const lines = [];
lines.push(`# Cost curve V(n): one evaluation of n tokens, all logits`);
lines.push("");
lines.push(`- depth ${opt.depth}, ${opt.threads} threads, ${opt.repeats} repeats (median), ${opt.numerics} numerics`);
lines.push(`- machine: ${machineLine()}`);
lines.push(`- command: \`node bench/cost-curve.mjs ${process.argv.slice(2).join(" ")}\``);
lines.push("");
lines.push(`| model | ${sizes.map((n) => `n=${n}`).join(" | ")} |`);
lines.push(`| --- | ${sizes.map(() => "---").join(" | ")} |`);
for (const { name, curve } of rows) {
  lines.push(`| ${name} ms | ${curve.map((c) => c.ms.toFixed(2)).join(" | ")} |`);
  lines.push(`| ${name} V(n)/V(1) | ${curve.map((c) => (c.ms / curve[0].ms).toFixed(2)).join(" | ")} |`);
}
const report = lines.join("\n");
console.log(report);
// Written only where --out says: a run's default file would overwrite a kept result of other models.
if (opt.out) {
  fs.mkdirSync(path.dirname(opt.out), { recursive: true });
  fs.writeFileSync(opt.out, report + "\n");
}
