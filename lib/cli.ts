#!/usr/bin/env node
// The specdec command line. `specdec generate -m model.gguf -p "prompt"` streams a completion and
// prints the speed at the end.
import { parseArgs } from "node:util";

import { openDatastore } from "./datastore.js";
import { SpecdecError } from "./errors.js";
import { loadModel } from "./model.js";
import { setNumerics, type Numerics } from "./config.js";

const USAGE = `usage: specdec generate -m <model.gguf> -p <prompt> [options]

options:
  -m, --model <file>      GGUF model (required)
  -p, --prompt <text>     prompt text (required)
  -d, --draft <file>      draft model for speculative decoding (same vocabulary)
      --draft-max <n>     most tokens the draft model drafts per round (default 4)
      --no-lookup         no lookup drafter (on by default: it drafts from the prompt and the output)
      --retrieval <file>  a datastore (built with buildDatastore) to draft from
  -n, --max-tokens <n>    tokens to generate (default 128)
      --temp <t>          temperature, 0 = greedy (default 0.8)
      --top-k <k>         (default 40)
      --top-p <p>         (default 0.95)
      --min-p <p>         (default 0.05)
      --seed <n>          sampler seed (default random)
  -c, --ctx <n>           context size (default: the model's)
  -t, --threads <n>       CPU threads (default: available processors, at most 8)
      --numerics <mode>   exact (default) or fast
  -h, --help              this text`;

async function generate(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: "string", short: "m" },
      prompt: { type: "string", short: "p" },
      draft: { type: "string", short: "d" },
      "draft-max": { type: "string" },
      "no-lookup": { type: "boolean" },
      retrieval: { type: "string" },
      "max-tokens": { type: "string", short: "n", default: "128" },
      temp: { type: "string" },
      "top-k": { type: "string" },
      "top-p": { type: "string" },
      "min-p": { type: "string" },
      seed: { type: "string" },
      ctx: { type: "string", short: "c" },
      threads: { type: "string", short: "t" },
      numerics: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return void console.log(USAGE);
  if (!values.model || values.prompt === undefined) throw new UsageError("--model and --prompt are required");
  const num = (name: string, s: string | undefined) => {
    if (s === undefined) return undefined;
    const n = Number(s);
    if (s.trim() === "" || Number.isNaN(n)) throw new UsageError(`--${name} must be a number, got "${s}"`);
    return n;
  };
  if (values.numerics) setNumerics(values.numerics as Numerics);
  const model = await loadModel(values.model);
  const draft = values.draft ? await loadModel(values.draft).catch((e) => (model.dispose(), Promise.reject(e))) : undefined;
  try {
    const session = await model.createSession({
      contextSize: num("ctx", values.ctx),
      threads: num("threads", values.threads),
      draft: draft ? { model: draft, maxTokens: num("draft-max", values["draft-max"]) } : undefined,
      drafters: [
        ...(values["no-lookup"] ? [] : [{ type: "lookup" as const }]),
        ...(values.retrieval ? [{ type: "retrieval" as const, store: await openDatastore(values.retrieval) }] : []),
      ],
    });
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
