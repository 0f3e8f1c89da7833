// The lookup drafter (n-gram match in the prompt and the generated text), alone and together with
// a draft model (their proposals merged into one token tree): exactness (greedy: token-identical
// to plain decoding; sampling: the main model's distribution), that it drafts where the text
// repeats, per-drafter figures, and bad options.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import path from "node:path";

import { loadModel, setNumerics, type Model } from "../lib/index.js";
import { tinyModel } from "./helpers/env.js";
import { benchPrompts, MAIN, sharedModels } from "./helpers/shared.js";
import { expectCode } from "./helpers/expect.js";
import { plainGreedy } from "./helpers/plain.js";
import { chiSquare, sampleFirstTwo, softmax } from "./helpers/stats.js";

describe("greedy decoding with the lookup drafter on the shared models", () => {
  let main: Model;
  beforeAll(async () => {
    setNumerics("exact");
    main = await loadModel(MAIN);
  });
  afterAll(() => main.dispose());

  it("token-identical to plain greedy on every prompt, fixed and adaptive lengths, in one session each", async () => {
    const prompts = benchPrompts();
    const expected = (await plainGreedy(main, prompts.map((p) => ({ prompt: p.prompt, maxTokens: p.n_predict })))).map((r) => r.tokens);
    for (const lookup of [
      { type: "lookup", maxTokens: 8, adaptive: false },
      { type: "lookup", ngramMin: 1, ngramMax: 6, maxTokens: 12 },
    ] as const) {
      // One session for all prompts: each new prompt makes the drafter start its index over.
      const session = await main.createSession({ contextSize: 2048, threads: 2, drafters: [lookup] });
      expect(session.hasDraft).toBe(true);
      for (const [i, p] of prompts.entries()) {
        const r = await session.complete(p.prompt, { maxTokens: p.n_predict, temperature: 0 });
        expect(r.tokens, p.id).toEqual(expected[i]);
      }
      const t = session.totals;
      console.log(`lookup ${JSON.stringify(lookup)}: ${t.accepted}/${t.drafted} accepted, ${t.tokensPerStep.toFixed(2)} tokens per step`);
      expect(t.accepted).toBeGreaterThan(0);
      expect(t.accepted).toBeLessThan(t.drafted);
      expect(t.tokensPerStep).toBeGreaterThan(1.1);
      session.dispose();
    }
  });

  it("with a draft model too (one token tree): token-identical to plain greedy on every prompt", async () => {
    const prompts = benchPrompts();
    const plain = await main.createSession({ contextSize: 2048, threads: 2, drafters: [] });
    const draft = await loadModel(path.join(sharedModels, "draft-q8_0.gguf"));
    const session = await main.createSession({
      contextSize: 2048,
      threads: 2,
      draft: { model: draft, maxTokens: 4, adaptive: false },
      drafters: [{ type: "lookup", ngramMin: 1 }],
    });
    let branched = 0;
    for (const p of prompts) {
      const expected = (await plain.complete(p.prompt, { maxTokens: p.n_predict, temperature: 0 })).tokens;
      const r = await session.complete(p.prompt, { maxTokens: p.n_predict, temperature: 0 });
      expect(r.tokens, p.id).toEqual(expected);
      const [byDraft, byLookup] = r.stats.drafters;
      expect(byDraft.name).toBe("draftModel");
      expect(byLookup.name).toBe("lookup");
      expect(byDraft.accepted + byLookup.accepted).toBeGreaterThanOrEqual(r.stats.accepted);
      // Where lookup found something, it often differs from the draft: a second branch.
      if (byLookup.proposed > 0 && byLookup.accepted < byLookup.proposed) branched++;
    }
    const t = session.totals;
    console.log(`draft + lookup: ${JSON.stringify(t.drafters)}, ${t.accepted}/${t.drafted} places kept, ${t.tokensPerStep.toFixed(2)} tokens per step`);
    expect(branched).toBeGreaterThan(0);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    for (const d of t.drafters) {
      expect(sum(d.proposedAt)).toBe(d.proposed);
      expect(sum(d.acceptedAt)).toBe(d.accepted);
      expect(d.acceptedAt.every((a, i) => a <= d.proposedAt[i])).toBe(true);
    }
    expect(t.drafters[1].accepted).toBeGreaterThan(0);
    expect(t.drafters[1].accepted).toBeLessThan(t.drafters[1].proposed);
    plain.dispose();
    session.dispose();
    draft.dispose();
  });

  it("is on by default: a session without a drafters option looks up its own text", async () => {
    const session = await main.createSession({ contextSize: 512, threads: 2 });
    expect(session.hasDraft).toBe(true);
    const r = await session.complete("x = [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2,", { maxTokens: 24, temperature: 0 });
    expect(r.stats.drafters.map((d) => d.name)).toEqual(["lookup"]);
    expect(r.stats.drafters[0].proposed).toBeGreaterThan(0);
    session.dispose();
  });

  it("drafts what the prompt says again: a list written out twice is mostly accepted the second time", async () => {
    const items = Array.from({ length: 40 }, (_, i) => `    "item_${i * 7}": ${i * 13},`).join("\n");
    const prompt = `CONFIG = {\n${items}\n}\n\n# the same again\nCOPY = {\n${items.slice(0, 60)}`;
    const session = await main.createSession({ contextSize: 2048, threads: 2, drafters: [{ type: "lookup", maxTokens: 8, adaptive: false }] });
    const r = await session.complete(prompt, { maxTokens: 64, temperature: 0 });
    console.log(`copying: ${r.stats.accepted}/${r.stats.drafted} accepted, ${r.stats.tokensPerStep.toFixed(2)} tokens per step`);
    expect(r.stats.acceptanceRate).toBeGreaterThan(0.5);
    expect(r.stats.tokensPerStep).toBeGreaterThan(2);
    session.dispose();
  });
});

