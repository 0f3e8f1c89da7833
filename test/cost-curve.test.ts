// The model's cost curve, learnt from the decodes its sessions run: it starts as the prior, takes
// V(1) from plain steps and V(k + 1) from verification batches, and is kept per thread count.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel, type Model } from "../lib/index.js";
import { benchPrompts, MAIN } from "./helpers/shared.js";
import { expectCode } from "./helpers/expect.js";

describe("cost curve of a model", () => {
  let main: Model;
  beforeAll(async () => {
    main = await loadModel(MAIN);
  });
  afterAll(() => main.dispose());

  it("starts as the prior and learns V(1) and batch costs from generations, per thread count", async () => {
    const prior = main.costCurve({ threads: 2, maxTokens: 9 });
    expect(prior.singleMs).toBe(0);
    expect(prior.ratios).toEqual([1, 1, 1.1, 1.275, 1.45, 1.5875, 1.725, 1.8625, 2]);

    const prompt = benchPrompts().find((p) => p.kind === "grounded")!.prompt;
    const plain = await main.createSession({ contextSize: 1024, threads: 2, drafters: [] });
    await plain.complete(prompt, { maxTokens: 24, temperature: 0 });
    plain.dispose();
    const afterPlain = main.costCurve({ threads: 2, maxTokens: 9 });
    expect(afterPlain.singleMs).toBeGreaterThan(0);
    expect(afterPlain.ratios).toEqual(prior.ratios);  // no batch measured yet

    // Fixed drafts of 4 from lookup: verification batches of 5 (fewer near the end).
    const drafting = await main.createSession({ contextSize: 1024, threads: 2, drafters: [{ type: "lookup", maxTokens: 4, adaptive: false }] });
    await drafting.complete(prompt, { maxTokens: 96, temperature: 0 });
    drafting.dispose();
    const learnt = main.costCurve({ threads: 2, maxTokens: 9 });
    console.log(`main-q8_0, 2 threads: V(1) ${learnt.singleMs.toFixed(2)} ms, V(n)/V(1) ${learnt.ratios.map((r) => r.toFixed(2)).join(" ")}`);
    expect(learnt.ratios[4]).not.toBe(prior.ratios[4]);
    expect(learnt.ratios[4]).toBeGreaterThan(0.5);
    expect(learnt.ratios[0]).toBe(1);

    // Another thread count has a curve of its own.
    expect(main.costCurve({ threads: 1, maxTokens: 9 }).singleMs).toBe(0);
    expectCode(() => main.costCurve({ threads: 0 }), "INVALID_ARGUMENT");
  });
});
