// The options of sessions and generations: their types (with their defaults, as native/options.h
// has them), their keys, and the one place they are checked and turned into the addon's
// (lib/native.ts).
import os from "node:os";

import { SpecdecError } from "./errors.js";
import { Datastore } from "./datastore.js";
import { jsonSchemaToGrammar } from "./json-schema.js";
import type { Model, ModelInfo } from "./model.js";
import type { NativeGenerationRequest, NativeSessionOptions } from "./native.js";
import * as v from "./validate.js";

/** Options of {@link Model.createSession}. */
export interface SessionOptions {
  /**
   * Context size in tokens (default: the model's training context, at most {@link DEFAULT_CONTEXT_SIZE};
   * today's models train on 32 k-128 k tokens, whose KV cache would take gigabytes).
   */
  contextSize?: number;
  /** Most tokens evaluated in one batch during prompt processing (default 512). */
  batchSize?: number;
  /** CPU threads for generation (default: the processors available to this process, at most 8). */
  threads?: number;
  /** CPU threads for prompt processing (default: `threads`). */
  threadsBatch?: number;
  /** Flash attention: "auto" (default, llama.cpp decides), "on" or "off". */
  flashAttention?: "auto" | "on" | "off";
  /**
   * Speculative decoding with a draft model: a smaller model with the same vocabulary (or a
   * quantized copy of this one) guesses ahead, and this model verifies the guesses in one batch.
   * The output is exactly what this model alone produces (greedy), or has exactly its
   * distribution (sampling).
   */
  draft?: DraftOptions;
  /**
   * Drafters that need no second model (at most one of each type; default: lookup; `[]`: none): `{ type: "lookup" }` guesses
   * that the text goes on as it did after the last earlier occurrence of its ending, in the
   * prompt or in what was generated; `{ type: "retrieval", store }` as it did in a corpus (see
   * buildDatastore). With several drafters (a draft model included), their proposals are merged
   * into one token tree and verified in one batch.
   */
  drafters?: DrafterOptions[];
}


/** Lookup in the prompt and the text generated so far (n-gram match). */
export interface LookupDrafterOptions {
  /** Lookup in the prompt and the text generated so far. */
  type: "lookup";
  /** Shortest ending of the text that is looked up, in tokens (default 2). */
  ngramMin?: number;
  /** Longest ending looked up, in tokens (default 4 or ngramMin); the longest found wins. */
  ngramMax?: number;
  /** Most tokens drafted per round, 1 to 63 (default 8). */
  maxTokens?: number;
  /**
   * Pick the draft length each round from what it measures, and cut proposals where this drafter's
   * tokens are seldom kept (default true); false: always maxTokens, uncut.
   */
  adaptive?: boolean;
}

/** Retrieval from a corpus's datastore (suffix match, as REST). */
export interface RetrievalDrafterOptions {
  /** Retrieval from a corpus (a datastore). */
  type: "retrieval";
  /** The datastore, from buildDatastore() or openDatastore(), built with this model's tokenizer. */
  store: Datastore;
  /** Shortest ending of the text looked up, in tokens (default 2). */
  minMatch?: number;
  /** Longest ending looked up (default 16); the longest found wins. */
  maxMatch?: number;
  /** Continuations proposed per round, the most frequent next tokens (default 3). */
  candidates?: number;
  /** Most tokens per continuation, 1 to 63 (default 8). */
  maxTokens?: number;
  /**
   * Pick the draft length each round from what it measures, and cut proposals where this drafter's
   * tokens are seldom kept (default true); false: always maxTokens, uncut.
   */
  adaptive?: boolean;
}

/**
 * Lookahead decoding (Jacobi iteration with an n-gram pool, Fu et al. 2024): the main model
 * itself guesses `window` positions ahead in every batch; the n-grams its guesses form are proposed
 * when the text reaches their first token. Costs `window` x (`ngram` - 2) + `window` - 1 extra
 * tokens per batch.
 */
export interface LookaheadDrafterOptions {
  /** Lookahead: the main model guesses ahead itself. */
  type: "lookahead";
  /** Positions guessed ahead, 1 to 16 (default 4). */
  window?: number;
  /** n-gram size, 3 to 8 (default 3): ngram - 1 tokens proposed. */
  ngram?: number;
  /** n-grams kept per first token and proposed per round, 1 to 8 (default 4). */
  candidates?: number;
}

/**
 * A drafter that needs no second model, for {@link SessionOptions.drafters}.
 * @example
 * const session = await model.createSession({ draft: { model: draft }, drafters: [{ type: "lookup" }, { type: "retrieval", store }] });
 */
export type DrafterOptions = LookupDrafterOptions | RetrievalDrafterOptions | LookaheadDrafterOptions;

