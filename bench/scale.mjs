// Realistic-cost models for the benchmarks: ../shared/models' main model inflated to a 1.1 B
// (TinyLlama's shape) or 7 B-class llama that computes the same function (../shared/tools/
// inflate-gguf.py: zero padding, identity layers), so drafters keep their measured acceptance while
// every step costs what a model of that size costs; then requantized (quantizeModel) to the formats
// users download. Built once into a cache folder outside the repository:
// $SPECDEC_MODEL_CACHE, else ~/.cache/specdec/models.
//
// usage: node bench/scale.mjs [--size 1b|7b] [--formats Q8_0,Q4_K_M,Q5_K_M,Q6_K,Q4_0,IQ4_XS]
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

import { models, root } from "./lib.mjs";

export const SIZES = {
  "1b": ["--width", "2048", "--heads", "32", "--ffn", "5632", "--layers", "22"],
  "7b": ["--width", "4096", "--heads", "64", "--ffn", "11008", "--layers", "32"],
};
export const FORMATS = ["Q8_0", "Q4_K_M", "Q5_K_M", "Q6_K", "Q4_0", "IQ4_XS"];

export const cacheDir = process.env.SPECDEC_MODEL_CACHE || path.join(os.homedir(), ".cache", "specdec", "models");

/** The path of the main model at a size and format, built (and cached) first if missing. */
export async function scaledModel(size, format) {
  if (!SIZES[size]) throw new Error(`unknown size ${size}: one of ${Object.keys(SIZES).join(", ")}`);
  if (!FORMATS.includes(format)) throw new Error(`unknown format ${format}: one of ${FORMATS.join(", ")}`);
  const file = path.join(cacheDir, `main-${size}-${format.toLowerCase()}.gguf`);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(cacheDir, { recursive: true });
  const tmp = `${file}.partial`;
  // Q8_0 and Q4_0 are inflated from the small model of that format (its raw blocks copied bit for
  // bit: the same function exactly); the other formats are requantized from the Q8_0 one.
  if (format === "Q8_0" || format === "Q4_0") {
    const source = path.join(models, `main-${format.toLowerCase()}.gguf`);
    console.error(`specdec bench: inflating ${path.basename(source)} to ${size} (${file})...`);
    execFileSync("python3", [path.resolve(models, "../tools/inflate-gguf.py"), source, tmp, ...SIZES[size]], {
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, GGUF_PY: path.join(root, "deps/llama.cpp/gguf-py") },
    });
  } else {
    const source = await scaledModel(size, "Q8_0");
    console.error(`specdec bench: requantizing ${path.basename(source)} to ${format} (${file})...`);
    const { quantizeModel } = await import("../dist/index.js");
    await quantizeModel(source, tmp, { type: format });
  }
  fs.renameSync(tmp, file);
  return file;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { size: { type: "string", default: "1b" }, formats: { type: "string", default: FORMATS.join(",") } } });
  for (const format of values.formats.split(",")) console.log(await scaledModel(values.size, format));
}
