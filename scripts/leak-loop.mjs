#!/usr/bin/env node
// A loop for leak checkers (scripts/sanitize.sh runs it under LeakSanitizer): models loaded and
// disposed, sessions with every drafter created, generating (greedy, sampled, aborted) and
// disposed, a datastore built and opened. Everything is disposed at the end, so whatever the
// checker still finds allocated by specdec or llama.cpp is a leak.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { buildDatastore, loadModel } = await import(path.join(root, "dist/index.js"));
const models = path.resolve(root, "../shared/models");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "specdec-leak-"));
try {
  for (let round = 0; round < 3; round++) {
    const model = await loadModel(path.join(models, "tiny-q8_0.gguf"));
    const draft = await loadModel(path.join(models, "tiny-q8_0.gguf"));
    const store = await buildDatastore(model, { texts: ["def f(x):\n    return x + 1\n".repeat(50)], path: path.join(dir, "s.specdec") });
    const kinds = [{ drafters: [] }, {}, { draft: { model: draft } }, { drafters: [{ type: "retrieval", store }, { type: "lookahead" }] }];
    for (const [i, kind] of kinds.entries()) {
      const s = await model.createSession({ contextSize: 128, threads: 1, ...kind });
      await s.complete("def f(x):\n", { maxTokens: 16, temperature: i % 2 ? 0.8 : 0, seed: i });
      const controller = new AbortController();
      const run = s.complete("import os\n", { maxTokens: 64, signal: controller.signal }).catch(() => {});
      setTimeout(() => controller.abort(), 2);
      await run;
      s.dispose();
    }
    model.dispose();
    draft.dispose();
  }
  await new Promise((r) => setTimeout(r, 200));  // models are freed on the thread pool
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
console.log("leak loop done");
