// Speculative decoding with a draft model: exactness (greedy: token-identical; sampling: the same
// distribution), reproducibility, statistics, and bad inputs.
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel, setNumerics, type Model, type Session } from "../lib/index.js";
import { tinyModel } from "./helpers/env.js";
import { benchPrompts, MAIN, sharedModels } from "./helpers/shared.js";
import { expectCode } from "./helpers/expect.js";
import { DEFAULT_PIECES } from "./helpers/gguf.js";
import { chiSquare, exactFirstTwo, sampleFirstTwo } from "./helpers/stats.js";

const prompts = benchPrompts();

describe("greedy speculative decoding on the shared models", () => {
  let main: Model;
  let plain: Session;
  const expected = new Map<string, number[]>();
  beforeAll(async () => {
    setNumerics("exact");
    main = await loadModel(MAIN);
    plain = await main.createSession({ contextSize: 2048, threads: 2, drafters: [] });
    for (const p of prompts) {
      expected.set(p.id, (await plain.complete(p.prompt, { maxTokens: p.n_predict, temperature: 0 })).tokens);
    }
  });
  afterAll(() => main.dispose());

  // Fixed draft lengths (not adaptive), so that every round really drafts and verifies.
  for (const [file, maxTokens] of [
    ["draft-q8_0.gguf", 4],
    ["tiny-q8_0.gguf", 6],
    ["main-q4_0.gguf", 3],
  ] as const) {
    it(`${file} (k = ${maxTokens}): token-identical to plain greedy on every prompt`, async () => {
      const draft = await loadModel(path.join(sharedModels, file));
      const session = await main.createSession({
        contextSize: 2048,
        threads: 2,
        draft: { model: draft, maxTokens, adaptive: false, minConfidence: 0 },
        drafters: [],
      });
      let drafted = 0;
      let accepted = 0;
      for (const p of prompts) {
        const r = await session.complete(p.prompt, { maxTokens: p.n_predict, temperature: 0 });
        expect(r.tokens, p.id).toEqual(expected.get(p.id));
        drafted += r.stats.drafted;
        accepted += r.stats.accepted;
        expect(r.stats.mainDecodes).toBeLessThan(r.tokens.length);
      }
      console.log(`${file}: ${accepted}/${drafted} drafted tokens accepted (${((100 * accepted) / drafted).toFixed(1)}%)`);
      expect(accepted).toBeGreaterThan(0);
      expect(accepted).toBeLessThan(drafted);
      const totals = session.totals;
      expect(totals.drafted).toBe(drafted);
      expect(totals.acceptedAt.reduce((a, b) => a + b, 0)).toBe(accepted);
      expect(totals.draftedAt.reduce((a, b) => a + b, 0)).toBe(drafted);
      session.dispose();
      draft.dispose();
    });
  }

  // The adaptive controller mixes plain rounds and drafts of every length up to maxTokens: the
  // output must not depend on its choices. maxTokens 8 makes it try several lengths and plain
  // decoding. main-q4_0, a costly drafter, may not draft at all on these short generations (its
  // evaluation of the prompt would cost more than it can save). Each draft model gets a main model
  // of its own: a model's cost curve is learnt across its sessions, and on a busy machine what one
  // session measured can tell the next that drafting does not pay.
  it("adaptive draft lengths (draft-q8_0 and tiny-q8_0 up to 8, main-q4_0 up to 4): token-identical to plain greedy", async () => {
    for (const [file, maxTokens, mustDraft] of [
      ["draft-q8_0.gguf", 8, true],
      ["tiny-q8_0.gguf", 8, true],
      ["main-q4_0.gguf", 4, false],
    ] as const) {
      const draft = await loadModel(path.join(sharedModels, file));
      const fresh = await loadModel(MAIN);
      const session = await fresh.createSession({ contextSize: 2048, threads: 2, draft: { model: draft, maxTokens }, drafters: [] });
      for (const p of prompts.slice(0, 6)) {
        const r = await session.complete(p.prompt, { maxTokens: p.n_predict, temperature: 0 });
        expect(r.tokens, `${file} ${p.id}`).toEqual(expected.get(p.id));
      }
      const lengths = session.totals.draftedAt.length;
      console.log(`${file} adaptive: drafted ${session.totals.drafted} tokens, longest draft ${lengths}`);
      if (mustDraft) expect(session.totals.drafted).toBeGreaterThan(0);
      session.dispose();
      fresh.dispose();
      draft.dispose();
    }
  });

  // Without maxTokens the draft model drafts up to 6 alone, up to 4 beside free drafters (lookup
  // here at 1 token, so that the longest draft is the draft model's).
  it("the draft model's default length: 6 alone, 4 beside lookup", async () => {
    const draft = await loadModel(path.join(sharedModels, "draft-q8_0.gguf"));
    for (const [drafters, longest] of [
      [[], 6],
      [[{ type: "lookup", maxTokens: 1, adaptive: false }], 4],
    ] as const) {
      const session = await main.createSession({ contextSize: 2048, threads: 2, draft: { model: draft, adaptive: false }, drafters: [...drafters] });
      for (const p of prompts.slice(0, 3)) {
        const r = await session.complete(p.prompt, { maxTokens: p.n_predict, temperature: 0 });
        expect(r.tokens, p.id).toEqual(expected.get(p.id));
      }
      expect(session.totals.draftedAt.length).toBe(longest);
      session.dispose();
    }
    draft.dispose();
  });

  it("with repeat penalties and stop sequences too", async () => {
    const draft = await loadModel(path.join(sharedModels, "draft-q8_0.gguf"));
    const session = await main.createSession({ contextSize: 2048, threads: 2, draft: { model: draft, maxTokens: 5, adaptive: false }, drafters: [] });
    for (const p of prompts.slice(0, 4)) {
      const opts = { maxTokens: 96, temperature: 0, repeatPenalty: 1.3, repeatLastN: 32, stop: ["\n\n\n"] };
      const a = await plain.complete(p.prompt, opts);
      const b = await session.complete(p.prompt, opts);
      expect(b.tokens, p.id).toEqual(a.tokens);
      expect(b.text).toBe(a.text);
      expect(b.stats.stopReason).toBe(a.stats.stopReason);
    }
    session.dispose();
    draft.dispose();
  });

  it("fast numerics: every divergence from plain decoding is a near-tie", async () => {
    setNumerics("fast");
    const draft = await loadModel(path.join(sharedModels, "draft-q8_0.gguf"));
    const fastPlain = await main.createSession({ contextSize: 2048, threads: 2, drafters: [] });
    const session = await main.createSession({ contextSize: 2048, threads: 2, draft: { model: draft, maxTokens: 4, adaptive: false }, drafters: [] });
    const scorer = await main.createSession({ contextSize: 2048, threads: 2 });
    let divergences = 0;
    let tokens = 0;
    for (const p of prompts) {
      const a = (await fastPlain.complete(p.prompt, { maxTokens: p.n_predict, temperature: 0 })).tokens;
      const b = (await session.complete(p.prompt, { maxTokens: p.n_predict, temperature: 0 })).tokens;
      tokens += a.length;
      const j = a.findIndex((t, i) => t !== b[i]);
      if (j < 0) continue;
      divergences++;
      // The main model's logits at the divergence, evaluated one token at a time: the two
      // candidates must be within rounding of each other.
      const context = [...(await main.tokenize(p.prompt)), ...a.slice(0, j)];
      const logits = await scorer.evaluateLogits(context, { batchSize: 1 });
      const last = logits.subarray((context.length - 1) * main.vocabSize, context.length * main.vocabSize);
      const gap = Math.abs(last[a[j]] - last[b[j]]);
      console.log(`fast numerics, ${p.id}: diverges at token ${j}, logit gap ${gap.toFixed(4)}`);
      expect(gap).toBeLessThan(0.5);
    }
    console.log(`fast numerics: ${divergences} of ${prompts.length} prompts diverge (${tokens} tokens)`);
    setNumerics("exact");
    for (const s of [fastPlain, session, scorer]) s.dispose();
    draft.dispose();
  });
});

