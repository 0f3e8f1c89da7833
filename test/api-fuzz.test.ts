// Every option of every public function given a wrong type, NaN, a negative, a huge number, an
// empty or missing value. Each value is either one the API documents (the call must work) or not
// (the call must throw a SpecdecError, never a TypeError from deep inside, never a crash, and never
// go on with a default): a bad value accepted is a failure, as is a good one refused. The model and
// session keep working after all of them. Also awkward text: lone surrogates, NUL bytes, a megabyte
// of prompt; token ids out of range.
import fs from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  buildDatastore,
  loadModel,
  openDatastore,
  setLogLevel,
  setNumerics,
  SpecdecError,
  type Datastore,
  type Model,
  type Session,
} from "../lib/index.js";
import { tempDir, tinyModel } from "./helpers/env.js";
import { sharedModels } from "./helpers/shared.js";

const BAD: unknown[] = [undefined, null, NaN, -1, 0, 0.5, 1e300, -1e300, Infinity, 2 ** 53, "", "x", true, [], {}, () => 1, Symbol("s"), 10n];

// What the API documents for a value; undefined is "not given", fine for every optional option.
type Kind = { int: [number, number] } | { num: [number, number] } | "bool" | "strings" | "list" | "none" | "options" | "required";
function accepts(kind: Kind, v: unknown): boolean {
  if (kind === "required") return false;  // no value in BAD is one (a Model, a Datastore, a path that exists)
  if (v === undefined) return true;
  if (kind === "none") return false;
  if (kind === "options") return v === null || (typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0);
  if (kind === "bool") return typeof v === "boolean";
  if (kind === "strings") return Array.isArray(v) && v.every((x) => typeof x === "string");
  if (kind === "list") return Array.isArray(v) && v.length === 0;  // entries are fuzzed apart
  if (typeof v !== "number" || Number.isNaN(v)) return false;
  const [min, max] = "int" in kind ? kind.int : kind.num;
  return ("num" in kind || Number.isInteger(v)) && v >= min && v <= max;
}

let calls = 0;

/** Runs f, which must work when `good`, else throw a SpecdecError; returns a failure text or null. */
async function outcome(what: string, good: boolean, f: () => unknown): Promise<string | null> {
  calls++;
  try {
    const r = f();
    if (r && typeof (r as Promise<unknown>).then === "function") await r;
    return good ? null : `${what}: accepted`;
  } catch (err) {
    if (!(err instanceof SpecdecError)) return `${what}: ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`;
    return good ? `${what}: refused (${err.code}: ${err.message})` : null;
  }
}

function describeValue(v: unknown): string {
  if (typeof v === "symbol" || typeof v === "function" || typeof v === "bigint") return typeof v;
  return JSON.stringify(v) ?? String(v);
}

const bool: Kind = "bool";
const SESSION: Record<string, Kind> = {
  contextSize: { int: [16, 1 << 24] },
  batchSize: { int: [1, 1 << 16] },
  threads: { int: [1, 1024] },
  threadsBatch: { int: [1, 1024] },
  flashAttention: "none",  // "auto", "on" or "off"
  draft: "none",           // an object with a model
  drafters: "list",
};
const DRAFT: Record<string, Kind> = { model: "required", maxTokens: { int: [1, 62] }, adaptive: bool, minConfidence: { num: [0, 1] }, greedy: bool };
const DRAFTERS: Record<"lookup" | "lookahead" | "retrieval", Record<string, Kind>> = {
  lookup: { maxTokens: { int: [1, 63] }, adaptive: bool, ngramMin: { int: [1, 16] }, ngramMax: { int: [2, 16] } },
  lookahead: { window: { int: [1, 16] }, ngram: { int: [3, 8] }, candidates: { int: [1, 8] } },
  retrieval: {
    maxTokens: { int: [1, 63] }, adaptive: bool, minMatch: { int: [1, 64] }, maxMatch: { int: [2, 64] }, candidates: { int: [1, 8] }, store: "required",
  },
};
const GENERATE: Record<string, Kind> = {
  maxTokens: { int: [1, 100] },  // and below the context (128)
  temperature: { num: [0, 100] },
  topK: { int: [0, 1 << 24] },
  topP: { num: [0, 1] },
  minP: { num: [0, 1] },
  repeatPenalty: { num: [0, 100] },
  repeatLastN: { int: [-1, 1 << 24] },
  frequencyPenalty: { num: [-100, 100] },
  presencePenalty: { num: [-100, 100] },
  seed: { int: [0, 0xffffffff] },
  stop: "strings",
  signal: "none",  // an AbortSignal
  addBos: bool,
  specialTokens: bool,
  chunkMs: { num: [0, 60000] },
  logprobs: { int: [0, 20] },
};
const ALL_DRAFTER_KEYS = [...new Set(Object.values(DRAFTERS).flatMap((k) => Object.keys(k)))];

