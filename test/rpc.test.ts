// The main model on RPC workers (`specdec rpc-server` child processes on loopback ports), the
// drafters local: the same greedy text as a local model, and a worker lost mid-generation is a
// typed error, after which the worker can be started again and the model reloaded.
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import path from "node:path";

import { afterAll, afterEach, describe, expect, it } from "vitest";

import { loadModel, serveRpc, SpecdecError, type Model } from "../lib/index.js";
import { repoRoot } from "./helpers/env.js";
import { MAIN, benchPrompts, sharedModels } from "./helpers/shared.js";
import { plainGreedy } from "./helpers/plain.js";
import { freePort, startRpcWorker } from "./helpers/rpc.js";

const cli = path.join(repoRoot, "dist/cli.js");
const children = new Set<ChildProcess>();
const models: Model[] = [];

/** Starts a worker (helpers/rpc.ts) that the tests' end kills. */
async function startWorker(port?: number, ...args: string[]): Promise<{ endpoint: string; child: ChildProcess; port: number }> {
  const worker = await startRpcWorker({ port, args });
  children.add(worker.child);
  worker.child.once("exit", () => children.delete(worker.child));
  return worker;
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

async function load(file: string, options = {}): Promise<Model> {
  const m = await loadModel(file, options);
  models.push(m);
  return m;
}

afterEach(async () => {
  for (const m of models.splice(0)) m.dispose();
  await Promise.all([...children].map(kill));
});
afterAll(async () => {
  await Promise.all([...children].map(kill));
});

const prompts = benchPrompts()
  .filter((p) => p.kind === "complete")
  .slice(0, 2)
  .map((p) => ({ prompt: p.prompt, maxTokens: 48 }));

describe("RPC workers", () => {
  it("main-q8_0 split across two workers: plain and speculative greedy text equal the local model's", async () => {
    const local = await load(MAIN);
    const expected = await plainGreedy(local, prompts);
    const [a, b] = await Promise.all([startWorker(), startWorker()]);
    const remote = await load(MAIN, { rpcServers: [a.endpoint, b.endpoint], tensorSplit: [1, 1] });
    expect((await plainGreedy(remote, prompts)).map((r) => r.text)).toEqual(expected.map((r) => r.text));

    const draft = await load(path.join(sharedModels, "draft-q8_0.gguf"));
    const session = await remote.createSession({ contextSize: 2048, threads: 2, draft: { model: draft, adaptive: false }, drafters: [{ type: "lookup" }] });
    try {
      for (const [i, p] of prompts.entries()) {
        const r = await session.complete(p.prompt, { maxTokens: p.maxTokens, temperature: 0 });
        expect(r.text).toBe(expected[i].text);
        expect(r.stats.accepted).toBeGreaterThan(0);
        expect(r.stats.drafters.find((d) => d.name === "draftModel")!.proposed).toBeGreaterThan(0);
      }
    } finally {
      session.dispose();
    }
  });

  it("a worker killed mid-generation: RPC_UNAVAILABLE, no crash; restarted, the model loads and generates again", async () => {
    const local = await load(MAIN);
    const [expected] = await plainGreedy(local, prompts.slice(0, 1));
    const a = await startWorker();
    const b = await startWorker();
    const remote = await load(MAIN, { rpcServers: [a.endpoint, b.endpoint] });
    const session = await remote.createSession({ contextSize: 2048, threads: 2, drafters: [] });
    let chunks = 0;
    let caught: unknown;
    try {
      for await (const _ of session.generate(prompts[0].prompt, { maxTokens: 1000, temperature: 0 })) {
        if (++chunks === 2) await kill(b.child);
      }
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SpecdecError);
    expect((caught as SpecdecError).code).toBe("RPC_UNAVAILABLE");
    expect((caught as SpecdecError).message).toContain(b.endpoint);
    // The model's layers on the lost worker are gone: every later use says so.
    await expect(session.complete("x", { maxTokens: 4 })).rejects.toMatchObject({ code: "RPC_UNAVAILABLE" });
    await expect(remote.createSession({ contextSize: 512 })).rejects.toMatchObject({ code: "RPC_UNAVAILABLE" });
    session.dispose();

    // Loading while the worker is down: a typed error at once.
    await expect(loadModel(MAIN, { rpcServers: [a.endpoint, b.endpoint] })).rejects.toMatchObject({ code: "RPC_UNAVAILABLE" });
    // Back on the same port: load again, same text.
    await startWorker(b.port);
    const again = await load(MAIN, { rpcServers: [a.endpoint, b.endpoint] });
    expect((await plainGreedy(again, prompts.slice(0, 1)))[0].text).toBe(expected.text);
  });

  it("bad RPC options and unreachable workers are typed errors", async () => {
    const port = await freePort();
    await expect(loadModel(MAIN, { rpcServers: [`127.0.0.1:${port}`] })).rejects.toMatchObject({ code: "RPC_UNAVAILABLE" });
    for (const bad of ["localhost", "127.0.0.1:0", "127.0.0.1:70000", ":50052", "a b:1"]) {
      await expect(loadModel(MAIN, { rpcServers: [bad] })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    }
    await expect(loadModel(MAIN, { tensorSplit: [1] })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(loadModel(MAIN, { rpcServers: [`127.0.0.1:${port}`], tensorSplit: [0, 0] })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    const a = await startWorker();
    await expect(loadModel(MAIN, { rpcServers: [a.endpoint], tensorSplit: [1, 1, 1] })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    // A second worker on a port in use: exit 1 with the reason, not a crash.
    const second = spawn(process.execPath, [cli, "rpc-server", "--port", String(a.port)], { stdio: ["ignore", "pipe", "pipe"] });
    children.add(second);
    let err = "";
    second.stderr!.on("data", (d) => (err += d));
    const code = await new Promise((resolve) => second.once("exit", resolve));
    expect(code).toBe(1);
    expect(err).toMatch(/RPC_UNAVAILABLE: cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
    // Hosts: ggml's server binds IPv4 literals only; "localhost" is 127.0.0.1, others are refused.
    for (const host of ["::1", "::", "example.com"]) {
      await expect(serveRpc({ host, port })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/IPv4/) });
    }
    const named = await startWorker(undefined, "--host", "localhost");
    const probe = await new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect(named.port, "127.0.0.1", () => resolve(socket)).once("error", reject);
    });
    probe.destroy();
    expect(named.child.exitCode).toBe(null);
    // --mem: no client allocates more than that (main-q8_0 takes 66 MB).
    const limited = await startWorker(undefined, "--mem", "16");
    await expect(loadModel(MAIN, { rpcServers: [limited.endpoint] })).rejects.toBeInstanceOf(SpecdecError);
    // Ctrl-C ends a worker.
    const exited = new Promise((resolve) => a.child.once("exit", resolve));
    a.child.kill("SIGINT");
    expect(await exited).toBe(0);
  });

  it("a worker with a token serves only clients that prove they know it; the token never crosses the wire", async () => {
    const port = await freePort();
    const server = await serveRpc({ port, threads: 1, token: "correct horse" });
    try {
      const local = await load(MAIN);
      const [expected] = await plainGreedy(local, prompts.slice(0, 1));
      // (before a model holds a connection: one process shares one connection per worker)
      for (const rpcToken of ["wrong", ""]) {
        const err = await loadModel(MAIN, { rpcServers: [server.endpoint], rpcToken, rpcTimeoutMs: 3000 }).catch((e: unknown) => e);
        expect(err).toMatchObject({ code: "RPC_UNAVAILABLE", message: expect.stringMatching(/token/) });
      }
      const remote = await load(MAIN, { rpcServers: [server.endpoint], rpcToken: "correct horse" });
      expect((await plainGreedy(remote, prompts.slice(0, 1)))[0].text).toBe(expected.text);
      // a plain ggml client (hello first) and a wrong answer are disconnected; what the worker
      // sends first is a nonce, never the token
      for (const bytes of [Buffer.concat([Buffer.from([14]), Buffer.alloc(8 + 24)]), Buffer.alloc(32, 7)]) {
        const got = await new Promise<Buffer>((resolve) => {
          const chunks: Buffer[] = [];
          const s = net.connect(port, "127.0.0.1", () => s.write(bytes));
          s.on("data", (d) => chunks.push(d)).on("error", () => {});
          s.on("close", () => resolve(Buffer.concat(chunks)));
        });
        expect(got.length).toBe(8 + 32);
        expect(got.subarray(0, 8).toString()).toBe("SPDCAUTH");
        expect(got.includes(Buffer.from("correct horse"))).toBe(false);
      }
      // the model loaded with the token still works
      expect((await plainGreedy(remote, prompts.slice(0, 1)))[0].text).toBe(expected.text);
    } finally {
      await server.close();
    }
  });

  it("a worker in this process serves model after model: a disposed model's connection closes and frees its slot", async () => {
    const port = await freePort();
    const server = await serveRpc({ port, threads: 1, maxClients: 2 });
    try {
      // (ggml's client sockets were inherited by the worker's client processes, which then held
      // every connection open: the third load found no free slot)
      for (let i = 0; i < 6; i++) {
        const m = await loadModel(MAIN, { rpcServers: [server.endpoint], rpcTimeoutMs: 5000 });
        m.dispose();
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    } finally {
      await server.close();
    }
  });
});
