// The command line's usage text, its errors, and the flags of a model and its session (shared by
// generate, chat, serve and bench) with what they make: models, drafters, session options.
import { openDatastore } from "./datastore.js";
import { setNumerics, type Numerics } from "./config.js";
import { loadModel, type LoadModelOptions, type Model } from "./model.js";
import type { GenerationStats } from "./session.js";
import { SpecdecError } from "./errors.js";
import { generationRequest, type DrafterOptions, type GenerateOptions, type SessionOptions } from "./options.js";

export const USAGE = `usage: specdec generate -m <model.gguf> -p <prompt> [options]
       specdec chat -m <model.gguf> [--system <text>] [--color] [options]
       specdec serve -m <model.gguf> [--host 127.0.0.1] [--port 8080] [--name <id>] [--cors <origin>]... [--allowed-host <name>]... [--api-key <key>] [options]
       specdec datastore build <file or folder>... -m <model.gguf> -o <store.specdec> [--rebuild]
       specdec bench -m <model.gguf> [-d <draft.gguf>] --prompts <file.jsonl> [-o <folder>] [bench options]
       specdec derive-draft -m <model.gguf> -o <draft.gguf> (--keep <n> [--spacing even|ends] | --layers <i,j,...>)
                          [--type Q4_0] [--prompts <file.jsonl>] [-n 96] [--no-measure]
       specdec rpc-server [--host 127.0.0.1] [--port 50052] [-t <threads>] [--mem <MiB>]
                          [--max-clients 4] [--idle-timeout <ms>] [--token <secret>]

chat: an interactive chat with the model's chat template (a base model without one gets a plain
"User: / Assistant:" transcript); after each answer a line with tokens/s, the share of drafted
tokens kept and tokens per main-model step; --color shows tokens a drafter guessed (and the main
model kept) in green, the main model's own in the default colour. /exit or Ctrl-D ends it,
Ctrl-C stops an answer. When the history no longer fits the context, the oldest turns are dropped
(the system prompt stays). Turns piped in on standard input (one line each) get no prompts, and
the chat ends with the input.

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

derive-draft: writes a draft model made from the main model alone, for a main model without a
small model of the same vocabulary: the layers --layers names (0-based), or --keep of them spread
evenly (first and last included; --spacing ends: the first n-1 and the last), with everything
else (vocabulary, embeddings, output head) as it is, requantized to --type if given. Then it
measures the draft against the main model, greedy, on the --prompts (the bench's JSON lines; by
default a few openings the main model continues): each model's time per token, the share of
drafted tokens kept, and the speedup speculative decoding gets from it. Untrained, a model that
lost most of its layers guesses worse than a trained small model: read the figures before
using it.

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
  -p, --prompt <text>     prompt text (generate: this, -f, or standard input when it is not a terminal)
  -f, --file <file>       the prompt from a file (generate)
  -d, --draft <file>      draft model for speculative decoding (same vocabulary)
      --draft-max <n>     most tokens the draft model drafts per round (default 6, 4 beside lookup)
      --draft-translate   the draft model has another vocabulary: draft through text
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
  -c, --ctx <n>           context size (default: the model's training context, at most 4096)
  -t, --threads <n>       CPU threads (default: available processors, at most 8)
      --numerics <mode>   exact (default) or fast
  -h, --help              this text`;

/**
 * The help of one command: its synopsis, its paragraph and (for the commands that load a model)
 * the options; without a command, the synopses of all and how to get more.
 */
export function usage(command?: string): string {
  const [head, ...rest] = USAGE.split("\n\n");
  const synopsis = head.split("\n");
  if (!command) return `${head}\n       specdec --version\n\nspecdec <command> --help tells more of each command.`;
  const lines: string[] = [];
  for (let i = 0; i < synopsis.length; i++) {
    if (!synopsis[i].replace("usage:", "").trim().startsWith(`specdec ${command} `)) continue;
    lines.push(`usage: ${synopsis[i].replace("usage:", "").trim()}`);
    while (synopsis[i + 1]?.startsWith("      ") && !synopsis[i + 1].trim().startsWith("specdec")) lines.push(synopsis[++i]);
  }
  const paragraph = rest.find((p) => p.startsWith(`${command}:`));
  const options = rest.find((p) => p.startsWith("options:"));
  return [lines.join("\n"), paragraph, MODEL_COMMANDS.has(command) ? options : undefined].filter(Boolean).join("\n\n");
}
const MODEL_COMMANDS = new Set(["generate", "chat", "serve", "bench"]);

