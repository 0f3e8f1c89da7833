#!/usr/bin/env node
// Benchmark runner for llama.cpp's speculative tools (build-tools/): llama-speculative-simple with
// a draft model (job.draft), or llama-lookup, n-gram lookup in the prompt and the generated text
// (job.lookup). One process per prompt; tokens/s as the tool reports it ("decoded N tokens in S
// seconds").
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const tool = job.lookup ? "llama-lookup" : "llama-speculative-simple";
const bin = path.join(root, "build-tools/bin", tool);
for (const p of job.prompts) {
  const args = ["-m", job.model, "-p", p.prompt, "-n", String(p.n_predict), "--temp", String(job.temperature),
    "--seed", String(job.seed ?? 1), "-t", String(job.threads), "-c", String(job.ctx),
    "--spec-draft-n-max", String(job.draftMaxTokens ?? 4),
    ...(job.lookup ? [] : ["-md", job.draft, "--spec-type", "draft-simple"])];
  const r = spawnSync(bin, args, { encoding: "utf8", maxBuffer: 1 << 26 });
  const all = (r.stdout ?? "") + (r.stderr ?? "");
  const m = /decoded\s+(\d+) tokens in\s+([\d.]+) seconds/.exec(all);
  if (!m) throw new Error(`${tool} printed no timing for ${p.id}:\n${all.slice(-2000)}`);
  const tokens = Number(m[1]);
  const ms = Number(m[2]) * 1000;
  const acc = /accept\s+=\s+([\d.]+)%/.exec(all);
  console.log(JSON.stringify({ id: p.id, tokens, ms, tps: (tokens * 1000) / ms, acceptance: acc ? Number(acc[1]) / 100 : null }));
}
