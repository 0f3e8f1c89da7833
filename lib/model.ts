import { SpecdecError, wrapNative, wrapNativeSync } from "./errors.js";
import { Chat } from "./chat.js";
import { TemplateRefusal, renderChatTemplate } from "./chat-template.js";
import { addon, type NativeModel, type NativeModelInfo } from "./native.js";
import { SESSION_KEYS, defaultThreads, sessionOptions, type SessionOptions } from "./options.js";
import { Session } from "./session.js";
import * as v from "./validate.js";

/** Options of {@link loadModel}. */
export interface LoadModelOptions {
  /** Layers to offload to the GPU: a number, or "auto" for all of them when a GPU backend is built in. Default "auto". */
  gpuLayers?: number | "auto";
  /**
   * Memory-map the file instead of reading it (default true: fast loads, pages shared between
   * processes). A mapped file truncated or overwritten in place while the model lives kills the
   * process (SIGBUS: how operating systems treat mapped files); one replaced by renaming a new
   * file into place, as downloaders do, is safe. `false` reads it into memory, immune to both.
   */
  mmap?: boolean;
  /** Load only the vocabulary: tokenize and detokenize work, sessions cannot be created. */
  vocabOnly?: boolean;
  /**
   * RPC workers ("host:port", each running `specdec rpc-server`) that hold and compute the
   * model's offloaded layers (all of them unless gpuLayers says fewer; the rest stay on this
   * machine's CPU). Drafters and draft models stay local. The protocol has no authentication:
   * trusted networks only.
   */
  rpcServers?: string[];
  /** How the offloaded layers are shared: one weight per worker (then per local GPU); default: by their memory. */
  tensorSplit?: number[];
  /**
   * Time limit, in ms, for connecting to an RPC worker and for each of its answers (default 60000).
   * A worker that stops answering fails the model with RPC_UNAVAILABLE; a single evaluation that
   * takes a worker longer (a long prompt on a slow one) needs a higher limit.
   */
  rpcTimeoutMs?: number;
  /**
   * The token of RPC workers started with one (`specdec rpc-server --token`); default: the
   * SPECDEC_RPC_TOKEN environment variable. It proves this process may use them; it never
   * crosses the network, but the model data and activations do, unencrypted.
   */
  rpcToken?: string;
  /** Called as loading goes on with the fraction done (0 to 1), at most every 50 ms, and with 1 at the end. */
  onProgress?: (fraction: number) => void;
}

/** What a GGUF file says about its model. */
export type ModelInfo = NativeModelInfo;

/** A chat message for {@link Model.applyChatTemplate}. */
export interface ChatMessage {
  /** Who speaks: "system", "user", "assistant", or another role the template knows. */
  role: "system" | "user" | "assistant" | (string & {});
  /** What they say. */
  content: string;
}

/** Options of {@link Model.createChat}: its session's, and the system prompt. */
export interface ChatOptions extends SessionOptions {
  /** The system prompt: the conversation's first message, kept whatever turns are dropped. */
  system?: string;
}

/**
 * Loads a GGUF model. The work runs off the main thread.
 *
 * @throws SpecdecError MODEL_NOT_FOUND, INVALID_MODEL, INVALID_ARGUMENT, RPC_UNAVAILABLE
 */
export async function loadModel(path: string, options: LoadModelOptions = {}): Promise<Model> {
  v.string("path", path);
  const o = v.optionsObject("options", options, {
    gpuLayers: true, mmap: true, vocabOnly: true, rpcServers: true, tensorSplit: true, rpcTimeoutMs: true, rpcToken: true, onProgress: true,
  });
  const gpuLayers = o.gpuLayers === undefined || o.gpuLayers === "auto" ? -1 : v.integer("gpuLayers", o.gpuLayers, 0, 100000);
  const rpcServers = v.maybe(o.rpcServers, (x) => v.stringArray("rpcServers", x).map((s) => v.endpoint("rpcServers", s)));
  const tensorSplit = v.maybe(o.tensorSplit, (x) => {
    if (!Array.isArray(x) || !x.length) throw new SpecdecError("INVALID_ARGUMENT", "tensorSplit must be a non-empty array of numbers");
    const split = x.map((w, i) => v.number(`tensorSplit[${i}]`, w, 0, 1e9));
    if (!split.some((w) => w > 0)) throw new SpecdecError("INVALID_ARGUMENT", "tensorSplit needs a weight above 0");
    return split;
  });
  if (tensorSplit && !rpcServers?.length) throw new SpecdecError("INVALID_ARGUMENT", "tensorSplit applies to rpcServers; none were given");
  const rpcTimeoutMs = o.rpcTimeoutMs === undefined ? 60_000 : v.integer("rpcTimeoutMs", o.rpcTimeoutMs, 100, 86_400_000);
  const rpcToken = o.rpcToken === undefined ? (process.env.SPECDEC_RPC_TOKEN ?? "") : v.string("rpcToken", o.rpcToken);
  const onProgress = v.maybe(o.onProgress, (x) => v.func("onProgress", x)) as ((fraction: number) => void) | undefined;
  // The native loader writes its progress into shared memory; a timer reads it here.
  const progress = onProgress ? new Float32Array(new SharedArrayBuffer(4)) : undefined;
  let last = -1;
  const report = () => {
    if (progress && progress[0] !== last) onProgress?.((last = progress[0]));
  };
  const timer = progress ? setInterval(report, 50) : undefined;
  try {
    const native = await wrapNative(() =>
      addon.loadModel(path, {
        gpuLayers,
        mmap: v.maybe(o.mmap, (x) => v.boolean("mmap", x)),
        vocabOnly: v.maybe(o.vocabOnly, (x) => v.boolean("vocabOnly", x)),
        rpcServers,
        tensorSplit,
        rpcTimeoutMs,
        rpcToken,
        progress,
      }),
    );
    if (progress) progress[0] = 1;
    report();
    return new Model(path, native);
  } finally {
    clearInterval(timer);
  }
}

