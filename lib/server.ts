// An OpenAI-compatible HTTP server over one model: /v1/completions and /v1/chat/completions
// (streamed as server-sent events when asked), /v1/models, /health. Requests take turns on one
// session (its KV cache is reused when a request begins as the last one did, as a chat does); a
// client that goes away aborts its generation. Bodies are size-limited and validated; errors are
// OpenAI-shaped JSON. Speculation figures ride in the usage block.
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

import { chatPrompt } from "./chat.js";
import { SpecdecError } from "./errors.js";
import { jsonSchemaToGrammar } from "./json-schema.js";
import type { ChatMessage, Model } from "./model.js";
import type { GenerateOptions, SessionOptions } from "./options.js";
import type { GenerationStats, Session, TokenLogprob } from "./session.js";
import * as v from "./validate.js";

/** Options of {@link serve}. */
export interface ServeOptions {
  /** The name /v1/models lists and responses carry (default: the model file's name). */
  name?: string;
  /** Address to listen on (default 127.0.0.1: this machine only). */
  host?: string;
  /** Port (default 8080; 0: any free port). */
  port?: number;
  /** Options of the session requests run on (context size, threads, draft model, drafters). */
  session?: SessionOptions;
  /** Largest request body accepted, in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /**
   * Web origins (e.g. "http://localhost:3000") whose pages may call the server: they get CORS
   * answers, preflights included. Any other request that names an Origin is refused (403), so a
   * web page the user opens cannot drive the server (default: none).
   */
  corsOrigins?: string[];
  /**
   * Host names requests may address besides the bound address and, on loopback, "localhost"
   * (e.g. a reverse proxy's name). A request for another host is refused (421): on loopback this
   * stops DNS rebinding, a web page's name pointed at 127.0.0.1. Bound beyond loopback (e.g.
   * 0.0.0.0), any host is accepted unless this names some.
   */
  allowedHosts?: string[];
  /**
   * A key every request must present as `Authorization: Bearer <key>` (OpenAI clients send their
   * API key so), else 401; /health excepted (default: none).
   */
  apiKey?: string;
  /** Most connections open at once; further ones are closed at once (default 256). */
  maxConnections?: number;
  /** Called when a request has been answered (e.g. to log it): `specdec serve` prints a line each. */
  onRequest?: (entry: RequestLogEntry) => void;
}

/** What {@link ServeOptions.onRequest} is told of a request. */
export interface RequestLogEntry {
  method: string;
  path: string;
  status: number;
  /** From the request's arrival to the end of the answer. */
  ms: number;
  /** Of a generation: its figures. */
  stats?: GenerationStats;
}

/** A running server. */
export interface Server {
  /** Where it listens, e.g. http://127.0.0.1:8080. */
  url: string;
  /** Stops listening, aborts what runs and frees the session. */
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly type = status >= 500 ? "server_error" : "invalid_request_error",
  ) {
    super(message);
  }
}

type Body = Record<string, unknown>;
type TokenLogprobs = TokenLogprob & { token: number };

// The fields a request may have: anything else is a 400 naming it, never silently ignored.
const COMMON_FIELDS = [
  "model", "logprobs", "stream", "stream_options", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "min_p",
  "repeat_penalty", "frequency_penalty", "presence_penalty", "seed", "stop", "n", "user", "metadata", "store",
  "response_format", "grammar", "references",
];
const FIELDS = {
  chat: new Set([...COMMON_FIELDS, "messages", "top_logprobs", "tool_choice", "parallel_tool_calls"]),
  completions: new Set([...COMMON_FIELDS, "prompt", "echo", "suffix", "best_of"]),
};

/**
 * What a request's JSON may say, checked. Without max_tokens the answer may fill the room the
 * prompt leaves in the context.
 */
