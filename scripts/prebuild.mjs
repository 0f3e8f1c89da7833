#!/usr/bin/env node
// `npm run prebuild`: builds the addon for distribution into prebuilds/<platform>-<arch>/ (the
// layout of prebuildify). Never for this machine alone (no -march=native): on x86-64 one file per
// CPU level, specdec.<variant>.node, of which lib/binary.ts loads the best the CPU runs; on other
// architectures one specdec.node for the architecture's baseline. Each variant is a cmake-js
// build of its own in build-prebuild/<variant>; what they share (llama.cpp outside ggml's CPU
// backend, which alone gets the CPU flags) comes from ccache when it is installed.
//
//   node scripts/prebuild.mjs [--variants avx512,avx2,sse42]
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { buildTools } from "./build-tools.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

// ggml's CPU options per x86-64 level (lib/binary.ts names the CPU flags each needs).
const X64 = {
  avx512: ["SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX512", "AVX512_VBMI", "AVX512_VNNI"],
  avx2: ["SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2"],
  sse42: ["SSE42"],
};

const X86_OPTIONS = ["SSE42", "AVX", "AVX_VNNI", "AVX2", "BMI2", "FMA", "F16C", "AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16", "AMX_TILE", "AMX_INT8", "AMX_BF16"];

const { values } = parseArgs({ options: { variants: { type: "string" } } });
const variants = process.arch === "x64" ? (values.variants ?? Object.keys(X64).join(",")).split(",") : ["baseline"];
for (const v of variants) {
  if (process.arch === "x64" && !X64[v]) {
    console.error(`prebuild: unknown variant ${v} (known: ${Object.keys(X64).join(", ")})`);
    process.exit(2);
  }
}

execFileSync(process.execPath, [path.join(root, "scripts/deps.mjs")], { cwd: root, stdio: "inherit" });
const { cmakeJs, nodeAddonApi } = buildTools();
const outDir = path.join(root, "prebuilds", `${process.platform}-${process.arch}`);
fs.mkdirSync(outDir, { recursive: true });
// Paths under the root are hashed relative to it, so the variants' build folders share objects.
const env = { ...process.env, CCACHE_BASEDIR: root };

for (const v of variants) {
  const start = Date.now();
  const build = path.join("build-prebuild", v);
  // Every x86 option set, on or off: with GGML_NATIVE off, ggml turns AVX2 and others on by default.
  const defines = ["--CDSPECDEC_NATIVE=OFF", `--CDNODE_ADDON_API_DIR=${nodeAddonApi}`];
  if (X64[v]) for (const o of X86_OPTIONS) defines.push(`--CDGGML_${o}=${X64[v].includes(o) ? "ON" : "OFF"}`);
  const log = path.join(root, "build-prebuild", `${v}.log`);
  fs.mkdirSync(path.dirname(log), { recursive: true });
  const fd = fs.openSync(log, "w");
  try {
    // configure, then build: `cmake-js build` alone does not configure an existing build folder again.
    const options = { cwd: root, env, stdio: ["ignore", fd, fd] };
    execFileSync(process.execPath, [cmakeJs, "configure", "--out", build, "--log-level", "warn", ...defines], options);
    execFileSync(process.execPath, [cmakeJs, "build", "--out", build, "--parallel", String(os.availableParallelism()), "--log-level", "warn", ...defines], options);
  } catch {
    console.error(fs.readFileSync(log, "utf8").split("\n").slice(-40).join("\n"));
    console.error(`prebuild: the ${v} build failed (whole log: ${path.relative(root, log)})`);
    process.exit(1);
  } finally {
    fs.closeSync(fd);
  }
  const file = path.join(outDir, process.arch === "x64" ? `specdec.${v}.node` : "specdec.node");
  fs.copyFileSync(path.join(root, build, "Release", "specdec.node"), file);
  if (process.platform === "linux") execFileSync("strip", ["--strip-unneeded", file]);
  const mb = (fs.statSync(file).size / 2 ** 20).toFixed(1);
  console.log(`prebuild: ${path.relative(root, file)} (${mb} MiB, ${((Date.now() - start) / 1000).toFixed(0)} s)`);
  // The CPU probe (built with no instruction-set flags, the same in every variant's folder): the
  // loader's way to read the CPU's features where the system has no file or command for them.
  const probe = path.join(root, build, "Release", "cpu-probe.node");
  if (process.arch === "x64" && fs.existsSync(probe)) fs.copyFileSync(probe, path.join(outDir, "cpu-probe.node"));
}
