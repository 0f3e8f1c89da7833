// Batched vs single-token evaluation. In "exact" numerics (the default), a batch of up to 64
// tokens must give bit-identical logits to evaluating the same tokens one at a time: that is what
// lets speculative verification reproduce plain greedy decoding token for token. In "fast"
// numerics (llama.cpp's defaults) they may differ; the size of the difference is printed.
import fs from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel, quantizeModel, setNumerics, systemInfo, type Model, type QuantizationType, type Session } from "../lib/index.js";
import { tinyModel } from "./helpers/env.js";
import { benchPrompts, MAIN, sharedModels } from "./helpers/shared.js";

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function argmaxFlips(a: Float32Array, b: Float32Array, vocab: number): number {
  let flips = 0;
  for (let p = 0; p < a.length / vocab; p++) {
    let ia = 0;
    let ib = 0;
    for (let i = 1; i < vocab; i++) {
      if (a[p * vocab + i] > a[p * vocab + ia]) ia = i;
      if (b[p * vocab + i] > b[p * vocab + ib]) ib = i;
    }
    if (ia !== ib) flips++;
  }
  return flips;
}

describe("numerics of batched evaluation (main-q8_0)", () => {
  let model: Model;
  let session: Session;
  let tokens: number[];
  beforeAll(async () => {
    model = await loadModel(MAIN);
    session = await model.createSession({ contextSize: 1024, threads: 2 });
    // 600 tokens: deep enough (KV >= 512) for llama.cpp's single-token attention to take its
    // split-KV path, one of the two sources of batch dependence.
    const text = benchPrompts().map((p) => p.prompt).join("\n");
    tokens = (await model.tokenize(text)).slice(0, 600);
    expect(tokens.length).toBe(600);
  });
  afterAll(() => {
    session.dispose();
    model.dispose();
    setNumerics("exact");
  });

  it("exact: batches of 2 to 64 tokens are bit-identical to single tokens", async () => {
    setNumerics("exact");
    const single = await session.evaluateLogits(tokens, { batchSize: 1 });
    for (const batchSize of [2, 5, 17, 64]) {
      const batched = await session.evaluateLogits(tokens, { batchSize });
      expect(maxAbsDiff(single, batched), `batch ${batchSize}`).toBe(0);
    }
  });

  it("fast: llama.cpp's default kernels make batched logits differ", async () => {
    setNumerics("fast");
    const single = await session.evaluateLogits(tokens, { batchSize: 1 });
    const batched = await session.evaluateLogits(tokens, { batchSize: 5 });
    const diff = maxAbsDiff(single, batched);
    const flips = argmaxFlips(single, batched, model.vocabSize);
    console.log(`fast numerics, batches of 5: max |logit diff| ${diff.toFixed(4)}, argmax flips ${flips}/${tokens.length}`);
    expect(diff).toBeGreaterThan(0);
  });
});

// Attention heads of other sizes take the same batch-invariant kernels (48 values for draft-q8_0,
// 32 for tiny-q8_0, against main-q8_0's 64).
describe("numerics of batched evaluation (draft-q8_0, tiny-q8_0)", () => {
  for (const name of ["draft-q8_0.gguf", "tiny-q8_0.gguf"]) {
    it(`exact: ${name}, batches of 2, 5 and 17 are bit-identical to single tokens`, async () => {
      setNumerics("exact");
      const model = await loadModel(path.join(sharedModels, name));
      const session = await model.createSession({ contextSize: 1024, threads: 2 });
      const text = benchPrompts().map((p) => p.prompt).join("\n");
      const tokens = (await model.tokenize(text)).slice(0, 600);
      const single = await session.evaluateLogits(tokens, { batchSize: 1 });
      for (const batchSize of [2, 5, 17]) {
        const batched = await session.evaluateLogits(tokens, { batchSize });
        expect(maxAbsDiff(single, batched), `batch ${batchSize}`).toBe(0);
      }
      session.dispose();
      model.dispose();
    });
  }
});

// Every weight format users download, on a small model quantized here (256 wide, so K-quants'
// 256-value blocks fit; rows in multiples of 8, so the CPU backend repacks the formats it repacks:
// Q4_0, Q4_K, IQ4_NL, and Q2_K with AVX-512). Each format has its own dot kernels and some are
// repacked: all must give a token the same bits alone and in a batch.
describe("numerics of batched evaluation, every weight format", () => {
  const FORMATS = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS"] as const;
  let dir: string;
  let source: string;
  let tokens: number[];
  beforeAll(() => {
    source = tinyModel({ nEmbd: 256, nHead: 4, nFf: 512, nLayer: 2, nCtx: 512, seed: 7 }, "f32.gguf");
    dir = path.dirname(source);
    let x = 12345;
    tokens = Array.from({ length: 200 }, () => 3 + ((x = (x * 1103515245 + 12345) % 2147483648) % 300));
  });
  afterAll(() => {
    setNumerics("exact");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function logitsOf(type: string, batchSizes: number[]): Promise<Float32Array[]> {
    const file = path.join(dir, `${type}.gguf`);
    if (!fs.existsSync(file)) await quantizeModel(source, file, { type: type as QuantizationType, pure: true, threads: 2 });
    const model = await loadModel(file);
    const session = await model.createSession({ contextSize: 512, threads: 2 });
    try {
      const out: Float32Array[] = [];
      for (const batchSize of batchSizes) out.push(await session.evaluateLogits(tokens, { batchSize }));
      return out;
    } finally {
      session.dispose();
      model.dispose();
    }
  }

  for (const type of FORMATS) {
    it(`exact: ${type}, batches of 2, 5, 9, 17 and 64 are bit-identical to single tokens`, async () => {
      setNumerics("exact");
      const [single, ...batched] = await logitsOf(type, [1, 2, 5, 9, 17, 64]);
      batched.forEach((b, i) => expect(maxAbsDiff(single, b), `${type}, batch ${[2, 5, 9, 17, 64][i]}`).toBe(0));
      // and right, not only consistent: close to llama.cpp's own kernels (fast numerics, one
      // token at a time), which differ in rounding only
      setNumerics("fast");
      const [reference] = await logitsOf(type, [1]);
      setNumerics("exact");
      const scale = Math.max(...reference.map(Math.abs));
      expect(maxAbsDiff(single, reference) / scale, `${type} against llama.cpp's kernels`).toBeLessThan(2e-2); // measured: 2e-4 (F32) to 6e-3 (Q5_K_M)
    });
  }

  // The test can fail: with llama.cpp's own kernels the repacked K-quant's batches differ. Q4_K
  // is repacked (and its batches take a gemm) only where the build has AVX2: an SSE4.2 build
  // multiplies every column alike, so there is nothing to differ.
  it.runIf(/\bAVX2 = 1\b/.test(systemInfo()))("fast: Q4_K_M's batched logits differ from single tokens", async () => {
    setNumerics("fast");
    const [single, batched] = await logitsOf("Q4_K_M", [1, 5]);
    expect(maxAbsDiff(single, batched)).toBeGreaterThan(0);
  });
});
