// A CI-sized run of the RPC protocol fuzzer (scripts/fuzz-rpc.mjs; the long run is
// `node scripts/fuzz-rpc.mjs --messages 10000`) and the hostile cases found by hand: the worker
// answers a well-formed client after every case and no client's process crashes.
import net from "node:net";

import { afterAll, describe, expect, it } from "vitest";

// @ts-expect-error: a plain ES module without types
import { answers, crashes, fuzzRpc, startWorker } from "../scripts/fuzz-rpc.mjs";

type Worker = { port: number; child: import("node:child_process").ChildProcess; log: () => string };
const workers: Worker[] = [];
afterAll(() => {
  for (const w of workers) w.child.kill("SIGKILL");
});

async function worker(...extra: string[]): Promise<Worker> {
  const w = (await startWorker(extra)) as Worker;
  workers.push(w);
  return w;
}

/** Sends raw bytes on a new connection; resolves with what came back when the worker closed it, or null if it stayed open past waitMs. */
function raw(port: number, bytes: Buffer, waitMs = 5000): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, "127.0.0.1", () => s.write(bytes));
    const timer = setTimeout(() => {
      s.destroy();
      resolve(null);
    }, waitMs);
    s.on("data", (d) => chunks.push(d));
    s.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    s.on("error", () => {});
  });
}

const u64 = (x: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(x);
  return b;
};
const HELLO = Buffer.concat([Buffer.from([14]), u64(24n), Buffer.alloc(24)]);

describe("RPC worker under hostile clients", () => {
  it("1,000 fuzzed messages: no client process crashes, and the worker answers after every 25 connections", async () => {
    const w = await worker();
    const result = await fuzzRpc({ port: w.port, messages: 1000, seed: 20261202 });
    expect(result.sent).toBeGreaterThanOrEqual(1000);
    expect(result.unanswered).toBe(0);
    expect(crashes(w.log())).toEqual([]);
    expect(w.child.exitCode).toBe(null);
  }, 240_000);

  it("the cases that killed ggml's worker are refused, and the next client is served", async () => {
    const w = await worker();
    // a command announcing 2^64-1 bytes (std::length_error) and one announcing 1 GiB it never sends
    expect(await raw(w.port, Buffer.concat([HELLO, Buffer.from([6]), u64(2n ** 64n - 1n)]))).not.toBeNull();
    expect(await raw(w.port, Buffer.concat([HELLO, Buffer.from([6]), u64(1n << 30n), Buffer.alloc(1)]))).not.toBeNull();
    // an unknown command after hello
    expect(await raw(w.port, Buffer.concat([HELLO, Buffer.from([200])]))).not.toBeNull();
    expect(await answers(w.port)).toBe(true);
    expect(crashes(w.log())).toEqual([]);
  }, 60_000);

  it("a silent connection is closed after the idle timeout; the client limit refuses one more at once", async () => {
    const w = await worker("--max-clients", "2");
    const t0 = Date.now();
    expect(await raw(w.port, Buffer.alloc(0), 10_000)).not.toBeNull(); // --idle-timeout 2000 in startWorker
    expect(Date.now() - t0).toBeLessThan(8000);
    await new Promise((resolve) => setTimeout(resolve, 500)); // its process ends, freeing the slot
    // two clients hold both slots (each answered its hello): a third is closed before it is served
    const held = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<net.Socket>((resolve) => {
            const s = net.connect(w.port, "127.0.0.1", () => s.write(HELLO));
            s.on("error", () => {});
            s.once("data", () => resolve(s));
          }),
      ),
    );
    const t1 = Date.now();
    expect(await raw(w.port, HELLO, 10_000)).toEqual(Buffer.alloc(0));
    expect(Date.now() - t1).toBeLessThan(1000);
    for (const s of held) s.destroy();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await answers(w.port)).toBe(true);
  }, 60_000);
});