/** A command line the commands cannot run: its message is printed with a pointer to --help. */
export class UsageError extends Error {}

// The flags of a model and its session, shared by the commands.
export const SESSION_FLAGS = {
  model: { type: "string", short: "m" },
  draft: { type: "string", short: "d" },
  "draft-max": { type: "string" },
  "draft-translate": { type: "boolean" },
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

export function num(name: string, s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (s.trim() === "" || Number.isNaN(n)) throw new UsageError(`--${name} must be a number, got "${s}"`);
  return n;
}

export interface SessionFlags {
  model?: string;
  draft?: string;
  "draft-max"?: string;
  "draft-translate"?: boolean;
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

const FLAG_OF: Record<string, string> = {
  maxTokens: "--max-tokens", temperature: "--temp", topK: "--top-k", topP: "--top-p", minP: "--min-p", seed: "--seed",
};

/** Checks generation options made of flags before any model loads, in the flags' own names. */
export function checkGenerateFlags(options: GenerateOptions): GenerateOptions {
  try {
    generationRequest("x", options);
  } catch (err) {
    if (!(err instanceof SpecdecError)) throw err;
    const name = err.message.split(" ")[0];
    throw new UsageError(FLAG_OF[name] ? `${FLAG_OF[name]}${err.message.slice(name.length)}` : err.message);
  }
  return options;
}

/** A whole number from lo to hi, or undefined. */
function count(name: string, s: string | undefined, lo: number, hi: number): number | undefined {
  const n = num(name, s);
  if (n !== undefined && (!Number.isInteger(n) || n < lo || n > hi)) throw new UsageError(`--${name} must be a whole number from ${lo} to ${hi}, got "${s}"`);
  return n;
}

/** Why the draft model did not draft in a generation, or null when it did (or there is none). */
export function draftModelIdle(stats: GenerationStats): string | null {
  const d = stats.drafters.find((x) => x.name === "draftModel");
  if (!d || d.proposed > 0 || stats.generatedTokens < 2) return null;
  if (stats.draftPromptRefusals > 0) {
    return `the draft model stayed out: evaluating the prompt (${stats.promptTokens - stats.reusedTokens} tokens) with it first would have cost more than its drafts could save in this generation`;
  }
  return "the draft model stayed out: other drafters' guesses were expected to be kept more, or drafting with it measured no faster here (--fixed-draft drafts every round)";
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
export function rpcOptions(values: SessionFlags): LoadModelOptions {
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
export async function modelsFromFlags(values: SessionFlags, progress = false): Promise<{ model: Model; draft?: Model; session: SessionOptions }> {
  // every flag checked before a model loads
  if (values.numerics !== undefined && values.numerics !== "exact" && values.numerics !== "fast") {
    throw new UsageError(`--numerics must be exact or fast, got "${values.numerics}"`);
  }
  const contextSize = count("ctx", values.ctx, 16, 1 << 24);
  const threads = count("threads", values.threads, 1, 1024);
  const draftMax = count("draft-max", values["draft-max"], 1, 63);
  if (draftMax !== undefined && !values.draft) throw new UsageError("--draft-max needs a draft model (-d)");
  if (values["draft-translate"] && !values.draft) throw new UsageError("--draft-translate needs a draft model (-d)");
  const rpc = rpcOptions(values);
  const drafters = await draftersFromFlags(values);
  if (values.numerics) setNumerics(values.numerics as Numerics);
  const model = await loadWithProgress(values.model as string, progress, rpc);
  let draft: Model | undefined;
  try {
    draft = values.draft ? await loadWithProgress(values.draft, progress) : undefined;
    const session: SessionOptions = {
      contextSize,
      threads,
      draft: draft
        ? { model: draft, maxTokens: draftMax, adaptive: values["fixed-draft"] ? false : undefined, translate: values["draft-translate"] }
        : undefined,
      drafters,
    };
    return { model, draft, session };
  } catch (err) {
    draft?.dispose();
    model.dispose();
    throw err;
  }
}
