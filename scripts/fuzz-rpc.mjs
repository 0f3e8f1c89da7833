// Fuzzes a specdec RPC worker (`specdec rpc-server`) with random and structure-aware messages of
// ggml's RPC protocol: each case is one connection that says hello (or not), allocates a buffer and
// sends commands whose tensors, sizes, pointers, graphs and ops are valid, nearly valid or garbage.
// It counts what the worker did: a client process that ended by a signal or an error exit is a
// crash the checks missed; the worker itself must answer a well-formed client after every case.
//
//   node scripts/fuzz-rpc.mjs [--messages 10000] [--seed 1]
//
// Also used by test/rpc-fuzz.test.ts (a smaller run).
import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), "../dist/cli.js");

// ggml-rpc protocol, version 6 (ggml/src/ggml-rpc/ggml-rpc.cpp)
const CMD = {
  ALLOC_BUFFER: 0, GET_ALIGNMENT: 1, GET_MAX_SIZE: 2, BUFFER_GET_BASE: 3, FREE_BUFFER: 4, BUFFER_CLEAR: 5,
  SET_TENSOR: 6, SET_TENSOR_HASH: 7, GET_TENSOR: 8, COPY_TENSOR: 9, GRAPH_COMPUTE: 10, GET_DEVICE_MEMORY: 11,
  INIT_TENSOR: 12, GET_ALLOC_SIZE: 13, HELLO: 14, DEVICE_COUNT: 15, GRAPH_RECOMPUTE: 16, MEMSET_TENSOR: 17,
};
const MAX_SRC = 10;
const TENSOR_BYTES = 296; // sizeof(rpc_tensor), packed
// answer sizes of the commands that answer (GET_TENSOR: the size asked)
const ANSWER = { 0: 16, 1: 8, 2: 8, 3: 8, 7: 1, 9: 1, 11: 16, 13: 8, 14: 28, 15: 4 };
// types with their block size and bytes per block: F32, F16, Q4_0, Q8_0, I32, I64
const TYPES = [[0, 1, 4], [1, 1, 2], [2, 32, 18], [8, 32, 34], [26, 1, 4], [27, 1, 8]];
// ops model graphs use (ggml_op numbers), to build graphs that get past the first checks
const OPS = { ADD: 2, MUL: 7, SCALE: 32, CPY: 34, CONT: 35, RESHAPE: 36, VIEW: 37, MUL_MAT: 29, GET_ROWS: 40, SET_ROWS: 42, SOFT_MAX: 46, ROPE: 48, RMS_NORM: 25, UNARY: 91, GLU: 100, ARGSORT: 69, CUSTOM: 95 };

function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  return { next, int, pick: (xs) => xs[int(xs.length)], chance: (p) => next() < p };
}

/** One serialized rpc_tensor. */
function tensorBytes(t) {
  const b = Buffer.alloc(TENSOR_BYTES);
  let o = 0;
  b.writeBigUInt64LE(BigInt.asUintN(64, t.id ?? 0n), o); o += 8;
  b.writeUInt32LE(t.type >>> 0, o); o += 4;
  b.writeBigUInt64LE(BigInt.asUintN(64, t.buffer ?? 0n), o); o += 8;
  for (let i = 0; i < 4; i++, o += 4) b.writeUInt32LE((t.ne?.[i] ?? 1) >>> 0, o);
  for (let i = 0; i < 4; i++, o += 4) b.writeUInt32LE((t.nb?.[i] ?? 0) >>> 0, o);
  b.writeUInt32LE((t.op ?? 0) >>> 0, o); o += 4;
  for (let i = 0; i < 16; i++, o += 4) b.writeInt32LE((t.params?.[i] ?? 0) | 0, o);
  b.writeInt32LE(t.flags ?? 0, o); o += 4;
  for (let i = 0; i < MAX_SRC; i++, o += 8) b.writeBigUInt64LE(BigInt.asUintN(64, t.src?.[i] ?? 0n), o);
  b.writeBigUInt64LE(BigInt.asUintN(64, t.viewSrc ?? 0n), o); o += 8;
  b.writeBigUInt64LE(BigInt.asUintN(64, t.viewOffs ?? 0n), o); o += 8;
  b.writeBigUInt64LE(BigInt.asUintN(64, t.data ?? 0n), o); o += 8;
  b.write(t.name ?? "fuzz", o, 63, "latin1"); o += 64;
  b.writeInt32LE(t.useCount ?? 1, o);
  return b;
}

