#!/usr/bin/env node
// The specdec command line: `generate` streams a completion and prints the speed at the end,
// `chat` talks, `serve` runs the OpenAI-compatible server, `datastore build` makes a retrieval
// datastore, `bench` compares decoding with and without drafters (and other tools) in a report.
import readline from "node:readline";
import { parseArgs } from "node:util";

import { chatPrompt } from "./chat.js";
import { BenchInputError, runSuite } from "./bench/suite.js";
import { buildDatastore, openDatastore } from "./datastore.js";
import { SpecdecError } from "./errors.js";
import { loadModel, type ChatMessage, type LoadModelOptions, type Model } from "./model.js";
import { setNumerics, type Numerics } from "./config.js";
import { serveRpc } from "./rpc.js";
import { isLoopback, serve } from "./server.js";
import type { DrafterOptions, SessionOptions } from "./session.js";

const USAGE = `usage: specdec generate -m <model.gguf> -p <prompt> [options]
       specdec chat -m <model.gguf> [--system <text>] [--color] [options]
       specdec serve -m <model.gguf> [--host 127.0.0.1] [--port 8080] [--name <id>] [--cors <origin>]... [--allowed-host <name>]... [--api-key <key>] [options]
       specdec datastore build <file or folder>... -m <model.gguf> -o <store.specdec> [--rebuild]
       specdec bench -m <model.gguf> [-d <draft.gguf>] --prompts <file.jsonl> [-o <folder>] [bench options]
       specdec rpc-server [--host 127.0.0.1] [--port 50052] [-t <threads>] [--mem <MiB>]
                          [--max-clients 4] [--idle-timeout <ms>] [--token <secret>]

chat: an interactive chat with the model's chat template (a base model without one gets a plain
"User: / Assistant:" transcript); after each answer a line with tokens/s, the share of drafted
tokens kept and tokens per main-model step; --color shows tokens a drafter guessed (and the main
model kept) in green, the main model's own in the default colour. /exit or Ctrl-D ends it,
Ctrl-C stops an answer.

serve: an OpenAI-compatible server (/v1/completions, /v1/chat/completions, /v1/models, /health)
on this machine only unless --host says otherwise; requests take turns on one session. Web pages
cannot call it: a request naming a web Origin is refused unless --cors names that origin (e.g.
--cors http://localhost:3000; repeatable), and on loopback a request for another host name
(DNS rebinding) is refused unless --allowed-host names it. Bodies must be application/json.
--api-key (or SPECDEC_API_KEY, which other users cannot see in the process list): every request
but /health needs "Authorization: Bearer <key>".

bench: runs every prompt with plain decoding and with each drafter (lookup; with -d the draft
model alone and with lookup; with --retrieval, retrieval; with --lookahead, lookahead), and with
--llama-cpp and --node-llama-cpp those tools too, taking turns prompt by prompt, round after
round; writes report.md, speedup.svg, tokens-per-second.svg, acceptance.svg and results.json into
the -o folder (default specdec-bench). Prompts: JSON lines, {"prompt": ..., "id", "kind",
"n_predict"} (the last three optional). Defaults: --temp 0, -t 2, -c 2048, -n 128.
      --prompts <file>          the prompts (required)
      --rounds <n>              rounds (default 3)
      --kind <kind>             only the prompts of this kind
      --max-prompts <n>         at most n prompts of each kind
      --llama-cpp <folder>      llama.cpp's binaries (llama-completion, llama-lookup,
                                llama-speculative-simple) to compare with
      --node-llama-cpp <folder> a folder whose node_modules holds node-llama-cpp, to compare with
      --node-llama-cpp-prompts <n>  node-llama-cpp runs only the first n prompts of each kind

rpc-server: serves this machine's GPUs (or else its CPU) as a worker that holds and computes model
layers for other specdec processes (--rpc host:port,... in generate, chat, serve, bench). Without a
token, anyone who can reach the port can use the machine and read what it holds; with --token (or
SPECDEC_RPC_TOKEN, which ps does not show) clients must prove they know it (set SPECDEC_RPC_TOKEN
for generate, chat, serve and bench too). The traffic is not encrypted either way. It binds to
127.0.0.1 unless --host says otherwise; expose it only on a trusted network.
-t: CPU threads (default: every processor); --mem: the memory it reports to clients, who share
layers by it unless --tensor-split says otherwise, and the most a client may allocate. Each client
gets a process of its own; --max-clients at once (default 4), more are disconnected at once; a
client holding nothing that stays silent --idle-timeout ms (default 30000) is disconnected.

options:
  -m, --model <file>      GGUF model (required)
  -p, --prompt <text>     prompt text (generate: required)
  -d, --draft <file>      draft model for speculative decoding (same vocabulary)
      --draft-max <n>     most tokens the draft model drafts per round (default 4)
      --lookup            the lookup drafter: it drafts from the prompt and the output (on by default)
      --no-lookup         no lookup drafter
      --lookup-ngram <min>[:<max>]  ending lengths lookup matches, in tokens (default 2:4)
      --lookup-max <n>    most tokens lookup drafts per round (default 8)
      --retrieval <file>  a datastore (specdec datastore build) to draft from
      --retrieval-match <min>[:<max>]  ending lengths retrieval matches (default 2:16)
      --retrieval-candidates <n>  continuations retrieval proposes per round (default 3)
      --retrieval-max <n> most tokens per retrieved continuation (default 8)
      --fixed-draft       always draft the most tokens allowed (default: a length chosen per round
                          from what is measured)
      --lookahead         lookahead decoding too (the main model guesses ahead; slower on CPUs)
      --rpc <host:port,...>   put the main model's layers on these RPC workers (specdec rpc-server)
      --tensor-split <w,...>  how the layers are shared among the workers (default: by their memory)
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
  lookup: { type: "boolean" },
  "no-lookup": { type: "boolean" },
  "lookup-ngram": { type: "string" },
  "lookup-max": { type: "string" },
  retrieval: { type: "string" },
  "retrieval-match": { type: "string" },
  "retrieval-candidates": { type: "string" },
  "retrieval-max": { type: "string" },
  "fixed-draft": { type: "boolean" },
  lookahead: { type: "boolean" },
  rpc: { type: "string" },
  "tensor-split": { type: "string" },
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
  lookup?: boolean;
  "no-lookup"?: boolean;
  "lookup-ngram"?: string;
  "lookup-max"?: string;
  retrieval?: string;
  "retrieval-match"?: string;
  "retrieval-candidates"?: string;
  "retrieval-max"?: string;
  "fixed-draft"?: boolean;
  lookahead?: boolean;
  rpc?: string;
  "tensor-split"?: string;
  ctx?: string;
  threads?: string;
  numerics?: string;
}

/** Loads a model, drawing a progress bar on stderr when it is a terminal. */
async function loadWithProgress(path: string, progress: boolean, options: LoadModelOptions = {}): Promise<Model> {
  if (!progress || !process.stderr.isTTY) return loadModel(path, options);
  const name = path.split(/[\\/]/).pop();
  const draw = (f: number) => {
    const width = 30;
    const done = Math.round(f * width);
    process.stderr.write(`\rloading ${name} [${"#".repeat(done)}${" ".repeat(width - done)}] ${Math.round(f * 100)}%`);
  };
  try {
    return await loadModel(path, { ...options, onProgress: draw });
  } finally {
    process.stderr.write("\n");
  }
}

/** --rpc and --tensor-split as loadModel options. */
function rpcOptions(values: SessionFlags): LoadModelOptions {
  const list = (s: string | undefined) => s?.split(",").map((x) => x.trim()).filter(Boolean);
  const split = list(values["tensor-split"])?.map((w) => num("tensor-split", w) as number);
  return { rpcServers: list(values.rpc), tensorSplit: split };
}

/** "<min>[:<max>]" as two numbers (max undefined when not given). */
function range(name: string, s: string | undefined): [number | undefined, number | undefined] {
  if (s === undefined) return [undefined, undefined];
  const [min, max, ...rest] = s.split(":");
  if (rest.length) throw new UsageError(`--${name} must be <min> or <min>:<max>, got "${s}"`);
  return [num(name, min), num(name, max)];
}

/** The drafters the flags ask for, besides a draft model. */
async function draftersFromFlags(values: SessionFlags): Promise<DrafterOptions[]> {
  const adaptive = values["fixed-draft"] ? false : undefined;
  const [ngramMin, ngramMax] = range("lookup-ngram", values["lookup-ngram"]);
  const [minMatch, maxMatch] = range("retrieval-match", values["retrieval-match"]);
  if (values.lookup && values["no-lookup"]) throw new UsageError("--lookup and --no-lookup contradict each other");
  const drafters: DrafterOptions[] = [];
  if (!values["no-lookup"]) drafters.push({ type: "lookup", ngramMin, ngramMax, maxTokens: num("lookup-max", values["lookup-max"]), adaptive });
  if (values.retrieval) {
    drafters.push({
      type: "retrieval",
      store: await openDatastore(values.retrieval),
      minMatch,
      maxMatch,
      candidates: num("retrieval-candidates", values["retrieval-candidates"]),
      maxTokens: num("retrieval-max", values["retrieval-max"]),
      adaptive,
    });
  }
  if (values.lookahead) drafters.push({ type: "lookahead" });
  return drafters;
}

/** Loads the models the flags name; the caller disposes them. */
async function modelsFromFlags(values: SessionFlags, progress = false): Promise<{ model: Model; draft?: Model; session: SessionOptions }> {
  if (values.numerics) setNumerics(values.numerics as Numerics);
  const model = await loadWithProgress(values.model as string, progress, rpcOptions(values));
  let draft: Model | undefined;
  try {
    draft = values.draft ? await loadWithProgress(values.draft, progress) : undefined;
    const session: SessionOptions = {
      contextSize: num("ctx", values.ctx),
      threads: num("threads", values.threads),
      draft: draft ? { model: draft, maxTokens: num("draft-max", values["draft-max"]), adaptive: values["fixed-draft"] ? false : undefined } : undefined,
      drafters: await draftersFromFlags(values),
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
    options: {
      ...SESSION_FLAGS,
      host: { type: "string" },
      port: { type: "string" },
      name: { type: "string" },
      cors: { type: "string", multiple: true },
      "allowed-host": { type: "string", multiple: true },
      "api-key": { type: "string" },
    },
  });
  if (values.help) return void console.log(USAGE);
  if (!values.model) throw new UsageError("--model is required");
  const port = num("port", values.port);
  for (const origin of values.cors ?? []) {
    if (origin !== "*" && !/^https?:\/\/[^/\s]+$/.test(origin)) throw new UsageError(`--cors takes an origin such as http://localhost:3000, not ${JSON.stringify(origin)}`);
  }
  if (values.host && !isLoopback(values.host)) {
    const key = values["api-key"] ?? process.env.SPECDEC_API_KEY;
    console.error(`specdec serve: WARNING: listening on ${values.host}: ${key ? "anyone with the API key" : "anyone"} who can reach this port can run generations on this machine.${key ? "" : " Give an --api-key, or expose it only on a trusted network."}`);
  }
  const { model, draft, session } = await modelsFromFlags(values);
  const server = await serve(model, { host: values.host, port, name: values.name, session, corsOrigins: values.cors, allowedHosts: values["allowed-host"], apiKey: values["api-key"] ?? process.env.SPECDEC_API_KEY }).catch((err) => {
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

async function benchCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      ...SESSION_FLAGS,
      prompts: { type: "string" },
      out: { type: "string", short: "o", default: "specdec-bench" },
      rounds: { type: "string", default: "3" },
      kind: { type: "string" },
      "max-prompts": { type: "string" },
      "max-tokens": { type: "string", short: "n", default: "128" },
      temp: { type: "string", default: "0" },
      seed: { type: "string", default: "1" },
      "llama-cpp": { type: "string" },
      "node-llama-cpp": { type: "string" },
      "node-llama-cpp-prompts": { type: "string" },
    },
  });
  if (values.help) return void console.log(USAGE);
  if (!values.model || !values.prompts) throw new UsageError("bench needs --model and --prompts");
  if (values["no-lookup"]) throw new UsageError("bench always compares lookup; --no-lookup does not apply");
  if (values.numerics) setNumerics(values.numerics as Numerics);
  const rounds = num("rounds", values.rounds) as number;
  if (!Number.isInteger(rounds) || rounds < 1) throw new UsageError("--rounds must be a positive integer");
  const tty = process.stderr.isTTY;
  const files = await runSuite({
    model: values.model,
    load: rpcOptions(values),
    draft: values.draft,
    draftMax: num("draft-max", values["draft-max"]) ?? 4,
    retrieval: values.retrieval,
    lookahead: values.lookahead,
    promptsFile: values.prompts,
    maxTokens: num("max-tokens", values["max-tokens"]) as number,
    kind: values.kind,
    maxPrompts: num("max-prompts", values["max-prompts"]),
    rounds,
    threads: num("threads", values.threads) ?? 2,
    contextSize: num("ctx", values.ctx) ?? 2048,
    temperature: num("temp", values.temp) as number,
    seed: num("seed", values.seed) as number,
    llamaCpp: values["llama-cpp"],
    nodeLlamaCpp: values["node-llama-cpp"],
    nodeLlamaCppPrompts: num("node-llama-cpp-prompts", values["node-llama-cpp-prompts"]),
    out: values.out,
    command: ["specdec", "bench", ...args].map((a) => (/^[\w./:=-]+$/.test(a) ? a : JSON.stringify(a))).join(" "),
    onProgress: (done, total, what) => {
      const line = `[${done}/${total}] ${what}`;
      if (tty) process.stderr.write(`\r${line}\x1b[K`);
      else if (done % 10 === 0 || done === total) process.stderr.write(line + "\n");
    },
  }).catch((err) => {
    if (tty) process.stderr.write("\n");
    if (err instanceof BenchInputError) throw new UsageError(err.message);
    // A tool that failed mid-run is said, not a stack trace.
    throw err instanceof SpecdecError ? err : new CommandError(`bench: ${(err as Error).message}`);
  });
  if (tty) process.stderr.write("\n");
  console.log(`wrote ${files.join(", ")}`);
}

