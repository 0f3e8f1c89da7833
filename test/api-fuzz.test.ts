// Every option of every public function given a wrong type, NaN, a negative, a huge number, an
// empty or missing value: each call either works or throws a SpecdecError (never a TypeError from
// deep inside, never a crash), and the model and session keep working after all of them. Also
// awkward text: lone surrogates, NUL bytes, a megabyte of prompt; token ids out of range.
import fs from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { buildDatastore, loadModel, openDatastore, setLogLevel, setNumerics, SpecdecError, type Model, type Session } from "../lib/index.js";
import { tempDir, tinyModel } from "./helpers/env.js";
import { sharedModels } from "./helpers/shared.js";

const BAD: unknown[] = [undefined, null, NaN, -1, 0, 0.5, 1e300, -1e300, Infinity, 2 ** 53, "", "x", true, [], {}, () => 1, Symbol("s"), 10n];

let calls = 0;

/** Runs f; a SpecdecError or a result is fine, anything else is returned as a failure text. */
async function typedOrOk(what: string, f: () => unknown): Promise<string | null> {
  calls++;
  try {
    const r = f();
    if (r && typeof (r as Promise<unknown>).then === "function") await r;
    return null;
  } catch (err) {
    return err instanceof SpecdecError ? null : `${what}: ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`;
  }
}

function describeValue(v: unknown): string {
  if (typeof v === "symbol" || typeof v === "function" || typeof v === "bigint") return typeof v;
  return JSON.stringify(v) ?? String(v);
}

