// Chat sessions (model.createChat): history and system prompt, the KV cache reused turn to turn,
// the oldest turns dropped when the history no longer fits, a message too long for the context
// refused without harm; and the default context size's cap.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel, SpecdecError, type Model } from "../lib/index.js";
import { tinyModel } from "./helpers/env.js";
import { MAIN } from "./helpers/shared.js";

describe("chat sessions", () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(MAIN);
  });
  afterAll(() => model.dispose());

  it("answers 100 turns in a 512-token context, dropping the oldest turns and keeping the system prompt", async () => {
    const chat = await model.createChat({ contextSize: 512, system: "You write short Python functions." });
    let reused = 0;
    for (let turn = 0; turn < 100; turn++) {
      const { text, stats } = await chat.reply(`def helper_${turn}(values, limit=${turn}):`, { maxTokens: 24, temperature: 0 });
      expect(typeof text).toBe("string");
      expect(stats.promptTokens + stats.generatedTokens).toBeLessThanOrEqual(512);
      // the answer's room: maxTokens fits beside the prompt every turn
      expect(stats.promptTokens).toBeLessThanOrEqual(512 - 24);
      if (stats.reusedTokens > stats.promptTokens / 2) reused++;
    }
    expect(chat.droppedTurns).toBeGreaterThan(50);
    const messages = chat.messages;
    expect(messages[0]).toEqual({ role: "system", content: "You write short Python functions." });
    expect(messages.at(-2)).toEqual({ role: "user", content: "def helper_99(values, limit=99):" });
    expect(messages.length).toBeLessThan(30);
    // turns between drops extend the last prompt: its cache is reused
    expect(reused).toBeGreaterThan(50);
    chat.dispose();
  }, 300_000);

  it("refuses a message too long for the context and goes on", async () => {
    const chat = await model.createChat({ contextSize: 128 });
    await chat.reply("def add(a, b):", { maxTokens: 8, temperature: 0 });
    const before = chat.messages;
    const long = Array.from({ length: 200 }, (_, i) => `x${i}`).join(" ");
    const err = await chat.reply(long, { maxTokens: 8 }).catch((e) => e);
    expect(err).toBeInstanceOf(SpecdecError);
    expect(err.code).toBe("CONTEXT_OVERFLOW");
    expect(err.message).toMatch(/the message does not fit/);
    expect(chat.messages).toEqual(before);
    const next = await chat.reply("def sub(a, b):", { maxTokens: 8, temperature: 0 });
    expect(next.stats.generatedTokens).toBeGreaterThan(0);
    expect(chat.messages.length).toBe(before.length + 2);
    chat.dispose();
  });

  it("lets an answer fill the room left, ending with contextFull", async () => {
    const chat = await model.createChat({ contextSize: 96, drafters: [] });
    const { stats } = await chat.reply("def loop():", { temperature: 0, stop: [] });
    expect(stats.promptTokens + stats.generatedTokens).toBeLessThanOrEqual(96);
    expect(["contextFull", "eos"]).toContain(stats.stopReason);
    chat.dispose();
  });

  it("keeps an aborted answer's turn, and refuses misspelt options", async () => {
    const chat = await model.createChat({ contextSize: 256 });
    const controller = new AbortController();
    let text = "";
    const err = await (async () => {
      for await (const chunk of chat.send("def count(n):", { maxTokens: 100, temperature: 0, signal: controller.signal, chunkMs: 0 })) {
        text += chunk.text;
        controller.abort();
      }
    })().catch((e) => e);
    expect(err?.code).toBe("ABORTED");
    expect(chat.messages).toEqual([
      { role: "user", content: "def count(n):" },
      { role: "assistant", content: text.trim() },
    ]);
    await expect(model.createChat({ systen: "x" } as never)).rejects.toThrow(/did you mean system\?/);
    await expect(model.createChat({ system: 3 } as never)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    chat.dispose();
  });
});

describe("default context size", () => {
  it("is the model's training context capped at 4096", async () => {
    const big = await loadModel(tinyModel({ nCtx: 131072 }, "long-context.gguf"));
    const small = await loadModel(tinyModel({ nCtx: 256 }, "short-context.gguf"));
    try {
      expect(big.info.trainContextSize).toBe(131072);
      const a = await big.createSession();
      const b = await small.createSession();
      expect(a.contextSize).toBe(4096);
      expect(b.contextSize).toBe(256);
      a.dispose();
      b.dispose();
    } finally {
      big.dispose();
      small.dispose();
    }
  });
});