/** Options of the draft model of a session. */
export interface DraftOptions {
  /** The draft model. Its vocabulary must match (else VOCAB_MISMATCH), unless `translate`. */
  model: Model;
  /**
   * Most tokens drafted per round, 1 to 63 (default 6 alone, 4 beside lookup, retrieval or
   * lookahead, where the draft model is left the hard places and long drafts are seldom kept).
   */
  maxTokens?: number;
  /**
   * Pick the draft length each round from measured acceptance and costs, down to not drafting at
   * all when it does not pay (default true). With false, every round drafts maxTokens.
   */
  adaptive?: boolean;
  /** Greedy drafting stops early when the draft model's confidence falls below this (default 0 = never). */
  minConfidence?: number;
  /**
   * When sampling, draft the draft model's most likely token (kept when the main model's own
   * draw names it) instead of drawing from the draft model's distribution (speculative sampling).
   * Both are exact. Default false.
   */
  greedy?: boolean;
  /**
   * The draft model has another vocabulary (tokenizer): its guesses are turned into text and
   * tokenized with the main model's, and the accepted text goes back the same way. Output stays
   * exact; the draft model then drafts its likeliest tokens also when sampling (like `greedy`),
   * and translation costs a little each round. Ignored when the vocabularies match. Default false.
   */
  translate?: boolean;
}

/** Options of {@link Session.generate}. */
export interface GenerateOptions {
  /** Stop after this many tokens (default: when the context is full). Prompt + maxTokens must fit the context. */
  maxTokens?: number;
  /** 0 for greedy decoding; otherwise the sampling temperature (default 0.8). */
  temperature?: number;
  /** Keep the k most likely tokens (default 40, 0 = off). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (default 0.95, 1 = off). */
  topP?: number;
  /** Drop tokens less likely than minP times the most likely one (default 0.05, 0 = off). */
  minP?: number;
  /** Divide the logits of recently seen tokens by this (default 1 = off). */
  repeatPenalty?: number;
  /** How many recent tokens the penalties look at (default 64, -1 = all). */
  repeatLastN?: number;
  /** Subtract this times a token's recent count from its logit (default 0). */
  frequencyPenalty?: number;
  /** Subtract this from the logit of every recently seen token (default 0). */
  presencePenalty?: number;
  /** Seed of the sampler: the same seed, prompt and options give the same output (default: random). */
  seed?: number;
  /** Stop when the text contains one of these; the stop text itself is not returned. */
  stop?: string[];
  /**
   * Structured output: the text follows this GBNF grammar (llama.cpp's grammar format, start
   * rule `root`); tokens it does not allow get no probability, and drafted tokens it does not
   * allow are never verified. Greedy output is what plain greedy decoding under the grammar gives;
   * sampling follows the main model's distribution over the tokens it allows.
   */
  grammar?: string;
  /**
   * Structured output: the text is one JSON value matching this JSON Schema (turned into a GBNF
   * grammar; `{ type: "object" }`: any JSON object). Keywords it cannot enforce are an
   * INVALID_ARGUMENT error; see docs/structured-output.md. Not with `grammar`.
   */
  jsonSchema?: object | boolean;
  /**
   * Give each chunk's tokens their log-probabilities (under the main model's logits at
   * temperature 1, before penalties and the sampler chain) and this many likeliest alternatives
   * with theirs (0 to 20); default: none. See {@link GenerationChunk.logprobs}.
   */
  logprobs?: number;
  /**
   * Texts the lookup drafter may quote for this generation only: what the app retrieved (search
   * results, the files open in an editor). Tokenized and indexed when the generation starts
   * (`stats.referenceTokens`, `stats.referenceMs`), never put into the prompt or the KV cache; the
   * output is what it would be without them, only drafted from them. Needs the lookup drafter
   * (the default). At most 64 MiB in all.
   */
  references?: string[];
  /** Aborts the generation: the iterator then throws a SpecdecError with code ABORTED. */
  signal?: AbortSignal;
  /** Add the model's BOS token before a text prompt (default: as the model asks). */
  addBos?: boolean;
  /**
   * Parse special-token text in a text prompt, e.g. chat-template markers, as those tokens
   * (default false, as {@link Model.tokenize}: text from users stays text). Chats and the server
   * turn it on for the prompts they render.
   */
  specialTokens?: boolean;
  /**
   * How long the native side generates before it hands a chunk back, in milliseconds (default
   * 25; 0: a chunk per round). Shorter: text streams sooner, at a little more overhead.
   */
  chunkMs?: number;
}

const FLASH_ATTENTION = { auto: -1, off: 0, on: 1 } as const;

/** The default context size's cap: llama.cpp's own default. */
export const DEFAULT_CONTEXT_SIZE = 4096;

