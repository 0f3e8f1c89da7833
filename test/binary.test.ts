// Which addon file is loaded: a source build first, else the best prebuilt CPU variant this CPU
// runs, or the one SPECDEC_CPU_VARIANT forces.
import fs from "node:fs";
import path from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { X64_VARIANTS, findAddon, runnableX64Variants } from "../lib/binary.js";
import { tempDir } from "./helpers/env.js";

function packageRoot(files: string[]): string {
  const root = tempDir();
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), "");
  }
  return root;
}

const platformDir = `prebuilds/${process.platform}-${process.arch}`;
const allVariants = X64_VARIANTS.map((v) => `${platformDir}/specdec.${v.name}.node`);

describe("addon selection", () => {
  afterEach(() => {
    delete process.env.SPECDEC_CPU_VARIANT;
  });

  it("lists the variants this CPU runs, best first, the baseline always", () => {
    const runnable = runnableX64Variants({});
    expect(runnable.at(-1)).toBe("sse42");
    const order = X64_VARIANTS.map((v) => v.name);
    expect([...runnable].sort((a, b) => order.indexOf(a) - order.indexOf(b))).toEqual(runnable);
    expect(runnableX64Variants({ SPECDEC_CPU_VARIANT: "avx2" })).toEqual(["avx2"]);
  });

  it.runIf(process.arch === "x64")("takes the best prebuild the CPU runs, a source build before any", () => {
    const best = runnableX64Variants({})[0];
    const prebuilt = packageRoot(allVariants);
    expect(findAddon(prebuilt)).toBe(path.join(prebuilt, platformDir, `specdec.${best}.node`));

    const onlyBaseline = packageRoot([`${platformDir}/specdec.sse42.node`]);
    expect(findAddon(onlyBaseline)).toBe(path.join(onlyBaseline, platformDir, "specdec.sse42.node"));

    const built = packageRoot([...allVariants, "build/Release/specdec.node"]);
    expect(findAddon(built)).toBe(path.join(built, "build/Release/specdec.node"));

    process.env.SPECDEC_CPU_VARIANT = "sse42";
    expect(findAddon(built)).toBe(path.join(built, platformDir, "specdec.sse42.node"));
    // forced to a variant that is not there: the source build
    expect(findAddon(packageRoot(["build/Release/specdec.node"]))).toMatch(/build[\\/]Release[\\/]specdec\.node$/);
  });

  it("finds nothing where nothing fits", () => {
    expect(findAddon(packageRoot([]))).toBeNull();
    expect(findAddon(packageRoot([`prebuilds/${process.platform}-other/specdec.sse42.node`]))).toBeNull();
  });
});
