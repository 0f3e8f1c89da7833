// Structured output with speculation: the benchmark prompts, each asked to end in a JSON summary
// of the code above it under a JSON Schema, greedy, with plain decoding and each drafter in turns
// (prompt by prompt, round after round), on one main model. Prints the speedup over plain
// decoding (median over a kind's prompts), tokens per main-model step, how many outputs were
// complete JSON matching the schema, and whether each system's text equals plain decoding's.
//
//   node bench/structured.mjs [--model M.gguf] [--draft D.gguf] [--rounds 2] [--tokens 160]
import path from "node:path";
import { parseArgs } from "node:util";

import { loadPrompts, median, models } from "./lib.mjs";
import { loadModel } from "../dist/index.js";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: path.join(models, "main-q8_0.gguf") },
    draft: { type: "string", default: path.join(models, "draft-q8_0.gguf") },
    prompts: { type: "string", default: path.join(models, "../bench/prompts.jsonl") },
    rounds: { type: "string", default: "2" },
    tokens: { type: "string", default: "160" },
    threads: { type: "string", default: "2" },
  },
});

export const SCHEMA = {
  type: "object",
  properties: {
    functions: {
      type: "array",
      minItems: 2,
      maxItems: 6,
      items: {
        type: "object",
        properties: {
          name: { type: "string", maxLength: 40 },
          arguments: { type: "array", items: { type: "string", maxLength: 30 }, maxItems: 5 },
          returns: { type: "string", maxLength: 30 },
        },
        required: ["name", "arguments", "returns"],
      },
    },
  },
  required: ["functions"],
};
const SUFFIX = "\n\n# The functions above, as JSON:\n";

const main = await loadModel(values.model);
const draft = await loadModel(values.draft);
const systems = {
  plain: { drafters: [] },
  lookup: {},
  draft: { draft: { model: draft }, drafters: [] },
  "draft + lookup": { draft: { model: draft } },
};
const sessions = {};
for (const [name, options] of Object.entries(systems)) {
  sessions[name] = await main.createSession({ contextSize: 2048, threads: Number(values.threads), ...options });
}
const prompts = loadPrompts(values.prompts);
const results = {};  // system -> kind -> [ratio per prompt and round]
const steps = {};
let complete = 0;
let differed = 0;
for (let round = 0; round < Number(values.rounds); round++) {
  for (const p of prompts) {
    let plain;
    for (const [name, session] of Object.entries(sessions)) {
      // a different prompt first, so that no system starts from the cache of this one
      await session.complete("x", { maxTokens: 1 });
      const r = await session.complete(p.prompt + SUFFIX, { maxTokens: Number(values.tokens), temperature: 0, jsonSchema: SCHEMA });
      if (name === "plain") {
        plain = r;
        if (round === 0 && r.stats.stopReason === "eos") {
          JSON.parse(r.text);
          complete++;
        }
        continue;
      }
      if (r.text !== plain.text) differed++;
      ((results[name] ??= {})[p.kind] ??= []).push(r.stats.tokensPerSecond / plain.stats.tokensPerSecond);
      ((steps[name] ??= {})[p.kind] ??= []).push(r.stats.tokensPerStep);
    }
    process.stdout.write(".");
  }
}
console.log(`\n${path.basename(values.model)}, ${prompts.length} prompts, ${values.rounds} rounds, greedy, JSON Schema (bench/structured.mjs)`);
console.log(`plain decoding: ${complete}/${prompts.length} outputs complete JSON within ${values.tokens} tokens; texts differing from plain: ${differed}`);
console.log("| system | complete | grounded | tokens per step (complete / grounded) |\n| --- | --- | --- | --- |");
for (const name of Object.keys(results)) {
  const r = results[name];
  const s = steps[name];
  console.log(`| ${name} | ${median(r.complete).toFixed(2)}x | ${median(r.grounded).toFixed(2)}x | ${median(s.complete).toFixed(2)} / ${median(s.grounded).toFixed(2)} |`);
}
for (const s of Object.values(sessions)) s.dispose();
main.dispose();
draft.dispose();
