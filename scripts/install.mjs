#!/usr/bin/env node
// `npm install` hook: use a prebuilt binary when one fits this platform and CPU, otherwise take
// the pinned llama.cpp source (shipped in the package, else fetched: scripts/deps.mjs) and build
// the addon with cmake-js (scripts/build-tools.mjs: fetched only then).
// --from-source or SPECDEC_BUILD_FROM_SOURCE=1 forces the build. SPECDEC_GPU=cuda builds the CUDA
// backend (always a build from source: prebuilds are CPU-only), for the GPU architectures in
// SPECDEC_CUDA_ARCHITECTURES (CMake's list, e.g. "90" or "86;89"; default: llama.cpp's choice,
// the GPUs of this machine); SPECDEC_GPU=vulkan the Vulkan backend (needs the Vulkan headers and
// loader and glslc: Debian's libvulkan-dev and glslc); Metal is built by default on macOS.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { buildTools } from "./build-tools.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const gpu = (process.env.SPECDEC_GPU ?? "").toLowerCase();
if (gpu && !["cuda", "vulkan", "metal", "cpu"].includes(gpu)) {
  console.error(`specdec: SPECDEC_GPU must be "cuda", "vulkan", "metal" or "cpu" (got "${process.env.SPECDEC_GPU}")`);
  process.exit(1);
}

async function prebuildFits() {
  if (process.env.SPECDEC_BUILD_FROM_SOURCE === "1" || process.argv.includes("--from-source") || gpu === "cuda" || gpu === "vulkan") return false;
  // dist/ is in the published package; in a fresh checkout it is not built yet, and neither are prebuilds.
  const binary = path.join(root, "dist", "binary.js");
  if (!fs.existsSync(binary)) return false;
  const { findAddon } = await import(pathToFileURL(binary).href);
  const found = findAddon(root);
  return found !== null && found.includes(`${path.sep}prebuilds${path.sep}`);
}

function run(cmd, args) {
  execFileSync(cmd, args, { cwd: root, stdio: "inherit" });
}

if (await prebuildFits()) {
  console.log("specdec: using the prebuilt binary");
} else {
  run(process.execPath, [path.join(root, "scripts/deps.mjs")]);
  const { cmakeJs, nodeAddonApi } = buildTools();
  const jobs = String(Math.max(1, os.availableParallelism()));
  // A development checkout (the published package has no test/) also builds the engine's C++
  // unit tests, which npm test runs.
  const defines = [
    `--CDSPECDEC_ENGINE_TESTS=${fs.existsSync(path.join(root, "test")) ? "ON" : "OFF"}`,
    `--CDNODE_ADDON_API_DIR=${nodeAddonApi}`,
  ];
  if (gpu === "cuda") {
    defines.push("--CDSPECDEC_CUDA=ON");
    const archs = process.env.SPECDEC_CUDA_ARCHITECTURES;
    if (archs) defines.push(`--CDCMAKE_CUDA_ARCHITECTURES=${archs}`);
  }
  if (gpu === "vulkan") defines.push("--CDSPECDEC_VULKAN=ON");
  // --out <folder>: build there instead (a second build beside the first: the Vulkan one in CI).
  const outAt = process.argv.indexOf("--out");
  const out = outAt > 0 && process.argv[outAt + 1] ? process.argv[outAt + 1] : "build";
  run(process.execPath, [cmakeJs, "build", "--out", out, "--parallel", jobs, "--log-level", "warn", ...defines]);
}
