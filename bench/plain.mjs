#!/usr/bin/env node
// Plain (non-speculative) greedy decoding, side by side in one run: specdec (exact numerics, the
// default, and fast), llama.cpp's own llama-completion built from the same pinned source, and
// node-llama-cpp 3.21.1. Same model,
// threads, context and prompts (../shared/bench/prompts.jsonl). The systems take turns, round
// after round, so that drift of the machine's speed hits all of them alike; the report gives, per
// round, the median over prompts of each system's tokens/s relative to llama.cpp, then the median
// and range over rounds.
//
// usage: node bench/plain.mjs [--rounds 3] [--threads 2] [--ctx 2048] [--model file] [--no-peer]
//        [--prompts file] [--kind complete|grounded] [--out bench/results/plain.md]
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values: opt } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    threads: { type: "string", default: "2" },
    ctx: { type: "string", default: "2048" },
    model: { type: "string", default: path.resolve(root, "../shared/models/main-q8_0.gguf") },
    prompts: { type: "string", default: path.resolve(root, "../shared/bench/prompts.jsonl") },
    kind: { type: "string" },
    "no-peer": { type: "boolean", default: false },
    out: { type: "string", default: path.join(root, "bench/results/plain.md") },
  },
});

function sh(cmd, args, options = {}) {
  return execFileSync(cmd, args, { cwd: root, encoding: "utf8", maxBuffer: 1 << 28, ...options });
}

// Set-up: the addon and TS build, llama.cpp's tools, the node-llama-cpp peer.
if (!fs.existsSync(path.join(root, "dist/index.js"))) sh("npx", ["tsc", "-p", "tsconfig.json"], { stdio: "inherit" });
if (!fs.existsSync(path.join(root, "build-tools/bin/llama-completion"))) {
  sh("bash", ["bench/build-llama-tools.sh"], { stdio: "inherit" });
}
const usePeer = !opt["no-peer"];
if (usePeer && !fs.existsSync(path.join(root, "bench/.peer/node_modules/node-llama-cpp"))) {
  console.log("installing node-llama-cpp@3.21.1 into bench/.peer (benchmark only)...");
  fs.mkdirSync(path.join(root, "bench/.peer"), { recursive: true });
  fs.writeFileSync(path.join(root, "bench/.peer/package.json"), '{ "private": true }\n');
  sh("npm", ["install", "--no-audit", "--no-fund", "--prefix", "bench/.peer", "node-llama-cpp@3.21.1"], { stdio: "inherit" });
}

const prompts = fs
  .readFileSync(opt.prompts, "utf8")
  .split("\n")
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l))
  .filter((p) => !opt.kind || p.kind === opt.kind);
const job = { model: opt.model, threads: Number(opt.threads), ctx: Number(opt.ctx), prompts };
const jobFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "specdec-bench-")), "job.json");
fs.writeFileSync(jobFile, JSON.stringify(job));

const systems = [
  { name: "llama.cpp", runner: "bench/systems/llama-completion.mjs" },
  { name: "specdec", runner: "bench/systems/specdec.mjs" },
  { name: "specdec fast", runner: "bench/systems/specdec.mjs", env: { SPECDEC_NUMERICS: "fast" } },
  ...(usePeer ? [{ name: "node-llama-cpp", runner: "bench/systems/node-llama-cpp.mjs" }] : []),
];

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const rounds = Number(opt.rounds);
const results = []; // results[round][system] = Map(id -> {tps, text})
for (let r = 0; r < rounds; r++) {
  const round = {};
  for (const sys of systems) {
    const out = sh(process.execPath, [sys.runner, jobFile], { env: { ...process.env, ...sys.env } });
    round[sys.name] = new Map(out.trim().split("\n").map((l) => JSON.parse(l)).map((x) => [x.id, x]));
    process.stderr.write(`round ${r + 1}/${rounds}: ${sys.name} done\n`);
  }
  results.push(round);
}

const lines = [];
const fmt = (x, d = 1) => x.toFixed(d);
lines.push(`# Plain greedy decoding: specdec vs llama.cpp vs node-llama-cpp`);
lines.push("");
lines.push(`- model \`${path.basename(opt.model)}\`, ${opt.threads} threads, context ${opt.ctx}, ${prompts.length} prompts, ${rounds} rounds`);
lines.push(`- machine: ${os.cpus()[0]?.model ?? "?"}, ${os.availableParallelism()} processors; ${new Date().toISOString()}`);
lines.push(`- command: \`node bench/plain.mjs ${process.argv.slice(2).join(" ")}\``);
lines.push("");
lines.push(`| prompt | ${systems.map((s) => `${s.name} t/s`).join(" | ")} | specdec / llama.cpp | same text as llama.cpp |`);
lines.push(`| --- | ${systems.map(() => "---").join(" | ")} | --- | --- |`);
for (const p of prompts) {
  const tps = (name) => median(results.map((round) => round[name].get(p.id).tps));
  const ratio = median(results.map((round) => round.specdec.get(p.id).tps / round["llama.cpp"].get(p.id).tps));
  // llama-completion ends its output with blank lines of its own: compare without trailing space.
  const same = results[0].specdec.get(p.id).text.trimEnd() === results[0]["llama.cpp"].get(p.id).text.trimEnd();
  lines.push(`| ${p.id} | ${systems.map((s) => fmt(tps(s.name))).join(" | ")} | ${fmt(ratio, 3)} | ${same ? "yes" : "no"} |`);
}
lines.push("");
for (const sys of systems.filter((s) => s.name !== "llama.cpp")) {
  const perRound = results.map((round) => median(prompts.map((p) => round[sys.name].get(p.id).tps / round["llama.cpp"].get(p.id).tps)));
  lines.push(
    `**${sys.name} / llama.cpp**: median over prompts per round ${perRound.map((x) => fmt(x, 3)).join(", ")}; ` +
      `median ${fmt(median(perRound), 3)} (range ${fmt(Math.min(...perRound), 3)}-${fmt(Math.max(...perRound), 3)})`,
  );
  lines.push("");
}
const report = lines.join("\n");
console.log(report);
fs.mkdirSync(path.dirname(opt.out), { recursive: true });
fs.writeFileSync(opt.out, report + "\n");
