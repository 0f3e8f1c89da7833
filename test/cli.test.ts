// The command line, run as a user would: a child process of `specdec generate`.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { MAIN, repoRoot, tempDir } from "./helpers/env.js";

const cli = path.join(repoRoot, "dist/cli.js");

function run(...args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", timeout: 60_000 });
}

describe("specdec CLI", () => {
  it("generate streams the completion and prints the speed", () => {
    const r = run("generate", "-m", MAIN, "-p", "def fib(n):", "-n", "24", "--temp", "0", "-t", "2");
    expect(r.status).toBe(0);
    expect(r.stdout.startsWith("def fib(n):")).toBe(true);
    expect(r.stdout.length).toBeGreaterThan("def fib(n):".length + 10);
    expect(r.stderr).toMatch(/generated: 24 tokens, [\d.]+ t\/s/);
  });

  it("generate with a draft model prints the drafting figures", () => {
    const draft = path.join(path.dirname(MAIN), "draft-q8_0.gguf");
    const r = run("generate", "-m", MAIN, "-d", draft, "--draft-max", "4", "-p", "def fib(n):", "-n", "24", "--temp", "0", "-t", "2");
    expect(r.status).toBe(0);
    const plain = run("generate", "-m", MAIN, "-p", "def fib(n):", "-n", "24", "--temp", "0", "-t", "2", "--no-lookup");
    expect(plain.stderr).not.toMatch(/draft:/);
    expect(r.stdout).toBe(plain.stdout);
    expect(r.stderr).toMatch(/draft: \d+\/\d+ accepted .*draftModel \d+\/\d+, lookup \d+\/\d+/);
  });

  it("datastore build: a store from a folder, then up to date, then usable for drafting", () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, "src"));
    for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(dir, "src", `m${i}.py`), `def f${i}(x):\n    return x * ${i}\n`.repeat(20));
    const store = path.join(dir, "store.specdec");
    const built = run("datastore", "build", path.join(dir, "src"), "-m", MAIN, "-o", store);
    expect(built.status).toBe(0);
    expect(built.stdout).toMatch(/^built .*store\.specdec: 5 documents, \d+ tokens/);
    expect(built.stderr).toMatch(/tokenizing: 5\/5 files|indexing/);
    const again = run("datastore", "build", path.join(dir, "src"), "-m", MAIN, "-o", store);
    expect(again.stdout).toMatch(/^up to date:/);
    const r = run("generate", "-m", MAIN, "--retrieval", store, "-p", "def f3(x):\n", "-n", "16", "--temp", "0", "-t", "2");
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/retrieval \d+\/\d+/);
    expect(run("datastore", "build", "-m", MAIN).status).toBe(2);
  });

  it("generate with every drafter flag", () => {
    const draft = path.join(path.dirname(MAIN), "draft-q8_0.gguf");
    const r = run("generate", "-m", MAIN, "-d", draft, "--lookahead", "-p", "def fib(n):", "-n", "24", "--temp", "0", "-t", "2");
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/draftModel \d+\/\d+, lookup \d+\/\d+, lookahead \d+\/\d+/);
  });

  it("usage errors exit with 2 and the usage text", () => {
    const r = run("generate", "-p", "x");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--model and --prompt are required/);
    expect(run("frobnicate").status).toBe(2);
    expect(run("generate", "-m", MAIN, "-p", "x", "-n", "lots").stderr).toMatch(/--max-tokens must be a number/);
  });

  it("a missing model is a clear error, not a crash", () => {
    const r = run("generate", "-m", "/nonexistent/model.gguf", "-p", "x");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/MODEL_NOT_FOUND/);
  });
});
