// The Vulkan backend (SPECDEC_GPU=vulkan, built into build-vulkan/ by .ci/run) on the Vulkan
// device at hand; in CI Mesa's lavapipe, a Vulkan device in software (the Debian packages
// mesa-vulkan-drivers, glslc, libvulkan-dev), which ggml lists only when GGML_VK_VISIBLE_DEVICES
// names it. A CI-sized subset, run in a child process with that addon: the model offloaded to
// the device, batched logits against single tokens (Vulkan's kernels are not batch-invariant:
// the difference is measured and printed), and greedy generation with lookup and with a draft
// model against plain decoding on the device, which must be token-identical, or part from it only
// at a near-tie of plain decoding's two likeliest tokens.
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";

import { beforeAll, describe, expect, it } from "vitest";

import { repoRoot } from "./helpers/env.js";
import { benchPrompts, sharedModels } from "./helpers/shared.js";

const addon = path.join(repoRoot, "build-vulkan/Release/specdec.node");
if (process.env.CI && !fs.existsSync(addon)) throw new Error(`${addon} is missing: .ci/run builds it (SPECDEC_GPU=vulkan)`);

interface Generation {
  tokens: number[];
  drafted: number;
  accepted: number;
  ms: number;
  top2?: [number, number][][];  // plain decoding's: by position, its two likeliest [token, logprob]
}
interface Check {
  devices: { name: string; type: string; description: string }[];
  logits: Record<string, number>;
  generations: Record<"plain" | "lookup" | "draft" | "draftAdaptive", Generation>[];
}

describe.runIf(fs.existsSync(addon))("the Vulkan backend (lavapipe in CI)", () => {
  let check: Check;
  beforeAll(async () => {
    // Two prompts' last 400 characters, 24 tokens each: lavapipe runs a 66 MB model at 5-7 tokens/s.
    const prompts = benchPrompts();
    const texts = [prompts.find((p) => p.kind === "complete")!, prompts.find((p) => p.kind === "grounded")!].map((p) => p.prompt.slice(-400));
    const env = { ...process.env, SPECDEC_NATIVE_PATH: addon, GGML_VK_VISIBLE_DEVICES: process.env.GGML_VK_VISIBLE_DEVICES ?? "0" };
    const script = path.join(repoRoot, "test/fixtures/vulkan-check.mjs");
    const { stdout } = await promisify(execFile)(process.execPath, [script, path.join(repoRoot, "dist"), sharedModels, JSON.stringify(texts), "24"], {
      env,
      maxBuffer: 1 << 26,
    });
    check = JSON.parse(stdout.trim().split("\n").at(-1)!);
    console.log(`vulkan: ${check.devices.map((d) => `${d.name} (${d.description})`).join(", ")}; batched logits differ from single tokens by up to ${JSON.stringify(check.logits)}`);
  }, 600_000);

  it("offloads to a Vulkan device", () => {
    expect(check.devices.some((d) => d.name.startsWith("Vulkan") && d.type !== "cpu")).toBe(true);
  });

  it("batched logits stay near single tokens' (not bit-identical: no exact mode on Vulkan)", () => {
    for (const [batch, diff] of Object.entries(check.logits)) {
      expect(Number.isFinite(diff), `batch ${batch}`).toBe(true);
      expect(diff, `batch ${batch}`).toBeLessThan(0.5);
    }
  });

  it("greedy speculation gives plain decoding's tokens, or parts from them only at a near-tie", () => {
    for (const row of check.generations) {
      const plain = row.plain;
      expect(plain.tokens.length).toBe(24);
      for (const name of ["lookup", "draft", "draftAdaptive"] as const) {
        const tokens = row[name].tokens;
        const at = tokens.findIndex((t, i) => t !== plain.tokens[i]);
        if (at < 0) {
          expect(tokens).toEqual(plain.tokens);
          continue;
        }
        const [[first, lpFirst], [second, lpSecond]] = plain.top2![at];
        expect(first).toBe(plain.tokens[at]);
        expect(tokens[at], `${name} parts from plain at ${at}`).toBe(second);
        expect(lpFirst - lpSecond, `${name}: the tie at ${at}`).toBeLessThan(0.5);
      }
    }
    // the drafts were really verified on the device
    expect(check.generations.reduce((n, row) => n + row.draft.drafted, 0)).toBeGreaterThan(20);
    expect(check.generations.reduce((n, row) => n + row.lookup.accepted, 0)).toBeGreaterThan(0);
  });
});
