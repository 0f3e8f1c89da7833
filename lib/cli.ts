#!/usr/bin/env node
// The specdec command line: `generate` streams a completion and prints the speed at the end,
// `chat` talks, `serve` runs the OpenAI-compatible server, `datastore build` makes a retrieval
// datastore.
import readline from "node:readline";
import { parseArgs } from "node:util";

import { chatPrompt } from "./chat.js";
import { buildDatastore, openDatastore } from "./datastore.js";
import { SpecdecError } from "./errors.js";
import { loadModel, type ChatMessage, type Model } from "./model.js";
import { setNumerics, type Numerics } from "./config.js";
import { serve } from "./server.js";
import type { SessionOptions } from "./session.js";

const USAGE = `usage: specdec generate -m <model.gguf> -p <prompt> [options]
       specdec chat -m <model.gguf> [--system <text>] [--color] [options]
       specdec serve -m <model.gguf> [--host 127.0.0.1] [--port 8080] [--name <id>] [options]
       specdec datastore build <file or folder>... -m <model.gguf> -o <store.specdec> [--rebuild]

chat: an interactive chat with the model's chat template (a base model without one gets a plain
"User: / Assistant:" transcript); after each answer a line with tokens/s, the share of drafted
tokens kept and tokens per main-model step; --color shows tokens a drafter guessed (and the main
model kept) in green, the main model's own in the default colour. /exit or Ctrl-D ends it,
Ctrl-C stops an answer.

serve: an OpenAI-compatible server (/v1/completions, /v1/chat/completions, /v1/models, /health)
on this machine only unless --host says otherwise; requests take turns on one session.

options:
  -m, --model <file>      GGUF model (required)
  -p, --prompt <text>     prompt text (generate: required)
  -d, --draft <file>      draft model for speculative decoding (same vocabulary)
      --draft-max <n>     most tokens the draft model drafts per round (default 4)
      --no-lookup         no lookup drafter (on by default: it drafts from the prompt and the output)
      --retrieval <file>  a datastore (specdec datastore build) to draft from
      --lookahead         lookahead decoding too (the main model guesses ahead; slower on CPUs)
  -n, --max-tokens <n>    tokens to generate (default 128; chat: per answer, 512)
      --temp <t>          temperature, 0 = greedy (default 0.8)
      --top-k <k>         (default 40)
      --top-p <p>         (default 0.95)
      --min-p <p>         (default 0.05)
      --seed <n>          sampler seed (default random)
  -c, --ctx <n>           context size (default: the model's)
  -t, --threads <n>       CPU threads (default: available processors, at most 8)
      --numerics <mode>   exact (default) or fast
  -h, --help              this text`;

// The flags of a model and its session, shared by the commands.
const SESSION_FLAGS = {
  model: { type: "string", short: "m" },
  draft: { type: "string", short: "d" },
  "draft-max": { type: "string" },
  "no-lookup": { type: "boolean" },
  retrieval: { type: "string" },
  lookahead: { type: "boolean" },
  ctx: { type: "string", short: "c" },
  threads: { type: "string", short: "t" },
  numerics: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

function num(name: string, s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (s.trim() === "" || Number.isNaN(n)) throw new UsageError(`--${name} must be a number, got "${s}"`);
  return n;
}

interface SessionFlags {
  model?: string;
  draft?: string;
  "draft-max"?: string;
  "no-lookup"?: boolean;
  retrieval?: string;
  lookahead?: boolean;
  ctx?: string;
  threads?: string;
  numerics?: string;
}

/** Loads a model, drawing a progress bar on stderr when it is a terminal. */
async function loadWithProgress(path: string, progress: boolean): Promise<Model> {
  if (!progress || !process.stderr.isTTY) return loadModel(path);
  const name = path.split(/[\\/]/).pop();
  const draw = (f: number) => {
    const width = 30;
    const done = Math.round(f * width);
    process.stderr.write(`\rloading ${name} [${"#".repeat(done)}${" ".repeat(width - done)}] ${Math.round(f * 100)}%`);
  };
  try {
    return await loadModel(path, { onProgress: draw });
  } finally {
    process.stderr.write("\n");
  }
}

/** Loads the models the flags name; the caller disposes them. */
async function modelsFromFlags(values: SessionFlags, progress = false): Promise<{ model: Model; draft?: Model; session: SessionOptions }> {
  if (values.numerics) setNumerics(values.numerics as Numerics);
  const model = await loadWithProgress(values.model as string, progress);
  let draft: Model | undefined;
  try {
    draft = values.draft ? await loadWithProgress(values.draft, progress) : undefined;
    const session: SessionOptions = {
      contextSize: num("ctx", values.ctx),
      threads: num("threads", values.threads),
      draft: draft ? { model: draft, maxTokens: num("draft-max", values["draft-max"]) } : undefined,
      drafters: [
        ...(values["no-lookup"] ? [] : [{ type: "lookup" as const }]),
        ...(values.retrieval ? [{ type: "retrieval" as const, store: await openDatastore(values.retrieval) }] : []),
        ...(values.lookahead ? [{ type: "lookahead" as const }] : []),
      ],
    };
    return { model, draft, session };
  } catch (err) {
    draft?.dispose();
    model.dispose();
    throw err;
  }
}

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

async function chatCommand(args: string[]): Promise<void> {
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

async function datastoreCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { model: { type: "string", short: "m" }, out: { type: "string", short: "o" }, rebuild: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) return void console.log(USAGE);
  const [action, ...files] = positionals;
  if (action !== "build") throw new UsageError(`datastore: unknown action "${action ?? ""}" (build)`);
  if (!values.model || !values.out || files.length === 0) throw new UsageError("datastore build needs files or folders, --model and --out");
  const model = await loadModel(values.model, { vocabOnly: true });
  try {
    const start = Date.now();
    const tty = process.stderr.isTTY;
    let lastLine = 0;
    const store = await buildDatastore(model, { files, path: values.out }, {
      rebuild: values.rebuild,
      onProgress: (p) => {
        const line =
          p.phase === "tokenize"
            ? `tokenizing: ${p.documentsDone}/${p.documents} files, ${(p.bytesDone / 2 ** 20).toFixed(1)}/${(p.bytes / 2 ** 20).toFixed(1)} MiB, ${(p.tokens / 1e6).toFixed(2)} M tokens`
            : `indexing ${(p.tokens / 1e6).toFixed(2)} M tokens`;
        if (tty) process.stderr.write(`\r${line}\x1b[K`);
        else if (Date.now() - lastLine > 2000 || p.phase === "index") {
          process.stderr.write(line + "\n");
          lastLine = Date.now();
        }
      },
    });
    if (tty) process.stderr.write("\n");
    console.log(
      `${store.rebuilt ? "built" : "up to date:"} ${store.path}: ${store.documents} documents, ${store.tokens} tokens` +
        (store.rebuilt ? `, ${((Date.now() - start) / 1000).toFixed(1)} s` : ""),
    );
  } finally {
    model.dispose();
  }
}

async function serveCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { ...SESSION_FLAGS, host: { type: "string" }, port: { type: "string" }, name: { type: "string" } },
  });
  if (values.help) return void console.log(USAGE);
  if (!values.model) throw new UsageError("--model is required");
  const port = num("port", values.port);
  const { model, draft, session } = await modelsFromFlags(values);
  const server = await serve(model, { host: values.host, port, name: values.name, session }).catch((err) => {
    draft?.dispose();
    model.dispose();
    throw err;
  });
  console.log(`specdec: serving ${values.model} at ${server.url}/v1 (Ctrl-C stops)`);
  await new Promise<void>((resolve) => process.once("SIGINT", resolve).once("SIGTERM", resolve));
  await server.close();
  draft?.dispose();
  model.dispose();
}

