// Reliability under load and faults, on the real models: many sessions generating at once give
// the same greedy text as one alone; aborts at random points, disposing sessions and models
// mid-generation all end in typed errors and leave everything working; the event loop stays
// responsive; repeated generations do not grow memory. Longer runs: scripts/soak.mjs.
import fs from "node:fs";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel, SpecdecError, type Model, type SessionOptions } from "../lib/index.js";
import { addon } from "../lib/native.js";
import { tempDir } from "./helpers/env.js";
import { MAIN, sharedModels } from "./helpers/shared.js";
import { plainGreedy } from "./helpers/plain.js";

/** The native objects alive, once two readings 50 ms apart agree. */
async function steadyLiveObjects(): Promise<{ models: number; sessions: number }> {
  let last = addon.liveObjects();
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const now = addon.liveObjects();
    if (now.models === last.models && now.sessions === last.sessions) return now;
    last = now;
  }
  return last;
}

const PROMPTS = ["def fibonacci(n):\n", "import os\nimport sys\n\n", "class Stack:\n    def __init__(self):\n", "for i in range("];

describe("reliability (main-q8_0)", () => {
  let model: Model;
  let draft: Model;
  const expected = new Map<string, string>();

  beforeAll(async () => {
    model = await loadModel(MAIN);
    draft = await loadModel(`${sharedModels}/draft-q8_0.gguf`);
    const plain = await plainGreedy(model, PROMPTS.map((prompt) => ({ prompt, maxTokens: 24 })), 256);
    PROMPTS.forEach((p, i) => expected.set(p, plain[i].text));
  });
  afterAll(() => {
    model.dispose();
    draft.dispose();
  });

  it("32 sessions generating at once (plain, lookup, draft model) give the single-session text", async () => {
    const kinds: SessionOptions[] = [{ drafters: [] }, {}, { draft: { model: draft } }, { draft: { model: draft }, drafters: [] }];
    const runs = Array.from({ length: 32 }, async (_, i) => {
      const prompt = PROMPTS[i % PROMPTS.length];
      const session = await model.createSession({ contextSize: 256, batchSize: 64, threads: 1, ...kinds[(i >> 2) % kinds.length] });
      try {
        return { prompt, text: (await session.complete(prompt, { maxTokens: 24, temperature: 0 })).text };
      } finally {
        session.dispose();
      }
    });
    const results = await Promise.all(runs);
    for (const r of results) expect(r.text).toBe(expected.get(r.prompt));
  });

  it("sessions waiting for the CPU hold no libuv thread: with 8 generating and the pool of 4, file reads still complete at once", async () => {
    const file = path.join(tempDir(), "small.txt");
    fs.writeFileSync(file, "x".repeat(100));
    const sessions = await Promise.all(Array.from({ length: 8 }, () => model.createSession({ contextSize: 256, threads: 1, drafters: [] })));
    let running = true;
    const runs = sessions.map(async (s, i) => {
      const r = await s.complete(PROMPTS[i % PROMPTS.length], { maxTokens: 24, temperature: 0 });
      return r.text;
    });
    const all = Promise.all(runs).finally(() => (running = false));
    await new Promise((r) => setTimeout(r, 50));
    const reads: number[] = [];
    while (running && reads.length < 20) {
      const t0 = performance.now();
      await fs.promises.readFile(file);
      reads.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 5));
    }
    const texts = await all;
    texts.forEach((t, i) => expect(t).toBe(expected.get(PROMPTS[i % PROMPTS.length])));
    sessions.forEach((s) => s.dispose());
    expect(reads.length).toBeGreaterThan(3); // read while the sessions were generating
    reads.sort((a, b) => a - b);
    // measured: 0.1-0.5 ms (a step's turn waits off the pool); when waiting held pool threads, a
    // read queued behind the steps
    expect(reads[Math.floor(reads.length / 2)]).toBeLessThan(20);
  });

  it("aborts at random points end in ABORTED (or a finished text) and the session goes on working", async () => {
    const session = await model.createSession({ contextSize: 256, threads: 2, draft: { model: draft } });
    let aborted = 0;
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let i = 0; i < 60; i++) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), Math.floor(random() * 40));
      try {
        const r = await session.complete(PROMPTS[i % PROMPTS.length], { maxTokens: 64, temperature: i % 2 ? 0.8 : 0, seed: i, signal: controller.signal });
        expect(r.tokens.length).toBeGreaterThan(0);
      } catch (err) {
        expect(err).toBeInstanceOf(SpecdecError);
        expect((err as SpecdecError).code).toBe("ABORTED");
        aborted++;
      } finally {
        clearTimeout(timer);
      }
    }
    expect(aborted).toBeGreaterThan(10);
    const after = await session.complete(PROMPTS[0], { maxTokens: 24, temperature: 0 });
    expect(after.text).toBe(expected.get(PROMPTS[0]));
    session.dispose();
  });

  it("disposing a session, or its model, mid-generation gives DISPOSED; other models are untouched", async () => {
    const session = await model.createSession({ contextSize: 256, threads: 2 });
    const run = session.complete(PROMPTS[1], { maxTokens: 200, temperature: 0 });
    await new Promise((r) => setTimeout(r, 5));
    session.dispose();
    await expect(run).rejects.toMatchObject({ code: "DISPOSED" });

    // what was disposed before is freed on the pool a moment later: count once that has settled
    const before = await steadyLiveObjects();
    const other = await loadModel(MAIN);
    const sessions = await Promise.all([0, 1, 2].map(() => other.createSession({ contextSize: 256, threads: 1, draft: { model: draft } })));
    expect(addon.liveObjects()).toEqual({ models: before.models + 1, sessions: before.sessions + 3 });
    const runs = sessions.map((s, i) => s.complete(PROMPTS[i], { maxTokens: 200, temperature: 0 }));
    await new Promise((r) => setTimeout(r, 10));
    other.dispose();
    const settled = await Promise.allSettled(runs);
    for (const r of settled) {
      if (r.status === "rejected") expect(r.reason).toMatchObject({ code: "DISPOSED" });
    }
    expect(settled.some((r) => r.status === "rejected")).toBe(true); // 200 tokens take longer than 10 ms
    await expect(other.createSession()).rejects.toMatchObject({ code: "DISPOSED" });
    // the native model and its sessions are freed, not only their handles (freeing runs on the pool)
    await expect.poll(() => addon.liveObjects(), { timeout: 5000 }).toEqual(before);
    // the draft model, shared with the disposed model's sessions, and the first model still work
    const s2 = await model.createSession({ contextSize: 256, threads: 2, draft: { model: draft } });
    expect((await s2.complete(PROMPTS[2], { maxTokens: 24, temperature: 0 })).text).toBe(expected.get(PROMPTS[2]));
    s2.dispose();
  });

  it("disposing a model while sessions are being created: each of them DISPOSED, none left alive", async () => {
    const other = await loadModel(MAIN);
    const pending = Array.from({ length: 6 }, () => other.createSession({ contextSize: 256, threads: 1 }));
    other.dispose();
    for (const r of await Promise.allSettled(pending)) {
      expect(r.status).toBe("rejected");
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: "DISPOSED" });
    }
  });

  it("keeps the event loop responsive while generating, loading and tokenizing", async () => {
    const histogram = monitorEventLoopDelay({ resolution: 5 });
    histogram.enable();
    const work = [
      (async () => {
        const m = await loadModel(MAIN);
        m.dispose();
      })(),
      model.tokenize("x = 1\n".repeat(20000)),
      ...[0, 1].map(async (i) => {
        const s = await model.createSession({ contextSize: 512, threads: 1, draft: { model: draft } });
        await s.complete(PROMPTS[i], { maxTokens: 128, temperature: 0 });
        s.dispose();
      }),
    ];
    await Promise.all(work);
    histogram.disable();
    const worstMs = histogram.max / 1e6;
    console.log(`worst event-loop delay: ${worstMs.toFixed(1)} ms (p99 ${(histogram.percentile(99) / 1e6).toFixed(1)} ms)`);
    // Everything heavy runs on the thread pool; what is left on the loop is bookkeeping. The bound
    // leaves room for a noisy two-core machine; the measured figure is printed.
    expect(worstMs).toBeLessThan(100);
  });

  it("repeated generations do not grow memory", async () => {
    const rss: number[] = [];
    const session = await model.createSession({ contextSize: 256, threads: 2 });
    for (let i = 0; i < 150; i++) {
      if (i % 3 === 0) {
        // a fresh session now and then, as well as reuse of one
        const s = await model.createSession({ contextSize: 256, threads: 2, draft: { model: draft } });
        await s.complete(PROMPTS[i % PROMPTS.length], { maxTokens: 8, temperature: 0.8, seed: i });
        s.dispose();
      } else {
        await session.complete(PROMPTS[i % PROMPTS.length], { maxTokens: 8, temperature: 0.8, seed: i });
      }
      if (i % 10 === 9) rss.push(process.memoryUsage().rss / 2 ** 20);
    }
    session.dispose();
    console.log(`RSS over 150 generations (MiB, every 10): ${rss.map((x) => x.toFixed(0)).join(" ")}`);
    // The allocator settles in the first 50 or so; after that a leaked context (its KV cache and
    // compute buffers, several MiB each, 50 fresh sessions) would keep the curve climbing.
    expect(rss[rss.length - 1] - rss[4]).toBeLessThan(10);
  });
});

