#!/usr/bin/env node
// `npm install` hook: use a prebuilt binary when one fits this platform, otherwise fetch the
// pinned llama.cpp source (scripts/deps.mjs) and build the addon with cmake-js.
// --from-source or SPECDEC_BUILD_FROM_SOURCE=1 forces the build. SPECDEC_GPU=cuda builds the CUDA
// backend (always a build from source: prebuilds are CPU-only), for the GPU architectures in
// SPECDEC_CUDA_ARCHITECTURES (CMake's list, e.g. "90" or "86;89"; default: llama.cpp's choice,
// the GPUs of this machine); Metal is built by default on macOS.
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);

const gpu = (process.env.SPECDEC_GPU ?? "").toLowerCase();
if (gpu && gpu !== "cuda" && gpu !== "metal" && gpu !== "cpu") {
  console.error(`specdec: SPECDEC_GPU must be "cuda", "metal" or "cpu" (got "${process.env.SPECDEC_GPU}")`);
  process.exit(1);
}

function prebuildFits() {
  if (process.env.SPECDEC_BUILD_FROM_SOURCE === "1" || process.argv.includes("--from-source") || gpu === "cuda") return false;
  try {
    const found = require("node-gyp-build").resolve(root);
    return found.includes(`${path.sep}prebuilds${path.sep}`);
  } catch {
    return false;
  }
}

function run(cmd, args) {
  execFileSync(cmd, args, { cwd: root, stdio: "inherit" });
}

if (prebuildFits()) {
  console.log("specdec: using the prebuilt binary");
} else {
  run(process.execPath, [path.join(root, "scripts/deps.mjs")]);
  const cmakeJs = require.resolve("cmake-js/bin/cmake-js");
  const jobs = String(Math.max(1, os.availableParallelism()));
  const defines = [];
  if (gpu === "cuda") {
    defines.push("--CDSPECDEC_CUDA=ON");
    const archs = process.env.SPECDEC_CUDA_ARCHITECTURES;
    if (archs) defines.push(`--CDCMAKE_CUDA_ARCHITECTURES=${archs}`);
  }
  run(process.execPath, [cmakeJs, "build", "--out", "build", "--parallel", jobs, "--log-level", "warn", ...defines]);
}
