#!/usr/bin/env node
// Benchmark runner for llama.cpp's llama-completion (build-tools/): one process per prompt,
// tokens/s of the generation phase as the tool itself reports it ("eval time"), and its text.
import path from "node:path";

import { llamaCppSystem } from "../../dist/bench/systems.js";
import { root, runJob } from "../lib.mjs";

await runJob((job, settings) => llamaCppSystem("llama.cpp", path.join(root, "build-tools/bin"), { kind: "plain" }, job.model, settings));
