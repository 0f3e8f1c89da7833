// Drafting with a model of another vocabulary (draft.translate): its guesses reach the main model
// as text re-tokenized with the main vocabulary, so greedy output is plain decoding's and sampled
// output follows the main model's distribution. Two drafts of other vocabularies: draft-q8_0
// with its ids shuffled and 3,000 of its longer pieces taken away (same knowledge, words split
// otherwise: real acceptance), and a tiny random model with a vocabulary of its own.
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel, type Model } from "../lib/index.js";
import { tempDir, tinyModel } from "./helpers/env.js";
import { expectCode } from "./helpers/expect.js";
import { DEFAULT_PIECES, writeOtherVocabulary } from "./helpers/gguf.js";
import { plainGreedy } from "./helpers/plain.js";
import { benchPrompts, MAIN, sharedModels } from "./helpers/shared.js";
import { chiSquare, exactFirstTwo, sampleFirstTwo } from "./helpers/stats.js";

describe("a draft model of another vocabulary", () => {
  const dir = tempDir();
  const prompts = benchPrompts()
    .filter((_, i) => i % 3 === 0)
    .map((p) => ({ prompt: p.prompt, maxTokens: 64 }));
  let main: Model;
  let other: Model;
  let same: Model;
  let plain: { text: string; tokens: number[] }[];
  beforeAll(async () => {
    const file = path.join(dir, "draft-other-vocab.gguf");
    writeOtherVocabulary(path.join(sharedModels, "draft-q8_0.gguf"), file, { seed: 7, disabled: 3000 });
    main = await loadModel(MAIN);
    other = await loadModel(file);
    same = await loadModel(path.join(sharedModels, "draft-q8_0.gguf"));
    plain = await plainGreedy(main, prompts);
  });
  afterAll(() => {
    main?.dispose();
    other?.dispose();
    same?.dispose();
  });

  it("is refused without translate, naming the option", async () => {
    expect(other.info.vocabFingerprint).not.toBe(main.info.vocabFingerprint);
    await expectCode(main.createSession({ draft: { model: other } }), "VOCAB_MISMATCH", /draft\.translate/);
  });

  it("drafts through text: greedy output is plain decoding's, with most drafts kept", async () => {
    const translated = await main.createSession({ contextSize: 2048, threads: 2, drafters: [], draft: { model: other, translate: true, adaptive: false } });
    const direct = await main.createSession({ contextSize: 2048, threads: 2, drafters: [], draft: { model: same, adaptive: false } });
    try {
      for (const [i, p] of prompts.entries()) {
        const r = await translated.complete(p.prompt, { maxTokens: p.maxTokens, temperature: 0 });
        expect(r.tokens, p.prompt.slice(0, 60)).toEqual(plain[i].tokens);
        await direct.complete(p.prompt, { maxTokens: p.maxTokens, temperature: 0 });
      }
      const t = translated.totals;
      const d = direct.totals;
      console.log(
        `translated: ${t.drafted} drafted, ${(t.acceptanceRate * 100).toFixed(0)}% kept, ${t.tokensPerStep.toFixed(2)} tokens/step; ` +
          `same draft, same vocabulary: ${(d.acceptanceRate * 100).toFixed(0)}% kept, ${d.tokensPerStep.toFixed(2)} tokens/step`,
      );
      expect(t.drafted).toBeGreaterThan(50);
      expect(t.acceptanceRate).toBeGreaterThan(0.5);
      expect(t.tokensPerStep).toBeGreaterThan(2);
    } finally {
      translated.dispose();
      direct.dispose();
    }
  });

  it("is ignored when the vocabularies match", async () => {
    const session = await main.createSession({ drafters: [], draft: { model: same, translate: true, adaptive: false } });
    const r = await session.complete(prompts[0].prompt, { maxTokens: 32, temperature: 0 });
    expect(r.tokens).toEqual(plain[0].tokens.slice(0, 32));
    expect(session.stats.acceptanceRate).toBeGreaterThan(0.5);
    session.dispose();
  });

  it("keeps output exact with a random model of a small vocabulary of its own", async () => {
    // Its text is noise (and byte tokens of broken UTF-8): drafts are mostly wrong, merge with the
    // context or translate to nothing, and none of it may reach the output.
    const tiny = await loadModel(tinyModel({ seed: 3, pieces: [...DEFAULT_PIECES].reverse().concat(["▁im", "port", "▁se", "lf"]) }, "other.gguf"));
    const session = await main.createSession({ contextSize: 2048, threads: 2, drafters: [], draft: { model: tiny, translate: true, adaptive: false } });
    try {
      for (const [i, p] of prompts.slice(0, 2).entries()) {
        expect((await session.complete(p.prompt, { maxTokens: p.maxTokens, temperature: 0 })).tokens).toEqual(plain[i].tokens);
      }
      expect(session.totals.drafted).toBeGreaterThan(0);
    } finally {
      session.dispose();
      tiny.dispose();
    }
  });
});

