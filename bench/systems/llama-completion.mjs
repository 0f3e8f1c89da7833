#!/usr/bin/env node
// Benchmark runner for llama.cpp's llama-completion (build-tools/): one process per prompt,
// tokens/s of the generation phase as the tool itself reports it ("eval time").
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bin = path.join(root, "build-tools/bin/llama-completion");
const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
for (const p of job.prompts) {
  const args = ["-m", job.model, "-p", p.prompt, "-n", String(p.n_predict), "--temp", String(job.temperature),
    "--seed", String(job.seed ?? 1), "-t", String(job.threads),
    "-c", String(job.ctx), "-no-cnv", "--no-display-prompt"];
  const r = spawnSync(bin, args, { encoding: "utf8", maxBuffer: 1 << 26 });
  const stdout = r.stdout ?? "";
  const stderr = r.stderr ?? "";
  const all = stdout + stderr;
  const m = /eval time =\s*([\d.]+) ms \/\s*(\d+) runs/.exec(all.split("prompt eval time").join("PROMPT"));
  if (!m) throw new Error(`llama-completion printed no timing for ${p.id}:\n${all.slice(-2000)}`);
  const ms = Number(m[1]);
  const runs = Number(m[2]);
  const text = stdout.replace(/\n*llama_completion:.*$/s, "");
  console.log(JSON.stringify({ id: p.id, tokens: runs, ms, tps: (runs * 1000) / ms, text }));
}
