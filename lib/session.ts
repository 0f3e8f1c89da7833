import os from "node:os";

import { SpecdecError, fromNative, wrapNative, wrapNativeSync } from "./errors.js";
import { Datastore } from "./datastore.js";
import type { Model, ModelInfo } from "./model.js";
import type { NativeSession, NativeStats } from "./native.js";
import * as v from "./validate.js";

/** Options of {@link Model.createSession}. */
export interface SessionOptions {
  /** Context size in tokens (default: the model's training context). */
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

/** What one drafter proposed and what of it the main model kept. */
export interface DrafterStats {
  name: "draftModel" | "lookup" | "retrieval" | "lookahead";
  /** Tokens proposed (a token two drafters proposed at the same place counts for both). */
  proposed: number;
  /** Of those, kept. */
  accepted: number;
  /** Tokens proposed by draft position (0: the first drafted token). */
  proposedAt: number[];
  /** Tokens kept by draft position. */
  acceptedAt: number[];
}

/** Lookup in the prompt and the text generated so far (n-gram match). */
export interface LookupDrafterOptions {
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
  type: "lookahead";
  /** Positions guessed ahead, 1 to 16 (default 4). */
  window?: number;
  /** n-gram size, 3 to 8 (default 3): ngram - 1 tokens proposed. */
  ngram?: number;
  /** n-grams kept per first token and proposed per round, 1 to 8 (default 4). */
  candidates?: number;
}

export type DrafterOptions = LookupDrafterOptions | RetrievalDrafterOptions | LookaheadDrafterOptions;

/** Options of the draft model of a session. */
export interface DraftOptions {
  /** The draft model. Its vocabulary must match (else VOCAB_MISMATCH). */
  model: Model;
  /** Most tokens drafted per round, 1 to 63 (default 4: with a draft model, longer drafts paid less on 2-core CPUs). */
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
  /** Aborts the generation: the iterator then throws a SpecdecError with code ABORTED. */
  signal?: AbortSignal;
  /** Add the model's BOS token before a text prompt (default: as the model asks). */
  addBos?: boolean;
  /** Parse special-token text in a text prompt, e.g. chat-template markers (default true). */
  specialTokens?: boolean;
}

/** A piece of the output: the tokens accepted since the last chunk and their text. */
export interface GenerationChunk {
  text: string;
  tokens: number[];
  /** By token: true where a drafter proposed it and the main model kept it (false: the main model's own). */
  drafted: boolean[];
}

/** Why a generation ended. */
export type StopReason = "eos" | "maxTokens" | "stop" | "contextFull" | "aborted" | "error";

/** Figures of a generation (or, for {@link Session.totals}, of every finished one added up). */
export interface GenerationStats {
  /** Tokens in the prompt. */
  promptTokens: number;
  /** Prompt tokens whose KV cache entries were reused from the previous generation. */
  reusedTokens: number;
  /** Tokens generated. */
  generatedTokens: number;
  /** Time spent evaluating the prompt (the part not reused). */
  promptMs: number;
  /** Time spent generating, from the first sampled token to the end. */
  generationMs: number;
  /** Prompt tokens evaluated per second. */
  promptTokensPerSecond: number;
  /** Generated tokens per second. */
  tokensPerSecond: number;
  /** Main-model evaluations while generating: plain steps and verification batches. */
  mainDecodes: number;
  /** Generated tokens per main-model evaluation (1 without speculation). */
  tokensPerStep: number;
  /** Tokens proposed by the drafter and checked by the main model. */
  drafted: number;
  /** Drafted tokens the main model kept. */
  accepted: number;
  /** accepted / drafted (0 when nothing was drafted). */
  acceptanceRate: number;
  /** By position in the draft (0 = first drafted token): how many were checked. */
  draftedAt: number[];
  /** By position in the draft: how many were kept. */
  acceptedAt: number[];
  /** By drafter (in the session's order: the draft model, then lookup): tokens proposed and kept. */
  drafters: DrafterStats[];
  /** Time spent drafting. */
  draftMs: number;
  /** Time spent in main-model evaluations while generating (plain steps and verification). */
  mainMs: number;
  /** Why it ended, or null while none has ended. */
  stopReason: StopReason | null;
}

const FLASH_ATTENTION = { auto: -1, off: 0, on: 1 } as const;
/** How long an aborted generation may wait on an RPC worker before the model's connections are failed. */
const RPC_ABORT_GRACE_MS = 2000;

/** Without a `drafters` option a session looks up its own text: it costs next to nothing. */
const DEFAULT_DRAFTERS: DrafterOptions[] = [{ type: "lookup" }];

export function defaultThreads(): number {
  return Math.max(1, Math.min(8, os.availableParallelism()));
}

/**
 * A context on a model: its own KV cache, one generation at a time. Consecutive generations reuse
 * the cache for the prompt prefix they share.
 */
export class Session {
  /** The model this session generates with. */
  readonly model: Model;
  /** Context size in tokens. */
  readonly contextSize: number;
  #native: NativeSession | null;
  #generation = 0;