const warned = new WeakSet<Model>();

/** @internal A warning about a model's chat format, once per model. */
export function warnOnce(model: Model, message: string): void {
  if (warned.has(model)) return;
  warned.add(model);
  process.emitWarning(message, { code: "SPECDEC_CHAT_TEMPLATE" });
}

/** A loaded model: its vocabulary, metadata and chat template, and the factory of sessions. */
export class Model {
  /** The file the model was loaded from. */
  readonly path: string;
  /** Metadata read at load time. */
  readonly info: ModelInfo;
  #native: NativeModel | null;
  readonly #sessions = new Set<WeakRef<Session>>();

  /** @internal Use {@link loadModel}. */
  constructor(path: string, native: NativeModel) {
    this.path = path;
    this.#native = native;
    this.info = native.info();
  }

  /** Size of the vocabulary; valid token ids are 0 to vocabSize - 1. */
  get vocabSize(): number {
    return this.info.vocabSize;
  }

  /** True once {@link dispose} has been called. */
  get disposed(): boolean {
    return this.#native === null;
  }

  #handle(): NativeModel {
    if (!this.#native) throw new SpecdecError("DISPOSED", "the model has been disposed");
    return this.#native;
  }

  /**
   * What evaluating n tokens at once has cost this model so far, learnt from every session's
   * decodes on the given threads: `ratios[n - 1]` is V(n)/V(1), measured where sessions have
   * evaluated batches of n often enough (speculative rounds do), else the prior's shape;
   * `singleMs` is V(1) in milliseconds, 0 until measured. The draft-length controllers of new
   * sessions start from it.
   */
  costCurve(options: { threads?: number; threadsBatch?: number; maxTokens?: number } = {}): { singleMs: number; ratios: number[] } {
    const o = v.optionsObject("options", options, { threads: true, threadsBatch: true, maxTokens: true });
    const threads = o.threads === undefined ? defaultThreads() : v.integer("threads", o.threads, 1, 1024);
    const threadsBatch = o.threadsBatch === undefined ? threads : v.integer("threadsBatch", o.threadsBatch, 1, 1024);
    const maxTokens = o.maxTokens === undefined ? 17 : v.integer("maxTokens", o.maxTokens, 1, 64);
    return wrapNativeSync(() => this.#handle().costCurve(threads, threadsBatch, maxTokens));
  }

  /** @internal The native handle, for a session that uses this model as its draft. */
  nativeHandle(): NativeModel {
    return this.#handle();
  }

  /**
   * Text to token ids.
   * @param options.addBos add the model's BOS token when it uses one (default true)
   * @param options.specialTokens parse special-token text such as `<s>` as the special token (default false)
   */
  async tokenize(text: string, options: { addBos?: boolean; specialTokens?: boolean } = {}): Promise<number[]> {
    v.string("text", text);
    const o = v.optionsObject("options", options, { addBos: true, specialTokens: true });
    const addBos = o.addBos === undefined ? true : v.boolean("addBos", o.addBos);
    const special = o.specialTokens === undefined ? false : v.boolean("specialTokens", o.specialTokens);
    const handle = this.#handle();
    return Array.from(await wrapNative(() => handle.tokenize(text, addBos, special)));
  }

  /**
   * Token ids to text. A leading BOS is dropped, so `detokenize(await tokenize(s))` gives `s` back.
   * @param options.specialTokens render special tokens as their text (default false: they render empty)
   * @throws SpecdecError INVALID_ARGUMENT for an id outside the vocabulary
   */
  async detokenize(tokens: readonly number[] | Int32Array, options: { specialTokens?: boolean } = {}): Promise<string> {
    const ids = v.tokenArray("tokens", tokens);
    const o = v.optionsObject("options", options, { specialTokens: true });
    const special = o.specialTokens === undefined ? false : v.boolean("specialTokens", o.specialTokens);
    const handle = this.#handle();
    return wrapNative(() => handle.detokenize(ids, special));
  }

  /** The text of one token as generated output shows it. */
  tokenPiece(token: number, options: { specialTokens?: boolean } = {}): string {
    const o = v.optionsObject("options", options, { specialTokens: true });
    const special = o.specialTokens === undefined ? false : v.boolean("specialTokens", o.specialTokens);
    return wrapNativeSync(() => this.#handle().tokenPiece(token, special));
  }

  /** Whether generating this token ends the generation (EOS, EOT and the like). */
  isEndOfGeneration(token: number): boolean {
    return wrapNativeSync(() => this.#handle().isEndOfGeneration(token));
  }

  /**
   * Formats a conversation with the model's chat template (or `options.template`: a Jinja
   * template, or the name of one of llama.cpp's built-in formats such as "chatml" or "llama3"),
   * ready to be a prompt: the GGUF's Jinja template rendered as Hugging Face's transformers renders it (a
   * template that refuses a system message gets the system prompt before the first user message).
   * Where the Jinja engine cannot run the model's template, llama.cpp's built-in matcher formats
   * the conversation instead, and a warning (`process.emitWarning`, code SPECDEC_CHAT_TEMPLATE)
   * says so once per model.
   * @param options.addAssistant end with the assistant's turn opened (default true)
   * @throws SpecdecError NO_CHAT_TEMPLATE when there is no usable template; INVALID_ARGUMENT when
   * the template refuses the conversation (e.g. roles that do not alternate) or `options.template`
   * does not render
   */
  applyChatTemplate(messages: ChatMessage[], options: { addAssistant?: boolean; template?: string } = {}): string {
    if (!Array.isArray(messages)) throw new SpecdecError("INVALID_ARGUMENT", "messages must be an array");
    messages.forEach((m, i) => {
      if (!m || typeof m !== "object" || typeof m.role !== "string" || typeof m.content !== "string") {
        throw new SpecdecError("INVALID_ARGUMENT", `messages[${i}] needs string role and content`);
      }
    });
    const o = v.optionsObject("options", options, { addAssistant: true, template: true });
    const addAssistant = o.addAssistant === undefined ? true : v.boolean("addAssistant", o.addAssistant);
    const explicit = v.maybe(o.template, (x) => v.string("template", x));
    if (explicit !== undefined && /^[\w.-]+$/.test(explicit)) {
      // a name: llama.cpp's built-in format
      return wrapNativeSync(() => this.#handle().applyChatTemplate(messages, addAssistant, explicit));
    }
    const source = explicit ?? this.info.chatTemplate;
    if (source === null) throw new SpecdecError("NO_CHAT_TEMPLATE", "the model has no chat template; pass one explicitly");
    const special = (token: number | null) => (token === null ? "" : this.tokenPiece(token, { specialTokens: true }));
    try {
      return renderChatTemplate(source, messages, {
        bosToken: special(this.info.specialTokens.bos),
        eosToken: special(this.info.specialTokens.eos),
        addGenerationPrompt: addAssistant,
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (err instanceof TemplateRefusal) throw new SpecdecError("INVALID_ARGUMENT", `the chat template refused the messages: ${message}`);
      if (explicit !== undefined) throw new SpecdecError("INVALID_ARGUMENT", `the chat template does not render: ${message}`);
      let text: string;
      try {
        text = wrapNativeSync(() => this.#handle().applyChatTemplate(messages, addAssistant));
      } catch (fallback) {
        if (!(fallback instanceof SpecdecError) || fallback.code !== "NO_CHAT_TEMPLATE") throw fallback;
        throw new SpecdecError("NO_CHAT_TEMPLATE", `its chat template does not render (${message}) and ${fallback.message}`);
      }
      warnOnce(this, `${this.path}: its chat template does not render (${message}); llama.cpp's built-in format for it is used instead`);
      return text;
    }
  }

  /** Creates a session: a context (KV cache) on which to generate. */
  async createSession(options: SessionOptions = {}): Promise<Session> {
    const native = sessionOptions(options, this.info, Model);
    const handle = this.#handle();
    const session = new Session(this, await wrapNative(() => handle.createSession(native)));
    if (!this.#native) {
      // disposed while the context was being made: it goes too
      session.dispose();
      throw new SpecdecError("DISPOSED", "the model was disposed while the session was being created");
    }
    this.#sessions.add(new WeakRef(session));
    return session;
  }

  /**
   * Starts a conversation on a session of its own: history, system prompt, the KV cache reused
   * turn to turn, and the oldest turns dropped when the history no longer fits (see {@link Chat}).
   */
  async createChat(options: ChatOptions = {}): Promise<Chat> {
    const { system, ...session } = v.optionsObject("options", options, { ...SESSION_KEYS, system: true });
    const systemPrompt = v.maybe(system, (x) => v.string("system", x));
    return new Chat(await this.createSession(session), systemPrompt);
  }

  /** Frees the model, disposing its sessions first. Work in flight finishes before memory is released. */
  dispose(): void {
    if (!this.#native) return;
    for (const ref of this.#sessions) ref.deref()?.dispose();
    this.#sessions.clear();
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
