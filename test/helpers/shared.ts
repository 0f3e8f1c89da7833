// The shared test models and benchmark prompts (../shared beside the checkout, read-only). A test
// file that imports this fails at once, saying what is missing, when they are not there.
import fs from "node:fs";
import path from "node:path";

import { repoRoot } from "./env.js";

export const sharedModels = path.resolve(repoRoot, "../shared/models");
export const sharedBench = path.resolve(repoRoot, "../shared/bench");
export const MAIN = path.join(sharedModels, "main-q8_0.gguf");

for (const needed of [MAIN, path.join(sharedModels, "draft-q8_0.gguf"), path.join(sharedBench, "prompts.jsonl")]) {
  if (!fs.existsSync(needed)) {
    throw new Error(`${needed} is missing: this test file needs ../shared (models and benchmark prompts) beside the checkout`);
  }
}

export interface BenchPrompt {
  id: string;
  kind: "complete" | "grounded";
  prompt: string;
  n_predict: number;
}

export function benchPrompts(): BenchPrompt[] {
  return fs
    .readFileSync(path.join(sharedBench, "prompts.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}