describe("model files changed while loaded", () => {
  const prompt = PROMPTS[0];

  async function generateWhile(file: string, mmap: boolean, change: () => void): Promise<string> {
    const model = await loadModel(file, { mmap });
    try {
      const session = await model.createSession({ contextSize: 256, threads: 1, drafters: [] });
      let text = "";
      let chunks = 0;
      for await (const chunk of session.generate(prompt, { maxTokens: 48, temperature: 0 })) {
        text += chunk.text;
        if (++chunks === 2) change();
      }
      session.dispose();
      return text;
    } finally {
      model.dispose();
    }
  }

  it("replaced by renaming a new file over it (how downloads land), or read into memory (mmap: false) and truncated or overwritten: generation goes on, same text", async () => {
    const reference = await loadModel(MAIN);
    const [expected] = await plainGreedy(reference, [{ prompt, maxTokens: 48 }], 256);
    reference.dispose();
    const dir = tempDir();
    const file = path.join(dir, "main.gguf");
    const other = path.join(dir, "other.gguf");
    fs.copyFileSync(MAIN, file);
    fs.copyFileSync(`${sharedModels}/tiny-q8_0.gguf`, other);
    // mapped (the default): a new file renamed into place leaves the mapped one intact
    expect(await generateWhile(file, true, () => fs.renameSync(other, file))).toBe(expected.text);
    // read into memory: the file may be truncated or overwritten in place
    fs.copyFileSync(MAIN, file);
    expect(await generateWhile(file, false, () => fs.truncateSync(file, 4096))).toBe(expected.text);
    fs.copyFileSync(MAIN, file);
    expect(await generateWhile(file, false, () => fs.writeFileSync(file, Buffer.alloc(1 << 20, 0xff)))).toBe(expected.text);
  }, 60_000);
});
