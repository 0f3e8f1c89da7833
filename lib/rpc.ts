// Serving this machine's compute to other specdec processes over ggml's RPC protocol.
import net from "node:net";
import os from "node:os";

import { SpecdecError, wrapNative } from "./errors.js";
import { addon } from "./native.js";
import * as v from "./validate.js";

/** Options of {@link serveRpc}. */
export interface RpcServerOptions {
  /** Address to listen on (default 127.0.0.1). The protocol has no authentication: bind beyond loopback only on a trusted network. */
  host?: string;
  /** Port (default 50052). */
  port?: number;
  /** CPU threads for the computation (default: available processors). */
  threads?: number;
  /** Memory the device reports to clients, in MiB, which size their default layer split by it (default: what it has). */
  memoryMiB?: number;
}

/** A running RPC worker. */
export interface RpcServer {
  /** "host:port", as clients name it in loadModel's rpcServers. */
  endpoint: string;
  /** Rejects if serving stops (it does not otherwise: the worker lives as long as the process). */
  stopped: Promise<never>;
}

let serving: string | undefined;

/**
 * Serves this machine's GPUs (or else its CPU) as a ggml RPC worker: a client's
 * `loadModel(path, { rpcServers: ["host:port"] })` puts model layers here. One client at a time;
 * a client's buffers are freed when its connection ends. Runs on a thread of its own until the
 * process ends; one per process.
 *
 * @throws SpecdecError RPC_UNAVAILABLE (cannot listen there), INVALID_ARGUMENT
 */
export async function serveRpc(options: RpcServerOptions = {}): Promise<RpcServer> {
  const o = v.optionsObject("options", options);
  // ggml's RPC server binds IPv4 literals only (anything else failed after "serving at")
  const named = o.host === undefined ? "127.0.0.1" : v.string("host", o.host);
  const host = named.toLowerCase() === "localhost" ? "127.0.0.1" : named;
  if (!net.isIPv4(host)) {
    throw new SpecdecError("INVALID_ARGUMENT", `the RPC server listens on IPv4 addresses only (e.g. 127.0.0.1, or 0.0.0.0 for every interface), not ${JSON.stringify(named)}`);
  }
  const port = o.port === undefined ? 50052 : v.integer("port", o.port, 1, 65535);
  const threads = o.threads === undefined ? os.availableParallelism() : v.integer("threads", o.threads, 1, 1024);
  const memoryMiB = o.memoryMiB === undefined ? 0 : v.number("memoryMiB", o.memoryMiB, 1, 2 ** 32);
  if (serving) throw new SpecdecError("INVALID_ARGUMENT", `this process already serves RPC at ${serving}`);
  // ggml's server only prints when it cannot listen: find that out first, with a typed error.
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", (err: NodeJS.ErrnoException) =>
      reject(new SpecdecError("RPC_UNAVAILABLE", `cannot listen on ${host}:${port}: ${err.code ?? err.message}`, { cause: err })),
    );
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
  const endpoint = host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
  serving = endpoint;
  const stopped = wrapNative(() => addon.rpcServe(endpoint, { threads, memoryBytes: Math.round(memoryMiB * 2 ** 20) })).then(() => {
    throw new SpecdecError("RPC_UNAVAILABLE", `the RPC server at ${endpoint} stopped`);
  });
  stopped.catch(() => {}); // the caller may not watch it
  return { endpoint, stopped };
}
