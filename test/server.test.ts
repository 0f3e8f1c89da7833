// The OpenAI-compatible server, driven by the official `openai` client (completions, chat,
// streaming, abort, requests at once) and by raw HTTP for bad requests.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import http from "node:http";
import net from "node:net";

import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel, serve, type Model, type Server } from "../lib/index.js";
import { MAIN, sharedModels } from "./helpers/shared.js";
import { plainGreedy } from "./helpers/plain.js";

describe("OpenAI-compatible server (main-q8_0 + draft-q8_0)", () => {
  let model: Model;
  let draft: Model;
  let server: Server;
  let client: OpenAI;
  const expected = new Map<string, string>();
  const PROMPTS = ["def fibonacci(n):\n", "import os\n", "class Stack:\n", "for i in range("];

  beforeAll(async () => {
    model = await loadModel(MAIN);
    draft = await loadModel(`${sharedModels}/draft-q8_0.gguf`);
    const plain = await plainGreedy(model, PROMPTS.map((prompt) => ({ prompt, maxTokens: 24 })), 1024);
    PROMPTS.forEach((p, i) => expected.set(p, plain[i].text));
    server = await serve(model, { port: 0, name: "main", session: { contextSize: 1024, threads: 2, draft: { model: draft } } });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "none", maxRetries: 0 });
  });
  afterAll(async () => {
    await server?.close();
    model.dispose();
    draft.dispose();
  });

  it("lists the model and answers /health", async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(["main"]);
    expect(await (await fetch(`${server.url}/health`)).json()).toEqual({ status: "ok" });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it("completes greedily what a session alone does, with speculation figures in usage", async () => {
    const r = await client.completions.create({ model: "main", prompt: PROMPTS[0], max_tokens: 24, temperature: 0 });
    expect(r.choices[0].text).toBe(expected.get(PROMPTS[0]));
    expect(r.choices[0].finish_reason).toBe("length");
    expect(r.usage?.completion_tokens).toBe(24);
    const spec = (r.usage as unknown as { speculation: { drafted_tokens: number; acceptance_rate: number } }).speculation;
    expect(spec.drafted_tokens).toBeGreaterThan(0);
  });

  it("chats (a base model: a plain transcript) and streams the same text", async () => {
    const messages = [{ role: "user" as const, content: "Write a Python function that adds two numbers." }];
    const whole = await client.chat.completions.create({ model: "main", messages, max_tokens: 32, temperature: 0 });
    expect(whole.choices[0].message.role).toBe("assistant");
    expect(whole.choices[0].message.content?.length).toBeGreaterThan(0);
    const stream = await client.chat.completions.create({ model: "main", messages, max_tokens: 32, temperature: 0, stream: true });
    let text = "";
    let chunks = 0;
    let finish: string | null = null;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta?.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe(whole.choices[0].message.content);
    expect(chunks).toBeGreaterThan(2);
    expect(finish).toBe(whole.choices[0].finish_reason);
  });

  it("a client that goes away aborts its generation; the next request is served", async () => {
    const controller = new AbortController();
    const stream = await client.completions.create(
      { model: "main", prompt: "import os\nimport sys\n", max_tokens: 2000, temperature: 0.8, stream: true },
      { signal: controller.signal },
    );
    let got = 0;
    await expect(
      (async () => {
        for await (const _ of stream) {
          if (++got === 3) controller.abort();
        }
      })(),
    ).rejects.toThrow();
    const start = Date.now();
    const r = await client.completions.create({ model: "main", prompt: PROMPTS[1], max_tokens: 24, temperature: 0 });
    expect(r.choices[0].text).toBe(expected.get(PROMPTS[1]));
    expect(Date.now() - start).toBeLessThan(10_000);  // not stuck behind 2,000 tokens
  });

  it("serves several requests at once, each its own text", async () => {
    const results = await Promise.all(PROMPTS.map((prompt) => client.completions.create({ model: "main", prompt, max_tokens: 24, temperature: 0 })));
    results.forEach((r, i) => expect(r.choices[0].text).toBe(expected.get(PROMPTS[i])));
  });

  it("answers without max_tokens up to the room left, and says OpenAI's way when a request cannot fit", async () => {
    const small = await serve(model, { port: 0, session: { contextSize: 128, threads: 2, drafters: [] } });
    try {
      const c = new OpenAI({ baseURL: `${small.url}/v1`, apiKey: "none" });
      const r = await c.completions.create({ model: "m", prompt: "def loop():\n    while True:\n", temperature: 0 });
      expect(r.usage!.total_tokens).toBeLessThanOrEqual(128);
      expect(r.usage!.completion_tokens).toBeGreaterThan(16);  // not OpenAI's legacy default of 16
      const long = "x ".repeat(300);
      const err = await c.chat.completions.create({ model: "m", messages: [{ role: "user", content: long }] }).catch((e) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect(err.code).toBe("context_length_exceeded");
      expect(err.param).toBe("messages");
      expect(err.message).toMatch(/maximum context length is 128 tokens/);
    } finally {
      await small.close();
    }
  });

  it("structured output: response_format json_schema and json_object give JSON that parses and matches, with speculation figures", async () => {
    const schema = {
      type: "object",
      properties: { name: { type: "string", maxLength: 30 }, arguments: { type: "array", items: { type: "string" }, maxItems: 3 }, lines: { type: "integer" } },
      required: ["name", "arguments", "lines"],
      additionalProperties: false,
    };
    const r = await client.chat.completions.create({
      model: "main",
      messages: [{ role: "user", content: "Describe the function os.path.join as JSON." }],
      temperature: 0,
      max_tokens: 120,
      response_format: { type: "json_schema", json_schema: { name: "function", schema, strict: true } },
    });
    expect(r.choices[0].finish_reason).toBe("stop");
    const value = JSON.parse(r.choices[0].message.content!);
    expect(Object.keys(value).sort()).toEqual(["arguments", "lines", "name"]);
    expect(typeof value.name).toBe("string");
    expect(Number.isInteger(value.lines)).toBe(true);
    expect((r.usage as unknown as { speculation: { drafted_tokens: number } }).speculation.drafted_tokens).toBeGreaterThanOrEqual(0);
    const any = await client.completions.create({ model: "main", prompt: "config = ", temperature: 0, max_tokens: 60, response_format: { type: "json_object" } } as never);
    const text = (any as unknown as { choices: { text: string; finish_reason: string }[] }).choices[0];
    if (text.finish_reason === "stop") expect(typeof JSON.parse(text.text)).toBe("object");
    else expect(text.text.trimStart().startsWith("{")).toBe(true);
  });

  it("takes top_k, min_p, repeat_penalty, seed -1, token-id prompts and /v1/models/{id}", async () => {
    const ids = await model.tokenize(PROMPTS[0]);
    const byIds = await client.completions.create({ model: "main", prompt: ids, max_tokens: 24, temperature: 0 });
    expect(byIds.choices[0].text).toBe(expected.get(PROMPTS[0]));
    const nested = await client.completions.create({ model: "main", prompt: [ids] as never, max_tokens: 24, temperature: 0 });
    expect(nested.choices[0].text).toBe(expected.get(PROMPTS[0]));
    const sampled = await client.completions.create({ model: "main", prompt: PROMPTS[1], max_tokens: 8, seed: -1, top_k: 5, min_p: 0.1, repeat_penalty: 1.1 } as never);
    expect((sampled as unknown as { usage: { completion_tokens: number } }).usage.completion_tokens).toBeGreaterThan(0);
    expect((await client.models.retrieve("main")).id).toBe("main");
    await expect(client.models.retrieve("gpt-4")).rejects.toMatchObject({ status: 404 });
  });

  it("takes references (specdec's own field): drafts from them, the same text", async () => {
    const body = { model: "main", prompt: PROMPTS[2], max_tokens: 24, temperature: 0, references: [`# from the docs\n${PROMPTS[2]}${expected.get(PROMPTS[2])}`] };
    const r = await client.completions.create(body as never);
    const usage = (r as unknown as { usage: { speculation: { drafted_tokens: number; accepted_tokens: number } } }).usage;
    expect((r as unknown as { choices: { text: string }[] }).choices[0].text).toBe(expected.get(PROMPTS[2]));
    expect(usage.speculation.accepted_tokens).toBeGreaterThan(12);
    const chat = await client.chat.completions.create({ model: "main", messages: [{ role: "user", content: "Hi" }], max_tokens: 8, temperature: 0, references: ["Hello there"] } as never);
    expect((chat as unknown as { choices: { message: { content: string } }[] }).choices[0].message.content.length).toBeGreaterThan(0);
  });

  it("gives logprobs as OpenAI does, chat and completions", async () => {
    const chat = await client.chat.completions.create({ model: "main", messages: [{ role: "user", content: "hi" }], max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 2 });
    const content = chat.choices[0].logprobs!.content!;
    expect(content).toHaveLength(chat.usage!.completion_tokens);
    expect(content.map((c) => c.token).join("")).toContain(chat.choices[0].message.content!.trim().slice(0, 3));
    for (const c of content) {
      expect(c.logprob).toBeLessThanOrEqual(0);
      expect(c.top_logprobs).toHaveLength(2);
      expect(c.top_logprobs[0].token).toBe(c.token);  // greedy
      expect(Buffer.from(c.bytes!).toString("utf8")).toBe(c.token);
    }
    const text = await client.completions.create({ model: "main", prompt: PROMPTS[0], max_tokens: 6, temperature: 0, logprobs: 2 });
    const lp = text.choices[0].logprobs!;
    expect(lp.tokens!.join("")).toBe(text.choices[0].text);
    expect(lp.token_logprobs).toHaveLength(lp.tokens!.length);
    expect(Object.keys(lp.top_logprobs![0]).length).toBeGreaterThanOrEqual(1);
    expect(lp.text_offset![1]).toBe(lp.tokens![0].length);
    const none = await client.completions.create({ model: "main", prompt: PROMPTS[0], max_tokens: 2, temperature: 0 });
    expect(none.choices[0].logprobs).toBeNull();
  });

  it("answers curl: a JSON-schema chat, and a streamed completion", async () => {
    // curl in a child process, asynchronously: the server runs in this process
    const curl = async (body: object, ...extra: string[]) =>
      (await promisify(execFile)("curl", ["-sS", "--fail-with-body", ...extra, "-H", "Content-Type: application/json", "-d", JSON.stringify(body), `${server.url}/v1/${"messages" in body ? "chat/completions" : "completions"}`], { encoding: "utf8" })).stdout;
    const schema = { type: "object", properties: { answer: { type: "string", maxLength: 20 } }, required: ["answer"], additionalProperties: false };
    const r = JSON.parse(await curl({ model: "main", messages: [{ role: "user", content: "What is 2 + 2?" }], temperature: 0, max_tokens: 200, response_format: { type: "json_schema", json_schema: { name: "a", schema } } }));
    expect(r.choices[0].finish_reason, r.choices[0].message.content).toBe("stop");
    expect(Object.keys(JSON.parse(r.choices[0].message.content))).toEqual(["answer"]);
    expect(r.usage.speculation).toBeDefined();
    const events = await curl({ model: "main", prompt: PROMPTS[0], max_tokens: 24, temperature: 0, stream: true }, "-N");
    const chunks = events.split("\n\n").filter((e) => e.startsWith("data: {")).map((e) => JSON.parse(e.slice(6)));
    expect(chunks.map((c) => c.choices[0].text).join("")).toBe(expected.get(PROMPTS[0]));
    expect(events.trim().endsWith("data: [DONE]")).toBe(true);
  });

  it("refuses what it does not do with a 400 naming it", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ tools: [{ type: "function", function: { name: "f" } }] }, "tools"],
      [{ logprobs: "yes" }, "logprobs"],
      [{ top_logprobs: 3 }, "top_logprobs"],
      [{ n: 2 }, "n"],
      [{ logit_bias: { "1": 5 } }, "logit_bias"],
      [{ response_format: { type: "xml" } }, "response_format"],
      [{ response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "string", pattern: "a+" } } } }, "response_format"],
      [{ tool_choice: "auto" }, "tool_choice"],
    ];
    for (const [extra, param] of cases) {
      const err = await client.chat.completions.create({ model: "main", messages: [{ role: "user", content: "hi" }], max_tokens: 4, ...extra } as never).catch((e) => e);
      expect(err, param).toBeInstanceOf(OpenAI.BadRequestError);
      expect(err.param).toBe(param);
    }
  });

  it("rejects bad requests with OpenAI-style errors", async () => {
    const post = (path: string, body: string, type = "application/json") =>
      fetch(`${server.url}${path}`, { method: "POST", headers: { "content-type": type }, body });
    const cases: [Promise<Response>, number, string | null][] = [
      [post("/v1/completions", "{not json"), 400, null],
      [post("/v1/completions", "[1,2]"), 400, null],
      [post("/v1/completions", JSON.stringify({ prompt: 42 })), 400, "prompt"],
      [post("/v1/completions", JSON.stringify({ prompt: "x", max_tokens: -5 })), 400, "max_tokens"],
      [post("/v1/completions", JSON.stringify({ prompt: "x", temperature: "hot" })), 400, "temperature"],
      [post("/v1/completions", JSON.stringify({ prompt: "x", stop: [1] })), 400, "stop"],
      [post("/v1/completions", JSON.stringify({ prompt: "x", references: "text" })), 400, "references"],
      [post("/v1/chat/completions", JSON.stringify({ messages: [{ role: "user", content: "x" }], references: [{}] })), 400, "references"],
      [post("/v1/chat/completions", JSON.stringify({ messages: [] })), 400, "messages"],
      [post("/v1/chat/completions", JSON.stringify({ messages: [{ role: 1 }] })), 400, "messages"],
      [post("/v1/completions", JSON.stringify({ prompt: "x".repeat(2 << 20) })), 413, null],
      [post("/v1/completions", "prompt=x", "application/x-www-form-urlencoded"), 415, null],
      [post("/v1/completions", JSON.stringify({ prompt: "x ".repeat(3000), max_tokens: 4 })), 400, "prompt"],
      [post("/v1/nothing", "{}"), 404, null],
      [fetch(`${server.url}/v1/completions`), 405, null],
    ];
    for (const [response, status, param] of cases) {
      const r = await response;
      expect(r.status).toBe(status);
      const body = (await r.json()) as { error: { message: string; type: string; param: string | null } };
      expect(body.error.message.length).toBeGreaterThan(0);
      expect(body.error.type).toBe("invalid_request_error");
      if (param) expect(body.error.param).toBe(param);
    }
    // and the server still works
    const r = await client.completions.create({ model: "main", prompt: PROMPTS[2], max_tokens: 24, temperature: 0 });
    expect(r.choices[0].text).toBe(expected.get(PROMPTS[2]));
  });

  // What a web page in the user's browser could send: a "simple" cross-origin request (no
  // preflight: text/plain body), or any request through DNS rebinding (its own host name
  // resolving to 127.0.0.1). Sent with a raw HTTP client, headers as a browser sets them.
  it("web pages cannot drive it: foreign origins, foreign hosts and non-JSON bodies are refused", async () => {
    const body = JSON.stringify({ prompt: PROMPTS[0], max_tokens: 4 });
    expect((await raw(server.url, "POST", "/v1/completions", { "content-type": "text/plain;charset=application/json", origin: "http://evil.example" }, body)).status).toBe(403);
    expect((await raw(server.url, "POST", "/v1/completions", { "content-type": "text/plain;charset=application/json" }, body)).status).toBe(415);
    expect((await raw(server.url, "POST", "/v1/completions", { "content-type": "application/json", origin: "http://evil.example" }, body)).status).toBe(403);
    expect((await raw(server.url, "OPTIONS", "/v1/completions", { origin: "http://evil.example", "access-control-request-method": "POST" })).status).toBe(403);
    const port = new URL(server.url).port;
    const rebound = await raw(server.url, "POST", "/v1/completions", { "content-type": "application/json", host: `evil.example:${port}` }, body);
    expect(rebound.status).toBe(421);
    expect(JSON.parse(rebound.body).error.message).toMatch(/host/);
    // this machine's own names and the server's own origin are fine
    expect((await raw(server.url, "GET", "/v1/models", { host: `localhost:${port}` })).status).toBe(200);
    expect((await raw(server.url, "POST", "/v1/completions", { "content-type": "application/json; charset=utf-8", origin: server.url }, body)).status).toBe(200);
  });

  it("answers the origins --cors names, preflights included", async () => {
    const allowed = "http://localhost:3000";
    const corsServer = await serve(model, { port: 0, corsOrigins: [allowed], session: { contextSize: 256, threads: 2 } });
    try {
      const preflight = await raw(corsServer.url, "OPTIONS", "/v1/chat/completions", { origin: allowed, "access-control-request-method": "POST", "access-control-request-headers": "content-type" });
      expect(preflight.status).toBe(204);
      expect(preflight.headers["access-control-allow-origin"]).toBe(allowed);
      expect(preflight.headers["access-control-allow-headers"]).toMatch(/content-type/);
      const r = await raw(corsServer.url, "POST", "/v1/completions", { "content-type": "application/json", origin: allowed }, JSON.stringify({ prompt: PROMPTS[1], max_tokens: 4 }));
      expect(r.status).toBe(200);
      expect(r.headers["access-control-allow-origin"]).toBe(allowed);
      expect((await raw(corsServer.url, "GET", "/v1/models", { origin: "http://localhost:3001" })).status).toBe(403);
    } finally {
      await corsServer.close();
    }
  });
});