async function generate(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      ...SESSION_FLAGS,
      prompt: { type: "string", short: "p" },
      "max-tokens": { type: "string", short: "n", default: "128" },
      temp: { type: "string" },
      "top-k": { type: "string" },
      "top-p": { type: "string" },
      "min-p": { type: "string" },
      seed: { type: "string" },
    },
  });
  if (values.help) return void console.log(USAGE);
  if (!values.model || values.prompt === undefined) throw new UsageError("--model and --prompt are required");
  const { model, draft, session: sessionOptions } = await modelsFromFlags(values);
  try {
    const session = await model.createSession(sessionOptions);
    const controller = new AbortController();
    process.once("SIGINT", () => controller.abort());
    process.stdout.write(values.prompt);
    for await (const chunk of session.generate(values.prompt, {
      maxTokens: num("max-tokens", values["max-tokens"]),
      temperature: num("temp", values.temp),
      topK: num("top-k", values["top-k"]),
      topP: num("top-p", values["top-p"]),
      minP: num("min-p", values["min-p"]),
      seed: num("seed", values.seed),
      signal: controller.signal,
    })) {
      process.stdout.write(chunk.text);
    }
    const s = session.stats;
    process.stderr.write(
      `\n\nprompt: ${s.promptTokens} tokens, ${s.promptTokensPerSecond.toFixed(1)} t/s | ` +
        `generated: ${s.generatedTokens} tokens, ${s.tokensPerSecond.toFixed(1)} t/s | stop: ${s.stopReason}\n`,
    );
    if (session.hasDraft) {
      const by = s.drafters.map((d) => `${d.name} ${d.accepted}/${d.proposed}`).join(", ");
      process.stderr.write(
        `draft: ${s.accepted}/${s.drafted} accepted (${(100 * s.acceptanceRate).toFixed(1)}%; kept/proposed by drafter: ${by}), ` +
          `${s.tokensPerStep.toFixed(2)} tokens per main-model step, drafting ${s.draftMs.toFixed(0)} ms, main model ${s.mainMs.toFixed(0)} ms\n`,
      );
    }
  } finally {
    draft?.dispose();
    model.dispose();
  }
}

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === "generate") await generate(rest);
    else if (command === "serve") await serveCommand(rest);
    else if (command === "chat") await chatCommand(rest);
    else if (command === "datastore") await datastoreCommand(rest);
    else if (command === undefined || command === "-h" || command === "--help" || command === "help") console.log(USAGE);
    else throw new UsageError(`unknown command "${command}"`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      console.error(`specdec: ${(err as Error).message}\n\n${USAGE}`);
      return 2;
    }
    if (err instanceof SpecdecError) {
      console.error(`specdec: ${err.code}: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

process.exitCode = await main(process.argv.slice(2));