/** @internal */
export const SESSION_KEYS: v.OptionKeys<SessionOptions> = {
  contextSize: true, batchSize: true, threads: true, threadsBatch: true, flashAttention: true, draft: true, drafters: true,
};
const DRAFT_KEYS: v.OptionKeys<DraftOptions> = { model: true, maxTokens: true, adaptive: true, minConfidence: true, greedy: true, translate: true };
const GENERATE_KEYS: v.OptionKeys<GenerateOptions> = {
  maxTokens: true, temperature: true, topK: true, topP: true, minP: true, repeatPenalty: true, repeatLastN: true,
  frequencyPenalty: true, presencePenalty: true, seed: true, stop: true, grammar: true, jsonSchema: true, logprobs: true, references: true,
  signal: true, addBos: true, specialTokens: true, chunkMs: true,
};
/** The most text a generation's references may hold, in UTF-16 code units. */
const MAX_REFERENCES = 64 * 2 ** 20;
const DRAFTER_KEYS = {
  lookup: { type: true, ngramMin: true, ngramMax: true, maxTokens: true, adaptive: true } satisfies v.OptionKeys<LookupDrafterOptions>,
  retrieval: {
    type: true, store: true, minMatch: true, maxMatch: true, candidates: true, maxTokens: true, adaptive: true,
  } satisfies v.OptionKeys<RetrievalDrafterOptions>,
  lookahead: { type: true, window: true, ngram: true, candidates: true } satisfies v.OptionKeys<LookaheadDrafterOptions>,
};

/** Without a `drafters` option a session looks up its own text: it costs next to nothing. */
const DEFAULT_DRAFTERS: DrafterOptions[] = [{ type: "lookup" }];

/** @internal The default of `threads`: the processors this process may use, at most 8. */
export function defaultThreads(): number {
  return Math.max(1, Math.min(8, os.availableParallelism()));
}

/** @internal Checks session options and turns them into the native layer's. */
export function sessionOptions(options: SessionOptions, info: ModelInfo, modelClass: typeof Model): NativeSessionOptions {
  const o = v.optionsObject("options", options, SESSION_KEYS);
  const threads = o.threads === undefined ? defaultThreads() : v.integer("threads", o.threads, 1, 1024);
  const contextSize =
    o.contextSize === undefined ? Math.min(info.trainContextSize, DEFAULT_CONTEXT_SIZE) : v.integer("contextSize", o.contextSize, 16, 1 << 24);
  return {
    contextSize,
    draft: o.draft === undefined ? undefined : draftOptions(o.draft, contextSize, modelClass),
    ...drafterOptions(o.drafters === undefined ? DEFAULT_DRAFTERS : o.drafters),
    batchSize: v.maybe(o.batchSize, (x) => v.integer("batchSize", x, 1, 1 << 16)),
    threads,
    threadsBatch: o.threadsBatch === undefined ? threads : v.integer("threadsBatch", o.threadsBatch, 1, 1024),
    flashAttention:
      FLASH_ATTENTION[o.flashAttention === undefined ? "auto" : v.oneOf("flashAttention", o.flashAttention, ["auto", "on", "off"])],
  };
}

function draftOptions(draft: unknown, contextSize: number, modelClass: typeof Model): NativeSessionOptions["draft"] {
  const d = v.optionsObject("draft", draft as DraftOptions, DRAFT_KEYS);
  if (!(d.model instanceof modelClass)) throw new SpecdecError("INVALID_ARGUMENT", "draft.model must be a Model from loadModel()");
  if (d.model.disposed) throw new SpecdecError("DISPOSED", "the draft model has been disposed");
  return {
    model: d.model.nativeHandle(),
    maxTokens: v.maybe(d.maxTokens, (x) => v.integer("draft.maxTokens", x, 1, Math.min(63, contextSize - 2))),
    adaptive: v.maybe(d.adaptive, (x) => v.boolean("draft.adaptive", x)),
    minConfidence: v.maybe(d.minConfidence, (x) => v.number("draft.minConfidence", x, 0, 1)),
    greedy: v.maybe(d.greedy, (x) => v.boolean("draft.greedy", x)),
    translate: v.maybe(d.translate, (x) => v.boolean("draft.translate", x)),
  };
}