async function rpcServerCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "50052" },
      threads: { type: "string", short: "t" },
      mem: { type: "string" },
      "max-clients": { type: "string" },
      "idle-timeout": { type: "string" },
      token: { type: "string" },
      numerics: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return void console.log(USAGE);
  if (values.numerics) setNumerics(values.numerics as Numerics);
  const loopback = isLoopback(values.host);
  const token = values.token ?? process.env.SPECDEC_RPC_TOKEN ?? "";
  if (token) {
    console.error(`specdec rpc-server: clients must present the token (SPECDEC_RPC_TOKEN or loadModel's rpcToken); the traffic itself is not encrypted.`);
  } else {
    console.error(
      loopback
        ? "specdec rpc-server: WARNING: no token (--token or SPECDEC_RPC_TOKEN): any program on this machine can use this worker."
        : `specdec rpc-server: WARNING: listening on ${values.host} without a token (--token or SPECDEC_RPC_TOKEN): anyone who can reach this port can run computations here and read the model data it holds.`,
    );
  }
  const server = await serveRpc({
    host: values.host,
    port: num("port", values.port),
    threads: num("threads", values.threads),
    memoryMiB: num("mem", values.mem),
    maxClients: num("max-clients", values["max-clients"]),
    idleTimeoutMs: num("idle-timeout", values["idle-timeout"]),
    token,
  });
  console.error(`specdec rpc-server: serving at ${server.endpoint} (Ctrl-C stops)`);
  await Promise.race([server.stopped, new Promise<void>((resolve) => process.once("SIGINT", resolve).once("SIGTERM", resolve))]);
  await server.close();
}

class UsageError extends Error {}
class CommandError extends Error {}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === "generate") await generate(rest);
    else if (command === "serve") await serveCommand(rest);
    else if (command === "chat") await chatCommand(rest);
    else if (command === "datastore") await datastoreCommand(rest);
    else if (command === "bench") await benchCommand(rest);
    else if (command === "rpc-server") await rpcServerCommand(rest);
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
    if (err instanceof CommandError) {
      console.error(`specdec: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

process.exitCode = await main(process.argv.slice(2));