function generateOptions(body: Body, chat: boolean): GenerateOptions {
  for (const key of Object.keys(body)) {
    if (!FIELDS[chat ? "chat" : "completions"].has(key)) throw new HttpError(400, `${key} is not supported by this server`, key);
  }
  const num = (key: string, lo: number, hi: number): number | undefined => {
    const x = body[key];
    if (x === undefined || x === null) return undefined;
    if (typeof x !== "number" || !Number.isFinite(x) || x < lo || x > hi) throw new HttpError(400, `${key} must be a number from ${lo} to ${hi}`, key);
    return x;
  };
  const int = (key: string, lo: number, hi: number) => {
    const x = num(key, lo, hi);
    if (x !== undefined && !Number.isInteger(x)) throw new HttpError(400, `${key} must be an integer`, key);
    return x;
  };
  const only = (key: string, allowed: unknown[], what: string) => {
    if (body[key] !== undefined && body[key] !== null && !allowed.includes(body[key])) throw new HttpError(400, `${key}: ${what}`, key);
  };
  let stop = body.stop;
  if (typeof stop === "string") stop = [stop];
  if (stop !== undefined && stop !== null && (!Array.isArray(stop) || stop.length > 4 || stop.some((s) => typeof s !== "string" || s === ""))) {
    throw new HttpError(400, "stop must be a string or up to 4 non-empty strings", "stop");
  }
  int("n", 1, 1);  // one choice per request
  int("best_of", 1, 1);
  only("echo", [false], "echoing the prompt is not supported");
  only("suffix", [""], "suffix (insertion) is not supported");
  only("tool_choice", ["none"], "tools are not supported");
  only("parallel_tool_calls", [false, true], "must be a boolean");
  // OpenAI's seeds are any integer (-1 or none: random); the sampler's are 32-bit.
  const seed = int("seed", -(2 ** 53), 2 ** 53);
  // chat: logprobs true and top_logprobs alternatives; completions: logprobs alternatives (up to 5)
  let logprobs: number | undefined;
  if (chat) {
    only("logprobs", [true, false], "must be a boolean");
    const top = int("top_logprobs", 0, 20);
    if (top !== undefined && body.logprobs !== true) throw new HttpError(400, "top_logprobs needs logprobs: true", "top_logprobs");
    logprobs = body.logprobs === true ? (top ?? 0) : undefined;
  } else {
    logprobs = int("logprobs", 0, 5);
  }
  // specdec's own: texts the lookup drafter may quote for this request (see GenerateOptions.references)
  const references = body.references;
  if (references !== undefined && references !== null && (!Array.isArray(references) || references.some((r) => typeof r !== "string"))) {
    throw new HttpError(400, "references must be an array of strings", "references");
  }
  return {
    maxTokens: int("max_completion_tokens", 1, 1 << 20) ?? int("max_tokens", 1, 1 << 20),
    temperature: num("temperature", 0, 2) ?? 1,
    topP: num("top_p", 0, 1),
    topK: int("top_k", 0, 1 << 20),
    minP: num("min_p", 0, 1),
    repeatPenalty: num("repeat_penalty", 0, 10),
    seed: seed === undefined || seed === -1 ? undefined : ((seed % 2 ** 32) + 2 ** 32) % 2 ** 32,
    frequencyPenalty: num("frequency_penalty", -2, 2),
    presencePenalty: num("presence_penalty", -2, 2),
    stop: (stop as string[] | undefined) ?? undefined,
    logprobs,
    ...(references ? { references: references as string[] } : {}),
    ...structure(body),
  };
}

