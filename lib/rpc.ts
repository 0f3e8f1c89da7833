// Serving this machine's compute to other specdec processes over ggml's RPC protocol. This process
// only listens: each client's connection is handed to a process of its own (rpc-worker.ts), which
// holds that client's buffers and computes its graphs. A client that makes its process fail (a
// malformed message the checks missed, a crash in a backend) loses its connection; the worker and
// its other clients go on.
import { spawn, type ChildProcess } from "node:child_process";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import { fileURLToPath } from "node:url";

import { getNumerics } from "./config.js";
import { SpecdecError } from "./errors.js";
import * as v from "./validate.js";

/** Options of {@link serveRpc}. */
export interface RpcServerOptions {
  /** IPv4 address to listen on (default 127.0.0.1). The protocol has no encryption: bind beyond loopback only on a trusted network. */
  host?: string;
  /** Port (default 50052). */
  port?: number;
  /** CPU threads for each client's computation (default: available processors). */
  threads?: number;
  /** Memory the device reports to clients, in MiB, which size their layer split by it; no client may allocate more (default: what it has). */
  memoryMiB?: number;
  /** Clients served at once (default 4); one more is disconnected at once. */
  maxClients?: number;
  /** A client that holds no buffers and sends nothing for this long, or stops in the middle of a message, is disconnected (default 30000). */
  idleTimeoutMs?: number;
  /**
   * A shared secret clients must prove they know (loadModel's rpcToken) before they are served;
   * default: the SPECDEC_RPC_TOKEN environment variable, else none (any ggml RPC client is served).
   */
  token?: string;
}

// The token handshake (native/rpc_auth.h): this side sends the magic and a nonce, the client
// answers HMAC-SHA256(token, context + nonce), a right answer gets one byte 1.
const AUTH_MAGIC = Buffer.from("SPDCAUTH");
const AUTH_CONTEXT = "specdec rpc auth v1";
const AUTH_TIMEOUT_MS = 10_000;

/** Resolves whether the client on `socket` answered the challenge for `token` (it then may speak ggml's protocol). */
function authenticate(socket: net.Socket, token: string): Promise<boolean> {
  return new Promise((resolve) => {
    const nonce = randomBytes(32);
    const expected = createHmac("sha256", token).update(AUTH_CONTEXT).update(nonce).digest();
    let got = Buffer.alloc(0);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.removeAllListeners("data");
      socket.pause();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), AUTH_TIMEOUT_MS);
    socket.on("data", (d: Buffer) => {
      got = Buffer.concat([got, d]);
      // the client sends nothing more until it is told to go on: more is not a client of ours
      if (got.length >= expected.length) done(got.length === expected.length && timingSafeEqual(got, expected));
    });
    socket.once("close", () => done(false));
    socket.write(Buffer.concat([AUTH_MAGIC, nonce]));
    socket.resume();
  });
}

/** A running RPC worker. */
export interface RpcServer {
  /** "host:port", as clients name it in loadModel's rpcServers. */
  endpoint: string;
  /** Rejects if serving stops for another reason than close(). */
  stopped: Promise<never>;
  /** Stops listening and ends every client's connection. */
  close(): Promise<void>;
}

// beside this module once compiled; from the sources (tests), the compiled one
const workerScript = [new URL("./rpc-worker.js", import.meta.url), new URL("../dist/rpc-worker.js", import.meta.url)]
  .map((u) => fileURLToPath(u))
  .find((f) => fs.existsSync(f))!;

/**
 * Serves this machine's GPUs (or else its CPU) as a ggml RPC worker: a client's
 * `loadModel(path, { rpcServers: ["host:port"] })` puts model layers here. Each client gets a
 * process of its own, whose buffers are freed when its connection ends.
 *
 * @throws SpecdecError RPC_UNAVAILABLE (cannot listen there), INVALID_ARGUMENT
 */
