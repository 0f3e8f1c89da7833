#!/usr/bin/env node
// Benchmark runner for specdec: reads a JSON job from argv[2] ({model, prompts, threads, ctx}),
// generates each prompt greedily and prints one JSON line per prompt.
import fs from "node:fs";

import { loadModel } from "../../dist/index.js";

const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const model = await loadModel(job.model);
const session = await model.createSession({ contextSize: job.ctx, threads: job.threads });
for (const p of job.prompts) {
  const r = await session.complete(p.prompt, { maxTokens: p.n_predict, temperature: 0 });
  const s = r.stats;
  console.log(JSON.stringify({ id: p.id, tokens: s.generatedTokens, ms: s.generationMs, tps: s.tokensPerSecond, text: r.text }));
}
session.dispose();
model.dispose();
