#!/usr/bin/env node
// Benchmark runner for node-llama-cpp 3.21.1 (installed by the benchmarks into bench/.peer):
// completion of each prompt, optionally with its DraftSequenceTokenPredictor (job.draft) or its
// InputLookupTokenPredictor (job.inputLookup); tokens/s from the first generated token to the last.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

const peer = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../.peer");
const require = createRequire(path.join(peer, "package.json"));
const { getLlama, LlamaCompletion, DraftSequenceTokenPredictor, InputLookupTokenPredictor } = await import(
  pathToFileURL(require.resolve("node-llama-cpp")).href
);

// With a token predictor, disposing a sequence can race with the predictor's evaluation still
// under way, which then rejects with DisposedError from inside node-llama-cpp, unhandled, after
// the prompt's result is out: that one error is not the benchmark's failure.
const ignoreDisposed = (err) => {
  if (err?.constructor?.name === "DisposedError") return;
  console.error(err);
  process.exit(1);
};
process.on("uncaughtException", ignoreDisposed);
process.on("unhandledRejection", ignoreDisposed);

const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath: job.model });
const context = await model.createContext({ contextSize: job.ctx, threads: job.threads });
const draftModel = job.draft ? await llama.loadModel({ modelPath: job.draft }) : undefined;
const draftContext = draftModel ? await draftModel.createContext({ contextSize: job.ctx, threads: job.threads }) : undefined;
for (const p of job.prompts) {
  const tokenPredictor = draftContext
    ? new DraftSequenceTokenPredictor(draftContext.getSequence(), { maxTokens: job.draftMaxTokens ?? 8 })
    : job.inputLookup
      ? new InputLookupTokenPredictor()
      : undefined;
  const sequence = context.getSequence(tokenPredictor ? { tokenPredictor } : undefined);
  const completion = new LlamaCompletion({ contextSequence: sequence });
  let first = 0;
  let last = 0;
  let n = 0;
  const text = await completion.generateCompletion(p.prompt, {
    maxTokens: p.n_predict,
    temperature: job.temperature,
    seed: job.seed ?? 1,
    onToken(tokens) {
      const now = performance.now();
      if (n === 0) first = now;
      last = now;
      n += tokens.length;
    },
  });
  const ms = last - first;
  console.log(JSON.stringify({ id: p.id, tokens: n, ms, tps: n > 1 ? ((n - 1) * 1000) / ms : 0, text }));
  sequence.dispose();
}
await draftContext?.dispose();
await draftModel?.dispose();
await context.dispose();
await model.dispose();