/** response_format (json_object, json_schema) and grammar (GBNF, as llama.cpp's server takes it). */
function structure(body: Body): Pick<GenerateOptions, "grammar" | "jsonSchema"> {
  const format = body.response_format as { type?: unknown; json_schema?: { schema?: unknown } } | undefined | null;
  if (body.grammar !== undefined && body.grammar !== null) {
    if (typeof body.grammar !== "string" || body.grammar === "") throw new HttpError(400, "grammar must be a GBNF grammar (a string)", "grammar");
    if (format && format.type !== "text") throw new HttpError(400, "give grammar or response_format, not both", "grammar");
    return { grammar: body.grammar };
  }
  if (format === undefined || format === null) return {};
  if (typeof format !== "object") throw new HttpError(400, "response_format must be an object", "response_format");
  if (format.type === "text") return {};
  if (format.type === "json_object") return { jsonSchema: { type: "object" } };
  if (format.type === "json_schema") {
    const schema = format.json_schema?.schema;
    if (!schema || typeof schema !== "object") throw new HttpError(400, "response_format.json_schema.schema must be a JSON Schema object", "response_format");
    try {
      jsonSchemaToGrammar(schema);
    } catch (err) {
      throw new HttpError(400, `response_format: ${(err as Error).message}`, "response_format");
    }
    return { jsonSchema: schema };
  }
  throw new HttpError(400, "response_format.type must be text, json_object or json_schema", "response_format");
}

function chatMessages(body: Body): ChatMessage[] {
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) throw new HttpError(400, "messages must be a non-empty array", "messages");
  return messages.map((m, i) => {
    const ok = m && typeof m === "object" && typeof m.role === "string" && (typeof m.content === "string" || Array.isArray(m.content));
    if (!ok) throw new HttpError(400, `messages[${i}] must have a string role and content`, "messages");
    // Content parts: the text ones, joined (no images here).
    const content = typeof m.content === "string" ? m.content : m.content.map((p: { text?: unknown }) => (typeof p?.text === "string" ? p.text : "")).join("");
    return { role: m.role, content };
  });
}

function usage(s: GenerationStats) {
  return {
    prompt_tokens: s.promptTokens,
    completion_tokens: s.generatedTokens,
    total_tokens: s.promptTokens + s.generatedTokens,
    speculation: {
      drafted_tokens: s.drafted,
      accepted_tokens: s.accepted,
      acceptance_rate: s.acceptanceRate,
      tokens_per_step: s.tokensPerStep,
      tokens_per_second: s.tokensPerSecond,
      drafters: s.drafters.map((d) => ({ name: d.name, proposed: d.proposed, accepted: d.accepted })),
    },
  };
}

const finishReason = (s: GenerationStats) => (s.stopReason === "maxTokens" || s.stopReason === "contextFull" ? "length" : "stop");

async function readBody(req: http.IncomingMessage, limit: number): Promise<Body> {
  // The media type itself, not a substring: "text/plain;charset=application/json" is a type a web
  // page may send cross-origin without a preflight.
  const mediaType = (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
  if (mediaType !== "application/json") throw new HttpError(415, "the body must be application/json");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, `the body is larger than ${limit} bytes`); // the connection closes: the rest is unread
    chunks.push(chunk as Buffer);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new HttpError(400, "the body is not valid JSON");
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) throw new HttpError(400, "the body must be a JSON object");
  return body as Body;
}

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/** Whether `host` is a loopback address or name. */
export function isLoopback(host: string): boolean {
  return LOOPBACK_NAMES.has(host.toLowerCase()) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Who may address the server: the Host header's name against the bound address (and, on
 * loopback, the loopback names), the Origin header against the allowed web origins. What a web
 * page cannot forge (Host, Origin) is what keeps it out; a page's fetch always names its Origin.
 */
function browserGuard(boundHost: string, port: () => number, options: ServeOptions) {
  const hosts = new Set((options.allowedHosts ?? []).map((h) => h.toLowerCase()));
  const bound = boundHost.toLowerCase();
  const anyHost = !isLoopback(bound) && hosts.size === 0;
  if (isLoopback(bound)) for (const name of LOOPBACK_NAMES) hosts.add(name);
  hosts.add(bound.includes(":") && !bound.startsWith("[") ? `[${bound}]` : bound);
  const origins = new Set(options.corsOrigins ?? []);
  return {
    /** Throws unless the request may be served; returns the CORS headers it gets. */
    check(req: http.IncomingMessage): Record<string, string> {
      const hostHeader = req.headers.host;
      if (!anyHost) {
        const name = hostHeader?.replace(/:\d+$/, "").toLowerCase();
        if (!name || !hosts.has(name)) throw new HttpError(421, `this server does not answer for host ${JSON.stringify(hostHeader ?? "")}`);
      }
      const origin = req.headers.origin;
      if (origin === undefined) return {};
      const own = [...hosts].some((h) => origin === `http://${h}:${port()}`);
      if (own) return {};
      if (!origins.has(origin) && !origins.has("*")) {
        throw new HttpError(403, `requests from web origin ${JSON.stringify(origin)} are not allowed (see corsOrigins / --cors)`);
      }
      return { "access-control-allow-origin": origin, vary: "Origin" };
    },
  };
}

