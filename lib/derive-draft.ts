// Draft models made from the main model alone (a subset of its layers, optionally requantized),
// and the measurement that says whether a draft model pays for a main model.
import fs from "node:fs";

import { SpecdecError, wrapNative } from "./errors.js";
import type { Model } from "./model.js";
import { addon } from "./native.js";
import { QUANTIZATION_TYPES, type QuantizationType } from "./quantize.js";
import * as v from "./validate.js";

/** Options of {@link deriveDraft}: `layers`, or `keepLayers` (with `spacing`). */
export interface DeriveDraftOptions {
  /** The main model's layers to keep (0-based, ascending). */
  layers?: number[];
  /** How many layers to keep, picked by `spacing`. */
  keepLayers?: number;
  /** "even" (default): spread over the model, first and last included; "ends": the first keepLayers-1 and the last. */
  spacing?: "even" | "ends";
  /** Requantize the draft to this format (e.g. "Q4_0"); default: the main model's tensors as they are. */
  type?: QuantizationType;
  /** Threads to requantize with (default: all cores). */
  threads?: number;
}

/** What {@link deriveDraft} wrote. */
export interface DerivedDraft {
  path: string;
  /** The model's architecture (general.architecture). */
  architecture: string;
  /** Layers of the main model. */
  sourceLayers: number;
  /** The main model's layers kept, in order (the draft's layer i is layers[i]). */
  layers: number[];
  /** Size of the written file. */
  bytes: number;
}

/**
 * Writes a draft model made from `source` alone: the layers kept, renumbered; the vocabulary,
 * embeddings, output head and metadata unchanged (so it always matches the main model's
 * vocabulary); optionally requantized. Without training a model with most of its layers gone
 * guesses less well: measure it with {@link measureDraft} before relying on it. Runs off the
 * main thread; the file appears whole or not at all.
 *
 * @example
 * await deriveDraft("llama-8b-q4_k_m.gguf", "llama-8b-draft.gguf", { keepLayers: 8, type: "Q4_0" });
 * @throws SpecdecError MODEL_NOT_FOUND, INVALID_MODEL, INVALID_ARGUMENT, IO_ERROR
 */
export async function deriveDraft(source: string, destination: string, options: DeriveDraftOptions): Promise<DerivedDraft> {
  v.string("source", source);
  v.string("destination", destination);
  const o = v.optionsObject("options", options, { layers: true, keepLayers: true, spacing: true, type: true, threads: true });
  const layers = v.maybe(o.layers, (x) => {
    if (!Array.isArray(x) || x.length === 0) throw new SpecdecError("INVALID_ARGUMENT", "layers must be a non-empty array of layer indices");
    return x.map((layer, i) => v.integer(`layers[${i}]`, layer, 0, 1 << 20));
  });
  const keep = v.maybe(o.keepLayers, (x) => v.integer("keepLayers", x, 1, 1 << 20));
  if ((layers === undefined) === (keep === undefined)) throw new SpecdecError("INVALID_ARGUMENT", "give either layers or keepLayers");
  const result = await wrapNative(() =>
    addon.deriveDraft(source, destination, {
      layers,
      keep,
      spacing: v.maybe(o.spacing, (x) => v.oneOf("spacing", x, ["even", "ends"] as const)),
      type: v.maybe(o.type, (x) => v.oneOf("type", x, QUANTIZATION_TYPES)),
      threads: v.maybe(o.threads, (x) => v.integer("threads", x, 1, 1024)),
    }),
  );
  return { path: destination, ...result, bytes: fs.statSync(destination).size };
}

/** Options of {@link measureDraft}. */
export interface MeasureDraftOptions {
  /** Tokens generated per prompt (default 96). */
  maxTokens?: number;
  /** Draft length of the fixed-length run that measures acceptance (default 4). */
  draftTokens?: number;
  /** The draft model has another vocabulary (see DraftOptions.translate). Default false. */
  translate?: boolean;
}

/** What {@link measureDraft} found, over all prompts. */
export interface DraftMeasurement {
  prompts: number;
  /** Milliseconds per token of the main model and of the draft model, each decoding alone. */
  mainMsPerToken: number;
  draftMsPerToken: number;
  /** draftMsPerToken / mainMsPerToken: what one drafted token costs in main-model steps. */
  costRatio: number;
  /** With `draftTokens` drafted every round: the share of first drafted tokens kept, and of all. */
  firstTokenAcceptance: number;
  acceptanceRate: number;
  /** Generated tokens per main-model step in that run. */
  tokensPerStep: number;
  /** Tokens per second with the draft model (adaptive drafting, the default) over plain decoding's. */
  speedup: number;
  /** Whether every speculative text equalled the plain one (greedy: it must). */
  identical: boolean;
}

/**
 * Measures `draft` as a drafter for `main` on the prompts, greedy: each model's cost per token
 * alone, acceptance with a fixed draft length, and the speedup of speculative decoding with the
 * default (adaptive) drafting over plain decoding. Each prompt is generated four times; the times
 * are only as steady as the machine.
 */
export async function measureDraft(main: Model, draft: Model, prompts: string[], options: MeasureDraftOptions = {}): Promise<DraftMeasurement> {
  v.stringArray("prompts", prompts);
  if (prompts.length === 0) throw new SpecdecError("INVALID_ARGUMENT", "prompts must not be empty");
  const o = v.optionsObject("options", options, { maxTokens: true, draftTokens: true, translate: true });
  const translate = v.maybe(o.translate, (x) => v.boolean("translate", x));
  const maxTokens = v.maybe(o.maxTokens, (x) => v.integer("maxTokens", x, 1, 1 << 20)) ?? 96;
  const draftTokens = v.maybe(o.draftTokens, (x) => v.integer("draftTokens", x, 1, 63)) ?? 4;
  const generation = { maxTokens, temperature: 0 };
  // No other drafter (sessions have lookup unless told otherwise): the draft model alone is measured.
  const plain = await main.createSession({ drafters: [] });
  const draftAlone = await draft.createSession({ drafters: [] });
  const fixed = await main.createSession({ draft: { model: draft, maxTokens: draftTokens, adaptive: false, translate }, drafters: [] });
  const adaptive = await main.createSession({ draft: { model: draft, translate }, drafters: [] });
  let identical = true;
  try {
    for (const prompt of prompts) {
      const base = await plain.complete(prompt, generation);
      await draftAlone.complete(prompt, generation);
      const measured = await fixed.complete(prompt, generation);
      const fast = await adaptive.complete(prompt, generation);
      identical &&= measured.text === base.text && fast.text === base.text;
    }
    // Each session's figures over all prompts.
    const [p, d, f, a] = [plain.totals, draftAlone.totals, fixed.totals, adaptive.totals];
    const mainMsPerToken = p.generationMs / Math.max(1, p.generatedTokens);
    const draftMsPerToken = d.generationMs / Math.max(1, d.generatedTokens);
    return {
      prompts: prompts.length,
      mainMsPerToken,
      draftMsPerToken,
      costRatio: draftMsPerToken / mainMsPerToken,
      firstTokenAcceptance: f.draftedAt[0] ? (f.acceptedAt[0] ?? 0) / f.draftedAt[0] : 0,
      acceptanceRate: f.acceptanceRate,
      tokensPerStep: f.tokensPerStep,
      speedup: p.tokensPerSecond > 0 ? a.tokensPerSecond / p.tokensPerSecond : 0,
      identical,
    };
  } finally {
    for (const s of [plain, draftAlone, fixed, adaptive]) s.dispose();
  }
}
