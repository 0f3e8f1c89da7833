// The addon is context-aware: it loads and generates inside worker_threads, two workers at once,
// and a worker terminated mid-generation takes nothing down with it. Each case runs in a child
// process, so that a crash shows as a failed exit, not as a dead test runner.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { repoRoot, tempDir } from "./helpers/env.js";
import { MAIN } from "./helpers/shared.js";

const index = JSON.stringify(path.join(repoRoot, "dist/index.js"));

// The worker (an ES module file: an eval'd worker ends at its first top-level await) loads the
// main model, generates greedily and posts the text, or keeps generating until terminated.
const workerSource = `
import { parentPort, workerData } from "node:worker_threads";
import { loadModel } from ${index};
const model = await loadModel(${JSON.stringify(MAIN)});
const session = await model.createSession({ contextSize: 512, threads: 1 });
if (workerData.forever) {
  parentPort.postMessage("generating");
  for (;;) await session.complete("import os\\n", { maxTokens: 200, temperature: 0 });
}
const r = await session.complete("def main():\\n", { maxTokens: 24, temperature: 0 });
session.dispose();
model.dispose();
parentPort.postMessage(r.text);
`;

function runScript(body: string): { status: number | null; stdout: string; stderr: string } {
  const workerFile = path.join(tempDir(), "worker.mjs");
  fs.writeFileSync(workerFile, workerSource);
  const script = `
import { Worker } from "node:worker_threads";
import { loadModel } from ${index};
const start = (workerData) => new Worker(${JSON.stringify(workerFile)}, { workerData, execArgv: [] });
const result = (w) => new Promise((resolve, reject) => { w.once("message", resolve); w.once("error", reject); });
${body}
`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 100_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("worker threads", () => {
  it("two workers generate at once, the same text as the main thread", () => {
    const r = runScript(`
const model = await loadModel(${JSON.stringify(MAIN)});
const session = await model.createSession({ contextSize: 512, threads: 1 });
const expected = (await session.complete("def main():\\n", { maxTokens: 24, temperature: 0 })).text;
const workers = [start({}), start({})];
const exits = workers.map((w) => new Promise((r) => w.once("exit", r)));
const texts = await Promise.all(workers.map(result));
await Promise.all(exits);
console.log(JSON.stringify({ same: texts.every((t) => t === expected), nonEmpty: expected.length > 0 }));
`);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ same: true, nonEmpty: true });
  });

  it("terminating workers mid-generation leaves the process working and does not leak", () => {
    const r = runScript(`
const rss = [];
for (let i = 0; i < 6; i++) {
  const w = start({ forever: true });
  await result(w);                                   // generating now
  await new Promise((r) => setTimeout(r, 30 + 20 * i));
  await w.terminate();
  rss.push(process.memoryUsage().rss);
}
// the main thread still works afterwards
const model = await loadModel(${JSON.stringify(MAIN)});
const session = await model.createSession({ contextSize: 256, threads: 1 });
const out = await session.complete("x", { maxTokens: 4, temperature: 0 });
console.log(JSON.stringify({ tokens: out.tokens.length, growthMiB: (rss[5] - rss[1]) / 2 ** 20 }));
`);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const { tokens, growthMiB } = JSON.parse(r.stdout);
    expect(tokens).toBe(4);
    // Each worker maps the 66 MiB model and allocates its context; if terminated workers leaked
    // them, four more would add well over 100 MiB.
    expect(growthMiB).toBeLessThan(60);
  });
});
