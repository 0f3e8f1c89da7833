// `specdec chat`: an interactive chat with the model's chat template, and the coloured writer that
// shows which tokens a drafter guessed (also used by `generate --color`).
import readline from "node:readline";
import { parseArgs } from "node:util";

import { chatPrompt } from "./chat.js";
import { SpecdecError } from "./errors.js";
import type { ChatMessage, Model } from "./model.js";
import { SESSION_FLAGS, USAGE, UsageError, modelsFromFlags, num } from "./cli-flags.js";

const GREEN = "\x1b[32m";
const DIM = "\x1b[2m";
const RESET = "\x1b[0m";

/**
 * Writes a generation's text as it streams, with --color the tokens a drafter guessed in green.
 * The text of a chunk is the next part of the pieces of all tokens so far (the text layer holds
 * back what might begin a stop sequence); colours follow the pieces while the two agree.
 */
function colorWriter(model: Model, color: boolean) {
  let pieces = "";
  const drafted: boolean[] = [];  // by UTF-16 unit of `pieces`
  let written = 0;
  let aligned = color;
  return (chunk: { text: string; tokens: number[]; drafted: boolean[] }) => {
    if (aligned) {
      chunk.tokens.forEach((t, i) => {
        const p = model.tokenPiece(t);
        pieces += p;
        for (let k = 0; k < p.length; k++) drafted.push(chunk.drafted[i]);
      });
      aligned = pieces.slice(written, written + chunk.text.length) === chunk.text;
    }
    if (!aligned) {
      process.stdout.write(chunk.text);
    } else {
      let out = "";
      for (let i = written; i < written + chunk.text.length; i++) {
        if (i === written || drafted[i] !== drafted[i - 1]) out += drafted[i] ? GREEN : RESET;
        out += pieces[i];
      }
      process.stdout.write(out + RESET);
    }
    written += chunk.text.length;
  };
}

export async function chatCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      ...SESSION_FLAGS,
      system: { type: "string" },
      color: { type: "boolean" },
      "max-tokens": { type: "string", short: "n", default: "512" },
      temp: { type: "string" },
      seed: { type: "string" },
    },
  });
  if (values.help) return void console.log(USAGE);
  if (!values.model) throw new UsageError("--model is required");
  const { model, draft, session: sessionOptions } = await modelsFromFlags(values, true);
  const session = await model.createSession(sessionOptions).catch((err) => {
    draft?.dispose();
    model.dispose();
    throw err;
  });
  const messages: ChatMessage[] = values.system ? [{ role: "system", content: values.system }] : [];
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  let controller: AbortController | null = null;
  rl.on("SIGINT", () => (controller ? controller.abort() : rl.close()));
  rl.setPrompt("> ");
  rl.prompt();
  try {
    for await (const line of rl) {
      if (line.trim() === "/exit") break;
      if (line.trim() === "") {
        rl.prompt();
        continue;
      }
      messages.push({ role: "user", content: line });
      const { prompt, stop } = chatPrompt(model, messages);
      controller = new AbortController();
      const write = colorWriter(model, values.color ?? false);
      let answer = "";
      try {
        for await (const chunk of session.generate(prompt, {
          maxTokens: num("max-tokens", values["max-tokens"]),
          temperature: num("temp", values.temp),
          seed: num("seed", values.seed),
          stop,
          signal: controller.signal,
        })) {
          answer += chunk.text;
          write(chunk);
        }
      } catch (err) {
        if (!(err instanceof SpecdecError) || err.code !== "ABORTED") throw err;
      }
      controller = null;
      messages.push({ role: "assistant", content: answer.trim() });
      const s = session.stats;
      const drafting = s.drafted > 0 ? `, ${Math.round(100 * s.acceptanceRate)}% of ${s.drafted} drafted tokens kept` : "";
      process.stdout.write(
        `\n${DIM}[${s.generatedTokens} tokens, ${s.tokensPerSecond.toFixed(1)} tokens/s${drafting}, ${s.tokensPerStep.toFixed(2)} tokens per step${s.stopReason === "aborted" ? ", stopped" : ""}]${RESET}\n`,
      );
      rl.prompt();
    }
  } finally {
    rl.close();
    session.dispose();
    draft?.dispose();
    model.dispose();
  }
}