function sendJson(res: http.ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) {
  const text = JSON.stringify(value);
  res.writeHead(status, { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Serves `model` over HTTP with OpenAI's API. Generation requests take turns on one session.
 *
 * @throws SpecdecError from creating the session; the listen error (e.g. EADDRINUSE) as is.
 */
export async function serve(model: Model, options: ServeOptions = {}): Promise<Server> {
  const o = v.optionsObject("options", options, {
    name: true, host: true, port: true, session: true, maxBodyBytes: true, corsOrigins: true, allowedHosts: true, apiKey: true, maxConnections: true,
    onRequest: true,
  });
  if (o.port !== undefined) v.integer("options.port", o.port, 0, 65535);
  const onRequest = v.maybe(o.onRequest, (x) => v.func("options.onRequest", x)) as ServeOptions["onRequest"];
  if (o.corsOrigins !== undefined) v.stringArray("options.corsOrigins", o.corsOrigins);
  if (o.allowedHosts !== undefined) v.stringArray("options.allowedHosts", o.allowedHosts);
  if (o.apiKey !== undefined && v.string("options.apiKey", o.apiKey) === "") throw new SpecdecError("INVALID_ARGUMENT", "options.apiKey must not be empty");
  if (o.maxConnections !== undefined) v.integer("options.maxConnections", o.maxConnections, 1, 1 << 20);
  const name = options.name ?? model.path.split(/[\\/]/).pop()!.replace(/\.gguf$/i, "");
  const limit = options.maxBodyBytes ?? 1 << 20;
  const session: Session = await model.createSession(options.session ?? {});
  const created = Math.floor(Date.now() / 1000);
  let queue: Promise<unknown> = Promise.resolve();
  const running = new Set<AbortController>();

  // Runs one generation when the ones before it are done; `onChunk` streams, `signal` aborts.
  const generate = (
    prompt: string | number[],
    opts: GenerateOptions,
    signal: AbortSignal,
    res: http.ServerResponse,
    onChunk?: (text: string, logprobs: TokenLogprobs[]) => void,
  ) => {
    const turn = queue.then(async () => {
      if (signal.aborted) throw new SpecdecError("ABORTED", "the client went away");
      let text = "";
      const logprobs: TokenLogprobs[] = [];
      for await (const chunk of session.generate(prompt, { ...opts, signal })) {
        text += chunk.text;
        const these = (chunk.logprobs ?? []).map((lp, i) => ({ token: chunk.tokens[i], ...lp }));
        logprobs.push(...these);
        if (chunk.text || these.length) onChunk?.(chunk.text, these);
      }
      const stats = session.stats;
      generated.set(res, stats);
      return { text, stats, logprobs };
    });
    queue = turn.catch(() => {});
    return turn;
  };

  // Log-probabilities as OpenAI's two APIs give them (null when not asked for).
  const openaiLogprobs = (lps: TokenLogprobs[], chat: boolean, asked: boolean, offset = 0) => {
    if (!asked) return null;
    const piece = (t: number) => model.tokenPiece(t);
    const bytes = (t: number) => [...Buffer.from(piece(t), "utf8")];
    if (chat) {
      return {
        content: lps.map((lp) => ({
          token: piece(lp.token),
          logprob: lp.logprob,
          bytes: bytes(lp.token),
          top_logprobs: lp.top.map((t) => ({ token: piece(t.token), logprob: t.logprob, bytes: bytes(t.token) })),
        })),
      };
    }
    const offsets: number[] = [];
    for (const lp of lps) {
      offsets.push(offset);
      offset += piece(lp.token).length;
    }
    return {
      tokens: lps.map((lp) => piece(lp.token)),
      token_logprobs: lps.map((lp) => lp.logprob),
      top_logprobs: lps.map((lp) => Object.fromEntries(lp.top.map((t) => [piece(t.token), t.logprob]))),
      text_offset: offsets,
    };
  };

  const host = options.host ?? "127.0.0.1";
  // keys compared as digests, in constant time
  const digest = (text: string) => createHash("sha256").update(text).digest();
  const keyDigest = options.apiKey ? digest(options.apiKey) : null;
  const authorized = (req: http.IncomingMessage) => {
    if (!keyDigest) return true;
    const match = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "");
    return match !== null && timingSafeEqual(digest(match[1].trim()), keyDigest);
  };
  const guard = browserGuard(host, () => (server.address() as AddressInfo).port, options);

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const cors = guard.check(req);
    const url = new URL(req.url ?? "/", "http://x");
    if (req.method === "OPTIONS") {
      // a preflight from an allowed origin (others were refused above)
      res.writeHead(204, { ...cors, allow: "GET, POST, OPTIONS", "access-control-allow-methods": "GET, POST, OPTIONS", "access-control-allow-headers": "content-type, authorization", "access-control-max-age": "600" });
      return void res.end();
    }
    if (req.method === "GET" && url.pathname === "/health") return sendJson(res, 200, { status: "ok" }, cors);
    if (!authorized(req)) throw new HttpError(401, "a valid API key is required (Authorization: Bearer <key>)", null, "authentication_error");
    const modelEntry = { id: name, object: "model", created, owned_by: "specdec" };
    if (req.method === "GET" && url.pathname === "/v1/models") return sendJson(res, 200, { object: "list", data: [modelEntry] }, cors);
    if (req.method === "GET" && url.pathname.startsWith("/v1/models/")) {
      const id = decodeURIComponent(url.pathname.slice("/v1/models/".length));
      if (id !== name) throw new HttpError(404, `the model ${JSON.stringify(id)} does not exist; this server has ${JSON.stringify(name)}`, "model", "invalid_request_error");
      return sendJson(res, 200, modelEntry, cors);
    }
    const chat = url.pathname === "/v1/chat/completions";
    if (!chat && url.pathname !== "/v1/completions") throw new HttpError(404, `no route ${req.method} ${url.pathname}`);
    if (req.method !== "POST") throw new HttpError(405, `${url.pathname} takes POST`);
    const body = await readBody(req, limit);
    // prompts are rendered templates or formatted by clients: their special-token text is markup
    const opts = { ...generateOptions(body, chat), specialTokens: true };
    const asked = opts.logprobs !== undefined;
    let prompt: string | number[];
    if (chat) {
      const chatText = chatPrompt(model, chatMessages(body));
      prompt = chatText.prompt;
      opts.stop = [...(opts.stop ?? []), ...chatText.stop];
      opts.addBos = chatText.addBos;
    } else {
      // a string or token ids, alone or as the only entry of a list
      const p = Array.isArray(body.prompt) && body.prompt.length === 1 && typeof body.prompt[0] !== "number" ? body.prompt[0] : body.prompt;
      if (Array.isArray(p) && p.length > 0 && p.every((t) => Number.isInteger(t))) prompt = p as number[];
      else if (typeof p === "string") prompt = p;
      else throw new HttpError(400, "prompt must be a string or an array of token ids (one prompt per request)", "prompt");
    }
    const id = `${chat ? "chatcmpl" : "cmpl"}-${randomUUID()}`;
    const object = chat ? "chat.completion" : "text_completion";
    const controller = new AbortController();
    running.add(controller);
    // The client going away (before the answer is complete) aborts the generation.
    res.on("close", () => {
      if (!res.writableFinished) controller.abort();
    });
    try {
      if (body.stream === true) {
        res.writeHead(200, { ...cors, "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
        const event = (choice: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
          res.write(`data: ${JSON.stringify({ id, object: chat ? "chat.completion.chunk" : "text_completion", created: Math.floor(Date.now() / 1000), model: name, choices: [{ index: 0, ...choice }], ...extra })}\n\n`);
        if (chat) event({ delta: { role: "assistant", content: "" }, finish_reason: null });
        let result;
        try {
          let offset = 0;
          result = await generate(prompt, opts, controller.signal, res, (text, lps) => {
            const logprobs = openaiLogprobs(lps, chat, asked, offset);
            offset += text.length;
            event(chat ? { delta: { content: text }, finish_reason: null, logprobs } : { text, finish_reason: null, logprobs });
          });
        } catch (err) {
          if (!res.writableEnded && !controller.signal.aborted) {
            res.write(`data: ${JSON.stringify({ error: { message: (err as Error).message, type: "server_error" } })}\n\n`);
          }
          return void res.end();
        }
        event(chat ? { delta: {}, finish_reason: finishReason(result.stats) } : { text: "", finish_reason: finishReason(result.stats), logprobs: null }, {
          usage: usage(result.stats),
        });
        res.end("data: [DONE]\n\n");
      } else {
        const { text, stats, logprobs } = await generate(prompt, opts, controller.signal, res);
        const choice = chat
          ? { index: 0, message: { role: "assistant", content: text }, finish_reason: finishReason(stats), logprobs: openaiLogprobs(logprobs, chat, asked) }
          : { index: 0, text, finish_reason: finishReason(stats), logprobs: openaiLogprobs(logprobs, chat, asked) };
        sendJson(res, 200, { id, object, created: Math.floor(Date.now() / 1000), model: name, choices: [choice], usage: usage(stats) }, cors);
      }
    } finally {
      running.delete(controller);
    }
  }

  const generated = new WeakMap<http.ServerResponse, GenerationStats>();
  const server = http.createServer((req, res) => {
    if (onRequest) {
      const start = performance.now();
      res.once("close", () => {
        const entry = { method: req.method ?? "", path: (req.url ?? "").split("?")[0], status: res.statusCode, ms: performance.now() - start, stats: generated.get(res) };
        try {
          onRequest(entry);
        } catch {
          // a logger's failure is not the client's
        }
      });
    }
    handle(req, res).catch((err) => {
      if (res.headersSent) return void res.end();
      if (err instanceof HttpError) {
        // a body left unread (refused before or while reading it) ends the connection, and says so
        const headers: Record<string, string> = req.complete ? {} : { connection: "close" };
        return sendJson(res, err.status, { error: { message: err.message, type: err.type, param: err.param, code: null } }, headers);
      }
      if (err instanceof SpecdecError && err.code === "CONTEXT_OVERFLOW") {
        // as OpenAI says it, so that clients recognise it
        const message = `This model's maximum context length is ${session.contextSize} tokens: ${err.message}. Shorten the prompt or lower max_tokens.`;
        const param = req.url?.startsWith("/v1/chat/") ? "messages" : "prompt";
        return sendJson(res, 400, { error: { message, type: "invalid_request_error", param, code: "context_length_exceeded" } });
      }
      const status = err instanceof SpecdecError && err.code === "INVALID_ARGUMENT" ? 400 : 500;
      const code = err instanceof SpecdecError ? err.code : null;
      sendJson(res, status, { error: { message: (err as Error).message, type: status === 400 ? "invalid_request_error" : "server_error", param: null, code } });
    });
  });
  server.maxConnections = options.maxConnections ?? 256;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 8080, host, () => resolve());
  }).catch((err) => {
    session.dispose();
    throw err;
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${urlHost}:${address.port}`,
    close: async () => {
      for (const c of running) c.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await queue;
      session.dispose();
    },
  };
}