const u32 = (x) => { const b = Buffer.alloc(4); b.writeUInt32LE(x >>> 0); return b; };
const u64 = (x) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(x))); return b; };
const u8 = (x) => Buffer.from([x & 255]);

/** A connection that sends framed commands and reads framed answers. */
class Conn {
  constructor(socket) {
    this.socket = socket;
    this.buf = Buffer.alloc(0);
    this.waiter = null;
    this.closed = false;
    socket.on("data", (d) => { this.buf = Buffer.concat([this.buf, d]); this.waiter?.(); });
    const end = () => { this.closed = true; this.waiter?.(); };
    socket.on("close", end).on("error", end);
  }
  static open(port) {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, "127.0.0.1", () => resolve(new Conn(s))).once("error", reject);
    });
  }
  write(bytes) {
    if (!this.closed) this.socket.write(bytes);
  }
  send(cmd, payload, declared) {
    this.write(Buffer.concat([u8(cmd), u64(declared ?? payload.length), payload]));
  }
  /** The next answer's payload, or null when the worker closed the connection or said nothing in time. */
  async answer(timeoutMs = 10_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.buf.length >= 8) {
        const size = Number(this.buf.readBigUInt64LE(0));
        if (this.buf.length >= 8 + size) {
          const out = this.buf.subarray(8, 8 + size);
          this.buf = this.buf.subarray(8 + size);
          return out;
        }
      }
      if (this.closed || Date.now() > deadline) return null;
      await new Promise((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 50);
      });
      this.waiter = null;
    }
  }
  async request(cmd, payload, answerSize) {
    this.send(cmd, payload);
    const a = await this.answer();
    return a && a.length === answerSize ? a : null;
  }
  close() {
    this.socket.destroy();
  }
}

async function hello(conn) {
  return (await conn.request(CMD.HELLO, Buffer.alloc(24), ANSWER[CMD.HELLO])) !== null;
}

/** A tensor laid out contiguously at data, with this type and shape. */
function contiguous(id, [type, blck, size], ne, buffer, data, extra = {}) {
  const nb = [size, (size * ne[0]) / blck];
  nb.push(nb[1] * ne[1], nb[1] * ne[1] * ne[2]);
  return { id: BigInt(id), type, ne, nb, buffer, data, ...extra };
}

/** Changes one field of a tensor the way a broken or hostile client would. */
function mutate(r, t) {
  const huge = () => r.pick([0, 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32 - 2, 65535, 1 << 20]);
  switch (r.int(11)) {
    case 0: t.ne = t.ne.map((x) => (r.chance(0.5) ? huge() : x)); break;
    case 1: t.nb = t.nb.map((x) => (r.chance(0.5) ? huge() : x)); break;
    case 2: t.data = r.pick([0n, 1n, t.data - 64n, t.data + (1n << 40n), 2n ** 64n - 1n, t.data + BigInt(r.int(1 << 20))]); break;
    case 3: t.type = r.pick([r.int(46), 2 ** 32 - 1, 4, 5, 6, 42, 43]); break;
    case 4: t.op = r.pick([r.int(110), 9999, 92, 93, 94, OPS.CUSTOM, OPS.UNARY, OPS.GLU]); break;
    case 5: t.params = Array.from({ length: 16 }, () => r.int(2 ** 32) - 2 ** 31); break;
    case 6: t.src = Array.from({ length: MAX_SRC }, () => (r.chance(0.3) ? BigInt(r.int(12)) : 0n)); break;
    case 7: t.buffer = r.pick([0n, 1n, t.buffer + 8n, 2n ** 64n - 1n]); break;
    case 8: t.viewSrc = BigInt(r.int(12)); t.viewOffs = BigInt(r.pick([0, 64, 2 ** 40])); break;
    case 9: t.ne = [...t.ne].reverse(); break;
    default: t.flags = r.int(2 ** 31); break;
  }
}

