#!/usr/bin/env node
// `npm install` hook: use a prebuilt binary when one fits this platform, otherwise fetch the
// pinned llama.cpp source (scripts/deps.mjs) and build the addon with cmake-js.
// --from-source or SPECDEC_BUILD_FROM_SOURCE=1 forces the build; SPECDEC_CUDA=1 builds the CUDA
// backend.
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);

function prebuildFits() {
  if (process.env.SPECDEC_BUILD_FROM_SOURCE === "1" || process.argv.includes("--from-source")) return false;
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
  if (process.env.SPECDEC_CUDA === "1") defines.push("--CDSPECDEC_CUDA=ON");
  run(process.execPath, [cmakeJs, "build", "--out", "build", "--parallel", jobs, "--log-level", "warn", ...defines]);
}
