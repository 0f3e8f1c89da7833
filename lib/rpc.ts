// Serving this machine's compute to other specdec processes over ggml's RPC protocol. This process
// only listens: each client's connection is handed to a process of its own (rpc-worker.ts), which
// holds that client's buffers and computes its graphs. A client that makes its process fail (a
// malformed message the checks missed, a crash in a backend) loses its connection; the worker and
// its other clients go on.
import { spawn, type ChildProcess } from "node:child_process";
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

const workerScript = fileURLToPath(new URL("./rpc-worker.js", import.meta.url));

/**
 * Serves this machine's GPUs (or else its CPU) as a ggml RPC worker: a client's
 * `loadModel(path, { rpcServers: ["host:port"] })` puts model layers here. Each client gets a
 * process of its own, whose buffers are freed when its connection ends.
 *
 * @throws SpecdecError RPC_UNAVAILABLE (cannot listen there), INVALID_ARGUMENT
 */
export async function serveRpc(options: RpcServerOptions = {}): Promise<RpcServer> {
  const o = v.optionsObject("options", options);
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
  const workerOptions = JSON.stringify({ threads, memoryBytes: Math.round(memoryMiB * 2 ** 20), idleMs, numerics: getNumerics() });

  const clients = new Set<ChildProcess>();
  let closing = false;
  // the listener hands sockets over untouched: no byte is read here
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    if (closing || clients.size >= maxClients) {
      socket.destroy();
      return;
    }
    socket.on("error", () => {});
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
  });
  server.maxConnections = maxClients + 16;
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