function drafterOptions(drafters: unknown): Pick<NativeSessionOptions, "lookup" | "retrieval" | "lookahead"> {
  if (!Array.isArray(drafters)) throw new SpecdecError("INVALID_ARGUMENT", "drafters must be an array");
  const out: Pick<NativeSessionOptions, "lookup" | "retrieval" | "lookahead"> = {};
  drafters.forEach((entry: unknown, i: number) => {
    const name = `drafters[${i}]`;
    const type = (entry as { type?: unknown } | null)?.type;
    if (type !== "lookup" && type !== "retrieval" && type !== "lookahead") {
      throw new SpecdecError("INVALID_ARGUMENT", `${name}.type must be "lookup", "retrieval" or "lookahead" (got ${JSON.stringify(type)})`);
    }
    const d = v.optionsObject(name, entry as DrafterOptions, DRAFTER_KEYS[type]) as Record<string, unknown>;
    if (out[type]) throw new SpecdecError("INVALID_ARGUMENT", `drafters: one ${type} drafter at most`);
    const common = {
      maxTokens: v.maybe(d.maxTokens, (x) => v.integer(`${name}.maxTokens`, x, 1, 63)),
      adaptive: v.maybe(d.adaptive, (x) => v.boolean(`${name}.adaptive`, x)),
    };
    if (type === "lookahead") {
      out.lookahead = {
        window: v.maybe(d.window, (x) => v.integer(`${name}.window`, x, 1, 16)),
        ngram: v.maybe(d.ngram, (x) => v.integer(`${name}.ngram`, x, 3, 8)),
        candidates: v.maybe(d.candidates, (x) => v.integer(`${name}.candidates`, x, 1, 8)),
      };
    } else if (type === "lookup") {
      const ngramMin = v.maybe(d.ngramMin, (x) => v.integer(`${name}.ngramMin`, x, 1, 16));
      out.lookup = { ...common, ngramMin, ngramMax: v.maybe(d.ngramMax, (x) => v.integer(`${name}.ngramMax`, x, ngramMin ?? 2, 16)) };
    } else {
      if (!(d.store instanceof Datastore)) throw new SpecdecError("INVALID_ARGUMENT", `${name}.store must be a Datastore (from buildDatastore)`);
      const minMatch = v.maybe(d.minMatch, (x) => v.integer(`${name}.minMatch`, x, 1, 64));
      out.retrieval = {
        ...common,
        path: d.store.path,
        minMatch,
        maxMatch: v.maybe(d.maxMatch, (x) => v.integer(`${name}.maxMatch`, x, minMatch ?? 2, 64)),
        candidates: v.maybe(d.candidates, (x) => v.integer(`${name}.candidates`, x, 1, 8)),
      };
    }
  });
  return out;
}

/** @internal Checks generation options and turns them into the native layer's request. */
export function generationRequest(prompt: unknown, options: GenerateOptions): NativeGenerationRequest {
  const o = v.optionsObject("options", options, GENERATE_KEYS);
  const maybeNum = (name: keyof GenerateOptions, min: number, max: number) =>
    v.maybe(o[name], (x) => v.number(name, x, min, max));
  const maybeInt = (name: keyof GenerateOptions, min: number, max: number) =>
    v.maybe(o[name], (x) => v.integer(name, x, min, max));
  if (o.signal !== undefined) v.abortSignal("signal", o.signal);
  if (o.grammar !== undefined && o.jsonSchema !== undefined) throw new SpecdecError("INVALID_ARGUMENT", "give grammar or jsonSchema, not both");
  const grammar = o.jsonSchema !== undefined ? jsonSchemaToGrammar(o.jsonSchema) : v.maybe(o.grammar, (x) => v.string("grammar", x));
  if (grammar === "") throw new SpecdecError("INVALID_ARGUMENT", "grammar must not be empty");
  return {
    prompt: typeof prompt === "string" ? prompt : v.tokenArray("prompt", prompt),
    maxTokens: maybeInt("maxTokens", 1, 1 << 24),
    temperature: maybeNum("temperature", 0, 100),
    topK: maybeInt("topK", 0, 1 << 24),
    topP: maybeNum("topP", 0, 1),
    minP: maybeNum("minP", 0, 1),
    repeatPenalty: maybeNum("repeatPenalty", 0, 100),
    repeatLastN: maybeInt("repeatLastN", -1, 1 << 24),
    frequencyPenalty: maybeNum("frequencyPenalty", -100, 100),
    presencePenalty: maybeNum("presencePenalty", -100, 100),
    seed: o.seed === undefined ? Math.floor(Math.random() * 0x100000000) : v.integer("seed", o.seed, 0, 0xffffffff),
    stop: v.maybe(o.stop, (x) => v.stringArray("stop", x)),
    grammar,
    logprobs: maybeInt("logprobs", 0, 20),
    addBos: v.maybe(o.addBos, (x) => v.boolean("addBos", x)),
    specialTokens: v.maybe(o.specialTokens, (x) => v.boolean("specialTokens", x)),
    chunkMs: maybeNum("chunkMs", 0, 60_000),
    ...(o.references !== undefined ? { references: referenceTexts(o.references) } : {}),
  };
}

function referenceTexts(x: unknown): string[] {
  const texts = v.stringArray("references", x);
  const size = texts.reduce((n, t) => n + t.length, 0);
  if (size > MAX_REFERENCES) throw new SpecdecError("INVALID_ARGUMENT", `references hold ${size} characters; at most ${MAX_REFERENCES}`);
  return texts;
}
