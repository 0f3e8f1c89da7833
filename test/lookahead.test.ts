// The lookahead drafter (Jacobi iteration over a window of guesses, in the verification batch, with
// an n-gram pool): its window's tokens never reach the output (greedy: token-identical to plain
// decoding, alone and with lookup in one tree; sampling: the main model's distribution), it does
// propose and get drafts kept, and bad options.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel, setNumerics, type Model } from "../lib/index.js";
import { tinyModel } from "./helpers/env.js";
import { benchPrompts, MAIN } from "./helpers/shared.js";
import { expectCode } from "./helpers/expect.js";
import { plainGreedy } from "./helpers/plain.js";
import { chiSquare, softmax } from "./helpers/stats.js";

describe("greedy decoding with the lookahead drafter on the shared models", () => {
  let main: Model;
  beforeAll(async () => {
    setNumerics("exact");
    main = await loadModel(MAIN);
  });
  afterAll(() => main.dispose());

  it("token-identical to plain greedy on every prompt, alone and with lookup in one tree", async () => {
    const prompts = benchPrompts();
    const expected = (await plainGreedy(main, prompts.map((p) => ({ prompt: p.prompt, maxTokens: p.n_predict })))).map((r) => r.tokens);
    for (const drafters of [
      [{ type: "lookahead" as const }],
      [{ type: "lookahead" as const, window: 6, ngram: 4, candidates: 3 }, { type: "lookup" as const }],
    ]) {
      const session = await main.createSession({ contextSize: 2048, threads: 2, drafters });
      // Every prompt alone; every third with lookup (the window makes batches slow on a CPU).
      for (const [i, p] of prompts.entries()) {
        if (drafters.length > 1 && i % 3 !== 0) continue;
        const r = await session.complete(p.prompt, { maxTokens: p.n_predict, temperature: 0 });
        expect(r.tokens, p.id).toEqual(expected[i]);
      }
      const t = session.totals;
      const mine = t.drafters.find((d) => d.name === "lookahead")!;
      console.log(`${JSON.stringify(drafters)}: ${JSON.stringify(t.drafters)}, ${t.tokensPerStep.toFixed(2)} tokens per step`);
      expect(mine.proposed).toBeGreaterThan(0);
      expect(mine.accepted).toBeGreaterThan(0);
      session.dispose();
    }
  });
});

describe("sampling with the lookahead drafter keeps the main model's distribution (tiny model)", () => {
  const N = 3000;
  const T = 2;
  let main: Model;
  let prompt: number[];
  const first = new Map<number, number>();
  beforeAll(async () => {
    main = await loadModel(tinyModel({ seed: 41 }));
    prompt = await main.tokenize("the def the");
    const scorer = await main.createSession({ contextSize: 64, drafters: [] });
    const logits = await scorer.evaluateLogits(prompt);
    softmax(logits.subarray((prompt.length - 1) * main.vocabSize), T).forEach((p, t) => p > 0 && first.set(t, p));
    scorer.dispose();
  });
  afterAll(() => main.dispose());

  it("the first token follows p, with the window in every batch", async () => {
    const session = await main.createSession({ contextSize: 64, drafters: [{ type: "lookahead", window: 3, ngram: 3 }] });
    const c1 = new Map<number, number>();
    for (let seed = 0; seed < N; seed++) {
      const r = await session.complete(prompt, { maxTokens: 4, temperature: T, topK: 0, topP: 1, minP: 0, seed });
      c1.set(r.tokens[0], (c1.get(r.tokens[0]) ?? 0) + 1);
    }
    const t = chiSquare(c1, first, N);
    const totals = session.totals;
    console.log(`lookahead sampling: ${JSON.stringify(totals.drafters)}; first chi2 ${t.stat.toFixed(1)} df ${t.df} p ${t.pValue.toFixed(4)}`);
    expect(totals.drafters[0].proposed).toBeGreaterThan(0);
    expect(t.pValue).toBeGreaterThan(0.001);
    session.dispose();
  });

  it("bad options are INVALID_ARGUMENT", async () => {
    for (const d of [{ window: 0 }, { window: 17 }, { ngram: 2 }, { ngram: 9 }, { candidates: 0 }, { window: 1.5 }]) {
      await expectCode(main.createSession({ contextSize: 64, drafters: [{ type: "lookahead", ...d }] }), "INVALID_ARGUMENT");
    }
    await expectCode(main.createSession({ contextSize: 64, drafters: [{ type: "lookahead" }, { type: "lookahead" }] }), "INVALID_ARGUMENT");
  });
});