  /** @internal Use {@link Model.createSession}. */
  constructor(model: Model, native: NativeSession) {
    this.model = model;
    this.#native = native;
    this.contextSize = native.info().contextSize;
  }

  /** @internal Checks session options and turns them into the native layer's. */
  static nativeOptions(options: SessionOptions, info: ModelInfo, modelClass: typeof Model): Record<string, unknown> {
    const o = v.optionsObject("options", options);
    const threads = o.threads === undefined ? defaultThreads() : v.integer("threads", o.threads, 1, 1024);
    const contextSize =
      o.contextSize === undefined ? info.trainContextSize : v.integer("contextSize", o.contextSize, 16, 1 << 24);
    return {
      contextSize,
      draft: o.draft === undefined ? undefined : Session.#draftOptions(o.draft, contextSize, modelClass),
      ...Session.#drafterOptions(o.drafters === undefined ? DEFAULT_DRAFTERS : o.drafters),
      batchSize: v.maybe(o.batchSize, (x) => v.integer("batchSize", x, 1, 1 << 16)),
      threads,
      threadsBatch: o.threadsBatch === undefined ? threads : v.integer("threadsBatch", o.threadsBatch, 1, 1024),
      flashAttention:
        FLASH_ATTENTION[o.flashAttention === undefined ? "auto" : v.oneOf("flashAttention", o.flashAttention, ["auto", "on", "off"])],
    };
  }

  static #draftOptions(draft: unknown, contextSize: number, modelClass: typeof Model): Record<string, unknown> {
    const d = v.optionsObject("draft", draft as DraftOptions);
    if (!(d.model instanceof modelClass)) throw new SpecdecError("INVALID_ARGUMENT", "draft.model must be a Model from loadModel()");
    if (d.model.disposed) throw new SpecdecError("DISPOSED", "the draft model has been disposed");
    return {
      model: d.model.nativeHandle(),
      maxTokens: v.maybe(d.maxTokens, (x) => v.integer("draft.maxTokens", x, 1, Math.min(63, contextSize - 2))),
      adaptive: v.maybe(d.adaptive, (x) => v.boolean("draft.adaptive", x)),
      minConfidence: v.maybe(d.minConfidence, (x) => v.number("draft.minConfidence", x, 0, 1)),
      greedy: v.maybe(d.greedy, (x) => v.boolean("draft.greedy", x)),
    };
  }

