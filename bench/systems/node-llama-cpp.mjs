#!/usr/bin/env node
// Benchmark runner for node-llama-cpp 3.21.1 (installed by the benchmarks into bench/.peer):
// completion of each prompt, optionally with its DraftSequenceTokenPredictor (job.draft, at most
// job.draftMaxTokens, default 8) or its InputLookupTokenPredictor (job.inputLookup); tokens/s from
// the first generated token to the last.
import path from "node:path";

import { nodeLlamaCppSystem } from "../../dist/bench/systems.js";
import { root, runJob } from "../lib.mjs";

await runJob((job, settings) =>
  nodeLlamaCppSystem(
    "node-llama-cpp",
    path.join(root, "bench/.peer"),
    job.draft ? { kind: "draft", draft: job.draft, draftMax: job.draftMaxTokens ?? 8 } : job.inputLookup ? { kind: "lookup" } : { kind: "plain" },
    job.model,
    settings,
  ),
);
