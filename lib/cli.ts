#!/usr/bin/env node
// The specdec command line: `generate` streams a completion and prints the speed at the end,
// `chat` talks, `serve` runs the OpenAI-compatible server, `datastore build` makes a retrieval
// datastore, `bench` compares decoding with and without drafters (and other tools) in a report,
// `derive-draft` makes a draft model from the main model's layers.
import fs from "node:fs";
import { parseArgs } from "node:util";

import { chatCommand } from "./cli-chat.js";
import { deriveDraftCommand } from "./cli-derive.js";
import { checkGenerateFlags, draftModelIdle, modelsFromFlags, num, rpcOptions, SESSION_FLAGS, usage, UsageError } from "./cli-flags.js";
import { BenchInputError, runSuite } from "./bench/suite.js";
import { buildDatastore } from "./datastore.js";
import { SpecdecError } from "./errors.js";
import { loadModel } from "./model.js";
import { setNumerics, type Numerics } from "./config.js";
import { serveRpc } from "./rpc.js";
import { isLoopback, serve, type RequestLogEntry } from "./server.js";

async function datastoreCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { model: { type: "string", short: "m" }, out: { type: "string", short: "o" }, rebuild: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) return void console.log(usage("datastore"));
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
        if (p.phase === "list") {
          if (p.skipped.length === 0) return;
          const count = (reason: string) => p.skipped.filter((x) => x.reason === reason).length;
          const parts = [["gitignore", "by .gitignore"], ["folder", ".git or node_modules folders"], ["binary", "binary files"], ["special", "links and other special files"]]
            .filter(([reason]) => count(reason) > 0)
            .map(([reason, what]) => `${count(reason)} ${what}`);
          process.stderr.write(`left out ${p.skipped.length} paths: ${parts.join(", ")}\n`);
          return;
        }
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
  if (values.help) return void console.log(usage("serve"));
  if (!values.model) throw new UsageError("--model is required");
  const port = num("port", values.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new UsageError(`--port takes a port number from 0 to 65535, not ${values.port}`);
  for (const origin of values.cors ?? []) {
    if (origin !== "*" && !/^https?:\/\/[^/\s]+$/.test(origin)) throw new UsageError(`--cors takes an origin such as http://localhost:3000, not ${JSON.stringify(origin)}`);
  }
  if (values.host && !isLoopback(values.host)) {
    const key = values["api-key"] ?? process.env.SPECDEC_API_KEY;
    console.error(`specdec serve: WARNING: listening on ${values.host}: ${key ? "anyone with the API key" : "anyone"} who can reach this port can run generations on this machine.${key ? "" : " Give an --api-key, or expose it only on a trusted network."}`);
  }
  const { model, draft, session } = await modelsFromFlags(values);
  const onRequest = (e: RequestLogEntry) => {
    const figures = e.stats ? ` ${e.stats.promptTokens}+${e.stats.generatedTokens} tokens, ${e.stats.tokensPerSecond.toFixed(1)} tokens/s, ${e.stats.tokensPerStep.toFixed(2)} per step` : "";
    console.log(`${new Date().toISOString()} ${e.method} ${e.path} ${e.status} ${Math.round(e.ms)} ms${figures}`);
  };
  const server = await serve(model, { host: values.host, port, name: values.name, session, corsOrigins: values.cors, allowedHosts: values["allowed-host"], apiKey: values["api-key"] ?? process.env.SPECDEC_API_KEY, onRequest }).catch((err) => {
    draft?.dispose();
    model.dispose();
    if (err?.code === "EADDRINUSE") throw new CommandError(`port ${port ?? 8080} is in use on ${values.host ?? "127.0.0.1"} (another server?); choose another with --port`);
    if (err?.code === "EADDRNOTAVAIL" || err?.code === "ENOTFOUND") throw new CommandError(`cannot listen on ${values.host}: no such address on this machine`);
    if (err?.code === "EACCES") throw new CommandError(`not allowed to listen on port ${port} (ports below 1024 need privileges)`);
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
      file: { type: "string", short: "f" },
      "max-tokens": { type: "string", short: "n", default: "128" },
      temp: { type: "string" },
      "top-k": { type: "string" },
      "top-p": { type: "string" },
      "min-p": { type: "string" },
      seed: { type: "string" },
    },
  });
  if (values.help) return void console.log(usage("generate"));
  if (!values.model) throw new UsageError("--model is required");
  if (values.prompt !== undefined && values.file !== undefined) throw new UsageError("give --prompt or --file, not both");
  if (values.prompt === undefined && values.file === undefined && process.stdin.isTTY) {
    throw new UsageError("a prompt is required: --prompt <text>, --file <file>, or on standard input");
  }
  const options = checkGenerateFlags({
    maxTokens: num("max-tokens", values["max-tokens"]),
    temperature: num("temp", values.temp),
    topK: num("top-k", values["top-k"]),
    topP: num("top-p", values["top-p"]),
    minP: num("min-p", values["min-p"]),
    seed: num("seed", values.seed),
  });
  let prompt = values.prompt;
  if (prompt === undefined) {
    try {
      prompt = fs.readFileSync(values.file ?? 0, "utf8");  // 0: standard input
    } catch (err) {
      throw new CommandError(`cannot read the prompt from ${values.file ?? "standard input"}: ${(err as Error).message}`);
    }
  }
  const { model, draft, session: sessionOptions } = await modelsFromFlags(values);
  try {
    const session = await model.createSession(sessionOptions);
    const controller = new AbortController();
    process.once("SIGINT", () => controller.abort());
    process.stdout.write(prompt);
    for await (const chunk of session.generate(prompt, { ...options, signal: controller.signal })) {
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
      const idle = draftModelIdle(s);
      if (idle) process.stderr.write(`${idle}\n`);
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
  if (values.help) return void console.log(usage("bench"));
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
    draftMax: num("draft-max", values["draft-max"]),
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
  if (values.help) return void console.log(usage("rpc-server"));
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

class CommandError extends Error {}

function version(): string {
  const pkg = JSON.parse(fs.readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return `specdec ${pkg.version}`;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === "generate") await generate(rest);
    else if (command === "serve") await serveCommand(rest);
    else if (command === "chat") await chatCommand(rest);
    else if (command === "datastore") await datastoreCommand(rest);
    else if (command === "bench") await benchCommand(rest);
    else if (command === "derive-draft") await deriveDraftCommand(rest);
    else if (command === "rpc-server") await rpcServerCommand(rest);
    else if (command === "-v" || command === "--version" || command === "version") console.log(version());
    else if (command === undefined || command === "-h" || command === "--help" || command === "help") console.log(usage(rest[0]));
    else throw new UsageError(`unknown command "${command}"`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      const known = ["generate", "chat", "serve", "datastore", "bench", "derive-draft", "rpc-server"].includes(command);
      console.error(`specdec: ${(err as Error).message}\n${known ? `specdec ${command} --help lists its options.` : usage()}`);
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

// The library's warnings (e.g. a model chatted with without its chat template) as the CLI's own
// lines, not Node's "(node:1234) Warning: ..." with its stack-trace hint.
process.removeAllListeners("warning");
process.on("warning", (w) => console.error(`specdec: warning: ${w.message}`));

process.exitCode = await main(process.argv.slice(2));
