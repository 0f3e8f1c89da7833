import { wrapNative } from "./errors.js";
import { addon } from "./native.js";
import * as v from "./validate.js";

/** Weight formats {@link quantizeModel} writes (llama-quantize's names). */
export const QUANTIZATION_TYPES = [
  "F32",
  "F16",
  "BF16",
  "Q4_0",
  "Q4_1",
  "Q5_0",
  "Q5_1",
  "Q8_0",
  "Q2_K",
  "Q2_K_S",
  "Q3_K_S",
  "Q3_K_M",
  "Q3_K_L",
  "Q4_K_S",
  "Q4_K_M",
  "Q5_K_S",
  "Q5_K_M",
  "Q6_K",
  "IQ4_NL",
  "IQ4_XS",
] as const;

/** A weight format of {@link QUANTIZATION_TYPES}. */
export type QuantizationType = (typeof QUANTIZATION_TYPES)[number];

/** Options of {@link quantizeModel}. */
export interface QuantizeOptions {
  /** The format, e.g. "Q4_K_M" (llama.cpp's mix: most tensors Q4_K, some Q6_K). */
  type: QuantizationType;
  /** Every tensor in the format's base type (e.g. all Q4_K for "Q4_K_M"), no per-tensor mix. Default false. */
  pure?: boolean;
  /** Threads to quantize with (default: all cores). */
  threads?: number;
}

/**
 * Writes a copy of a GGUF model in another weight format, as llama.cpp's `llama-quantize` does
 * (already quantized sources are requantized: better from F16 or F32 when you have them). The
 * work runs off the main thread.
 *
 * @example
 * await quantizeModel("model-f16.gguf", "model-q4_k_m.gguf", { type: "Q4_K_M" });
 * @throws SpecdecError MODEL_NOT_FOUND, INVALID_MODEL, INVALID_ARGUMENT, IO_ERROR
 */
export async function quantizeModel(source: string, destination: string, options: QuantizeOptions): Promise<void> {
  v.string("source", source);
  v.string("destination", destination);
  const o = v.optionsObject("options", options, { type: true, pure: true, threads: true });
  await wrapNative(() =>
    addon.quantizeModel(source, destination, {
      type: v.oneOf("type", o.type, QUANTIZATION_TYPES),
      pure: v.maybe(o.pure, (x) => v.boolean("pure", x)),
      threads: v.maybe(o.threads, (x) => v.integer("threads", x, 1, 1024)),
    }),
  );
}
