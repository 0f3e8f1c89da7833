// Garbage collection never frees what a running task uses: a child process (with --expose-gc)
// drops every reference to a model and its session while a generation step is in flight, forces
// collection, and must finish cleanly.
import { spawnSync } from "node:child_process";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { repoRoot } from "./helpers/env.js";
import { MAIN } from "./helpers/shared.js";

const script = `
import { loadModel } from ${JSON.stringify(path.join(repoRoot, "dist/index.js"))};
let model = await loadModel(${JSON.stringify(MAIN)});
let session = await model.createSession({ contextSize: 512, threads: 2 });
let iterator = session.generate("import os\\n", { maxTokens: 300, temperature: 0 });
await iterator.next();
const pending = iterator.next();      // a step is running on the pool now
model = null; session = null;         // the iterator still references the session
for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 5)); }
await pending;
iterator = null;                      // now nothing references them
for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 5)); }
// a fresh model still works after the old ones were collected
const m2 = await loadModel(${JSON.stringify(MAIN)});
const s2 = await m2.createSession({ contextSize: 256, threads: 2 });
const r = await s2.complete("x", { maxTokens: 4, temperature: 0 });
console.log("ok", r.tokens.length);
`;

describe("lifetime under garbage collection", () => {
  it("collecting handles mid-generation does not crash", () => {
    const r = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe("ok 4");
  });
});
