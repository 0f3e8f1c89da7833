// Structured output (grammar / jsonSchema) with speculation: greedy constrained output identical to
// plain constrained output with every drafter, JSON that parses and matches the schema, sampling
// under a grammar exactly the main model's distribution over the tokens the grammar allows, and
// bad grammars and schemas as typed errors.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { jsonSchemaToGrammar } from "../lib/json-schema.js";
import { loadModel, setNumerics, type Model } from "../lib/index.js";
import { tinyModel } from "./helpers/env.js";
import { expectCode } from "./helpers/expect.js";
import { benchPrompts, MAIN, sharedModels } from "./helpers/shared.js";
import { chiSquare, sampleFirstTwo, softmax } from "./helpers/stats.js";

const SCHEMA = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 40 },
    arguments: { type: "array", items: { type: "string" }, maxItems: 4 },
    kind: { enum: ["function", "class", "module"] },
    lines: { type: "integer" },
    tested: { type: "boolean" },
  },
  required: ["name", "arguments", "kind", "lines"],
};

/** Whether `value` matches SCHEMA (the keywords it uses). */
function matches(value: unknown): boolean {
  if (!value || typeof value !== "object" || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  const keys = Object.keys(v);
  if (!keys.every((k) => k in SCHEMA.properties)) return false;
  if (!SCHEMA.required.every((k) => k in v)) return false;
  return (
    typeof v.name === "string" && v.name.length <= 40 &&
    Array.isArray(v.arguments) && v.arguments.length <= 4 && v.arguments.every((a) => typeof a === "string") &&
    ["function", "class", "module"].includes(v.kind as string) &&
    Number.isInteger(v.lines) && (v.tested === undefined || typeof v.tested === "boolean")
  );
}

describe("structured output with speculation on the shared models", () => {
  let main: Model;
  let draft: Model;
  const prompts = benchPrompts();
  const expected = new Map<string, { tokens: number[]; text: string; stopReason: string | null }>();
  beforeAll(async () => {
    setNumerics("exact");
    main = await loadModel(MAIN);
    draft = await loadModel(`${sharedModels}/draft-q8_0.gguf`);
    const plain = await main.createSession({ contextSize: 2048, threads: 2, drafters: [] });
    for (const p of prompts) {
      const r = await plain.complete(`${p.prompt}\n# summary as JSON: `, { maxTokens: 96, temperature: 0, jsonSchema: SCHEMA });
      expected.set(p.id, { tokens: r.tokens, text: r.text, stopReason: r.stats.stopReason });
    }
    plain.dispose();
  }, 300_000);
  afterAll(() => {
    main?.dispose();
    draft?.dispose();
  });

  it("plain constrained output is JSON matching the schema", () => {
    let complete = 0;
    for (const [id, r] of expected) {
      if (r.stopReason !== "eos") continue;  // cut by maxTokens: JSON unfinished
      complete++;
      const value = JSON.parse(r.text);
      expect(matches(value), `${id}: ${r.text}`).toBe(true);
    }
    expect(complete).toBeGreaterThanOrEqual(prompts.length / 2);
  });

  for (const system of ["lookup", "draft", "draft + lookup"] as const) {
    it(`${system}: token-identical to plain constrained greedy on every prompt`, async () => {
      const session = await main.createSession({
        contextSize: 2048,
        threads: 2,
        draft: system.startsWith("draft") ? { model: draft, maxTokens: 4, adaptive: false } : undefined,
        drafters: system.endsWith("lookup") ? [{ type: "lookup", adaptive: false }] : [],
      });
      for (const p of prompts) {
        const r = await session.complete(`${p.prompt}\n# summary as JSON: `, { maxTokens: 96, temperature: 0, jsonSchema: SCHEMA });
        expect(r.tokens, p.id).toEqual(expected.get(p.id)!.tokens);
      }
      const totals = session.totals;
      expect(totals.drafted).toBeGreaterThan(0);
      expect(totals.accepted).toBeGreaterThan(0);
      session.dispose();
    }, 300_000);
  }

  it("a grammar that does not parse, a schema it cannot enforce: INVALID_ARGUMENT, and the session goes on", async () => {
    const session = await main.createSession({ contextSize: 256, threads: 2 });
    await expectCode(session.complete("x", { grammar: "root ::= (" }), "INVALID_ARGUMENT");
    await expectCode(session.complete("x", { grammar: "root ::= root \"a\"" }), "INVALID_ARGUMENT");  // left recursion
    await expectCode(session.complete("x", { grammar: "" }), "INVALID_ARGUMENT");
    await expectCode(session.complete("x", { grammar: 5 as never }), "INVALID_ARGUMENT");
    await expectCode(session.complete("x", { jsonSchema: { type: "string", pattern: "^a" } }), "INVALID_ARGUMENT");
    await expectCode(session.complete("x", { jsonSchema: { type: "object" }, grammar: "root ::= \"a\"" }), "INVALID_ARGUMENT");
    const r = await session.complete("def f(x):", { maxTokens: 8, temperature: 0, grammar: 'root ::= " return" [ a-z]+' });
    expect(r.text).toMatch(/^ return[ a-z]+$/);
    session.dispose();
  });
});

describe("JSON Schema to GBNF", () => {
  it("says which keyword it cannot enforce", () => {
    expect(() => jsonSchemaToGrammar({ type: "integer", minimum: 0 })).toThrow(/the keyword minimum is not supported/);
    expect(() => jsonSchemaToGrammar({ type: "object", properties: { a: { type: "string", format: "date" } } })).toThrow(
      /jsonSchema\.properties\.a: the keyword format/,
    );
    expect(() => jsonSchemaToGrammar({ $ref: "#/$defs/missing" })).toThrow(/names no definition/);
    expect(() => jsonSchemaToGrammar({ type: "object", required: ["x"], properties: {} })).toThrow(/not among the properties/);
    expect(() => jsonSchemaToGrammar("object")).toThrow(/must be a JSON Schema object/);
  });

  it("writes grammars llama.cpp's parser accepts, recursive ones included", async () => {
    const model = await loadModel(tinyModel({}, "gbnf.gguf"));
    const session = await model.createSession({ contextSize: 128 });
    const schemas = [
      true,
      { type: "object" },
      { type: ["string", "null"] },
      { anyOf: [{ type: "number" }, { const: { a: [1, "x"] } }] },
      { type: "array", prefixItems: [{ type: "integer" }, { type: "boolean" }], items: false },
      { type: "object", properties: { a: { type: "string", minLength: 2 } }, additionalProperties: { type: "integer" } },
      { type: "object", properties: { x: { type: "integer" }, y: { type: "integer" }, z: { type: "integer" } } },
      { $defs: { node: { type: "object", properties: { v: { type: "number" }, kids: { type: "array", items: { $ref: "#/$defs/node" } } }, required: ["v"] } }, $ref: "#/$defs/node" },
      { type: "string", description: "annotations are fine", title: "t", examples: ["a"] },
    ];
    for (const jsonSchema of schemas) {
      const r = await session.complete("the", { maxTokens: 4, temperature: 0, jsonSchema });
      expect(r.tokens.length, JSON.stringify(jsonSchema)).toBeGreaterThan(0);
    }
    session.dispose();
    model.dispose();
  });
});

describe("sampling under a grammar", () => {
  // As in speculative.test.ts: two random tiny models, a draft often wrong, temperature 3; the
  // grammar allows the letters a-m only, so the exact distributions are the main model's softmax
  // over those tokens. The first two tokens of N seeded generations against them, chi-square at
  // p = 0.001.
  const N = 3000;
  const T = 3;
  const GRAMMAR = "root ::= [a-m] [a-m] [a-m]";
  let main: Model;
  let draft: Model;
  let prompt: number[];
  const first = new Map<number, number>();
  const second = new Map<number, number>();
  beforeAll(async () => {
    main = await loadModel(tinyModel({ seed: 11 }, "grammar-main.gguf"));
    draft = await loadModel(tinyModel({ seed: 12 }, "grammar-draft.gguf"));
    prompt = await main.tokenize("the def");
    const allowed = (t: number) => /^[a-m]$/.test(main.tokenPiece(t));
    const masked = (logits: Float32Array) => softmax(logits.map((l, t) => (allowed(t) ? l : -Infinity)), T);
    const scorer = await main.createSession({ contextSize: 64 });
    const p1 = masked((await scorer.evaluateLogits(prompt)).subarray((prompt.length - 1) * main.vocabSize));
    p1.forEach((p, t) => p > 0 && first.set(t, p));
    for (const [t1, pt1] of first) {
      const l2 = await scorer.evaluateLogits([...prompt, t1]);
      masked(l2.subarray(prompt.length * main.vocabSize)).forEach((p, t) => p > 0 && second.set(t, (second.get(t) ?? 0) + pt1 * p));
    }
    scorer.dispose();
    expect(first.size).toBeGreaterThan(10);
  });
  afterAll(() => {
    main.dispose();
    draft.dispose();
  });

  it("with a draft model drafting under the grammar: both positions follow p over the allowed tokens", async () => {
    const session = await main.createSession({ contextSize: 64, drafters: [], draft: { model: draft, maxTokens: 2, adaptive: false } });
    const { c1, c2, n2 } = await sampleFirstTwo(session, prompt, N, T, 3, { grammar: GRAMMAR });
    const totals = session.totals;
    session.dispose();
    expect(totals.drafted).toBeGreaterThan(N);
    expect(totals.accepted).toBeGreaterThan(0);
    expect(totals.accepted).toBeLessThan(totals.drafted);
    const t1 = chiSquare(c1, first, N);
    const t2 = chiSquare(c2, second, n2);
    console.log(`under a grammar: first token chi2 ${t1.stat.toFixed(1)} df ${t1.df} p ${t1.pValue.toFixed(4)}; second chi2 ${t2.stat.toFixed(1)} df ${t2.df} p ${t2.pValue.toFixed(4)}`);
    expect(t1.pValue).toBeGreaterThan(0.001);
    expect(t2.pValue).toBeGreaterThan(0.001);
  });

  it("the test catches sampling that ignores the grammar's mask in p", async () => {
    // unconstrained samples, kept to the allowed tokens, are not p over them
    const session = await main.createSession({ contextSize: 64, drafters: [] });
    const { c1 } = await sampleFirstTwo(session, prompt, N, T);
    session.dispose();
    const t = chiSquare(c1, first, N);
    expect(t.pValue).toBeLessThan(0.001);
  });
});