/** A small graph of tensors in the buffer [base, base + size): two inputs, one or more nodes. */
function graph(r, buffer, base, size) {
  const F32 = TYPES[0];
  const n = 1 + r.int(16);
  const m = 1 + r.int(8);
  const at = (k) => base + BigInt(Math.min(k, Math.max(0, size - 4096)));
  const x = contiguous(1, F32, [n, m, 1, 1], buffer, at(0));
  const y = contiguous(2, r.chance(0.2) ? TYPES[1] : F32, [n, m, 1, 1], buffer, at(1024));
  const ids = contiguous(3, TYPES[4], [m, 1, 1, 1], buffer, at(2048));
  const tensors = [x, y, ids];
  const nodes = [];
  const steps = 1 + r.int(4);
  for (let i = 0; i < steps; i++) {
    const id = 10 + i;
    const op = r.pick([OPS.ADD, OPS.MUL, OPS.SCALE, OPS.CPY, OPS.CONT, OPS.MUL_MAT, OPS.GET_ROWS, OPS.SET_ROWS, OPS.SOFT_MAX, OPS.ROPE, OPS.RMS_NORM, OPS.UNARY, OPS.GLU, OPS.ARGSORT, OPS.VIEW, OPS.CUSTOM, r.int(101)]);
    const a = r.pick(tensors);
    const b = r.pick(tensors);
    const ne = op === OPS.MUL_MAT ? [a.ne[1], b.ne[1], 1, 1] : op === OPS.GET_ROWS ? [a.ne[0], b.ne[0], 1, 1] : [...a.ne];
    const t = contiguous(id, F32, ne, buffer, at(3072 + 256 * i), { op, src: [a.id, b.id], params: [r.int(4), r.int(64), 0, 0] });
    if (r.chance(0.4)) mutate(r, t);
    tensors.push(t);
    nodes.push(t);
  }
  if (r.chance(0.5)) mutate(r, r.pick(tensors));
  const parts = [u32(r.chance(0.95) ? 0 : r.int(3)), u32(nodes.length), ...nodes.map((t) => u64(t.id)), u32(tensors.length), ...tensors.map(tensorBytes)];
  return Buffer.concat(parts);
}

