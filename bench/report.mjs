#!/usr/bin/env node
// The benchmark report shown in the README: `specdec bench` on ../shared (main-q8_0 with
// draft-q8_0, the 12 benchmark prompts), side by side with llama.cpp's tools built from the same
// pinned source and node-llama-cpp 3.21.1 (on the first prompt of each kind: it is slow with its
// predictors). Builds what it compares first. Extra arguments go to `specdec bench`.
//
// usage: node bench/report.mjs [--rounds 3] [--temp 0] [-o bench/report] [...]
import { spawnSync } from "node:child_process";
import path from "node:path";

import { models, root, setUp } from "./lib.mjs";

setUp({ peer: true });
const args = [
  "bench",
  "-m", path.relative(root, path.join(models, "main-q8_0.gguf")),
  "-d", path.relative(root, path.join(models, "draft-q8_0.gguf")),
  "--prompts", "../shared/bench/prompts.jsonl",
  "--llama-cpp", "build-tools/bin",
  "--node-llama-cpp", "bench/.peer",
  "--node-llama-cpp-prompts", "1",
  "-o", "bench/report",
  ...process.argv.slice(2),
];
const r = spawnSync(process.execPath, [path.join(root, "dist/cli.js"), ...args], { stdio: "inherit", cwd: root });
process.exitCode = r.status ?? 1;