describe("API fuzzing: bad values everywhere", () => {
  let model: Model;
  let session: Session;
  let store: Datastore;
  const good = tinyModel();
  beforeAll(async () => {
    model = await loadModel(good);
    session = await model.createSession({ contextSize: 128, threads: 1 });
    store = await buildDatastore(model, { texts: ["def f(x): return x", "def g(y): return y"], path: path.join(tempDir(), "fuzz.specdec") });
  });
  afterAll(() => {
    session.dispose();
    model.dispose();
    setNumerics("exact");
    console.log(`API fuzzing: ${calls} calls with bad values`);
  });

  it("loadModel, tokenize, detokenize, tokenPiece, chat templates, createSession, datastores", async () => {
    const failures: string[] = [];
    const check = async (what: string, ok: boolean, f: () => unknown) => {
      const bad = await outcome(what, ok, f);
      if (bad) failures.push(bad);
    };
    const dispose = (x: { dispose(): void } | undefined) => x?.dispose();
    const isToken = (v: unknown) => v === 0;  // the only id among BAD's values inside the vocabulary
    for (const v of BAD) {
      const d = describeValue(v);
      await check(`loadModel(${d})`, false, () => loadModel(v as string).then(dispose));
      await check(`loadModel(good, ${d})`, accepts("options", v), () => loadModel(good, v as object).then(dispose));
      await check(`loadModel gpuLayers=${d}`, accepts({ int: [0, 100000] }, v), () => loadModel(good, { gpuLayers: v as number }).then(dispose));
      for (const key of ["mmap", "vocabOnly"]) await check(`loadModel ${key}=${d}`, accepts(bool, v), () => loadModel(good, { [key]: v }).then(dispose));
      await check(`tokenize(${d})`, typeof v === "string", () => model.tokenize(v as string));
      await check(`tokenize options ${d}`, accepts("options", v), () => model.tokenize("a", v as object));
      await check(`tokenize addBos=${d}`, accepts(bool, v), () => model.tokenize("a", { addBos: v as boolean }));
      await check(`detokenize(${d})`, Array.isArray(v), () => model.detokenize(v as number[]));
      await check(`detokenize([${d}])`, isToken(v), () => model.detokenize([v as number]));
      await check(`tokenPiece(${d})`, isToken(v), () => model.tokenPiece(v as number));
      await check(`isEndOfGeneration(${d})`, isToken(v), () => model.isEndOfGeneration(v as number));
      await check(`applyChatTemplate(${d})`, Array.isArray(v), () => model.applyChatTemplate(v as [], { template: "chatml" }));
      await check(`applyChatTemplate([${d}])`, false, () => model.applyChatTemplate([v as { role: string; content: string }], { template: "chatml" }));
      await check(`applyChatTemplate content ${d}`, typeof v === "string", () =>
        model.applyChatTemplate([{ role: "user", content: v as string }], { template: "chatml" }),
      );
      await check(`createSession(${d})`, accepts("options", v), () => model.createSession(v as object).then(dispose));
      for (const [key, kind] of Object.entries(SESSION)) {
        await check(`createSession ${key}=${d}`, accepts(kind, v), () => model.createSession({ contextSize: 64, threads: 1, [key]: v }).then(dispose));
      }
      for (const [key, kind] of Object.entries(DRAFT)) {
        await check(`draft.${key}=${d}`, accepts(kind, v), () =>
          model.createSession({ contextSize: 64, threads: 1, draft: { model, [key]: v } }).then(dispose),
        );
      }
      await check(`drafters [${d}]`, false, () => model.createSession({ contextSize: 64, threads: 1, drafters: [v as { type: "lookup" }] }).then(dispose));
      for (const [type, kinds] of Object.entries(DRAFTERS)) {
        for (const key of ALL_DRAFTER_KEYS) {
          const drafter = { type, ...(type === "retrieval" ? { store } : {}), [key]: v } as unknown as { type: "lookup" };
          await check(`drafter ${type}.${key}=${d}`, accepts(kinds[key] ?? "none", v), () =>
            model.createSession({ contextSize: 64, threads: 1, drafters: [drafter] }).then(dispose),
          );
        }
      }
      await check(`setNumerics(${d})`, false, () => setNumerics(v as "exact"));
      await check(`setLogLevel(${d})`, false, () => setLogLevel(v as "none"));
      await check(`openDatastore(${d})`, false, () => openDatastore(v as string));
      await check(`buildDatastore(model, ${d})`, false, () => buildDatastore(model, v as { texts: string[]; path: string }));
      await check(`buildDatastore texts ${d}`, false, () =>  // no text at all, or not texts
        buildDatastore(model, { texts: v as string[], path: path.join(tempDir(), "d.specdec") }),
      );
    }
    // the good values the loop above lacks
    await check("flashAttention off", true, () => model.createSession({ contextSize: 64, threads: 1, flashAttention: "off" }).then(dispose));
    await check("a misspelt option", false, () => model.createSession({ contextSize: 64, thread: 1 } as object).then(dispose));
    setNumerics("exact");
    setLogLevel("none");
    expect(failures).toEqual([]);
    // still working
    expect(await model.detokenize(await model.tokenize("def f"))).toBe("def f");
  });

  it("generate, complete and evaluateLogits options", async () => {
    const failures: string[] = [];
    for (const v of BAD) {
      const d = describeValue(v);
      const attempts: [string, boolean, () => unknown][] = [
        [`complete(${d})`, typeof v === "string", () => session.complete(v as string, { maxTokens: 2 })],  // "": BOS alone
        [`complete options ${d}`, accepts("options", v), () => session.complete("a", v as object)],
        [`evaluateLogits(${d})`, false, () => session.evaluateLogits(v as number[])],
        [`evaluateLogits batchSize ${d}`, accepts({ int: [1, 512] }, v), () => session.evaluateLogits([1, 2], { batchSize: v as number })],
        [`generate(${d})`, typeof v === "string", async () => {
          for await (const _ of session.generate(v as string, { maxTokens: 2 })) void _;
        }],
        ...Object.entries(GENERATE).map(([k, kind]): [string, boolean, () => unknown] => [
          `complete ${k}=${d}`,
          accepts(kind, v),
          () => session.complete("a", { maxTokens: 2, [k]: v }),
        ]),
      ];
      for (const [what, ok, f] of attempts) {
        const bad = await outcome(what, ok, f);
        if (bad) failures.push(bad);
      }
    }
    const misspelt = await outcome("complete temprature", false, () => session.complete("a", { maxTokens: 2, temprature: 0 } as object));
    expect([...failures, misspelt].filter(Boolean)).toEqual([]);
    await expect(session.complete("a", { temprature: 0 } as object)).rejects.toThrow(/did you mean temperature/);
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
