import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { devices, loadModel, type Model } from "../lib/index.js";
import { tinyModel } from "./helpers/env.js";
import { DEFAULT_PIECES } from "./helpers/gguf.js";

describe("tiny generated models", () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(tinyModel());
  });
  afterAll(() => model.dispose());

  it("loads with the metadata the writer gave", () => {
    expect(model.info.architecture).toBe("llama");
    expect(model.info.layers).toBe(2);
    expect(model.info.embeddingSize).toBe(32);
    expect(model.info.trainContextSize).toBe(256);
    expect(model.info.specialTokens.bos).toBe(1);
    expect(model.info.specialTokens.eos).toBe(2);
    expect(model.vocabSize).toBe(3 + 256 + DEFAULT_PIECES.length);
  });

  it("tokenizes with byte fallback and round-trips", async () => {
    const text = "the def xyz: ünï";
    const tokens = await model.tokenize(text);
    expect(tokens[0]).toBe(1);
    expect(tokens.length).toBeGreaterThan(5);
    expect(await model.detokenize(tokens)).toBe(text);
  });

  it("generates greedily and deterministically", async () => {
    const session = await model.createSession({ contextSize: 128 });
    const a = await session.complete("the def", { maxTokens: 20, temperature: 0 });
    const b = await session.complete("the def", { maxTokens: 20, temperature: 0 });
    expect(a.tokens.length).toBeGreaterThan(0);
    expect(b.tokens).toEqual(a.tokens);
    session.dispose();
  });
});

describe("vocabulary-only models", () => {
  it("tokenize and detokenize, but cannot generate", async () => {
    const model = await loadModel(tinyModel(), { vocabOnly: true });
    expect(model.info.vocabOnly).toBe(true);
    const tokens = await model.tokenize("the def");
    expect(await model.detokenize(tokens)).toBe("the def");
    await expect(model.createSession()).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: /vocabOnly/ });
    model.dispose();
  });
});

describe("devices", () => {
  it("lists the CPU, with its memory, and what a GPU backend found", () => {
    const list = devices();
    const cpu = list.find((d) => d.type === "cpu");
    expect(cpu?.name).toBe("CPU");
    expect(cpu!.memoryTotal).toBeGreaterThan(0);
    for (const d of list) expect(["cpu", "gpu", "igpu", "accel"]).toContain(d.type);
  });
});