describe("speculative sampling keeps the main model's distribution (tiny models)", () => {
  // Two different random models with one vocabulary: the draft is often wrong, so acceptance,
  // rejection and residual sampling all happen. The first two generated tokens of N seeded
  // generations (3 tokens each, drafts of 2: the first token is checked against the logits at
  // hand, the second in the verification batch) are compared with the exact distributions, from
  // the main model's logits, by a chi-square test at p = 0.001. Temperature 3 spreads the random
  // models' peaked distributions over enough tokens for the test to have power.
  const N = 3000;
  const T = 3;
  let main: Model;
  let draft: Model;
  let prompt: number[];
  let first: Map<number, number>; // exact p(first token)
  let second: Map<number, number>; // exact marginal p(second token)
  beforeAll(async () => {
    main = await loadModel(tinyModel({ seed: 11 }));
    draft = await loadModel(tinyModel({ seed: 12 }));
    prompt = await main.tokenize("the def");
    ({ first, second } = await exactFirstTwo(main, prompt, T));
  });
  afterAll(() => {
    main.dispose();
    draft.dispose();
  });

  async function sample(draftOptions: object | undefined) {
    const session = await main.createSession({ contextSize: 64, drafters: [], ...(draftOptions ? { draft: draftOptions } : {}) });
    const { c1, c2, n2 } = await sampleFirstTwo(session, prompt, N, T);
    const totals = session.totals;
    session.dispose();
    return { c1, c2, n2, totals };
  }

  it("without a draft (the test itself is sound)", async () => {
    const { c1 } = await sample(undefined);
    const t = chiSquare(c1, first, N);
    console.log(`plain sampling: chi2 ${t.stat.toFixed(1)}, df ${t.df}, p ${t.pValue.toFixed(4)}`);
    expect(t.pValue).toBeGreaterThan(0.001);
  });

  it("with a draft: both positions follow p", async () => {
    const { c1, c2, n2, totals } = await sample({ model: draft, maxTokens: 2, adaptive: false });
    expect(totals.drafted).toBeGreaterThan(N);
    expect(totals.draftedAt[1]).toBeGreaterThan(N / 10);
    expect(totals.accepted).toBeGreaterThan(0);
    expect(totals.accepted).toBeLessThan(totals.drafted);
    const t1 = chiSquare(c1, first, N);
    const t2 = chiSquare(c2, second, n2);
    console.log(
      `speculative sampling: acceptance ${(totals.accepted / totals.drafted).toFixed(3)}; ` +
        `first token chi2 ${t1.stat.toFixed(1)} df ${t1.df} p ${t1.pValue.toFixed(4)}; ` +
        `second token chi2 ${t2.stat.toFixed(1)} df ${t2.df} p ${t2.pValue.toFixed(4)}`,
    );
    expect(t1.pValue).toBeGreaterThan(0.001);
    expect(t2.pValue).toBeGreaterThan(0.001);
  });

  it("the test catches a wrong acceptance rule: text that follows the draft model's q, not p", async () => {
    // what "every draft accepted" would give: the draft model's own samples
    const session = await draft.createSession({ contextSize: 64, drafters: [] });
    const { c1 } = await sampleFirstTwo(session, prompt, N, T);
    session.dispose();
    const t = chiSquare(c1, first, N);
    console.log(`the draft model's samples against p: chi2 ${t.stat.toFixed(1)}, df ${t.df}, p ${t.pValue.toExponential(2)}`);
    expect(t.pValue).toBeLessThan(0.001);
  });

  it("seeded runs reproduce, whatever the draft length", async () => {
    const outputs = [];
    for (const maxTokens of [1, 2, 5]) {
      const session = await main.createSession({ contextSize: 64, draft: { model: draft, maxTokens, adaptive: false }, drafters: [] });
      outputs.push((await session.complete(prompt, { maxTokens: 24, temperature: 0.9, seed: 7 })).tokens);
      outputs.push((await session.complete(prompt, { maxTokens: 24, temperature: 0.9, seed: 7 })).tokens);
      session.dispose();
    }
    for (const o of outputs) expect(o).toEqual(outputs[0]);
    expect(outputs[0].length).toBe(24);
  });
});