describe("API fuzzing: bad values everywhere", () => {
  let model: Model;
  let session: Session;
  const good = tinyModel();
  beforeAll(async () => {
    model = await loadModel(good);
    session = await model.createSession({ contextSize: 128, threads: 1 });
  });
  afterAll(() => {
    session.dispose();
    model.dispose();
    setNumerics("exact");
    console.log(`API fuzzing: ${calls} calls with bad values`);
  });

  it("loadModel, tokenize, detokenize, tokenPiece, chat templates, createSession", async () => {
    const failures: string[] = [];
    const check = async (what: string, f: () => unknown) => {
      const bad = await typedOrOk(what, f);
      if (bad) failures.push(bad);
    };
    for (const v of BAD) {
      const d = describeValue(v);
      await check(`loadModel(${d})`, () => loadModel(v as string));
      await check(`loadModel(good, ${d})`, () => loadModel(good, v as object));
      for (const key of ["gpuLayers", "mmap", "vocabOnly"]) await check(`loadModel ${key}=${d}`, async () => (await loadModel(good, { [key]: v }))?.dispose());
      await check(`tokenize(${d})`, () => model.tokenize(v as string));
      await check(`tokenize options ${d}`, () => model.tokenize("a", v as object));
      await check(`tokenize addBos=${d}`, () => model.tokenize("a", { addBos: v as boolean }));
      await check(`detokenize(${d})`, () => model.detokenize(v as number[]));
      await check(`detokenize([${d}])`, () => model.detokenize([v as number]));
      await check(`tokenPiece(${d})`, () => model.tokenPiece(v as number));
      await check(`isEndOfGeneration(${d})`, () => model.isEndOfGeneration(v as number));
      await check(`applyChatTemplate(${d})`, () => model.applyChatTemplate(v as []));
      await check(`applyChatTemplate([${d}])`, () => model.applyChatTemplate([v as { role: string; content: string }]));
      await check(`applyChatTemplate content ${d}`, () => model.applyChatTemplate([{ role: "user", content: v as string }]));
      await check(`createSession(${d})`, async () => (await model.createSession(v as object))?.dispose());
      for (const key of ["contextSize", "batchSize", "threads", "threadsBatch", "flashAttention", "draft", "drafters"]) {
        await check(`createSession ${key}=${d}`, async () => (await model.createSession({ contextSize: 64, threads: 1, [key]: v }))?.dispose());
      }
      for (const key of ["model", "maxTokens", "adaptive", "minConfidence", "greedy"]) {
        await check(`draft.${key}=${d}`, async () => (await model.createSession({ contextSize: 64, threads: 1, draft: { model, [key]: v } }))?.dispose());
      }
      await check(`drafters [${d}]`, async () => (await model.createSession({ contextSize: 64, threads: 1, drafters: [v as { type: "lookup" }] }))?.dispose());
      for (const key of ["maxTokens", "ngramMin", "ngramMax", "window", "ngram", "candidates", "store"]) {
        for (const type of ["lookup", "lookahead", "retrieval"]) {
          await check(`drafter ${type}.${key}=${d}`, async () =>
            (await model.createSession({ contextSize: 64, threads: 1, drafters: [{ type, [key]: v } as unknown as { type: "lookup" }] }))?.dispose(),
          );
        }
      }
      await check(`setNumerics(${d})`, () => setNumerics(v as "exact"));
      await check(`setLogLevel(${d})`, () => setLogLevel(v as "none"));
      await check(`openDatastore(${d})`, () => openDatastore(v as string));
      await check(`buildDatastore(model, ${d})`, () => buildDatastore(model, v as { texts: string[] }));
      await check(`buildDatastore texts ${d}`, () => buildDatastore(model, { texts: v as string[], path: path.join(tempDir(), "d.specdec") }));
    }
    setNumerics("exact");
    setLogLevel("none");
    expect(failures).toEqual([]);
    // still working
    expect(await model.detokenize(await model.tokenize("def f"))).toBe("def f");
  });

  it("generate, complete and evaluateLogits options", async () => {
    const failures: string[] = [];
    const keys = ["maxTokens", "temperature", "topK", "topP", "minP", "repeatPenalty", "repeatLastN", "frequencyPenalty", "presencePenalty", "seed", "stop", "signal", "addBos", "specialTokens", "chunkMs"];
    for (const v of BAD) {
      const d = describeValue(v);
      const attempts: [string, () => unknown][] = [
        [`complete(${d})`, () => session.complete(v as string, { maxTokens: 2 })],
        [`complete options ${d}`, () => session.complete("a", v as object)],
        [`evaluateLogits(${d})`, () => session.evaluateLogits(v as number[])],
        [`evaluateLogits batchSize ${d}`, () => session.evaluateLogits([1, 2], { batchSize: v as number })],
        [`generate(${d})`, async () => {
          for await (const _ of session.generate(v as string, { maxTokens: 2 })) void _;
        }],
        ...keys.map((k): [string, () => unknown] => [`complete ${k}=${d}`, () => session.complete("a", { maxTokens: 2, [k]: v })]),
      ];
      for (const [what, f] of attempts) {
        const bad = await typedOrOk(what, f);
        if (bad) failures.push(bad);
      }
    }
    expect(failures).toEqual([]);
    const r = await session.complete("a", { maxTokens: 3, temperature: 0 });
    expect(r.tokens.length).toBe(3);
  });

  it("awkward prompts: lone surrogates, NUL bytes, a megabyte of text, ids out of range", async () => {
    const s = await model.createSession({ contextSize: 256, threads: 1 });
    for (const prompt of ["\uD800", "a\uDC00b", "x\u0000y\u0000", "\u0000"]) {
      const r = await s.complete(prompt, { maxTokens: 2, temperature: 0 });
      expect(r.tokens.length).toBeGreaterThan(0);
      expect(await model.tokenize(prompt)).toBeInstanceOf(Array);
    }
    const megabyte = "a b c d ".repeat(1 << 17);
    expect((await model.tokenize(megabyte)).length).toBeGreaterThan(100000);
    await expect(s.complete(megabyte, { maxTokens: 2 })).rejects.toMatchObject({ code: "CONTEXT_OVERFLOW" });
    for (const ids of [[-1], [model.vocabSize], [2 ** 31 - 1], [1, 2, 1e9]]) {
      await expect(s.complete(ids, { maxTokens: 2 })).rejects.toBeInstanceOf(SpecdecError);
      await expect(model.detokenize(ids)).rejects.toBeInstanceOf(SpecdecError);
      await expect(s.evaluateLogits(ids)).rejects.toBeInstanceOf(SpecdecError);
    }
    expect((await s.complete([1, 5, 6], { maxTokens: 2, temperature: 0 })).tokens.length).toBe(2);
    s.dispose();
  });

  it("a draft model with another vocabulary, and datastores that are not", async () => {
    const other = await loadModel(tinyModel({ pieces: ["▁x", "▁y", "z"] }));
    await expect(model.createSession({ draft: { model: other } })).rejects.toMatchObject({ code: "VOCAB_MISMATCH" });
    const dir = tempDir();
    const file = path.join(dir, "other.specdec");
    const store = await buildDatastore(other, { texts: ["x y z x y z"], path: file });
    await expect(model.createSession({ drafters: [{ type: "retrieval", store }] })).rejects.toBeInstanceOf(SpecdecError);
    for (const bytes of [Buffer.alloc(0), Buffer.from("SPECDEC"), fs.readFileSync(file).subarray(0, 60)]) {
      const f = path.join(dir, `bad-${bytes.length}.specdec`);
      fs.writeFileSync(f, bytes);
      await expect(openDatastore(f)).rejects.toBeInstanceOf(SpecdecError);
    }
    other.dispose();
    const main = await loadModel(path.join(sharedModels, "tiny-q8_0.gguf"));
    await expect(main.createSession({ draft: { model } })).rejects.toBeInstanceOf(SpecdecError);
    main.dispose();
  });
});
