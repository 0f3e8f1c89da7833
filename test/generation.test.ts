// Generation on the shared main model: tokenizer round trips, sampling, streaming, abort, stop
// sequences, prefix reuse, and an event loop that keeps running.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel, SpecdecError, type Model } from "../lib/index.js";
import { MAIN } from "./helpers/shared.js";
import { expectCode } from "./helpers/expect.js";

// The step in flight when a session is disposed either is cut short (DISPOSED at once) or
// finishes and yields its chunk (DISPOSED on the next call).
async function expectDisposed(iterator: AsyncGenerator<unknown>, pending: Promise<IteratorResult<unknown>>) {
  const first = await pending.then(
    (r) => r,
    (e) => e,
  );
  if (first instanceof Error) {
    expect(first).toMatchObject({ code: "DISPOSED" });
  } else {
    expect(first.done).toBe(false);
    await expect(iterator.next()).rejects.toMatchObject({ code: "DISPOSED" });
  }
}

describe("main-q8_0", () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(MAIN);
  });
  afterAll(() => model.dispose());

  describe("tokenizer", () => {
    const texts = [
      "",
      "hello world",
      "def f(x):\n    if x:\n\t\treturn  x  # two spaces\n",
      "中文字符 日本語 한국어",
      "emoji 😀👍🏽 and ZWJ 👩‍💻",
      "  leading and trailing  ",
    ];
    for (const text of texts) {
      it(`round-trips ${JSON.stringify(text).slice(0, 30)}`, async () => {
        const tokens = await model.tokenize(text);
        expect(tokens[0]).toBe(model.info.specialTokens.bos);
        expect(await model.detokenize(tokens)).toBe(text);
        expect(await model.detokenize(await model.tokenize(text, { addBos: false }))).toBe(text);
      });
    }

    it("parses special tokens only when asked", async () => {
      expect(await model.tokenize("</s>", { addBos: false, specialTokens: true })).toEqual([2]);
      expect((await model.tokenize("</s>", { addBos: false })).length).toBeGreaterThan(1);
      expect(await model.detokenize([1, 2], { specialTokens: true })).toBe("<s></s>");
      expect(model.isEndOfGeneration(2)).toBe(true);
      expect(model.isEndOfGeneration(822)).toBe(false);
      expect(model.tokenPiece(822)).toBe(" def");
    });
  });

  it("greedy decoding is deterministic across sessions", async () => {
    const a = await model.createSession({ contextSize: 512, threads: 2 });
    const b = await model.createSession({ contextSize: 512, threads: 2 });
    const ra = await a.complete("class Stack:\n", { maxTokens: 48, temperature: 0 });
    const rb = await b.complete("class Stack:\n", { maxTokens: 48, temperature: 0 });
    expect(ra.tokens).toHaveLength(48);
    expect(rb.tokens).toEqual(ra.tokens);
    expect(ra.text).toBe(ra.tokens.map((t) => model.tokenPiece(t)).join(""));
    a.dispose();
    b.dispose();
  });

  it("seeded sampling reproduces; different seeds differ", async () => {
    const session = await model.createSession({ contextSize: 512, threads: 2 });
    const opts = { maxTokens: 40, temperature: 1.0, topK: 0, topP: 1, minP: 0 };
    const a = await session.complete("def main():\n", { ...opts, seed: 42 });
    const b = await session.complete("def main():\n", { ...opts, seed: 42 });
    expect(b.tokens).toEqual(a.tokens);
    const others = await Promise.all(
      [1, 2, 3].map(async (seed) => {
        const s = await model.createSession({ contextSize: 512, threads: 2 });
        const r = await s.complete("def main():\n", { ...opts, seed });
        s.dispose();
        return r.tokens.join(",");
      }),
    );
    expect(new Set([a.tokens.join(","), ...others]).size).toBeGreaterThan(1);
    session.dispose();
  });

  it("logprobs: log softmax of the main model's logits, the same with drafting as without", async () => {
    const draft = await loadModel(MAIN.replace("main-q8_0", "draft-q8_0"));
    const prompt = "import os\n\ndef list_files(path):\n";
    const plain = await model.createSession({ contextSize: 512, drafters: [] });
    const spec = await model.createSession({ contextSize: 512, draft: { model: draft, maxTokens: 4, adaptive: false } });
    const a = await plain.complete(prompt, { maxTokens: 40, temperature: 0, logprobs: 3 });
    const b = await spec.complete(prompt, { maxTokens: 40, temperature: 0, logprobs: 3 });
    expect(b.tokens).toEqual(a.tokens);
    expect(spec.stats.accepted).toBeGreaterThan(0);
    expect(b.logprobs).toEqual(a.logprobs);  // verification rows are bit-identical to single steps
    expect(a.logprobs).toHaveLength(a.tokens.length);
    // greedy: each token is the likeliest, and its logprob is log softmax of the logits there
    const ids = await model.tokenize(prompt);
    const logits = await plain.evaluateLogits([...ids, ...a.tokens.slice(0, 4)]);
    for (let i = 0; i < 4; i++) {
      const lp = a.logprobs![i];
      expect(lp.top).toHaveLength(3);
      expect(lp.top[0]).toEqual({ token: a.tokens[i], logprob: lp.logprob });
      const row = logits.subarray((ids.length - 1 + i) * model.vocabSize, (ids.length + i) * model.vocabSize);
      const max = Math.max(...row);
      const logZ = max + Math.log(row.reduce((sum, l) => sum + Math.exp(l - max), 0));
      expect(lp.logprob).toBeCloseTo(row[a.tokens[i]] - logZ, 4);
    }
    expect((await plain.complete(prompt, { maxTokens: 4 })).logprobs).toBeUndefined();
    await expectCode(plain.complete(prompt, { logprobs: 21 }), "INVALID_ARGUMENT");
    plain.dispose();
    spec.dispose();
    draft.dispose();
  });

  it("streams in several chunks whose text adds up", async () => {
    const session = await model.createSession({ contextSize: 512, threads: 2 });
    const chunks = [];
    for await (const chunk of session.generate("import os\n", { maxTokens: 100, temperature: 0 })) chunks.push(chunk);
    expect(chunks.length).toBeGreaterThan(1);
    const tokens = chunks.flatMap((c) => c.tokens);
    expect(tokens).toHaveLength(100);
    expect(chunks.map((c) => c.text).join("")).toBe(tokens.map((t) => model.tokenPiece(t)).join(""));
    expect(session.stats.stopReason).toBe("maxTokens");
    expect(session.stats.generatedTokens).toBe(100);
    expect(session.stats.tokensPerSecond).toBeGreaterThan(0);
    session.dispose();
  });

  it("stops at a stop sequence and leaves it out", async () => {
    const session = await model.createSession({ contextSize: 512, threads: 2 });
    const full = await session.complete("def fib(n):", { maxTokens: 40, temperature: 0 });
    expect(full.text).toContain("return");
    const cut = await session.complete("def fib(n):", { maxTokens: 40, temperature: 0, stop: ["return"] });
    expect(cut.stats.stopReason).toBe("stop");
    expect(cut.text).toBe(full.text.slice(0, full.text.indexOf("return")));
    session.dispose();
  });

  it("reuses the KV cache for a shared prompt prefix, with the same output", async () => {
    const session = await model.createSession({ contextSize: 1024, threads: 2 });
    const base = "import os\nimport sys\n\n\ndef read_config(path):\n";
    const first = await session.complete(base, { maxTokens: 24, temperature: 0 });
    const extended = base + first.text + "\n\ndef write_config(path, data):\n";
    const second = await session.complete(extended, { maxTokens: 24, temperature: 0 });
    const baseTokens = await model.tokenize(base);
    expect(second.stats.reusedTokens).toBeGreaterThanOrEqual(baseTokens.length);
    const fresh = await model.createSession({ contextSize: 1024, threads: 2 });
    const reference = await fresh.complete(extended, { maxTokens: 24, temperature: 0 });
    expect(reference.stats.reusedTokens).toBe(0);
    expect(second.tokens).toEqual(reference.tokens);
    session.dispose();
    fresh.dispose();
  });

  it("aborts mid-generation through an AbortSignal, and the session still works", async () => {
    const session = await model.createSession({ contextSize: 1024, threads: 2 });
    const controller = new AbortController();
    let received = 0;
    let error: unknown;
    try {
      for await (const chunk of session.generate("import os\n", { maxTokens: 500, temperature: 0, signal: controller.signal })) {
        received += chunk.tokens.length;
        if (received >= 10) controller.abort(new Error("enough"));
      }
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SpecdecError);
    expect((error as SpecdecError).code).toBe("ABORTED");
    expect(received).toBeLessThan(200);
    expect(session.stats.stopReason).toBe("aborted");
    const after = await session.complete("import os\n", { maxTokens: 8, temperature: 0 });
    expect(after.tokens).toHaveLength(8);
    // an already aborted signal rejects at once
    await expect(session.complete("x", { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: "ABORTED" });
    session.dispose();
  });

  it("keeps the event loop responsive while generating", async () => {
    const session = await model.createSession({ contextSize: 1024, threads: 2 });
    let last = performance.now();
    let worst = 0;
    let ticks = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      worst = Math.max(worst, now - last);
      last = now;
      ticks++;
    }, 5);
    const start = performance.now();
    // a long prompt too: its evaluation is split into chunks as well
    await session.complete("import os\n".repeat(150), { maxTokens: 150, temperature: 0 });
    const elapsed = performance.now() - start;
    clearInterval(timer);
    console.log(`event loop: ${ticks} ticks in ${elapsed.toFixed(0)} ms, worst gap ${worst.toFixed(1)} ms`);
    expect(ticks).toBeGreaterThan(elapsed / 5 / 4);
    expect(worst).toBeLessThan(250);
    session.dispose();
  });

  it("a second generation on a busy session", async () => {
    const session = await model.createSession({ contextSize: 512, threads: 2 });
    const first = session.generate("the", { maxTokens: 200, temperature: 0 });
    await first.next();
    const inFlight = first.next(); // a step is running now
    await expectCode(session.generate("the", { maxTokens: 2 }).next(), "BUSY");
    await inFlight;
    // between steps, a new generation supersedes the suspended one
    const second = session.complete("the", { maxTokens: 3, temperature: 0 });
    await expectCode(first.next(), "ABORTED", /superseded/);
    expect((await second).tokens.length).toBe(3);
    session.dispose();
  });

  it("dispose during generation ends it with DISPOSED and the process carries on", async () => {
    const session = await model.createSession({ contextSize: 1024, threads: 2 });
    const iterator = session.generate("import os\n", { maxTokens: 400, temperature: 0 });
    await iterator.next();
    const pending = iterator.next();
    session.dispose();
    await expectDisposed(iterator, pending);
    const other = await model.createSession({ contextSize: 256, threads: 2 });
    expect((await other.complete("x", { maxTokens: 3, temperature: 0 })).tokens).toHaveLength(3);
    other.dispose();
  });

  it("disposing the model disposes its sessions; a running step still finishes safely", async () => {
    const m = await loadModel(MAIN);
    const session = await m.createSession({ contextSize: 512, threads: 2 });
    const iterator = session.generate("import os\n", { maxTokens: 300, temperature: 0 });
    await iterator.next();
    const pending = iterator.next();
    m.dispose();
    expect(session.disposed).toBe(true);
    await expectDisposed(iterator, pending);
  });
});
