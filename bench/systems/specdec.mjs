#!/usr/bin/env node
// Benchmark runner for specdec: reads a JSON job from argv[2] ({model, draft?, draftMaxTokens?, draftAdaptive?, draftMinConfidence?, draftGreedy?, drafters?,
// prompts, threads, ctx, temperature, seed}), generates each prompt and prints one JSON line per
// prompt.
import fs from "node:fs";

import { loadModel, openDatastore } from "../../dist/index.js";

const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const model = await loadModel(job.model);
const draft = job.draft ? await loadModel(job.draft) : undefined;
// A retrieval drafter names its datastore by path ({ type: "retrieval", storePath }).
const drafters = job.drafters
  ? await Promise.all(job.drafters.map(async (d) => (d.storePath ? { ...d, storePath: undefined, store: await openDatastore(d.storePath) } : d)))
  : [];
for (const p of job.prompts) {
  // A fresh session per prompt: what a prompt gets does not depend on the ones before it.
  const session = await model.createSession({
    contextSize: job.ctx,
    threads: job.threads,
    draft: draft ? { model: draft, maxTokens: job.draftMaxTokens, adaptive: job.draftAdaptive ?? true, minConfidence: job.draftMinConfidence, greedy: job.draftGreedy } : undefined,
    drafters,
  });
  const r = await session.complete(p.prompt, { maxTokens: p.n_predict, temperature: job.temperature, seed: job.seed ?? 1 });
  const s = r.stats;
  console.log(
    JSON.stringify({
      id: p.id,
      tokens: s.generatedTokens,
      ms: s.generationMs,
      tps: s.tokensPerSecond,
      acceptance: s.acceptanceRate,
      drafted: s.drafted,
      tokensPerStep: s.tokensPerStep,
      draftMs: s.draftMs,
      mainMs: s.mainMs,
      text: r.text,
    }),
  );
  session.dispose();
}
draft?.dispose();
model.dispose();
