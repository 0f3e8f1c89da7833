#!/usr/bin/env node
// The real install test: packs specdec as npm would publish it, installs the tarball into a fresh
// project under the OS temp folder with no compiler, CMake, make or ninja on PATH (the install
// script must take the prebuild and fetch no build tools), then loads
// ../shared/models/main-q8_0.gguf and generates, once with the prebuild this CPU gets and once
// forced to each prebuilt CPU variant it can run; last, fetches the build tools a source build
// would need. Needs `npm run prebuild` first. Prints the tarball's size.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { cpuFlags, nodeHost, runnableX64Variants } from "../dist/binary.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const model = path.resolve(root, "../shared/models/main-q8_0.gguf");
const prebuilds = path.join(root, "prebuilds", `${process.platform}-${process.arch}`);

function fail(message) {
  console.error(`install test: ${message}`);
  process.exit(1);
}

if (!fs.existsSync(prebuilds) || fs.readdirSync(prebuilds).length === 0) fail(`no prebuilds in ${prebuilds}: run \`npm run prebuild\` first`);
const variants = fs
  .readdirSync(prebuilds)
  .map((f) => /^specdec\.(\w+)\.node$/.exec(f)?.[1])
  .filter(Boolean);

const work = fs.mkdtempSync(path.join(os.tmpdir(), "specdec-install-"));
try {
  // A PATH with node, npm and sh alone: no cc, c++, cmake, make, ninja.
  const bin = path.join(work, "bin");
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, "node"));
  const npmCli = execFileSync("npm", ["root", "-g"], { encoding: "utf8" }).trim() + "/npm/bin/npm-cli.js";
  fs.symlinkSync(npmCli, path.join(bin, "npm"));
  fs.symlinkSync("/bin/sh", path.join(bin, "sh"));  // npm runs install scripts with it
  const env = { ...process.env, PATH: bin };
  for (const tool of ["cc", "c++", "gcc", "g++", "cmake", "make", "ninja"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${tool}`], { env, stdio: "pipe" });
      fail(`${tool} is still on PATH`);
    } catch {
      // not found: as wanted
    }
  }

  execFileSync("npm", ["pack", "--pack-destination", work, "--silent"], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
  const tarball = fs.readdirSync(work).find((f) => f.endsWith(".tgz"));
  if (!tarball) fail("npm pack made no tarball");
  console.log(`tarball: ${tarball}, ${(fs.statSync(path.join(work, tarball)).size / 2 ** 20).toFixed(1)} MiB`);

  const app = path.join(work, "app");
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, "package.json"), '{ "name": "app", "private": true, "type": "module" }\n');
  const installLog = execFileSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--foreground-scripts", path.join(work, tarball)], {
    cwd: app,
    env,
    encoding: "utf8",
  });
  if (!installLog.includes("specdec: using the prebuilt binary")) fail(`the install script did not take the prebuild:\n${installLog}`);
  if (fs.existsSync(path.join(app, "node_modules/specdec/build"))) fail("the install built something");
  // A prebuild that fits needs no build tools.
  for (const tool of ["cmake-js", "node-addon-api"]) {
    if (fs.existsSync(path.join(app, "node_modules", tool))) fail(`${tool} was installed beside a prebuild that fits`);
  }

  const script = `
import { loadModel, nativeBinary } from "specdec";
const model = await loadModel(${JSON.stringify(model)});
const session = await model.createSession({ contextSize: 512, threads: 2 });
const r = await session.complete("def fibonacci(n):\\n", { maxTokens: 48, temperature: 0 });
console.log(JSON.stringify({ binary: nativeBinary().split(/[\\\\/]/).slice(-3).join("/"), tokens: r.stats.generatedTokens, tps: Math.round(r.stats.tokensPerSecond), text: r.text.slice(0, 40) }));
`;
  const generate = (variant) => {
    const out = execFileSync("node", ["--input-type=module", "-e", script], {
      cwd: app,
      env: { ...env, ...(variant ? { SPECDEC_CPU_VARIANT: variant } : {}) },
      encoding: "utf8",
    });
    const r = JSON.parse(out.trim().split("\n").pop());
    if (r.tokens !== 48) fail(`${variant ?? "default"}: generated ${r.tokens} tokens, expected 48`);
    console.log(`${variant ?? "chosen for this CPU"}: ${r.binary}, ${r.tokens} tokens, ${r.tps} tokens/s, ${JSON.stringify(r.text)}`);
  };
  generate(undefined);
  // a variant whose instructions this CPU lacks would die of SIGILL: it is said, not run
  const runnable = process.arch === "x64" ? new Set(runnableX64Variants({}, () => cpuFlags(nodeHost(), []))) : null;
  for (const v of variants) {
    if (runnable && !runnable.has(v)) console.log(`${v}: not run (this CPU lacks its instructions)`);
    else generate(v);
  }
  // Where none fits, the install builds from source: the tools it needs come then (the build
  // itself, minutes of compiling, is what \`npm install\` in a checkout does, tested there).
  const tools = JSON.parse(
    execFileSync("node", ["node_modules/specdec/scripts/build-tools.mjs"], { cwd: app, env, encoding: "utf8" }).trim().split("\n").pop(),
  );
  if (!fs.existsSync(tools.cmakeJs) || !fs.existsSync(path.join(tools.nodeAddonApi, "napi.h"))) fail(`build tools not fetched: ${JSON.stringify(tools)}`);
  console.log(`build tools fetched on demand: ${path.relative(app, tools.cmakeJs)}`);
  console.log("install test: ok");
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
