// The RPC client against workers that lie, go silent or stop: every case a typed RPC_UNAVAILABLE
// within the timeout, never an abort of this process, and an AbortSignal that works while a
// worker does not answer.
import { type ChildProcess } from "node:child_process";
import net from "node:net";

import { afterAll, afterEach, describe, expect, it } from "vitest";

import { loadModel, SpecdecError, type Model } from "../lib/index.js";
import { MAIN } from "./helpers/shared.js";
import { startRpcWorker } from "./helpers/rpc.js";

const servers: net.Server[] = [];
const children: ChildProcess[] = [];
const models: Model[] = [];

afterEach(() => {
  for (const m of models.splice(0)) m.dispose();
});
afterAll(() => {
  for (const s of servers) s.close();
  for (const c of children) {
    try {
      process.kill(-c.pid!, "SIGCONT");
      process.kill(-c.pid!, "SIGKILL");
    } catch {}
  }
});

type Lie = "alignment" | "maxSize" | "allocSize" | "base" | "memory" | "deviceCount" | "bufferSize" | "silent" | "hangsAfterHello";

/**
 * A worker that speaks ggml's RPC protocol and answers plausibly, but for one lie. It keeps
 * nothing: tensors read back as zeros.
 */
async function fakeWorker(lie: Lie): Promise<string> {
  const server = net.createServer((socket) => {
    let buf = Buffer.alloc(0);
    let hello = false;
    let buffers = 0;
    socket.on("error", () => {});
    socket.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (buf.length < 9) return;
        const cmd = buf[0];
        const size = Number(buf.readBigUInt64LE(1));
        if (buf.length < 9 + size) return;
        const body = buf.subarray(9, 9 + size);
        buf = buf.subarray(9 + size);
        if (lie === "silent" || (lie === "hangsAfterHello" && hello)) continue;
        const answer = (b: Buffer) => {
          const head = Buffer.alloc(8);
          head.writeBigUInt64LE(BigInt(b.length));
          socket.write(Buffer.concat([head, b]));
        };
        const u64s = (...xs: bigint[]) => {
          const b = Buffer.alloc(8 * xs.length);
          xs.forEach((x, i) => b.writeBigUInt64LE(x, 8 * i));
          return b;
        };
        switch (cmd) {
          case 14: // HELLO: version 6.0.0, no transport caps
            hello = true;
            answer(Buffer.concat([Buffer.from([6, 0, 0, 0]), Buffer.alloc(24)]));
            break;
          case 15: {
            const b = Buffer.alloc(4);
            b.writeUInt32LE(lie === "deviceCount" ? 0xffffffff : 1);
            answer(b);
            break;
          }
          case 11: // GET_DEVICE_MEMORY
            answer(lie === "memory" ? u64s(0n, 0n) : u64s(8n << 30n, 8n << 30n));
            break;
          case 1: // GET_ALIGNMENT
            answer(u64s(lie === "alignment" ? 3n : 32n));
            break;
          case 2: // GET_MAX_SIZE
            answer(u64s(lie === "maxSize" ? 0n : 1n << 40n));
            break;
          case 0: {
            // ALLOC_BUFFER
            const asked = body.readBigUInt64LE(4);
            buffers++;
            answer(u64s(BigInt(buffers) << 12n, lie === "bufferSize" ? asked / 2n : asked));
            break;
          }
          case 3: // BUFFER_GET_BASE
            answer(u64s(lie === "base" ? 0n : body.readBigUInt64LE(0) << 20n));
            break;
          case 13: // GET_ALLOC_SIZE
            answer(u64s(lie === "allocSize" ? 1n << 60n : 1n << 20n));
            break;
          case 8: // GET_TENSOR: zeros of the size asked
            answer(Buffer.alloc(Number(body.readBigUInt64LE(296 + 8))));
            break;
          case 7: // SET_TENSOR_HASH: not cached
          case 9: // COPY_TENSOR: not copied
            answer(Buffer.from([0]));
            break;
          default: // commands without an answer
            break;
        }
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

describe("RPC client against a lying or stopped worker", () => {
  for (const lie of ["alignment", "maxSize", "allocSize", "base", "memory", "deviceCount", "bufferSize", "silent", "hangsAfterHello"] as const) {
    it(`a worker that ${lie === "silent" ? "never answers" : lie === "hangsAfterHello" ? "stops answering after hello" : `lies about ${lie}`}: RPC_UNAVAILABLE within the timeout`, async () => {
      const endpoint = await fakeWorker(lie);
      const t0 = Date.now();
      const err = await loadModel(MAIN, { rpcServers: [endpoint], rpcTimeoutMs: 1000 }).then(
        (m) => {
          models.push(m);
          return null;
        },
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(SpecdecError);
      expect((err as SpecdecError).code).toBe("RPC_UNAVAILABLE");
      expect((err as SpecdecError).message).toContain(endpoint);
      expect(Date.now() - t0).toBeLessThan(10_000);
    }, 30_000);
  }

  it("a worker stopped mid-generation (SIGSTOP): RPC_UNAVAILABLE after the timeout; an AbortSignal ends the wait sooner", async () => {
    // its own process group, so that the listener and the client's process stop together
    const { child: worker, endpoint } = await startRpcWorker({ detached: true });
    children.push(worker);

    const slow = await loadModel(MAIN, { rpcServers: [endpoint], rpcTimeoutMs: 1500 });
    models.push(slow);
    const session = await slow.createSession({ contextSize: 1024, threads: 1, drafters: [] });
    let chunks = 0;
    const t0 = Date.now();
    let stoppedAt = 0;
    const err = await (async () => {
      for await (const _ of session.generate("def fib(n):", { maxTokens: 400, temperature: 0 })) {
        if (++chunks === 2) {
          process.kill(-worker.pid!, "SIGSTOP");
          stoppedAt = Date.now();
        }
      }
    })().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SpecdecError);
    expect((err as SpecdecError).code).toBe("RPC_UNAVAILABLE");
    expect(Date.now() - stoppedAt).toBeLessThan(8000);
    session.dispose();
    process.kill(-worker.pid!, "SIGCONT");

    // the same with a long timeout, ended by the user
    const patient = await loadModel(MAIN, { rpcServers: [endpoint], rpcTimeoutMs: 600_000 });
    models.push(patient);
    const s2 = await patient.createSession({ contextSize: 1024, threads: 1, drafters: [] });
    const controller = new AbortController();
    chunks = 0;
    let abortedAt = 0;
    const err2 = await (async () => {
      for await (const _ of s2.generate("def fib(n):", { maxTokens: 400, temperature: 0, signal: controller.signal })) {
        if (++chunks === 2) {
          process.kill(-worker.pid!, "SIGSTOP");
          setTimeout(() => {
            abortedAt = Date.now();
            controller.abort();
          }, 500);
        }
      }
    })().then(
      () => null,
      (e: unknown) => e,
    );
    expect((err2 as SpecdecError).code).toBe("ABORTED");
    expect(Date.now() - abortedAt).toBeLessThan(5000);
    expect(Date.now() - t0).toBeLessThan(30_000);
    s2.dispose();
    process.kill(-worker.pid!, "SIGCONT");
  }, 60_000);
});
