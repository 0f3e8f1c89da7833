// deriveDraft: a draft model made from the main model's layers loads, shares the vocabulary,
// drafts with output identical to plain decoding; keeping every layer gives the main model's own
// logits; bad requests are typed errors that leave no file behind. `specdec derive-draft` writes
// and measures one.
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { deriveDraft, loadModel, measureDraft, type Model } from "../lib/index.js";
import { repoRoot, tempDir, tinyModel } from "./helpers/env.js";
import { expectCode } from "./helpers/expect.js";
import { readGgufMetadata } from "./helpers/gguf.js";
import { benchPrompts, MAIN } from "./helpers/shared.js";

const prompts = benchPrompts().filter((p) => p.kind === "complete").slice(0, 2).map((p) => p.prompt);

describe("deriveDraft", () => {
  const dir = tempDir();
  let main: Model;
  beforeAll(async () => {
    main = await loadModel(MAIN);
  });
  afterAll(() => main.dispose());

  it("keeps the layers asked for and drafts exactly", async () => {
    const file = path.join(dir, "even4.gguf");
    const derived = await deriveDraft(MAIN, file, { keepLayers: 4 });
    expect(derived).toMatchObject({ architecture: "llama", sourceLayers: 10, layers: [0, 3, 6, 9] });
    expect(derived.bytes).toBe(fs.statSync(file).size);
    expect(derived.bytes).toBeLessThan(fs.statSync(MAIN).size);
    const draft = await loadModel(file);
    try {
      expect(draft.info.layers).toBe(4);
      expect(draft.info.vocabFingerprint).toBe(main.info.vocabFingerprint);
      const m = await measureDraft(main, draft, prompts, { maxTokens: 48 });
      expect(m.identical).toBe(true);
      // Untrained, 4 of 10 layers still agree with the main model often (about half the time).
      expect(m.firstTokenAcceptance).toBeGreaterThan(0.2);
      expect(m.tokensPerStep).toBeGreaterThan(1.3);
      expect(m.costRatio).toBeGreaterThan(0);
    } finally {
      draft.dispose();
    }
  });

  it("computes the main model's own logits when every layer is kept", async () => {
    const file = path.join(dir, "all.gguf");
    await deriveDraft(MAIN, file, { keepLayers: 10 });
    const copy = await loadModel(file);
    const a = await main.createSession();
    const b = await copy.createSession();
    try {
      const tokens = await main.tokenize(prompts[0].slice(0, 200));
      const same = Buffer.from((await b.evaluateLogits(tokens)).buffer).equals(Buffer.from((await a.evaluateLogits(tokens)).buffer));
      expect(same).toBe(true);
    } finally {
      a.dispose();
      b.dispose();
      copy.dispose();
    }
  });

  it("picks the first layers and the last with spacing ends, and requantizes", async () => {
    const file = path.join(dir, "ends3-q4_0.gguf");
    const derived = await deriveDraft(MAIN, file, { keepLayers: 3, spacing: "ends", type: "Q4_0" });
    expect(derived.layers).toEqual([0, 1, 9]);
    const plain = await deriveDraft(MAIN, path.join(dir, "ends3.gguf"), { layers: [0, 1, 9] });
    expect(derived.bytes).toBeLessThan(plain.bytes * 0.75);
    const draft = await loadModel(file);
    const session = await main.createSession({ draft: { model: draft } });
    const reference = await main.createSession();
    try {
      const spec = await session.complete(prompts[1], { maxTokens: 32, temperature: 0 });
      expect(spec.text).toBe((await reference.complete(prompts[1], { maxTokens: 32, temperature: 0 })).text);
    } finally {
      session.dispose();
      reference.dispose();
      draft.dispose();
    }
    expect(fs.readdirSync(dir).filter((f) => f.endsWith(".part"))).toEqual([]);
  });

  it("slices metadata arrays that hold one entry per layer", async () => {
    const source = tinyModel({ nLayer: 3, kv: { "llama.test_per_layer": { type: "i32s", value: [10, 11, 12] } } }, "arrays.gguf");
    const file = path.join(dir, "arrays-derived.gguf");
    await deriveDraft(source, file, { layers: [0, 2] });
    const metadata = readGgufMetadata(file);
    expect(metadata["llama.block_count"]).toBe(2);
    expect(metadata["llama.test_per_layer"]).toEqual([10, 12]);
    expect(readGgufMetadata(source)["llama.test_per_layer"]).toEqual([10, 11, 12]);
    const model = await loadModel(file);
    expect(model.info.layers).toBe(2);
    model.dispose();
  });

  it("refuses bad requests with typed errors and writes nothing", async () => {
    const out = path.join(dir, "bad.gguf");
    await expectCode(deriveDraft(MAIN, out, { layers: [0, 10] }), "INVALID_ARGUMENT", /out of range.*10 layers/);
    await expectCode(deriveDraft(MAIN, out, { layers: [3, 1] }), "INVALID_ARGUMENT", /ascending/);
    await expectCode(deriveDraft(MAIN, out, { layers: [] }), "INVALID_ARGUMENT", /non-empty/);
    await expectCode(deriveDraft(MAIN, out, { keepLayers: 11 }), "INVALID_ARGUMENT", /cannot keep 11 of 10/);
    await expectCode(deriveDraft(MAIN, out, { keepLayers: 2, layers: [0, 1] }), "INVALID_ARGUMENT", /either layers or keepLayers/);
    await expectCode(deriveDraft(MAIN, out, {} as never), "INVALID_ARGUMENT", /either layers or keepLayers/);
    await expectCode(deriveDraft(MAIN, out, { keepLayers: 2, spacing: "middle" as never }), "INVALID_ARGUMENT", /spacing/);
    await expectCode(deriveDraft(MAIN, out, { keepLayers: 2, type: "Q9" as never }), "INVALID_ARGUMENT", /type/);
    await expectCode(deriveDraft(MAIN, MAIN, { keepLayers: 2 }), "INVALID_ARGUMENT", /destination is the source/);
    await expectCode(deriveDraft(MAIN, MAIN, { keepLayers: 2, type: "Q4_0" }), "INVALID_ARGUMENT", /destination is the source/);
    await expectCode(deriveDraft(path.join(dir, "missing.gguf"), out, { keepLayers: 2 }), "MODEL_NOT_FOUND");
    const notGguf = path.join(dir, "not.gguf");
    fs.writeFileSync(notGguf, "not a model");
    await expectCode(deriveDraft(notGguf, out, { keepLayers: 2 }), "INVALID_MODEL");
    await expectCode(deriveDraft(MAIN, path.join(dir, "no-such-folder", "x.gguf"), { keepLayers: 2 }), "IO_ERROR");
    await expectCode(measureDraft(main, main, []), "INVALID_ARGUMENT", /prompts/);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(dir).filter((f) => f.includes(".part"))).toEqual([]);
    // The next call still works.
    expect((await deriveDraft(MAIN, out, { keepLayers: 2 })).layers).toEqual([0, 9]);
  });

  it("specdec derive-draft writes the draft and prints its figures", () => {
    const promptsFile = path.join(dir, "prompts.jsonl");
    fs.writeFileSync(promptsFile, JSON.stringify({ prompt: prompts[0] }) + "\n");
    const out = path.join(dir, "cli.gguf");
    const cli = path.join(repoRoot, "dist/cli.js");
    const r = spawnSync(process.execPath, [cli, "derive-draft", "-m", MAIN, "-o", out, "--keep", "3", "--prompts", promptsFile, "-n", "24"], {
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/wrote .*cli\.gguf: 3 of 10 layers \(0, 5, 9\)/);
    expect(r.stdout).toMatch(/cost per token: draft [\d.]+ ms, main [\d.]+ ms/);
    expect(r.stdout).toMatch(/first token \d+%/);
    expect(r.stdout).toMatch(/speculative decoding with it: [\d.]+x plain/);
    const bad = spawnSync(process.execPath, [cli, "derive-draft", "-m", MAIN, "-o", out, "--layers", "0,x"], { encoding: "utf8" });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--layers takes whole numbers/);
  });
});
