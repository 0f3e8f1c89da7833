#!/usr/bin/env node
// Datastore build cost: tokenizes about --mb megabytes of source text (Python's standard library,
// JavaScript under node_modules, llama.cpp's sources, in that order, text files only) with
// main-q8_0's tokenizer, builds the suffix array and writes the file; reports the time of each
// phase, the peak resident memory, the file size, the time to open it in a session, and the
// reuse check's time when nothing changed.
//
// usage: node bench/datastore.mjs [--mb 100] [--out bench/results/datastore.md] [folder...]
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

import { buildDatastore, loadModel } from "../dist/index.js";
import { machineLine, models, root } from "./lib.mjs";

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: { mb: { type: "string", default: "100" }, out: { type: "string" } },
});
const folders = positionals.length ? positionals : ["/usr/lib/python3", path.join(root, "node_modules"), path.join(root, "deps/llama.cpp")];
const TEXT = /\.(py|js|mjs|cjs|ts|c|cc|cpp|h|hpp|md|txt|rst)$/;
const budget = Number(opt.mb) * 1e6;
const files = [];
let bytes = 0;
function walk(dir) {
  for (const d of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (bytes >= budget) return;
    const p = path.join(dir, d.name);
    if (d.isDirectory()) walk(p);
    else if (d.isFile() && TEXT.test(d.name)) {
      files.push(p);
      bytes += fs.statSync(p).size;
    }
  }
}
for (const f of folders) if (fs.existsSync(f)) walk(f);

const model = await loadModel(path.join(models, "main-q8_0.gguf"));
const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "specdec-datastore-")), "corpus.specdec");
const start = performance.now();
let indexAt = 0;
const store = await buildDatastore(model, { files, path: file }, {
  onProgress: (p) => {
    if (p.phase === "index") indexAt = performance.now();
  },
});
const end = performance.now();
const reuseStart = performance.now();
const again = await buildDatastore(model, { files, path: file });
const reuseMs = performance.now() - reuseStart;
const openStart = performance.now();
const session = await model.createSession({ contextSize: 512, drafters: [{ type: "retrieval", store }] });
const openMs = performance.now() - openStart;
const r = await session.complete("import os\nimport sys\n\n\ndef main():\n", { maxTokens: 64, temperature: 0 });
session.dispose();
model.dispose();
const size = fs.statSync(file).size;
fs.rmSync(path.dirname(file), { recursive: true });

const lines = [
  "# Datastore build",
  "",
  `- machine: ${machineLine()}`,
  `- command: \`node bench/datastore.mjs ${process.argv.slice(2).join(" ")}\``,
  "",
  "| corpus | files | tokens | tokenize | index + write | total | peak RSS | file | reuse check | open in a session |",
  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  `| ${(bytes / 1e6).toFixed(1)} MB | ${files.length} | ${(store.tokens / 1e6).toFixed(1)} M | ${((indexAt - start) / 1000).toFixed(1)} s | ` +
    `${((end - indexAt) / 1000).toFixed(1)} s | ${((end - start) / 1000).toFixed(1)} s | ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB | ` +
    `${(size / 1e6).toFixed(0)} MB | ${reuseMs.toFixed(0)} ms (${again.rebuilt ? "rebuilt!" : "reused"}) | ${openMs.toFixed(0)} ms |`,
  "",
  `A generation drafting from it (64 tokens): ${JSON.stringify(r.stats.drafters)}, ${r.stats.tokensPerStep.toFixed(2)} tokens per step.`,
];
const report = lines.join("\n");
console.log(report);
const out = opt.out ?? path.join(root, "bench/results/datastore.md");
fs.writeFileSync(out, report + "\n");
