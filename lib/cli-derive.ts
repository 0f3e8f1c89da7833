// `specdec derive-draft`: writes a draft model made from the main model's layers, then measures it
// as a drafter for the main model (unless --no-measure).
import { parseArgs } from "node:util";

import { BenchInputError, readPrompts } from "./bench/suite.js";
import { usage, UsageError } from "./cli-flags.js";
import { deriveDraft, measureDraft } from "./derive-draft.js";
import { loadModel } from "./model.js";
import { QUANTIZATION_TYPES, type QuantizationType } from "./quantize.js";

// Without --prompts the main model writes the sample text from these openings.
const DEFAULT_PROMPTS = [
  "The history of the printing press begins",
  "def merge_sorted(a, b):\n    \"\"\"Merge two sorted lists into one sorted list.\"\"\"\n",
  "Here are five tips for writing clear documentation:\n1.",
  "Q: Why is the sky blue?\nA:",
];

export async function deriveDraftCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: "string", short: "m" },
      out: { type: "string", short: "o" },
      layers: { type: "string" },
      keep: { type: "string" },
      spacing: { type: "string" },
      type: { type: "string" },
      prompts: { type: "string" },
      "n-predict": { type: "string", short: "n" },
      "no-measure": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return void console.log(usage("derive-draft"));
  if (!values.model || !values.out) throw new UsageError("derive-draft needs --model and --out");
  if ((values.layers === undefined) === (values.keep === undefined)) throw new UsageError("derive-draft needs --layers or --keep (one of them)");
  const layers = values.layers?.split(",").map((x) => wholeNumber("--layers", x));
  const keepLayers = values.keep === undefined ? undefined : wholeNumber("--keep", values.keep);
  if (values.spacing !== undefined && values.spacing !== "even" && values.spacing !== "ends") throw new UsageError("--spacing must be even or ends");
  if (values.type !== undefined && !(QUANTIZATION_TYPES as readonly string[]).includes(values.type)) {
    throw new UsageError(`--type must be one of ${QUANTIZATION_TYPES.join(", ")}`);
  }
  const maxTokens = values["n-predict"] === undefined ? 96 : wholeNumber("--n-predict", values["n-predict"]);
  let prompts = DEFAULT_PROMPTS;
  try {
    if (values.prompts) prompts = readPrompts(values.prompts, maxTokens).map((p) => p.prompt);
  } catch (err) {
    if (err instanceof BenchInputError) throw new UsageError(err.message);
    throw err;
  }

  const derived = await deriveDraft(values.model, values.out, {
    layers,
    keepLayers,
    spacing: values.spacing as "even" | "ends" | undefined,
    type: values.type as QuantizationType | undefined,
  });
  console.log(
    `wrote ${derived.path}: ${derived.layers.length} of ${derived.sourceLayers} layers (${derived.layers.join(", ")}), ` +
      `${(derived.bytes / 2 ** 20).toFixed(1)} MiB`,
  );
  if (values["no-measure"]) return;
  const main = await loadModel(values.model);
  const draft = await loadModel(derived.path);
  try {
    console.error(`measuring on ${prompts.length} prompts, ${maxTokens} tokens each...`);
    const m = await measureDraft(main, draft, prompts, { maxTokens });
    console.log(
      [
        `cost per token: draft ${m.draftMsPerToken.toFixed(2)} ms, main ${m.mainMsPerToken.toFixed(2)} ms (ratio ${m.costRatio.toFixed(2)})`,
        `kept at 4 drafted a round: first token ${pct(m.firstTokenAcceptance)}, all ${pct(m.acceptanceRate)}; ${m.tokensPerStep.toFixed(2)} tokens per main-model step`,
        `speculative decoding with it: ${m.speedup.toFixed(2)}x plain decoding${m.speedup < 1.05 ? " (it does not pay on this machine)" : ""}`,
        ...(m.identical ? [] : ["warning: a speculative text differed from the plain one (batched evaluation is not exact on this backend)"]),
      ].join("\n"),
    );
  } finally {
    draft.dispose();
    main.dispose();
  }
}

function wholeNumber(flag: string, text: string): number {
  const n = Number(text.trim());
  if (!text.trim() || !Number.isInteger(n) || n < 0) throw new UsageError(`${flag} takes whole numbers, got "${text}"`);
  return n;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(0)}%`;
}