describe("bad draft inputs", () => {
  let main: Model;
  beforeAll(async () => {
    main = await loadModel(tinyModel());
  });
  afterAll(() => main.dispose());

  it("a draft with another vocabulary is VOCAB_MISMATCH, saying what differs", async () => {
    const pieces = [...DEFAULT_PIECES];
    pieces[5] = "▁zz";
    const other = await loadModel(tinyModel({ pieces }));
    await expectCode(main.createSession({ draft: { model: other } }), "VOCAB_MISMATCH", /token 264 is "e" in the main model and "▁zz" in the draft/);
    const smaller = await loadModel(tinyModel({ pieces: DEFAULT_PIECES.slice(0, 20) }));
    await expectCode(main.createSession({ draft: { model: smaller } }), "VOCAB_MISMATCH", /vocabulary sizes differ/);
    const shared = await loadModel(path.join(sharedModels, "tiny-q8_0.gguf"));
    await expectCode(main.createSession({ draft: { model: shared } }), "VOCAB_MISMATCH");
    for (const m of [other, smaller, shared]) m.dispose();
  });

  it("draft options out of range, a disposed draft, not a model", async () => {
    const draft = await loadModel(tinyModel({ seed: 3 }));
    for (const maxTokens of [0, -1, 1.5, 64, 1000]) {
      await expectCode(main.createSession({ contextSize: 128, draft: { model: draft, maxTokens } }), "INVALID_ARGUMENT", /maxTokens/);
    }
    await expectCode(main.createSession({ contextSize: 16, draft: { model: draft, maxTokens: 20 } }), "INVALID_ARGUMENT", /maxTokens/);
    await expectCode(main.createSession({ draft: { model: draft, adaptive: "yes" as never } }), "INVALID_ARGUMENT", /adaptive/);
    await expectCode(main.createSession({ draft: { model: {} as never } }), "INVALID_ARGUMENT", /Model/);
    await expectCode(main.createSession({ draft: "draft.gguf" as never }), "INVALID_ARGUMENT", /draft/);
    draft.dispose();
    await expectCode(main.createSession({ draft: { model: draft } }), "DISPOSED", /draft/);
  });
});