describe("server access (main-q8_0)", () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(MAIN);
  });
  afterAll(() => model.dispose());

  it("its access options are checked", async () => {
    for (const bad of [{ corsOrigins: "http://a" }, { allowedHosts: [1] }, { apiKey: "" }, { apiKey: 5 }, { maxConnections: 0 }]) {
      await expect(serve(model, { port: 0, ...(bad as object) })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    }
  });

  it("an API key guards every route but /health; OpenAI clients pass it", async () => {
    const server = await serve(model, { port: 0, apiKey: "s3cret", session: { contextSize: 256, threads: 2 } });
    try {
      expect((await raw(server.url, "GET", "/health", {})).status).toBe(200);
      const none = await raw(server.url, "GET", "/v1/models", {});
      expect(none.status).toBe(401);
      expect(JSON.parse(none.body).error.type).toBe("authentication_error");
      expect((await raw(server.url, "GET", "/v1/models", { authorization: "Bearer s3cre" })).status).toBe(401);
      expect((await raw(server.url, "GET", "/v1/models", { authorization: "Basic s3cret" })).status).toBe(401);
      const wrong = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "guess", maxRetries: 0 });
      await expect(wrong.completions.create({ model: "m", prompt: "x", max_tokens: 2 })).rejects.toMatchObject({ status: 401 });
      const right = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "s3cret", maxRetries: 0 });
      const r = await right.completions.create({ model: "m", prompt: "import os\n", max_tokens: 4, temperature: 0 });
      expect(r.usage?.completion_tokens).toBe(4);
    } finally {
      await server.close();
    }
  });

  it("caps open connections, and a 413 closes its connection saying so", async () => {
    const server = await serve(model, { port: 0, maxConnections: 4, maxBodyBytes: 1000, session: { contextSize: 256, threads: 2 } });
    const { port, hostname } = new URL(server.url);
    const sockets: net.Socket[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const socket = net.connect(Number(port), hostname);
        await new Promise((resolve) => socket.once("connect", resolve));
        sockets.push(socket);
      }
      // a fifth is closed at once; the server answers again once one goes
      const fifth = net.connect(Number(port), hostname);
      await new Promise<void>((resolve) => fifth.once("close", () => resolve()).on("error", () => {}));
      sockets.shift()!.destroy();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await raw(server.url, "GET", "/health", {})).status).toBe(200);

      const big = await raw(server.url, "POST", "/v1/completions", { "content-type": "application/json" }, JSON.stringify({ prompt: "x".repeat(5000) }));
      expect(big.status).toBe(413);
      expect(big.headers.connection).toBe("close");
    } finally {
      for (const s of sockets) s.destroy();
      await server.close();
    }
  });
});

/** One HTTP request with exactly these headers (fetch would set Host and may drop Origin). */
function raw(base: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method, headers: body ? { ...headers, "content-length": Buffer.byteLength(body) } : headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}
