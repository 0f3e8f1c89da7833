// specdec against llama.cpp's own tools, built from the same pinned source: the tokenizer gives
// the same ids and greedy decoding the same tokens. The expectations were recorded with
// test/fixtures/record-llama-reference.mjs (the command of each is stored beside it).
import fs from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { getNumerics, loadModel, setNumerics, type Model } from "../lib/index.js";
import { repoRoot } from "./helpers/env.js";
import { MAIN } from "./helpers/shared.js";

interface Reference {
  tokenizer: { text: string; command: string; tokens: number[] }[];
  greedy: { prompt: string; command: string; tokens: number[] }[];
}
const reference: Reference = JSON.parse(
  fs.readFileSync(path.join(repoRoot, "test/fixtures/llama-reference.json"), "utf8"),
);

describe("main-q8_0 against llama-completion", () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(MAIN);
  });
  afterAll(() => {
    model.dispose();
    setNumerics("exact");
  });

  it("tokenizes like llama.cpp", async () => {
    for (const { text, tokens } of reference.tokenizer) {
      expect(await model.tokenize(text)).toEqual(tokens);
    }
  });

  for (const numerics of ["fast", "exact"] as const) {
    it(`gives llama-completion's first 64 greedy tokens (${numerics} numerics)`, async () => {
      setNumerics(numerics);
      expect(getNumerics()).toBe(numerics);
      const session = await model.createSession({ contextSize: 2048, threads: 2 });
      for (const { prompt, tokens } of reference.greedy) {
        const promptTokens = await model.tokenize(prompt);
        expect(tokens.slice(0, promptTokens.length)).toEqual(promptTokens);
        const expected = tokens.slice(promptTokens.length, promptTokens.length + 64);
        expect(expected.length).toBe(64);
        const result = await session.complete(prompt, { maxTokens: 64, temperature: 0 });
        expect(result.tokens).toEqual(expected);
      }
      session.dispose();
    });
  }
});