/** One connection's worth of messages; returns how many it sent. */
async function fuzzCase(r, port, budget) {
  const conn = await Conn.open(port);
  let sent = 0;
  try {
    if (r.chance(0.05)) {
      // garbage from the first byte
      conn.write(Buffer.from(Array.from({ length: 1 + r.int(64) }, () => r.int(256))));
      return 1;
    }
    if (r.chance(0.03)) {
      // a hello of the wrong size, or a size announced and never sent
      conn.send(CMD.HELLO, Buffer.alloc(r.int(40)), r.chance(0.5) ? undefined : 2 ** 40);
      return 1;
    }
    if (!(await hello(conn))) return 1;
    sent++;
    const size = r.pick([4096, 65536, 1 << 20]);
    const alloc = await conn.request(CMD.ALLOC_BUFFER, Buffer.concat([u32(0), u64(size)]), 16);
    sent++;
    if (!alloc) return sent;
    const buffer = alloc.readBigUInt64LE(0);
    const base = (await conn.request(CMD.BUFFER_GET_BASE, u64(buffer), 8))?.readBigUInt64LE(0);
    sent++;
    if (base === undefined) return sent;
    const tensor = () => {
      const type = r.pick(TYPES);
      const ne = [type[1] * (1 + r.int(8)), 1 + r.int(4), 1, 1];
      const t = contiguous(1 + r.int(4), type, ne, buffer, base + BigInt(64 * r.int(32)));
      if (r.chance(0.5)) mutate(r, t);
      return t;
    };
    while (sent < budget && !conn.closed) {
      const kind = r.int(16);
      sent++;
      if (kind === 0) {
        const t = tensor();
        const data = Buffer.alloc(r.int(4096));
        conn.send(CMD.SET_TENSOR, Buffer.concat([tensorBytes(t), u64(r.chance(0.8) ? 0 : r.pick([1, 4096, 2 ** 40])), data]));
      } else if (kind === 1) {
        // a SET_TENSOR announcing far more than it sends
        conn.send(CMD.SET_TENSOR, Buffer.concat([tensorBytes(tensor()), u64(0)]), r.pick([2 ** 30, 2 ** 53, 2 ** 64 - 1]));
        break;
      } else if (kind === 2) {
        const asked = r.chance(0.8) ? r.int(512) : r.pick([2 ** 32, 2 ** 62]);
        conn.send(CMD.GET_TENSOR, Buffer.concat([tensorBytes(tensor()), u64(r.int(64)), u64(asked)]));
        await conn.answer(2000);
      } else if (kind === 3) {
        conn.send(CMD.COPY_TENSOR, Buffer.concat([tensorBytes(tensor()), tensorBytes(tensor())]));
        await conn.answer(2000);
      } else if (kind === 4) {
        conn.send(CMD.MEMSET_TENSOR, Buffer.concat([tensorBytes(tensor()), u64(r.int(128)), u64(r.chance(0.8) ? r.int(256) : 2 ** 40), u8(r.int(256))]));
      } else if (kind === 5 || kind === 6 || kind === 7) {
        conn.send(CMD.GRAPH_COMPUTE, graph(r, buffer, base, size));
      } else if (kind === 8) {
        if (r.chance(0.5)) conn.send(CMD.FREE_BUFFER, u64(r.chance(0.7) ? buffer : r.pick([0n, buffer + 8n, 2n ** 64n - 1n])));
        conn.send(CMD.GRAPH_RECOMPUTE, u32(r.int(2)));
      } else if (kind === 9) {
        conn.send(CMD.BUFFER_CLEAR, Buffer.concat([u64(r.chance(0.5) ? buffer : base), u8(r.int(256))]));
      } else if (kind === 10) {
        conn.send(CMD.INIT_TENSOR, tensorBytes(tensor()));
      } else if (kind === 11) {
        const srcs = Array.from({ length: MAX_SRC }, () => (r.chance(0.2) ? tensorBytes(tensor()) : Buffer.alloc(TENSOR_BYTES)));
        conn.send(CMD.GET_ALLOC_SIZE, Buffer.concat([u32(r.int(2)), tensorBytes(tensor()), ...srcs]));
        await conn.answer(2000);
      } else if (kind === 12) {
        const cmd = r.pick([CMD.GET_ALIGNMENT, CMD.GET_MAX_SIZE, CMD.GET_DEVICE_MEMORY, CMD.DEVICE_COUNT, CMD.ALLOC_BUFFER]);
        const payload = cmd === CMD.DEVICE_COUNT ? Buffer.alloc(0) : cmd === CMD.ALLOC_BUFFER ? Buffer.concat([u32(r.int(3)), u64(r.pick([0, 1, 2 ** 62, 2 ** 64 - 1, 1 << 16]))]) : u32(r.pick([0, 1, 2 ** 32 - 1]));
        conn.send(cmd, payload);
        await conn.answer(2000);
      } else if (kind === 13) {
        // a command of the wrong size
        conn.send(r.int(18), Buffer.alloc(r.int(700)));
      } else if (kind === 14) {
        // an unknown command, or a graph announced larger than any
        if (r.chance(0.5)) conn.write(u8(18 + r.int(238)));
        else conn.send(CMD.GRAPH_COMPUTE, Buffer.alloc(8), 2 ** 40);
        break;
      } else {
        conn.send(CMD.SET_TENSOR_HASH, Buffer.concat([tensorBytes(tensor()), u64(0), u64(r.int(2 ** 32))]));
        await conn.answer(2000);
      }
    }
    // whatever the worker does with the rest, it must not take long
    await conn.answer(200);
    return sent;
  } finally {
    conn.close();
  }
}

