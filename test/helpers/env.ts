// Paths and fixtures shared by the tests. Temporary files go under the OS temp folder.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { writeTinyLlama, type TinyLlamaSpec } from "./gguf.js";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

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
