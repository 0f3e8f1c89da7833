#!/usr/bin/env node
// The benchmark report shown in the README: `specdec bench` on ../shared (main-q8_0 with
// draft-q8_0, the 12 benchmark prompts), side by side with llama.cpp's tools built from the same
// pinned source and node-llama-cpp 3.21.1 (on the first prompt of each kind: it is slow with its
// predictors). Builds what it compares first. `--scale 1b:Q4_K_M` (SIZE:FORMAT, see
// bench/scale.mjs) takes the realistic-cost main model of that size and format instead (built into
// the model cache first if missing), with the same draft model. Extra arguments go to
// `specdec bench`.
//
// usage: node bench/report.mjs [--scale 1b:Q4_K_M] [--rounds 3] [--temp 0] [-o bench/report] [...]
import { spawnSync } from "node:child_process";
import path from "node:path";

import { models, root, setUp } from "./lib.mjs";
import { scaledModel } from "./scale.mjs";

setUp({ peer: true });
const args = process.argv.slice(2);
const scaleAt = args.indexOf("--scale");
const scale = scaleAt >= 0 ? args.splice(scaleAt, 2)[1] : undefined;
const [size, format] = scale ? scale.split(":") : [];
const main = scale ? await scaledModel(size, format) : path.join(models, "main-q8_0.gguf");
const out = scale ? `bench/report-${size}-${format.toLowerCase()}` : "bench/report";
const r = spawnSync(
  process.execPath,
  [
    path.join(root, "dist/cli.js"),
    "bench",
    "-m", scale ? main : path.relative(root, main),
    "-d", path.relative(root, path.join(models, "draft-q8_0.gguf")),
    "--prompts", "../shared/bench/prompts.jsonl",
    "--llama-cpp", "build-tools/bin",
    "--node-llama-cpp", "bench/.peer",
    "--node-llama-cpp-prompts", "1",
    "-o", out,
    ...args,
  ],
  { stdio: "inherit", cwd: root },
);
process.exitCode = r.status ?? 1;
