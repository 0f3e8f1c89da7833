// Process-wide settings of the native layer.
import { addon, addonFile, type Device } from "./native.js";
import * as v from "./validate.js";

/**
 * How llama.cpp's CPU backend computes small batches:
 * - "exact" (default): batches of up to 64 tokens give bit-identical results to evaluating each
 *   token alone, so speculative decoding reproduces plain greedy decoding token for token.
 *   Larger batches (prompt processing) keep the fast kernels.
 * - "fast": llama.cpp's defaults everywhere; batched results may differ from single-token ones
 *   in the last bits, which can flip a near-tie between two tokens.
 */
export type Numerics = "exact" | "fast";

/** Sets the numerics mode for the whole process (ggml's CPU backend is shared). */
export function setNumerics(mode: Numerics): void {
  addon.setNumerics(v.oneOf("mode", mode, ["exact", "fast"]));
}

/** The current numerics mode. */
export function getNumerics(): Numerics {
  return addon.getNumerics();
}

/** llama.cpp's log output to stderr: "none" (default; or set SPECDEC_LOG=1), "error", "warn", "info", "debug". */
export function setLogLevel(level: "none" | "error" | "warn" | "info" | "debug"): void {
  const levels = { none: 0, debug: 1, info: 2, warn: 3, error: 4 } as const;
  addon.setLogLevel(levels[v.oneOf("level", level, ["none", "error", "warn", "info", "debug"])]);
}

/** llama.cpp's description of the CPU features and backends in use. */
export function systemInfo(): string {
  return addon.systemInfo();
}

/**
 * The compute devices this build's backends found (the CPU first; GPUs with a CUDA, Vulkan or
 * Metal build): where a model's `gpuLayers` go. A Vulkan device that is a CPU in software (Mesa's
 * lavapipe) is left out unless GGML_VK_VISIBLE_DEVICES names it.
 */
export function devices(): Device[] {
  return addon.devices();
}

/** The native addon file in use: a source build, or the prebuild chosen for this platform and CPU. */
export function nativeBinary(): string {
  return addonFile as string;
}

const envNumerics = process.env.SPECDEC_NUMERICS;
if (envNumerics === "exact" || envNumerics === "fast") setNumerics(envNumerics);
