// Model loading under a mutation fuzzer (scripts/fuzz-gguf.mjs): 2,000 mutated copies of the
// real models, each loaded (and, when it loads, generated from) in a child process; every case
// must end in a load or a SpecdecError, never a crash. A fixed seed keeps CI reproducible; longer
// runs with other seeds: `node scripts/fuzz-gguf.mjs --cases 20000 --seed N`.
import { spawnSync } from "node:child_process";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { repoRoot } from "./helpers/env.js";

describe("GGUF mutation fuzzing", () => {
  it("2,000 mutated models: no crash, every failure a typed error", () => {
    const r = spawnSync(process.execPath, [path.join(repoRoot, "scripts/fuzz-gguf.mjs"), "--cases", "2000", "--seed", "1", "--json"], {
      encoding: "utf8",
      timeout: 300_000,
    });
    const summary = JSON.parse(r.stdout.trim().split("\n").pop() as string);
    console.log(JSON.stringify({ cases: summary.cases, crashes: summary.crashes, outcomes: summary.outcomes, seconds: summary.seconds }));
    expect(summary.crashList).toEqual([]);
    expect(summary.untypedList).toEqual([]);
    expect(summary.cases).toBe(2000);
    // the mutations reach both ends: most are rejected, some still load and generate
    expect(summary.outcomes.INVALID_MODEL).toBeGreaterThan(1000);
    expect(summary.outcomes["loaded, generated"]).toBeGreaterThan(50);
    expect(r.status).toBe(0);
  }, 320_000);
});
