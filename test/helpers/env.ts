// Paths and fixtures shared by the tests. Temporary files go under the OS temp folder.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { writeTinyLlama, type TinyLlamaSpec } from "./gguf.js";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const sharedModels = path.resolve(repoRoot, "../shared/models");
export const sharedBench = path.resolve(repoRoot, "../shared/bench");
export const MAIN = path.join(sharedModels, "main-q8_0.gguf");

const created: string[] = [];

/** A fresh folder under the OS temp folder, removed when the test file ends (see cleanup.ts). */
export function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "specdec-test-"));
  created.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of created.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** Writes a tiny random model into a fresh temp folder and returns its path. */
export function tinyModel(spec: TinyLlamaSpec = {}, name = "tiny.gguf"): string {
  const file = path.join(tempDir(), name);
  writeTinyLlama(file, spec);
  return file;
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