/** Starts `specdec rpc-server` on a free port; resolves when it serves. */
export async function startWorker(extra = []) {
  const port = await new Promise((resolve, reject) => {
    const s = net.createServer().once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const child = spawn(process.execPath, [cli, "rpc-server", "--port", String(port), "-t", "1", "--idle-timeout", "2000", ...extra], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr.on("data", (d) => (log += d));
  await new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (log.includes("serving at")) {
        clearInterval(timer);
        resolve();
      }
    }, 20);
    child.once("exit", (code) => {
      clearInterval(timer);
      reject(new Error(`rpc-server exited with ${code}:\n${log}`));
    });
  });
  return { port, child, log: () => log };
}

/**
 * A well-formed client's hello and device count: the worker still serves. Tried for up to
 * retryMs: after a burst of short connections every client slot may still be held by a process
 * that is starting or ending, and the worker then refuses a client at once, as it should.
 */
export async function answers(port, retryMs = 10_000) {
  const deadline = Date.now() + retryMs;
  for (;;) {
    const conn = await Conn.open(port);
    try {
      if ((await hello(conn)) && (await conn.request(CMD.DEVICE_COUNT, Buffer.alloc(0), 4))?.readUInt32LE(0) === 1) return true;
    } finally {
      conn.close();
    }
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * Sends about `messages` messages to the worker on `port`, in cases of up to 40; checks after
 * every `checkEvery` cases that a well-formed client is still served.
 */
export async function fuzzRpc({ port, messages, seed = 1, checkEvery = 25 }) {
  const r = rng(seed);
  let sent = 0;
  let cases = 0;
  let unanswered = 0;
  while (sent < messages) {
    sent += await fuzzCase(r, port, Math.min(40, messages - sent + 1));
    if (++cases % checkEvery === 0 && !(await answers(port))) unanswered++;
  }
  if (!(await answers(port))) unanswered++;
  return { sent, cases, unanswered };
}

/** Client processes of the worker that ended by a signal or an error exit, from its log. */
export function crashes(log) {
  return log.split("\n").filter((l) => /worker process (ended with|exited with)/.test(l));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { messages: { type: "string", default: "10000" }, seed: { type: "string", default: "1" } } });
  const worker = await startWorker();
  const t0 = Date.now();
  try {
    const result = await fuzzRpc({ port: worker.port, messages: Number(values.messages), seed: Number(values.seed) });
    const crashed = crashes(worker.log());
    console.log(
      `rpc fuzz: ${result.sent} messages in ${result.cases} connections, ${((Date.now() - t0) / 1000).toFixed(0)} s; ` +
        `worker alive: ${worker.child.exitCode === null}; liveness checks unanswered: ${result.unanswered}; client processes crashed: ${crashed.length}`,
    );
    // what the worker and its client processes said, once each (asserts, refused messages)
    const said = [...new Set(worker.log().split("\n").filter((l) => l.trim() && !/^specdec rpc-server: (WARNING|serving|clients must)/.test(l)))];
    for (const line of said.slice(0, 30)) console.log(`  ${line}`);
    process.exitCode = worker.child.exitCode === null && result.unanswered === 0 && crashed.length === 0 ? 0 : 1;
  } finally {
    worker.child.kill("SIGKILL");
  }
}