  static #drafterOptions(drafters: unknown): Partial<Record<"lookup" | "retrieval" | "lookahead", Record<string, unknown>>> {
    if (!Array.isArray(drafters)) throw new SpecdecError("INVALID_ARGUMENT", "drafters must be an array");
    const out: Partial<Record<"lookup" | "retrieval" | "lookahead", Record<string, unknown>>> = {};
    drafters.forEach((entry: unknown, i: number) => {
      const name = `drafters[${i}]`;
      const d = v.optionsObject(name, entry as DrafterOptions) as Record<string, unknown>;
      const type = d.type;
      if (type !== "lookup" && type !== "retrieval" && type !== "lookahead") {
        throw new SpecdecError("INVALID_ARGUMENT", `${name}.type must be "lookup", "retrieval" or "lookahead" (got ${JSON.stringify(type)})`);
      }
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

  /** True once {@link dispose} has been called. */
  get disposed(): boolean {
    return this.#native === null;
  }

  /** Whether this session drafts (with a draft model or another drafter). */
  get hasDraft(): boolean {
    return this.#handle().info().hasDraft;
  }

  #handle(): NativeSession {
    if (!this.#native) throw new SpecdecError("DISPOSED", "the session has been disposed");
    return this.#native;
  }

  /** Figures of the last generation. */
  get stats(): GenerationStats {
    return Session.#stats(wrapNativeSync(() => this.#handle().stats()).last);
  }

  /** Figures of every finished generation of this session, added up. */
  get totals(): GenerationStats {
    return Session.#stats(wrapNativeSync(() => this.#handle().stats()).totals);
  }

  static #stats(s: NativeStats): GenerationStats {
    return {
      ...s,
      promptTokensPerSecond: s.promptMs > 0 ? ((s.promptTokens - s.reusedTokens) * 1000) / s.promptMs : 0,
      tokensPerSecond: s.generationMs > 0 ? (s.generatedTokens * 1000) / s.generationMs : 0,
      tokensPerStep: s.mainDecodes > 0 ? s.generatedTokens / s.mainDecodes : 0,
      acceptanceRate: s.drafted > 0 ? s.accepted / s.drafted : 0,
      drafters: s.drafters as DrafterStats[],
      stopReason: s.stopReason as StopReason | null,
    };
  }

  /**
   * Generates a continuation of `prompt` (text, or token ids), streaming it in chunks. The model
   * work runs off the main thread, a few tens of milliseconds at a time.
   *
   * One generation at a time: starting another while a step of this one runs throws BUSY; starting
   * one while this one waits for its consumer supersedes it (its iterator then throws ABORTED).
   *
   * @throws SpecdecError CONTEXT_OVERFLOW, ABORTED, DISPOSED, BUSY, INVALID_ARGUMENT
   */
  async *generate(prompt: string | readonly number[] | Int32Array, options: GenerateOptions = {}): AsyncGenerator<GenerationChunk, void, undefined> {
    const request = Session.#request(prompt, options);
    const signal = options?.signal;
    const native = this.#handle();
    if (signal?.aborted) throw new SpecdecError("ABORTED", "the generation was aborted", { cause: signal.reason });
    wrapNativeSync(() => native.begin(request));
    const generation = ++this.#generation;
    // A step waiting on an RPC worker that does not answer would hold the abort until the request
    // times out: past a grace period the model's worker connections are failed (the model is then
    // unusable, RPC_UNAVAILABLE). A local model is unaffected.
    let rpcGrace: NodeJS.Timeout | undefined;
    const onAbort = () => {
      native.abort();
      rpcGrace = setTimeout(() => native.abort(true), RPC_ABORT_GRACE_MS);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        let step;
        try {
          step = await native.step();
        } catch (err) {
          const e = fromNative(err);
          if (e.code === "ABORTED" && this.disposed) {
            throw new SpecdecError("DISPOSED", "the session was disposed during generation", { cause: e });
          }
          if (e.code === "ABORTED") throw new SpecdecError("ABORTED", e.message, { cause: signal?.reason ?? e });
          throw e;
        }
        if (step.tokens.length > 0 || step.text.length > 0) {
          yield { text: step.text, tokens: Array.from(step.tokens), drafted: Array.from(step.drafted, Boolean) };
        }
        if (step.done) return;
        if (this.disposed) throw new SpecdecError("DISPOSED", "the session was disposed during generation");
        if (generation !== this.#generation) {
          throw new SpecdecError("ABORTED", "the generation was superseded by a newer one on the same session");
        }
      }
    } finally {
      clearTimeout(rpcGrace);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Generates to the end and returns the whole text and tokens with the figures. */
  async complete(prompt: string | readonly number[] | Int32Array, options: GenerateOptions = {}): Promise<{ text: string; tokens: number[]; stats: GenerationStats }> {
    let text = "";
    const tokens: number[] = [];
    for await (const chunk of this.generate(prompt, options)) {
      text += chunk.text;
      tokens.push(...chunk.tokens);
    }
    return { text, tokens, stats: this.stats };
  }

  /**
   * The logits of every position of `tokens`, evaluated from an empty cache in batches of
   * `batchSize`: a Float32Array of tokens.length x vocabSize. Clears the session's cache.
   */
  async evaluateLogits(tokens: readonly number[] | Int32Array, options: { batchSize?: number } = {}): Promise<Float32Array> {
    const ids = v.tokenArray("tokens", tokens);
    const o = v.optionsObject("options", options);
    const batchSize = v.maybe(o.batchSize, (x) => v.integer("batchSize", x, 1, 1 << 16));
    const handle = this.#handle();
    return wrapNative(() => handle.evaluateLogits(ids, { batchSize }));
  }

  /**
   * Benchmarking helper: the cost curve V(n), the median milliseconds of one main-model
   * evaluation of n tokens (logits for every position) at context depth `depth`, for each n in
   * `sizes`, over `repeats` runs. Clears the session's cache.
   */
  async measureDecode(options: { depth?: number; sizes: number[]; repeats?: number }): Promise<{ n: number; ms: number }[]> {
    const o = v.optionsObject("options", options);
    const depth = o.depth === undefined ? 0 : v.integer("depth", o.depth, 0, 1 << 24);
    const repeats = o.repeats === undefined ? 9 : v.integer("repeats", o.repeats, 1, 100000);
    if (!Array.isArray(o.sizes) || o.sizes.length === 0) throw new SpecdecError("INVALID_ARGUMENT", "sizes must be a non-empty array");
    const sizes = o.sizes.map((n, i) => v.integer(`sizes[${i}]`, n, 1, 1 << 16));
    const handle = this.#handle();
    const ms = await wrapNative(() => handle.measureDecode({ depth, sizes, repeats }));
    return sizes.map((n, i) => ({ n, ms: ms[i] }));
  }

  /** Frees the context. A running generation is aborted and its iterator throws DISPOSED. */
  dispose(): void {
    if (!this.#native) return;
    this.#native.dispose();
    this.#native = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }

  static #request(prompt: unknown, options: GenerateOptions): Record<string, unknown> {
    const o = v.optionsObject("options", options);
    const maybeNum = (name: keyof GenerateOptions, min: number, max: number) =>
      v.maybe(o[name], (x) => v.number(name, x, min, max));
    const maybeInt = (name: keyof GenerateOptions, min: number, max: number) =>
      v.maybe(o[name], (x) => v.integer(name, x, min, max));
    if (o.signal !== undefined) v.abortSignal("signal", o.signal);
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
      addBos: v.maybe(o.addBos, (x) => v.boolean("addBos", x)),
      specialTokens: v.maybe(o.specialTokens, (x) => v.boolean("specialTokens", x)),
    };
  }
}
