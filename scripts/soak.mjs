#!/usr/bin/env node
// The long reliability run (test/reliability.test.ts is its short version): on main-q8_0 with
// draft-q8_0, N generations in a loop (a fresh session every third, greedy and sampled, with and
// without drafts) with the resident memory recorded along the way; an abort storm (aborts at
// random points of many generations); 32 sessions at once checked against single-session greedy
// text; the event loop's worst delay over all of it. Prints one JSON summary.
//
//   node --expose-gc scripts/soak.mjs [--generations 1000] [--aborts 500]
import { monitorEventLoopDelay } from "node:perf_hooks";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { loadModel, SpecdecError } = await import(path.join(root, "dist/index.js"));
const { values: opt } = parseArgs({
  options: { generations: { type: "string", default: "1000" }, aborts: { type: "string", default: "500" } },
});
const models = path.resolve(root, "../shared/models");
const PROMPTS = ["def fibonacci(n):\n", "import os\nimport sys\n\n", "class Stack:\n    def __init__(self):\n", "for i in range("];

const delay = monitorEventLoopDelay({ resolution: 5 });
delay.enable();
const model = await loadModel(path.join(models, "main-q8_0.gguf"));
const draft = await loadModel(path.join(models, "draft-q8_0.gguf"));
const mib = () => Math.round(process.memoryUsage().rss / 2 ** 20);
const summary = {};

// 1. Generations in a loop: the resident memory curve.
{
  const n = Number(opt.generations);
  const curve = [];
  const reused = await model.createSession({ contextSize: 256, threads: 2, draft: { model: draft } });
  const start = Date.now();
  for (let i = 0; i < n; i++) {
    const options = { maxTokens: 16, temperature: i % 2 ? 0.8 : 0, seed: i };
    if (i % 3 === 0) {
      const s = await model.createSession({ contextSize: 256, threads: 2, ...(i % 2 ? { draft: { model: draft } } : { drafters: [] }) });
      await s.complete(PROMPTS[i % PROMPTS.length], options);
      s.dispose();
    } else {
      await reused.complete(PROMPTS[i % PROMPTS.length], options);
    }
    if (i % Math.max(1, Math.floor(n / 10)) === 0 || i === n - 1) {
      delay.disable();  // a forced full collection blocks the loop by itself: not ours to count
      globalThis.gc?.();
      curve.push(mib());
      delay.enable();
    }
  }
  reused.dispose();
  summary.generations = { count: n, seconds: Math.round((Date.now() - start) / 1000), rssMiB: curve };
}

// 2. Abort storm.
{
  const n = Number(opt.aborts);
  const session = await model.createSession({ contextSize: 256, threads: 2, draft: { model: draft } });
  let aborted = 0;
  let finished = 0;
  let seed = 11;
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let i = 0; i < n; i++) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), Math.floor(random() * 250));
    try {
      await session.complete(PROMPTS[i % PROMPTS.length], { maxTokens: 64, temperature: i % 2 ? 0.8 : 0, seed: i, signal: controller.signal });
      finished++;
    } catch (err) {
      if (!(err instanceof SpecdecError) || err.code !== "ABORTED") throw err;
      aborted++;
    } finally {
      clearTimeout(timer);
    }
  }
  session.dispose();
  summary.aborts = { generations: n, aborted, finished, rssMiB: mib() };
}

// 3. 32 sessions at once against single-session greedy text.
{
  const single = await model.createSession({ contextSize: 256, threads: 2, drafters: [] });
  const expected = [];
  for (const p of PROMPTS) expected.push((await single.complete(p, { maxTokens: 32, temperature: 0 })).text);
  single.dispose();
  const kinds = [{ drafters: [] }, {}, { draft: { model: draft } }, { draft: { model: draft }, drafters: [] }];
  const texts = await Promise.all(
    Array.from({ length: 32 }, async (_, i) => {
      const s = await model.createSession({ contextSize: 256, batchSize: 64, threads: 1, ...kinds[(i >> 2) % 4] });
      const r = await s.complete(PROMPTS[i % 4], { maxTokens: 32, temperature: 0 });
      s.dispose();
      return r.text === expected[i % 4];
    }),
  );
  summary.concurrent = { sessions: 32, sameAsSingle: texts.filter(Boolean).length };
}

delay.disable();
summary.worstEventLoopDelayMs = Math.round(delay.max / 1e5) / 10;
model.dispose();
draft.dispose();
console.log(JSON.stringify(summary));
