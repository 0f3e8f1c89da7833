// RPC workers for tests: `specdec rpc-server` child processes on loopback ports.
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import path from "node:path";

import { repoRoot } from "./env.js";

const cli = path.join(repoRoot, "dist/cli.js");

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts `specdec rpc-server -t 1` on a loopback port (a free one unless given) with extra
 * arguments, and waits until it serves. detached: a process group of its own (to stop the
 * listener and its clients' processes together).
 */
export async function startRpcWorker(options: { port?: number; args?: string[]; detached?: boolean } = {}): Promise<{ endpoint: string; child: ChildProcess; port: number }> {
  const port = options.port ?? (await freePort());
  const child = spawn(process.execPath, [cli, "rpc-server", "--port", String(port), "-t", "1", ...(options.args ?? [])], {
    stdio: ["ignore", "ignore", "pipe"],
    detached: options.detached ?? false,
  });
  let err = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rpc-server did not start:\n${err}`)), 30_000);
    child.stderr!.on("data", (d) => {
      err += d;
      if (err.includes("serving at")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`rpc-server exited with ${code}:\n${err}`));
    });
  });
  return { endpoint: `127.0.0.1:${port}`, child, port };
}
