// Draft models measured as drafters for one main model (lib/derive-draft.ts measureDraft): each
// model's time per token, the share of drafts kept at a fixed length of 4, and the speedup of
// adaptive drafting over plain decoding, greedy, by prompt kind. A draft is a GGUF path,
// "layers:0,3,6,9" (derived from the main model with those layers; "layers:0,5,9@Q4_0" also
// requantized, written to the OS temp folder) or "xlate:<path>" (another vocabulary, translated).
//
//   node bench/draft-models.mjs --model ../shared/models/main-q8_0.gguf [--tokens 96] [--reps 1] \
//     ../shared/models/draft-q8_0.gguf layers:0,3,6,9 xlate:/tmp/other-vocab.gguf
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

import { loadPrompts, models } from "./lib.mjs";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    model: { type: "string" },
    prompts: { type: "string", default: path.join(models, "../bench/prompts.jsonl") },
    tokens: { type: "string", default: "96" },
    reps: { type: "string", default: "1" },
  },
});
if (!values.model || positionals.length === 0) {
  console.error("usage: node bench/draft-models.mjs --model <main.gguf> [--tokens 96] [--reps 1] <draft>...");
  process.exit(2);
}
const { deriveDraft, loadModel, measureDraft } = await import("../dist/index.js");
const prompts = loadPrompts(values.prompts);
const main = await loadModel(values.model);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "specdec-drafts-"));
console.log(`main ${values.model}, ${values.tokens} tokens a prompt, greedy`);
console.log("| draft | size | kind | cost ratio | kept at position 1 | kept | tokens per step (k = 4) | speedup | identical |");
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
try {
  for (const spec of positionals) {
    const translate = spec.startsWith("xlate:");
    let file = spec.replace(/^xlate:/, "");
    if (spec.startsWith("layers:")) {
      const [layers, type] = spec.slice("layers:".length).split("@");
      file = path.join(dir, `derived-${layers.replace(/,/g, "_")}${type ? "-" + type : ""}.gguf`);
      await deriveDraft(values.model, file, { layers: layers.split(",").map(Number), ...(type ? { type } : {}) });
    }
    const draft = await loadModel(file);
    const mib = (fs.statSync(file).size / 2 ** 20).toFixed(1);
    for (const kind of [...new Set(prompts.map((p) => p.kind))]) {
      const texts = prompts.filter((p) => p.kind === kind).map((p) => p.prompt);
      for (let rep = 0; rep < Number(values.reps); rep++) {
        const m = await measureDraft(main, draft, texts, { maxTokens: Number(values.tokens), translate });
        const pct = (x) => `${(x * 100).toFixed(0)}%`;
        console.log(
          `| ${spec} | ${mib} MiB | ${kind} | ${m.costRatio.toFixed(3)} | ${pct(m.firstTokenAcceptance)} | ${pct(m.acceptanceRate)} | ` +
            `${m.tokensPerStep.toFixed(2)} | ${m.speedup.toFixed(2)}x | ${m.identical ? "yes" : "NO"} |`,
        );
      }
    }
    draft.dispose();
  }
} finally {
  main.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
}
