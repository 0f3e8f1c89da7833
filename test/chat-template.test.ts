// Chat templates as models ship them: test GGUFs carrying widespread Jinja templates (Llama 3.x,
// ChatML/Qwen, Gemma, Mistral, Phi, DeepSeek R1, Granite) render exactly as Python's Jinja2
// renders them (test/fixtures/chat-templates.json, recorded by record-chat-templates.py); a
// template the engine cannot run falls back to llama.cpp's matcher with a warning; a model
// without one is chatted with as a transcript, with a warning; BOS is never doubled.
import fs from "node:fs";
import path from "node:path";

import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";

import { chatPrompt } from "../lib/chat.js";
import { loadModel, type ChatMessage, type Model } from "../lib/index.js";
import { tinyModel } from "./helpers/env.js";

interface Fixture {
  name: string;
  template: string;
  cases: { messages: ChatMessage[]; addGenerationPrompt: boolean; expected: string }[];
}
const fixtures: Fixture[] = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, "fixtures/chat-templates.json"), "utf8"));

const models: Model[] = [];
async function withTemplate(template: string, name: string): Promise<Model> {
  const model = await loadModel(tinyModel({ kv: { "tokenizer.chat_template": { type: "string", value: template } } }, `${name}.gguf`));
  models.push(model);
  return model;
}

describe("chat templates", () => {
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }) => {
    if (w.code === "SPECDEC_CHAT_TEMPLATE") warnings.push(w.message);
  };
  beforeEach(() => {
    warnings.length = 0;
    process.on("warning", onWarning);
  });
  afterEach(() => {
    process.off("warning", onWarning);
  });
  afterAll(() => models.forEach((m) => m.dispose()));

  const realDate = Date;
  it.each(fixtures.map((f) => [f.name, f] as const))("%s renders as Jinja2 does", async (name, fixture) => {
    const model = await withTemplate(fixture.template, name);
    expect(model.info.chatTemplate).toBe(fixture.template);
    // strftime_now's "now" as the recording had it
    globalThis.Date = class extends realDate {
      constructor(...args: ConstructorParameters<typeof Date>) {
        super(...((args.length ? args : [2026, 6, 26, 9, 5, 3]) as []));
      }
    } as DateConstructor;
    try {
      for (const c of fixture.cases) {
        expect(model.applyChatTemplate(c.messages, { addAssistant: c.addGenerationPrompt })).toBe(c.expected);
      }
    } finally {
      globalThis.Date = realDate;
    }
    await new Promise((r) => setImmediate(r));
    expect(warnings).toEqual([]);
  });

  it("does not double BOS when the template writes it", async () => {
    const llama = fixtures.find((f) => f.name === "meta-llama-Llama-3.1-8B-Instruct")!;
    const model = await withTemplate(llama.template, "bos");
    const { prompt, addBos } = chatPrompt(model, [{ role: "user", content: "the def" }]);
    expect(prompt.startsWith("<s>")).toBe(true);
    expect(addBos).toBe(false);
    const chat = await model.createChat({ contextSize: 256 });
    const { stats } = await chat.reply("the def", { maxTokens: 4, temperature: 0 });
    const tokens = await model.tokenize(prompt, { addBos: false, specialTokens: true });
    expect(tokens.filter((t) => t === 1)).toHaveLength(1);
    expect(stats.promptTokens).toBe(tokens.length);
    chat.dispose();
  });

  it("says what a template refuses, and gives a system prompt to a template without one inside the first user turn", async () => {
    const gemma = await withTemplate(fixtures.find((f) => f.name === "google-gemma-2-2b-it")!.template, "gemma");
    const twoUsers = [{ role: "user", content: "a" }, { role: "user", content: "b" }];
    expect(() => gemma.applyChatTemplate(twoUsers)).toThrow(/refused the messages: Conversation roles must alternate/);
    expect(gemma.applyChatTemplate([{ role: "system", content: "S" }, { role: "user", content: "U" }])).toBe(
      "<s><start_of_turn>user\nS\n\nU<end_of_turn>\n<start_of_turn>model\n",
    );
    expect(() => gemma.applyChatTemplate([], { template: "{% if %}" })).toThrow(/does not render/);
  });

  it("falls back to llama.cpp's matcher, with a warning, where the engine cannot run the model's template", async () => {
    // ChatML markers (llama.cpp recognises them) in a template the Jinja engine cannot parse
    const model = await withTemplate("{{ '<|im_start|>' }}{% frobnicate %}", "broken");
    const text = model.applyChatTemplate([{ role: "user", content: "hi" }]);
    expect(text).toBe("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    model.applyChatTemplate([{ role: "user", content: "again" }]);
    await new Promise((r) => setImmediate(r));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/does not render .*llama\.cpp's built-in format/);
    // neither can run it: a transcript, and the warning says why
    const unknown = await withTemplate("{% frobnicate %}", "unknown");
    expect(() => unknown.applyChatTemplate([{ role: "user", content: "hi" }])).toThrow(/does not render .* llama\.cpp does not recognise/);
    expect(chatPrompt(unknown, [{ role: "user", content: "hi" }]).prompt).toBe("User: hi\nAssistant:");
    await new Promise((r) => setImmediate(r));
    expect(warnings[1]).toMatch(/unknown\.gguf: its chat template does not render .*: it is chatted with as a plain/);
  });

  it("chats with a model without a template as a transcript, with a warning", async () => {
    const model = await loadModel(tinyModel({}, "no-template.gguf"));
    models.push(model);
    const { prompt, stop } = chatPrompt(model, [{ role: "user", content: "hi" }]);
    expect(prompt).toBe("User: hi\nAssistant:");
    expect(stop).toContain("\nUser:");
    await new Promise((r) => setImmediate(r));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/no chat template/);
  });
});