export async function serveRpc(options: RpcServerOptions = {}): Promise<RpcServer> {
  const o = v.optionsObject("options", options, {
    host: true, port: true, threads: true, memoryMiB: true, maxClients: true, idleTimeoutMs: true, token: true,
  });
  // a connection is handed to its process as a file descriptor, which Windows sockets are not
  if (process.platform === "win32") throw new SpecdecError("INVALID_ARGUMENT", "the RPC worker runs on Linux and macOS; Windows can be a client");
  // ggml's RPC client connects to IPv4 addresses only
  const named = o.host === undefined ? "127.0.0.1" : v.string("host", o.host);
  const host = named.toLowerCase() === "localhost" ? "127.0.0.1" : named;
  if (!net.isIPv4(host)) {
    throw new SpecdecError("INVALID_ARGUMENT", `the RPC server listens on IPv4 addresses only (e.g. 127.0.0.1, or 0.0.0.0 for every interface), not ${JSON.stringify(named)}`);
  }
  const port = o.port === undefined ? 50052 : v.integer("port", o.port, 1, 65535);
  const threads = o.threads === undefined ? os.availableParallelism() : v.integer("threads", o.threads, 1, 1024);
  const memoryMiB = o.memoryMiB === undefined ? 0 : v.number("memoryMiB", o.memoryMiB, 1, 2 ** 32);
  const maxClients = o.maxClients === undefined ? 4 : v.integer("maxClients", o.maxClients, 1, 64);
  const idleMs = o.idleTimeoutMs === undefined ? 30_000 : v.integer("idleTimeoutMs", o.idleTimeoutMs, 100, 86_400_000);
  const token = o.token === undefined ? (process.env.SPECDEC_RPC_TOKEN ?? "") : v.string("token", o.token);
  const workerOptions = JSON.stringify({ threads, memoryBytes: Math.round(memoryMiB * 2 ** 20), idleMs, numerics: getNumerics() });

  const clients = new Set<ChildProcess>();
  let closing = false;
  // a connection goes to a process of its own; this one reads none of ggml's protocol (only the
  // answer to the token's challenge)
  const handOver = (socket: net.Socket) => {
    if (closing) {
      socket.destroy();
      return;
    }
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [workerScript, workerOptions], {
        // fd 3: the connection; an IPC channel, which closes when this process ends, however it ends
        stdio: ["ignore", "ignore", "inherit", socket, "ipc"],
        env: { ...process.env, ELECTRON_RUN_AS_NODE: "1" },
      });
    } catch {
      socket.destroy();
      return;
    }
    // the child holds its own copy of the connection from here
    socket.destroy();
    clients.add(child);
    child.on("error", () => clients.delete(child));
    child.on("exit", (code, signal) => {
      clients.delete(child);
      if (signal && !closing) process.stderr.write(`specdec rpc-server: a client's worker process ended with ${signal}; that client was disconnected\n`);
      else if (code && !closing) process.stderr.write(`specdec rpc-server: a client's worker process exited with ${code}; that client was disconnected\n`);
    });
  };
  let pending = 0; // clients answering the token challenge: they hold a slot
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    socket.on("error", () => {});
    if (closing || clients.size + pending >= maxClients) {
      socket.destroy();
      return;
    }
    if (!token) return handOver(socket);
    pending++;
    void authenticate(socket, token).then((ok) => {
      pending--;
      if (!ok) return void socket.destroy();
      // told to go on only once the write is out: the connection is then handed over untouched
      socket.write(Buffer.from([1]), () => handOver(socket));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(new SpecdecError("RPC_UNAVAILABLE", `cannot listen on ${host}:${port}: ${err.code ?? err.message}`, { cause: err })),
    );
    server.listen({ host, port, exclusive: true }, () => resolve());
  });
  const endpoint = `${host}:${port}`;
  const stopped = new Promise<never>((_, reject) => {
    server.on("error", (err) => {
      if (!closing) reject(new SpecdecError("RPC_UNAVAILABLE", `the RPC server at ${endpoint} stopped: ${err.message}`, { cause: err }));
    });
  });
  stopped.catch(() => {}); // the caller may not watch it
  return {
    endpoint,
    stopped,
    async close() {
      closing = true;
      const ended = [...clients].map((c) => new Promise((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve(null) : c.once("exit", resolve))));
      for (const c of clients) c.kill("SIGKILL");
      await Promise.all([new Promise((resolve) => server.close(resolve)), ...ended]);
    },
  };
}