describe("abort and dispose in the middle of speculative rounds", () => {
  let main: Model;
  let draft: Model;
  beforeAll(async () => {
    main = await loadModel(MAIN);
    draft = await loadModel(path.join(sharedModels, "draft-q8_0.gguf"));
  });
  afterAll(() => {
    main.dispose();
    draft.dispose();
  });

  it("abort, then the same session generates exactly again", async () => {
    const session = await main.createSession({ contextSize: 1024, threads: 2, draft: { model: draft, maxTokens: 4, adaptive: false }, drafters: [] });
    const controller = new AbortController();
    let received = 0;
    await expect(
      (async () => {
        for await (const chunk of session.generate("import os\n", { maxTokens: 300, temperature: 0, signal: controller.signal })) {
          received += chunk.tokens.length;
          if (received > 5) controller.abort();
        }
      })(),
    ).rejects.toMatchObject({ code: "ABORTED" });
    const plain = await main.createSession({ contextSize: 1024, threads: 2, drafters: [] });
    const a = await plain.complete("import os\n", { maxTokens: 40, temperature: 0 });
    const b = await session.complete("import os\n", { maxTokens: 40, temperature: 0 });
    expect(b.tokens).toEqual(a.tokens);
    plain.dispose();
    session.dispose();
  });

  it("dispose the session, and the draft model, while a round runs", async () => {
    const d2 = await loadModel(path.join(sharedModels, "tiny-q8_0.gguf"));
    const session = await main.createSession({ contextSize: 1024, threads: 2, draft: { model: d2, maxTokens: 6, adaptive: false }, drafters: [] });
    const it = session.generate("import os\n", { maxTokens: 300, temperature: 0 });
    await it.next();
    const pending = it.next();
    d2.dispose(); // the session keeps what it uses
    session.dispose();
    await pending.then(
      () => expect(it.next()).rejects.toMatchObject({ code: "DISPOSED" }),
      (e) => expect(e).toMatchObject({ code: "DISPOSED" }),
    );
  });
});
