// `specdec chat`: an interactive chat with the model's chat template, and the coloured writer that
// shows which tokens a drafter guessed (also used by `generate --color`).
import readline from "node:readline";
import { parseArgs } from "node:util";

import { SpecdecError } from "./errors.js";
import type { Model } from "./model.js";
import { SESSION_FLAGS, UsageError, checkGenerateFlags, draftModelIdle, modelsFromFlags, num, usage } from "./cli-flags.js";

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
  if (values.help) return void console.log(usage("chat"));
  if (!values.model) throw new UsageError("--model is required");
  const options = checkGenerateFlags({
    maxTokens: num("max-tokens", values["max-tokens"]),
    temperature: num("temp", values.temp),
    seed: num("seed", values.seed),
  });
  const { model, draft, session: sessionOptions } = await modelsFromFlags(values, true);
  const chat = await model.createChat({ ...sessionOptions, system: values.system }).catch((err) => {
    draft?.dispose();
    model.dispose();
    throw err;
  });
  // Piped turns (one line each) get no prompts; the chat ends at the end of the input.
  const interactive = process.stdin.isTTY === true;
  const rl = readline.createInterface({ input: process.stdin, output: interactive ? process.stdout : undefined });
  let controller: AbortController | null = null;
  rl.on("SIGINT", () => (controller ? controller.abort() : rl.close()));
  const prompt = () => interactive && rl.prompt();
  rl.setPrompt("> ");
  prompt();
  try {
    for await (const line of rl) {
      if (line.trim() === "/exit") break;
      if (line.trim() === "") {
        prompt();
        continue;
      }
      controller = new AbortController();
      const write = colorWriter(model, values.color ?? false);
      const dropped = chat.droppedTurns;
      try {
        for await (const chunk of chat.send(line, { ...options, signal: controller.signal })) {
          write(chunk);
        }
      } catch (err) {
        // a message too long for the context is skipped; the chat goes on
        if (err instanceof SpecdecError && err.code === "CONTEXT_OVERFLOW") {
          process.stderr.write(`${err.message}\n`);
          controller = null;
          prompt();
          continue;
        }
        if (!(err instanceof SpecdecError) || err.code !== "ABORTED") throw err;
      }
      controller = null;
      const s = chat.session.stats;
      const drafting = s.drafted > 0 ? `, ${Math.round(100 * s.acceptanceRate)}% of ${s.drafted} drafted tokens kept` : "";
      const droppedNow = chat.droppedTurns - dropped;
      const room = droppedNow > 0 ? `, ${droppedNow} oldest turn${droppedNow > 1 ? "s" : ""} dropped to make room` : "";
      const ending = s.stopReason === "aborted" ? ", stopped" : s.stopReason === "contextFull" ? ", the context is full" : "";
      const figures = `[${s.generatedTokens} tokens, ${s.tokensPerSecond.toFixed(1)} tokens/s${drafting}, ${s.tokensPerStep.toFixed(2)} tokens per step${room}${ending}]`;
      const idle = draftModelIdle(s);
      const status = idle ? `${figures}\n${idle}` : figures;
      process.stdout.write(`\n${process.stdout.isTTY ? DIM + status + RESET : status}\n`);
      prompt();
    }
  } finally {
    rl.close();
    chat.dispose();
    draft?.dispose();
    model.dispose();
  }
}
