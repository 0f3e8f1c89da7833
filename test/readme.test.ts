// The README's examples run as written (on the shared models, from a temporary folder), and the
// package loads from CommonJS with require().
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

import { describe, expect, it } from "vitest";

import { repoRoot, tempDir } from "./helpers/env.js";
import { sharedModels } from "./helpers/shared.js";

const readme = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8");
const examples = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]).filter((code) => code.includes('from "specdec"'));

describe("README examples", () => {
  it("has examples", () => expect(examples.length).toBeGreaterThanOrEqual(3));

  it.each(examples.map((code, i) => [i, code] as const))("example %i runs as written", (i, code) => {
    const dir = tempDir();
    const runnable = code
      .replaceAll('from "specdec"', `from ${JSON.stringify(pathToFileURL(path.join(repoRoot, "dist/index.js")).href)}`)
      .replace(/"((?:main|draft|tiny)-q[48]_0\.gguf)"/g, (_, name) => JSON.stringify(path.join(sharedModels, name)))
      .replace('"docs/", "lib/"', `${JSON.stringify(path.join(repoRoot, "docs"))}, ${JSON.stringify(path.join(repoRoot, "lib"))}`);
    const file = path.join(dir, `example-${i}.mjs`);
    fs.writeFileSync(file, runnable);
    const r = spawnSync(process.execPath, [file], { cwd: dir, encoding: "utf8", timeout: 120_000 });
    expect(r.stderr.replace(/.*SPECDEC_CHAT_TEMPLATE.*\n|.*--trace-warnings.*\n/g, "")).toBe("");
    expect(r.status).toBe(0);
  }, 150_000);
});

describe("package surface", () => {
  it("loads with require() from CommonJS", () => {
    const r = spawnSync(process.execPath, ["-e", 'const s = require("specdec"); console.log(typeof s.loadModel, typeof s.SpecdecError, typeof s.Chat)'], {
      cwd: repoRoot,
      encoding: "utf8",
    });
    expect(r.stdout.trim()).toBe("function function function");
    expect(r.status).toBe(0);
  });

  it("keeps internals out of the published types", () => {
    const types = fs.readFileSync(path.join(repoRoot, "dist/model.d.ts"), "utf8") + fs.readFileSync(path.join(repoRoot, "dist/options.d.ts"), "utf8");
    expect(types).not.toMatch(/nativeHandle|sessionOptions\(|SESSION_KEYS|defaultThreads/);
  });
});
