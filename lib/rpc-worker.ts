// One RPC client's process (see rpc.ts): serves the connection it was handed as file descriptor 3,
// then ends. Arguments: a JSON object { threads, memoryBytes, idleMs, numerics }.
import { setNumerics } from "./config.js";
import { addon } from "./native.js";

const options = JSON.parse(process.argv[2] ?? "{}") as { threads: number; memoryBytes: number; idleMs: number; numerics: "exact" | "fast" };
setNumerics(options.numerics);
// The listening process ended (even killed): so does this client's service, at once (an orderly
// exit would wait for the native call, which waits on the client).
process.on("disconnect", () => process.kill(process.pid, "SIGKILL"));
try {
  await addon.rpcServeSocket({ fd: 3, threads: options.threads, memoryBytes: options.memoryBytes, idleMs: options.idleMs });
  process.exit(0);
} catch (err) {
  process.stderr.write(`specdec rpc-server: ${(err as Error).message}\n`);
  process.exit(1);
}
