// Two builds of the addon side by side in one process: each .node file loaded on its own
// (process.dlopen keeps their symbols apart), a session of the same model from each, and the cost
// of an evaluation of n tokens (V(n), all logits, at a context depth) measured in turns. The ratio
// B/A is taken turn by turn, so the machine's drift cancels: on this noisy 2-core machine the
// spread is a few percent, where separate processes differ by 20%.
//
//   cp build/Release/specdec.node /tmp/a.node   # before a change
//   ... rebuild ...
//   node bench/ab-builds.mjs --model M.gguf --a /tmp/a.node --b build/Release/specdec.node [--sizes 1,2,5,9] [--turns 15] [--depth 400]
import path from "node:path";
import { parseArgs } from "node:util";

import { median } from "./lib.mjs";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    a: { type: "string" },
    b: { type: "string" },
    sizes: { type: "string", default: "1,2,5,9" },
    turns: { type: "string", default: "15" },
    depth: { type: "string", default: "400" },
    threads: { type: "string", default: "2" },
  },
});
if (!values.model || !values.a || !values.b) {
  console.error("usage: node bench/ab-builds.mjs --model <gguf> --a <addon.node> --b <addon.node> [--sizes 1,2,5,9] [--turns 15] [--depth 400] [--threads 2]");
  process.exit(2);
}
const sizes = values.sizes.split(",").map(Number);
const depth = Number(values.depth);

async function session(file) {
  const module = { exports: {} };
  process.dlopen(module, path.resolve(file));
  const model = await module.exports.loadModel(values.model, { gpuLayers: -1, mmap: true });
  const s = await model.createSession({ contextSize: Math.max(2048, depth + 256), threads: Number(values.threads) });
  await s.measureDecode({ depth, sizes, repeats: 3 }); // warm-up
  return s;
}

const builds = [await session(values.a), await session(values.b)];
const times = builds.map(() => sizes.map(() => []));
for (let t = 0; t < Number(values.turns); t++) {
  for (const [i, s] of builds.entries()) {
    (await s.measureDecode({ depth, sizes, repeats: 5 })).forEach((ms, j) => times[i][j].push(ms));
  }
}
const spread = (xs) => `${Math.min(...xs).toFixed(3)}-${Math.max(...xs).toFixed(3)}`;
console.log(`${path.basename(values.model)}, depth ${depth}, ${values.threads} threads, ${values.turns} turns of 5 repeats`);
console.log("| n | A ms | B ms | B/A (median of turns) | B/A range |");
console.log("| --- | --- | --- | --- | --- |");
sizes.forEach((n, j) => {
  const ratios = times[1][j].map((b, t) => b / times[0][j][t]);
  console.log(`| ${n} | ${median(times[0][j]).toFixed(2)} | ${median(times[1][j]).toFixed(2)} | ${median(ratios).toFixed(3)} | ${spread(ratios)} |`);
});
process.exit(0);
