// The engine's C++ unit tests (native/tests/engine_tests.cpp: token tree, place record, text
// stream, verifier, controller; native/tests/column_kernels.cpp: the patched CPU backend's column
// kernels bit for bit against llama.cpp's single-column ones), built beside the addon by the
// source build.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { MAIN, sharedBench, sharedModels } from "./helpers/shared.js";

const exe = (name: string) => path.resolve("build/Release", process.platform === "win32" ? `${name}.exe` : name);
const binary = exe("specdec_engine_tests");

describe("engine unit tests (C++)", () => {
  it("build/Release/specdec_engine_tests passes", () => {
    expect(fs.existsSync(binary), `${binary} is missing: run npm install (a source build)`).toBe(true);
    const out = execFileSync(binary, [], { encoding: "utf8" });
    expect(out).toMatch(/\d+ tests, 0 failed/);
  });
});

// bench/gpu-check.cpp, the check run on lent GPU machines, here on the CPU: it must build, run, and
// find what exact numerics promise (bit-identical batches, greedy text of every system equal).
describe("the GPU check (bench/gpu-check.cpp) on the CPU", () => {
  it("finds batched logits bit-identical and every system's greedy text equal to plain", () => {
    const check = exe("specdec_gpu_check");
    expect(fs.existsSync(check), `${check} is missing: run npm install (a source build)`).toBe(true);
    const out = execFileSync(
      check,
      ["--main", MAIN, "--draft", path.join(sharedModels, "draft-q8_0.gguf"), "--prompts", path.join(sharedBench, "prompts.jsonl"),
        "--n-prompts", "2", "--temps", "0", "--threads", "2", "--logits"],
      { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
    );
    for (const batch of [2, 3, 4, 5, 8, 9, 16, 17, 64]) expect(out).toContain(`| ${batch} | 0 (bit-identical) | 0 |`);
    for (const system of ["plain", "lookup", "draft", "draft + lookup"]) expect(out).toMatch(new RegExp(`\\| ${system.replace("+", "\\+")} \\|.*\\| 2/2 \\|`));
  }, 120_000);
});
