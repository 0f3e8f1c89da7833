#!/usr/bin/env node
// Benchmark runner for llama.cpp's speculative tools (build-tools/): llama-speculative-simple with
// a draft model (job.draft, n-max job.draftMaxTokens, default 4), or llama-lookup, n-gram lookup
// in the prompt and the generated text (job.lookup, n-max 8). One process per prompt; tokens/s as
// the tool reports it ("decoded N tokens in S seconds"). The tool inherits this process's
// environment (GGML_BATCH_INVARIANT_MAX).
import path from "node:path";

import { llamaCppSystem } from "../../dist/bench/systems.js";
import { root, runJob } from "../lib.mjs";

await runJob((job, settings) =>
  llamaCppSystem(
    "llama.cpp",
    path.join(root, "build-tools/bin"),
    job.lookup ? { kind: "lookup" } : { kind: "draft", draft: job.draft, draftMax: job.draftMaxTokens ?? 4 },
    job.model,
    settings,
  ),
);
