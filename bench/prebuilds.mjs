#!/usr/bin/env node
// What the portable prebuilds cost: each CPU variant in prebuilds/<platform>-<arch>/ (forced with
// SPECDEC_CPU_VARIANT) against the source build for this machine (-march=native), plain greedy
// decoding and with lookup, side by side in one run (`npm run prebuild` first).
//
// usage: node bench/prebuilds.mjs [--rounds 2] [--out bench/results/prebuilds.md]
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

import { loadPrompts, machineLine, root, runRounds, setUp, ratioRows } from "./lib.mjs";

const { values: opt } = parseArgs({
  options: {
    rounds: { type: "string", default: "2" },
    out: { type: "string", default: path.join(root, "bench/results/prebuilds.md") },
  },
});

setUp({ peer: false });
const dir = path.join(root, "prebuilds", `${process.platform}-${process.arch}`);
const variants = fs.existsSync(dir) ? fs.readdirSync(dir).map((f) => /^specdec\.(\w+)\.node$/.exec(f)?.[1]).filter(Boolean) : [];
if (!variants.length) {
  console.error(`no prebuilt variants in ${dir}: run \`npm run prebuild\` first`);
  process.exit(2);
}
const prompts = loadPrompts(path.resolve(root, "../shared/bench/prompts.jsonl"));
const job = { model: path.resolve(root, "../shared/models/main-q8_0.gguf"), threads: 2, ctx: 2048, temperature: 0, prompts };
const systems = [];
for (const v of ["native", ...variants]) {
  const env = v === "native" ? {} : { SPECDEC_CPU_VARIANT: v };
  systems.push({ name: `${v} plain`, runner: "bench/systems/specdec.mjs", env, job: { drafters: [] } });
  systems.push({ name: `${v} lookup`, runner: "bench/systems/specdec.mjs", env, job: { drafters: [{ type: "lookup" }] } });
}
const rounds = Number(opt.rounds);
const results = await runRounds(systems, job, rounds);

const lines = [
  "# Prebuilt CPU variants against the build for this machine",
  "",
  `- main \`main-q8_0.gguf\`, 2 threads, context 2048, ${prompts.length} prompts, ${rounds} rounds, greedy`,
  `- machine: ${machineLine()}`,
  `- command: \`node bench/prebuilds.mjs ${process.argv.slice(2).join(" ")}\``,
  "",
  "Speedups (per round: median over the prompts of a kind; then median and range over rounds; min = the lowest single prompt of any round):",
  "",
  "| ratio | kind | per round | median | min prompt |",
  "| --- | --- | --- | --- | --- |",
];
for (const v of variants) {
  for (const mode of ["plain", "lookup"]) lines.push(...ratioRows(results, prompts, `${v} ${mode}`, `native ${mode}`));
}
fs.mkdirSync(path.dirname(opt.out), { recursive: true });
fs.writeFileSync(opt.out, lines.join("\n") + "\n");
console.log(lines.join("\n"));
