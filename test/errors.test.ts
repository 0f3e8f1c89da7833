// Bad inputs: each is a typed SpecdecError, and the process keeps working afterwards.
import fs from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel, quantizeModel, SpecdecError, type Model } from "../lib/index.js";
import { tempDir, tinyModel } from "./helpers/env.js";
import { expectCode } from "./helpers/expect.js";

describe("bad model files", () => {
  const dir = tempDir();
  const good = tinyModel();

  it("missing file", async () => {
    await expectCode(loadModel(path.join(dir, "nope.gguf")), "MODEL_NOT_FOUND", /not found/);
  });

  it("quantizing a file onto itself, by any spelling of its path, and the source is untouched", async () => {
    const source = tinyModel();
    const before = fs.readFileSync(source);
    const spelt = path.join(path.dirname(source), ".", path.basename(source));
    for (const destination of [source, spelt]) {
      await expectCode(quantizeModel(source, destination, { type: "Q8_0" }), "INVALID_ARGUMENT", /destination is the source/);
    }
    expect(fs.readFileSync(source).equals(before)).toBe(true);
    const copy = path.join(dir, "copy-q8_0.gguf");
    await quantizeModel(source, copy, { type: "Q8_0", threads: 1 });
    await (await loadModel(copy)).dispose();
  });

  it("a directory", async () => {
    await expectCode(loadModel(dir), "INVALID_MODEL", /directory/);
  });

  it("an empty file", async () => {
    const f = path.join(dir, "empty.gguf");
    fs.writeFileSync(f, "");
    await expectCode(loadModel(f), "INVALID_MODEL", /empty/);
  });

  it("random bytes", async () => {
    const f = path.join(dir, "random.gguf");
    fs.writeFileSync(f, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 0xff)));
    await expectCode(loadModel(f), "INVALID_MODEL", /GGUF/);
  });

  it("random bytes behind a GGUF magic", async () => {
    const f = path.join(dir, "magic.gguf");
    const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 0xff));
    bytes.write("GGUF", 0);
    fs.writeFileSync(f, bytes);
    await expectCode(loadModel(f), "INVALID_MODEL");
  });

  it("truncated GGUF files", async () => {
    const full = fs.readFileSync(good);
    for (const fraction of [0.001, 0.01, 0.2, 0.5, 0.9, 0.999]) {
      const f = path.join(dir, `trunc-${fraction}.gguf`);
      fs.writeFileSync(f, full.subarray(0, Math.floor(full.length * fraction)));
      await expectCode(loadModel(f), "INVALID_MODEL");
    }
  });

  it("metadata llama.cpp would abort on: rejected by specdec's own checks", async () => {
    const cases: [string, Parameters<typeof tinyModel>[0], RegExp][] = [
      ["no layers", { kv: { "llama.block_count": { type: "u32", value: 0 } } }, /block_count/],
      ["too many layers", { kv: { "llama.block_count": { type: "u32", value: 100000 } } }, /block_count/],
      ["negative epsilon", { kv: { "llama.attention.layer_norm_rms_epsilon": { type: "f32", value: -1 } } }, /epsilon/],
      ["NaN epsilon", { kv: { "llama.attention.layer_norm_rms_epsilon": { type: "f32", value: NaN } } }, /epsilon/],
      ["heads not a multiple of kv heads", { kv: { "llama.attention.head_count_kv": { type: "u32", value: 3 } } }, /head_count/],
      ["zero kv heads", { kv: { "llama.attention.head_count_kv": { type: "u32", value: 0 } } }, /head_count/],
      ["a width that is a string", { kv: { "llama.embedding_length": { type: "string", value: "wide" } } }, /embedding_length/],
      ["two tokens with the same text", { pieces: ["▁a", "▁b", "▁a"] }, /same text/],
    ];
    for (const [what, spec, message] of cases) {
      await expectCode(loadModel(tinyModel(spec)), "INVALID_MODEL", message).catch((e) => {
        throw new Error(`${what}: ${e.message}`);
      });
    }
  });

  it("still loads a good model afterwards", async () => {
    const model = await loadModel(good);
    expect(model.info.architecture).toBe("llama");
    model.dispose();
  });

  it("wrong load options", async () => {
    await expectCode(loadModel(42 as unknown as string), "INVALID_ARGUMENT", /path/);
    await expectCode(loadModel(good, { gpuLayers: -3 }), "INVALID_ARGUMENT", /gpuLayers/);
    await expectCode(loadModel(good, { mmap: "yes" as unknown as boolean }), "INVALID_ARGUMENT", /mmap/);
    await expectCode(loadModel(good, "x" as never), "INVALID_ARGUMENT", /options/);
  });
});

