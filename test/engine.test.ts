// The engine's C++ unit tests (native/tests/engine_tests.cpp: token tree, place record, text
// stream, verifier, controller; native/tests/column_kernels.cpp: the patched CPU backend's column
// kernels bit for bit against llama.cpp's single-column ones), built beside the addon by the
// source build.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { describe, expect, it } from "vitest";

const binary = path.resolve("build/Release", process.platform === "win32" ? "specdec_engine_tests.exe" : "specdec_engine_tests");

describe("engine unit tests (C++)", () => {
  it("build/Release/specdec_engine_tests passes", () => {
    expect(fs.existsSync(binary), `${binary} is missing: run npm install (a source build)`).toBe(true);
    const out = execFileSync(binary, [], { encoding: "utf8" });
    expect(out).toMatch(/\d+ tests, 0 failed/);
  });
});