describe("sampling with a translated draft", () => {
  // As test/speculative.test.ts checks speculative sampling: two random models, here of different
  // vocabularies; the first two generated tokens of N seeded generations against the main model's
  // exact distributions (temperature 3), chi-square at p = 0.001. The drafts are deterministic
  // (translated text has no draft distribution), kept when the main model's draw names them.
  const N = 3000;
  const T = 3;
  let main: Model;
  let draft: Model;
  let prompt: number[];
  let first: Map<number, number>; // exact p(first token)
  let second: Map<number, number>; // exact marginal p(second token)
  beforeAll(async () => {
    main = await loadModel(tinyModel({ seed: 11 }));
    draft = await loadModel(tinyModel({ seed: 12, pieces: [...DEFAULT_PIECES].reverse().concat(["▁th", "he", "ef"]) }, "other-vocab.gguf"));
    prompt = await main.tokenize("the def");
    ({ first, second } = await exactFirstTwo(main, prompt, T));
  });
  afterAll(() => {
    main.dispose();
    draft.dispose();
  });

  it("both positions follow the main model's distribution", async () => {
    const session = await main.createSession({ contextSize: 64, drafters: [], draft: { model: draft, maxTokens: 2, adaptive: false, translate: true } });
    // 4 tokens: room after the first for drafts of 2 (translated drafts may come out shorter).
    const { c1, c2, n2 } = await sampleFirstTwo(session, prompt, N, T, 4);
    const totals = session.totals;
    session.dispose();
    const t1 = chiSquare(c1, first, N);
    const t2 = chiSquare(c2, second, n2);
    console.log(
      `translated drafts: ${totals.drafted} drafted, ${totals.draftedAt[1] ?? 0} at position 2, acceptance ${(totals.accepted / totals.drafted).toFixed(3)}; ` +
        `first token chi2 ${t1.stat.toFixed(1)} df ${t1.df} p ${t1.pValue.toFixed(4)}; second chi2 ${t2.stat.toFixed(1)} df ${t2.df} p ${t2.pValue.toFixed(4)}`,
    );
    expect(totals.drafted).toBeGreaterThan(N / 2);
    expect(totals.draftedAt[1]).toBeGreaterThan(N / 10);
    expect(totals.accepted).toBeGreaterThan(0);
    expect(totals.accepted).toBeLessThan(totals.drafted);
    expect(t1.pValue).toBeGreaterThan(0.001);
    expect(t2.pValue).toBeGreaterThan(0.001);
  });

  it("a seed gives plain sampling's text: the main model's own draw decides every token", async () => {
    const options = { maxTokens: 6, temperature: T, topK: 0, topP: 1, minP: 0 };
    const plain = await main.createSession({ contextSize: 64, drafters: [] });
    const translated = await main.createSession({ contextSize: 64, drafters: [], draft: { model: draft, maxTokens: 3, adaptive: false, translate: true } });
    try {
      for (let seed = 0; seed < 200; seed++) {
        expect((await translated.complete(prompt, { ...options, seed })).tokens).toEqual((await plain.complete(prompt, { ...options, seed })).tokens);
      }
      expect(translated.totals.accepted).toBeGreaterThan(0);
    } finally {
      plain.dispose();
      translated.dispose();
    }
  });
});