describe("bad calls on a loaded model", () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(tinyModel({ nCtx: 64 }));
  });
  afterAll(() => model.dispose());

  it("prompt longer than the context", async () => {
    const session = await model.createSession({ contextSize: 32 });
    const long = "the ".repeat(100);
    await expectCode(session.complete(long, { maxTokens: 4, temperature: 0 }), "CONTEXT_OVERFLOW", /prompt/);
    await expectCode(session.complete(Array(40).fill(5), { temperature: 0 }), "CONTEXT_OVERFLOW");
    // the session still works
    const ok = await session.complete("the", { maxTokens: 4, temperature: 0 });
    expect(ok.tokens.length).toBe(4);
    session.dispose();
  });

  it("maxTokens beyond the context", async () => {
    const session = await model.createSession({ contextSize: 32 });
    await expectCode(session.complete("the", { maxTokens: 32 }), "CONTEXT_OVERFLOW", /maxTokens/);
    await expectCode(session.complete("the the the", { maxTokens: 29 }), "CONTEXT_OVERFLOW", /exceed/);
    session.dispose();
  });

  it("without maxTokens, generation stops when the context is full", async () => {
    const session = await model.createSession({ contextSize: 32 });
    const r = await session.complete("the", { temperature: 0 });
    expect(["contextFull", "eos"]).toContain(r.stats.stopReason);
    if (r.stats.stopReason === "contextFull") expect(r.stats.promptTokens + r.tokens.length).toBe(32);
    session.dispose();
  });

  it("out-of-range token ids", async () => {
    await expectCode(model.detokenize([1, 5, model.vocabSize]), "INVALID_ARGUMENT", /out of range/);
    await expectCode(model.detokenize([-1]), "INVALID_ARGUMENT", /out of range/);
    await expectCode(model.detokenize([1.5]), "INVALID_ARGUMENT");
    await expectCode(model.detokenize("abc" as never), "INVALID_ARGUMENT");
    await expectCode(() => model.tokenPiece(99999), "INVALID_ARGUMENT");
    const session = await model.createSession({ contextSize: 32 });
    await expectCode(session.complete([1, 99999], { maxTokens: 2 }), "INVALID_ARGUMENT", /99999/);
    expect((await session.complete([1, 5], { maxTokens: 2, temperature: 0 })).tokens.length).toBe(2);
    session.dispose();
  });

  it("wrong option types and ranges", async () => {
    await expectCode(model.createSession({ contextSize: -1 }), "INVALID_ARGUMENT", /contextSize/);
    await expectCode(model.createSession({ threads: 0 }), "INVALID_ARGUMENT", /threads/);
    await expectCode(model.createSession({ flashAttention: "maybe" as never }), "INVALID_ARGUMENT", /flashAttention/);
    const session = await model.createSession({ contextSize: 32 });
    const bad: [object, RegExp][] = [
      [{ maxTokens: 0 }, /maxTokens/],
      [{ maxTokens: 2.5 }, /maxTokens/],
      [{ temperature: -1 }, /temperature/],
      [{ temperature: NaN }, /temperature/],
      [{ topP: 2 }, /topP/],
      [{ topK: "5" }, /topK/],
      [{ seed: -1 }, /seed/],
      [{ stop: "x" }, /stop/],
      [{ stop: [1] }, /stop/],
      [{ signal: {} }, /signal/],
    ];
    for (const [opts, re] of bad) await expectCode(session.complete("the", opts as never), "INVALID_ARGUMENT", re);
    await expectCode(session.complete(42 as never), "INVALID_ARGUMENT", /prompt/);
    session.dispose();
  });

  it("use after dispose", async () => {
    const m = await loadModel(tinyModel());
    const session = await m.createSession({ contextSize: 32 });
    session.dispose();
    await expectCode(session.complete("the"), "DISPOSED");
    expect(() => session.stats).toThrow(SpecdecError);
    m.dispose();
    await expectCode(m.tokenize("x"), "DISPOSED");
    await expectCode(m.createSession(), "DISPOSED");
    expect(() => m.isEndOfGeneration(2)).toThrow(/disposed/);
    m.dispose(); // twice is fine
  });

  it("model without a chat template", () => {
    expect(() => model.applyChatTemplate([{ role: "user", content: "hi" }])).toThrow(/chat template/);
    const chatml = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}";
    expect(model.applyChatTemplate([{ role: "user", content: "hi" }], { template: chatml })).toBe("<|im_start|>user\nhi<|im_end|>\n");
    // a name: one of llama.cpp's built-in formats
    expect(model.applyChatTemplate([{ role: "user", content: "hi" }], { template: "chatml" })).toContain("<|im_start|>user\nhi<|im_end|>");
    expect(() => model.applyChatTemplate([{ role: "user", content: "hi" }], { template: "no-such-format" })).toThrow(/does not recognise/);
  });
});
