#!/usr/bin/env node
// Benchmark runner for node-llama-cpp 3.21.1 (installed by bench/plain.mjs into bench/.peer):
// greedy completion of each prompt; tokens/s from the first generated token to the last.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

const peer = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../.peer");
const require = createRequire(path.join(peer, "package.json"));
const { getLlama, LlamaCompletion } = await import(pathToFileURL(require.resolve("node-llama-cpp")).href);

const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath: job.model });
const context = await model.createContext({ contextSize: job.ctx, threads: job.threads });
for (const p of job.prompts) {
  const sequence = context.getSequence();
  const completion = new LlamaCompletion({ contextSequence: sequence });
  let first = 0;
  let last = 0;
  let n = 0;
  const text = await completion.generateCompletion(p.prompt, {
    maxTokens: p.n_predict,
    temperature: 0,
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
await context.dispose();
await model.dispose();
