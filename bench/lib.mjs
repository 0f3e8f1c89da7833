// Shared pieces of the benchmark scripts: set-up of the tools compared, prompts, and runner
// scripts as systems of lib/bench (dist/bench/), whose runRounds and median every benchmark uses.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const models = path.resolve(root, "../shared/models");

export function sh(cmd, args, options = {}) {
  return execFileSync(cmd, args, { cwd: root, encoding: "utf8", maxBuffer: 1 << 28, ...options });
}

// lib/bench, compiled (dist/): the harness every benchmark runs on.
if (!fs.existsSync(path.join(root, "dist/bench/run.js"))) sh("npx", ["tsc", "-p", "tsconfig.json"], { stdio: "inherit" });
const run = await import("../dist/bench/run.js");

/** Builds what the benchmarks run: llama.cpp's tools, and (unless told not to) the node-llama-cpp peer. */
export function setUp({ peer }) {
  if (!fs.existsSync(path.join(root, "build-tools/bin/llama-speculative-simple"))) {
    sh("bash", ["bench/build-llama-tools.sh"], { stdio: "inherit" });
  }
  if (peer && !fs.existsSync(path.join(root, "bench/.peer/node_modules/node-llama-cpp"))) {
    console.log("installing node-llama-cpp@3.21.1 into bench/.peer (benchmark only)...");
    fs.mkdirSync(path.join(root, "bench/.peer"), { recursive: true });
    fs.writeFileSync(path.join(root, "bench/.peer/package.json"), '{ "private": true }\n');
    sh("npm", ["install", "--no-audit", "--no-fund", "--prefix", "bench/.peer", "node-llama-cpp@3.21.1"], { stdio: "inherit" });
  }
}

export function loadPrompts(file, kind) {
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l))
    .filter((p) => !kind || p.kind === kind);
}

/**
 * Runs every prompt on each system (a runner script taking a job file, bench/systems/) in turns,
 * round after round, with lib/bench's runRounds (the one round-robin of every benchmark). A
 * system's job is the common job merged with its own fields; maxPrompts limits it to the first
 * prompts, ids (a Set) to those prompts.
 * Returns results[round][system name] = Map(id -> the runner's result).
 */
export async function runRounds(systems, job, rounds) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "specdec-bench-"));
  const runners = systems.map((sys) => ({
    name: sys.name,
    ids: new Set(job.prompts.filter((p, i) => (!sys.maxPrompts || i < sys.maxPrompts) && (!sys.ids || sys.ids.has(p.id))).map((p) => p.id)),
    async run(prompt) {
      const jobFile = path.join(dir, `${sys.name.replace(/\W+/g, "_")}.json`);
      fs.writeFileSync(jobFile, JSON.stringify({ ...job, ...sys.job, prompts: [prompt] }));
      const out = sh(process.execPath, [sys.runner, jobFile], { env: { ...process.env, ...sys.env } });
      return JSON.parse(out.trim().split("\n").at(-1));
    },
  }));
  const results = await run.runRounds(runners, job.prompts, rounds, (done, total, what) => {
    if (done % systems.length === 0) process.stderr.write(`[${done}/${total}] ${what}\n`);
  });
  fs.rmSync(dir, { recursive: true, force: true });
  return results.map((round) => Object.fromEntries(systems.map((sys, i) => [sys.name, round[i]])));
}

/**
 * Speedup table rows for num / den: per round the median over the prompts of a kind, then the
 * median and the list over rounds, and the lowest single prompt of any round.
 */
export function ratioRows(results, prompts, num, den) {
  const fmt = (x) => (x === undefined || Number.isNaN(x) ? "-" : x.toFixed(2));
  const tps = (round, name, id) => round[name].get(id)?.tps;
  const rows = [];
  for (const kind of [...new Set(prompts.map((p) => p.kind))]) {
    const ids = prompts.filter((p) => p.kind === kind && results[0][num].has(p.id) && results[0][den].has(p.id)).map((p) => p.id);
    if (!ids.length) continue;
    const perRound = results.map((r) => median(ids.map((id) => tps(r, num, id) / tps(r, den, id))));
    const lowest = Math.min(...results.flatMap((r) => ids.map((id) => tps(r, num, id) / tps(r, den, id))));
    rows.push(`| ${num} / ${den} | ${kind} | ${perRound.map(fmt).join(", ")} | **${fmt(median(perRound))}** | ${fmt(lowest)} |`);
  }
  return rows;
}

export const median = run.median;

export function machineLine() {
  return `${os.cpus()[0]?.model ?? "?"}, ${os.availableParallelism()} processors; ${new Date().toISOString()}`;
}

/**
 * A runner's body for a system of `specdec bench` (dist/bench/systems.js): reads the JSON job
 * from argv[2], runs each prompt, prints one JSON line per prompt as runRounds expects.
 */
export async function runJob(makeSystem) {
  const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const settings = { threads: job.threads, contextSize: job.ctx, temperature: job.temperature, seed: job.seed ?? 1 };
  const system = makeSystem(job, settings);
  try {
    for (const p of job.prompts) {
      const r = await system.run({ id: p.id, kind: p.kind, prompt: p.prompt, maxTokens: p.n_predict });
      console.log(JSON.stringify({ id: p.id, tokens: r.tokens, tps: r.tokensPerSecond, acceptance: r.acceptance ?? null, text: r.text }));
    }
  } finally {
    await system.close?.();
  }
}
