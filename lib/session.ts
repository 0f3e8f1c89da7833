// A session: a context (KV cache) on a model that generates, one generation at a time, and the
// figures of what it generated. Its options: options.ts.
import { SpecdecError, fromNative, wrapNative, wrapNativeSync } from "./errors.js";
import type { Model } from "./model.js";
import type { NativeSession, NativeStats, NativeStep } from "./native.js";
import { generationRequest, type GenerateOptions } from "./options.js";
import * as v from "./validate.js";

/** What one drafter proposed and what of it the main model kept. */
export interface DrafterStats {
  /** Which drafter: the draft model, or the `type` of an entry of `drafters`. */
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


/** A piece of the output: the tokens accepted since the last chunk and their text. */
export interface GenerationChunk {
  /** The text of the tokens (a character split across chunks comes whole, in the later one; stop text held back). */
  text: string;
  /** The token ids accepted since the last chunk. */
  tokens: number[];
  /** By token: true where a drafter proposed it and the main model kept it (false: the main model's own). */
  drafted: boolean[];
  /** With the `logprobs` option, by token: its log-probability and the likeliest alternatives'. */
  logprobs?: TokenLogprob[];
}

/** A generated token's log-probability under the main model (softmax of its logits at temperature 1). */
export interface TokenLogprob {
  logprob: number;
  /** The likeliest tokens at the position, likeliest first, as many as the `logprobs` option asked. */
  top: { token: number; logprob: number }[];
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
  /**
   * Rounds in which the draft model stayed out because evaluating the prompt with it first was not
   * expected to pay for itself in the tokens left (short generations after long prompts).
   */
  draftPromptRefusals: number;
  /** Tokens of the generation's `references`, indexed for the lookup drafter. */
  referenceTokens: number;
  /** Milliseconds spent tokenizing and indexing them. */
  referenceMs: number;
  /** Why it ended, or null while none has ended. */
  stopReason: StopReason | null;
}


function logprobsOf(step: NativeStep): TokenLogprob[] {
  const n = step.logprobs!.length;
  const k = n > 0 ? step.topTokens!.length / n : 0;
  return Array.from({ length: n }, (_, i) => ({
    logprob: step.logprobs![i],
    top: Array.from({ length: k }, (_, j) => ({ token: step.topTokens![i * k + j], logprob: step.topLogprobs![i * k + j] })),
  }));
}

/** How long an aborted generation may wait on an RPC worker before the model's connections are failed. */
const RPC_ABORT_GRACE_MS = 2000;

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
    const request = generationRequest(prompt, options);
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
          const chunk: GenerationChunk = { text: step.text, tokens: Array.from(step.tokens), drafted: Array.from(step.drafted, Boolean) };
          if (step.logprobs) chunk.logprobs = logprobsOf(step);
          yield chunk;
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
  async complete(
    prompt: string | readonly number[] | Int32Array,
    options: GenerateOptions = {},
  ): Promise<{ text: string; tokens: number[]; stats: GenerationStats; logprobs?: TokenLogprob[] }> {
    let text = "";
    const tokens: number[] = [];
    const logprobs: TokenLogprob[] = [];
    for await (const chunk of this.generate(prompt, options)) {
      text += chunk.text;
      tokens.push(...chunk.tokens);
      if (chunk.logprobs) logprobs.push(...chunk.logprobs);
    }
    return { text, tokens, stats: this.stats, ...(options?.logprobs !== undefined ? { logprobs } : {}) };
  }

  /**
   * The logits of every position of `tokens`, evaluated from an empty cache in batches of
   * `batchSize`: a Float32Array of tokens.length x vocabSize. Clears the session's cache.
   */
  async evaluateLogits(tokens: readonly number[] | Int32Array, options: { batchSize?: number } = {}): Promise<Float32Array> {
    const ids = v.tokenArray("tokens", tokens);
    const o = v.optionsObject("options", options, { batchSize: true });
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
    const o = v.optionsObject("options", options, { depth: true, sizes: true, repeats: true });
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

}