describe("sampling with the lookup drafter keeps the main model's distribution (tiny model)", () => {
  // The prompt is P t P: its ending P occurred before, followed by t, so the drafter proposes
  // t, P[0] (deterministic drafts: kept iff the main model's own draw is the same token). t is
  // chosen as likely as can be after P t P, so that the second position is verified often. The
  // first two generated tokens of N seeded generations are compared with the exact distributions
  // by a chi-square test at p = 0.001, as for the draft model.
  const N = 3000;
  const T = 2;
  let main: Model;
  let prompt: number[];
  const first = new Map<number, number>();
  const second = new Map<number, number>();
  beforeAll(async () => {
    main = await loadModel(tinyModel({ seed: 21 }));
    const scorer = await main.createSession({ contextSize: 64 });
    const base = await main.tokenize("the def");
    const pFirst = async (tokens: number[]) =>
      softmax((await scorer.evaluateLogits(tokens)).subarray((tokens.length - 1) * main.vocabSize), T);
    let best = { t: base[0], p: 0 };
    let t = base[0];
    for (let i = 0; i < 8; i++) {
      const p1 = await pFirst([...base, t, ...base]);
      if (p1[t] > best.p) best = { t, p: p1[t] };
      t = p1.indexOf(Math.max(...p1));
    }
    prompt = [...base, best.t, ...base];
    const p1 = await pFirst(prompt);
    p1.forEach((p, tok) => p > 0 && first.set(tok, p));
    for (const [t1, pt1] of first) {
      if (pt1 < 1e-4 || main.isEndOfGeneration(t1)) continue;
      (await pFirst([...prompt, t1])).forEach((p, tok) => second.set(tok, (second.get(tok) ?? 0) + pt1 * p));
    }
    scorer.dispose();
  });
  afterAll(() => main.dispose());

  async function sample(options: object, maxTokens?: number) {
    const session = await main.createSession({ contextSize: 64, ...options });
    const { c1, c2, n2 } = await sampleFirstTwo(session, prompt, N, T, maxTokens);
    const totals = session.totals;
    session.dispose();
    const t1 = chiSquare(c1, first, N);
    const t2 = chiSquare(c2, second, n2);
    console.log(
      `${JSON.stringify(totals.drafters)}: second place checked ${totals.draftedAt[1]} times; ` +
        `first chi2 ${t1.stat.toFixed(1)} df ${t1.df} p ${t1.pValue.toFixed(4)}; second chi2 ${t2.stat.toFixed(1)} df ${t2.df} p ${t2.pValue.toFixed(4)}`,
    );
    expect(totals.draftedAt[0]).toBeGreaterThanOrEqual(N);
    expect(totals.draftedAt[1]).toBeGreaterThan(N / 20);
    expect(totals.accepted).toBeLessThan(totals.drafted);
    expect(t1.pValue).toBeGreaterThan(0.001);
    expect(t2.pValue).toBeGreaterThan(0.001);
    return totals;
  }

  it("lookup alone: both positions follow p", async () => {
    await sample({ drafters: [{ type: "lookup", ngramMin: 1, maxTokens: 2, adaptive: false }] });
  });

  it("lookup and a sampling draft model in one tree: both positions follow p", async () => {
    // The draft model's token, drawn from its q, is tested first at the first place; lookup's
    // deterministic token is kept when the main model's own draw (from the residual after a
    // rejection) names it. The draft model is asked when lookup falls short of the round's
    // length: lookup has the len(P) + 1 tokens after P's first occurrence to propose, and the
    // round's length is 5 (8, as far as 6 tokens to generate allow).
    const draft = await loadModel(tinyModel({ seed: 24 }));
    const totals = await sample(
      {
        draft: { model: draft, maxTokens: 2, adaptive: false },
        drafters: [{ type: "lookup", ngramMin: 1, maxTokens: 8, adaptive: false }],
      },
      6,
    );
    draft.dispose();
    expect(totals.drafters[0].accepted).toBeGreaterThan(0);
    expect(totals.drafters[1].accepted).toBeGreaterThan(0);
  });
});

describe("bad lookup options", () => {
  let main: Model;
  beforeAll(async () => {
    main = await loadModel(tinyModel({ seed: 22 }));
  });
  afterAll(() => main.dispose());

  it("each is INVALID_ARGUMENT, and the model still makes sessions", async () => {
    const bad: unknown[] = [
      "lookup",
      [{ type: "nope" }],
      [{}],
      [{ type: "lookup", ngramMin: 0 }],
      [{ type: "lookup", ngramMin: 3, ngramMax: 2 }],
      [{ type: "lookup", ngramMax: 1 }],
      [{ type: "lookup", maxTokens: 64 }],
      [{ type: "lookup", maxTokens: Number.NaN }],
      [{ type: "lookup", adaptive: "yes" }],
      [{ type: "lookup" }, { type: "lookup" }],
    ];
    for (const drafters of bad) {
      await expectCode(main.createSession({ contextSize: 64, drafters: drafters as never }), "INVALID_ARGUMENT");
    }
    const session = await main.createSession({ contextSize: 64, drafters: [] });
    expect(session.hasDraft).toBe(false);
    session.dispose();
  });
});
