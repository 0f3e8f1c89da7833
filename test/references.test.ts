// References: texts an app passes with one generation (search results, open files) that the
// lookup drafter quotes from, without putting them into the prompt or the KV cache.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel, setNumerics, type Model, type Session } from "../lib/index.js";
import { expectCode } from "./helpers/expect.js";
import { benchPrompts, MAIN } from "./helpers/shared.js";

describe("references (lookup from texts given with the request)", () => {
  let model: Model;
  let session: Session;
  let prompt: string;
  let plain: { tokens: number[]; text: string };
  const options = { maxTokens: 96, temperature: 0 };
  beforeAll(async () => {
    setNumerics("exact");
    model = await loadModel(MAIN);
    // A code prompt whose continuation is not in it: the answer an app would have retrieved.
    prompt = benchPrompts().find((p) => p.id === "trio-complete-1")!.prompt;
    const plainSession = await model.createSession({ contextSize: 2048, threads: 2, drafters: [] });
    plain = await plainSession.complete(prompt, options);
    plainSession.dispose();
    session = await model.createSession({ contextSize: 2048, threads: 2 });
  });
  afterAll(() => model.dispose());

  it("drafts the continuation from a reference that holds it, with plain decoding's tokens", async () => {
    const without = await session.complete(prompt, options);
    expect(without.tokens).toEqual(plain.tokens);
    expect(without.stats.referenceTokens).toBe(0);

    // The retrieved document: the answer among other text.
    const document = `# notes\n${benchPrompts()[7].prompt.slice(0, 2000)}\n${prompt.slice(-300)}${plain.text}\n# end\n`;
    const withRef = await session.complete(prompt, { ...options, references: ["unrelated text", document] });
    expect(withRef.tokens).toEqual(plain.tokens);
    expect(withRef.stats.referenceTokens).toBeGreaterThan(500);
    expect(withRef.stats.tokensPerStep).toBeGreaterThanOrEqual(3);
    expect(without.stats.tokensPerStep).toBeLessThan(3);
    console.log(`references: ${without.stats.tokensPerStep.toFixed(2)} tokens per step without, ${withRef.stats.tokensPerStep.toFixed(2)} with (${withRef.stats.referenceTokens} tokens indexed in ${withRef.stats.referenceMs.toFixed(1)} ms)`);

    // For that request only: the next one drafts as before.
    const after = await session.complete(prompt, options);
    expect(after.tokens).toEqual(plain.tokens);
    expect(after.stats.referenceTokens).toBe(0);
    expect(after.stats.tokensPerStep).toBeLessThan(3);
  });

  it("a megabyte of references: indexed in about a second, the output unchanged", async () => {
    const corpus = benchPrompts().map((p) => p.prompt).join("\n");
    const big = Array.from({ length: Math.ceil(2 ** 20 / corpus.length) }, (_, i) => `# copy ${i}\n${corpus}`).join("\n").slice(0, 2 ** 20);
    const r = await session.complete(prompt, { ...options, references: [big] });
    expect(r.tokens).toEqual(plain.tokens);
    expect(r.stats.referenceTokens).toBeGreaterThan(150_000);
    console.log(`references: 1 MiB, ${r.stats.referenceTokens} tokens, tokenized and indexed in ${r.stats.referenceMs.toFixed(0)} ms`);
  });

  it("bad references are typed errors, and the session goes on", async () => {
    await expectCode(session.complete(prompt, { ...options, references: "text" as unknown as string[] }), "INVALID_ARGUMENT", /references/);
    await expectCode(session.complete(prompt, { ...options, references: [1] as unknown as string[] }), "INVALID_ARGUMENT", /references/);
    const noLookup = await model.createSession({ contextSize: 2048, threads: 2, drafters: [] });
    await expectCode(noLookup.complete(prompt, { ...options, references: ["x"] }), "INVALID_ARGUMENT", /lookup drafter/);
    expect((await noLookup.complete(prompt, { maxTokens: 8, temperature: 0 })).tokens).toEqual(plain.tokens.slice(0, 8));
    noLookup.dispose();
    expect((await session.complete(prompt, options)).tokens).toEqual(plain.tokens);
  });
});
