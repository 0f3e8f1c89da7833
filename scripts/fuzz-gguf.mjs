#!/usr/bin/env node
// Mutation fuzzer for model loading: mutates the real GGUF files of ../shared/models (truncation
// at many offsets, flipped bytes in the header and metadata, corrupted string and array lengths,
// value types, tensor counts, dimensions, types and offsets, random bytes behind a GGUF magic,
// overwritten tensor data: NaN and huge weights),
// writes each case to the OS temp folder, loads it, and when it loads, generates a few tokens.
// Every case must end in a load, or a SpecdecError: a crash of the process is a failure.
//
// The cases run in a child process that reports each one before and after it; when the child
// dies, the parent records the case it was on as a crash and starts a new child at the next.
//
//   node scripts/fuzz-gguf.mjs [--cases 2000] [--seed 1] [--models tiny-q8_0,draft-q8_0] [--json]
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values: opt } = parseArgs({
  options: {
    cases: { type: "string", default: "2000" },
    seed: { type: "string", default: "1" },
    models: { type: "string", default: "tiny-q8_0,draft-q8_0" },
    child: { type: "string" },
    from: { type: "string", default: "0" },
    json: { type: "boolean", default: false },
  },
});

// ---- GGUF layout: where the fields a mutation aims at are -------------------------------------

const SCALAR_SIZE = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const STRING = 8;
const ARRAY = 9;

/** Field positions of a GGUF file: { kind, pos, size } for lengths, counts, types, dims, offsets. */
function layout(buf) {
  const fields = [];
  let p = 4;
  const u32 = () => {
    const v = buf.readUInt32LE(p);
    p += 4;
    return v;
  };
  const u64 = () => {
    const v = Number(buf.readBigUInt64LE(p));
    p += 8;
    return v;
  };
  const str = (kind) => {
    fields.push({ kind, pos: p, size: 8 });
    const n = u64();
    p += n;
  };
  fields.push({ kind: "version", pos: p, size: 4 });
  u32();
  fields.push({ kind: "tensor count", pos: p, size: 8 });
  const nTensors = u64();
  fields.push({ kind: "kv count", pos: p, size: 8 });
  const nKv = u64();
  for (let i = 0; i < nKv; i++) {
    str("key length");
    fields.push({ kind: "value type", pos: p, size: 4 });
    const type = u32();
    if (type === STRING) {
      str("string length");
    } else if (type === ARRAY) {
      fields.push({ kind: "array type", pos: p, size: 4 });
      const et = u32();
      fields.push({ kind: "array length", pos: p, size: 8 });
      const n = u64();
      if (et === STRING) {
        for (let j = 0; j < n; j++) {
          if (j < 64 || j % 997 === 0) str("array string length");
          else p += 8 + Number(buf.readBigUInt64LE(p));
        }
      } else {
        p += n * SCALAR_SIZE[et];
      }
    } else {
      fields.push({ kind: "scalar", pos: p, size: SCALAR_SIZE[type] });
      p += SCALAR_SIZE[type];
    }
  }
  for (let i = 0; i < nTensors; i++) {
    str("tensor name length");
    fields.push({ kind: "tensor dims", pos: p, size: 4 });
    const nd = u32();
    for (let d = 0; d < nd; d++) {
      fields.push({ kind: "tensor dim", pos: p, size: 8 });
      p += 8;
    }
    fields.push({ kind: "tensor type", pos: p, size: 4 });
    p += 4;
    fields.push({ kind: "tensor offset", pos: p, size: 8 });
    p += 8;
  }
  return { fields, headerEnd: p };
}

// ---- Mutations -----------------------------------------------------------------------------------

function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

const INTERESTING = [0n, 1n, 2n, 3n, 7n, 31n, 32n, 255n, 256n, 4095n, 65535n, 65536n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 0x7fffffffffffffffn, 0xffffffffffffffffn];

/** Case i: a mutated copy of one of the models, and what was done to it. */
function makeCase(i, seed, originals) {
  const r = rng(seed * 1000003 + i * 7919 + 1);
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  const { name, buf, lay } = originals[i % originals.length];
  const kind = pick(["truncate", "truncate", "flip header", "field", "field", "field", "random", "flip data"]);
  if (kind === "truncate") {
    // Mostly inside the header and metadata, where the parser works; some in the tensor data.
    const end = r() < 0.8 ? Math.floor(r() * lay.headerEnd) : lay.headerEnd + Math.floor(r() * (buf.length - lay.headerEnd));
    return { what: `${name}: truncated at ${end} of ${buf.length}`, data: buf.subarray(0, end) };
  }
  if (kind === "random") {
    const n = 4 + Math.floor(r() * 4096);
    const data = Buffer.alloc(n);
    for (let j = 0; j < n; j++) data[j] = Math.floor(r() * 256);
    data.write("GGUF", 0, "latin1");
    if (r() < 0.5 && n >= 8) data.writeUInt32LE(3, 4);  // a valid version, so that parsing goes on
    return { what: `random ${n} bytes behind a GGUF magic`, data };
  }
  const data = Buffer.from(buf);
  if (kind === "flip header") {
    const flips = 1 + Math.floor(r() * 8);
    const at = [];
    for (let j = 0; j < flips; j++) {
      const pos = 4 + Math.floor(r() * (lay.headerEnd - 4));
      data[pos] ^= 1 << Math.floor(r() * 8);
      at.push(pos);
    }
    return { what: `${name}: bits flipped at ${at.join(",")}`, data };
  }
  if (kind === "flip data") {
    // Weights and scales: generation must survive NaN, infinite or huge numbers.
    const n = 1 + Math.floor(r() * 2000);
    for (let j = 0; j < n; j++) {
      const pos = lay.headerEnd + Math.floor(r() * (data.length - lay.headerEnd));
      data[pos] = r() < 0.5 ? 0xff : Math.floor(r() * 256);
    }
    return { what: `${name}: ${n} bytes of tensor data overwritten`, data };
  }
  const f = pick(lay.fields);
  const v = r() < 0.7 ? pick(INTERESTING) : BigInt(Math.floor(r() * 2 ** 32)) * (r() < 0.3 ? 65536n : 1n);
  if (f.size === 8) data.writeBigUInt64LE(v & 0xffffffffffffffffn, f.pos);
  else if (f.size === 4) data.writeUInt32LE(Number(v & 0xffffffffn), f.pos);
  else if (f.size === 2) data.writeUInt16LE(Number(v & 0xffffn), f.pos);
  else data[f.pos] = Number(v & 0xffn);
  return { what: `${name}: ${f.kind} at ${f.pos} set to ${v}`, data };
}

function loadOriginals() {
  return opt.models.split(",").map((m) => {
    const buf = fs.readFileSync(path.resolve(root, "../shared/models", `${m}.gguf`));
    return { name: m, buf, lay: layout(buf) };
  });
}

// ---- Child: runs cases, reporting each -----------------------------------------------------------

async function child() {
  const { loadModel, SpecdecError } = await import(path.join(root, "dist/index.js"));
  const originals = loadOriginals();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "specdec-fuzz-"));
  const file = path.join(dir, "case.gguf");
  const total = Number(opt.cases);
  try {
    for (let i = Number(opt.from); i < total; i++) {
      const c = makeCase(i, Number(opt.seed), originals);
      fs.writeFileSync(file, c.data);
      console.log(JSON.stringify({ start: i, what: c.what }));
      let outcome;
      try {
        const model = await loadModel(file);
        try {
          const session = await model.createSession({ contextSize: 64, threads: 1 });
          await session.complete("def f(x):", { maxTokens: 3, temperature: i % 2 ? 0.8 : 0, seed: i });
          session.dispose();
          outcome = "loaded, generated";
        } catch (err) {
          if (!(err instanceof SpecdecError)) throw err;
          outcome = `loaded, ${err.code}`;
        } finally {
          model.dispose();
        }
      } catch (err) {
        if (!(err instanceof SpecdecError)) {
          outcome = `untyped error: ${err?.message ?? err}`;
        } else {
          outcome = err.code;
        }
      }
      console.log(JSON.stringify({ done: i, outcome }));
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---- Parent: runs children until every case is done ----------------------------------------------

function runChild(from) {
  return new Promise((resolve) => {
    const args = [fileURLToPath(import.meta.url), "--child", "1", "--from", String(from), "--cases", opt.cases, "--seed", opt.seed, "--models", opt.models];
    const p = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    let current = null;
    let stderr = "";
    const outcomes = [];
    readline.createInterface({ input: p.stdout }).on("line", (line) => {
      const m = JSON.parse(line);
      if ("start" in m) current = m;
      else {
        outcomes.push({ i: m.done, what: current.what, outcome: m.outcome });
        current = null;
      }
    });
    p.stderr.on("data", (d) => (stderr += d));
    p.on("close", (code, signal) => resolve({ outcomes, crashed: current, code, signal, stderr: stderr.slice(-2000) }));
  });
}

async function parent() {
  const total = Number(opt.cases);
  const start = Date.now();
  const outcomes = [];
  const crashes = [];
  let next = 0;
  while (next < total) {
    const r = await runChild(next);
    outcomes.push(...r.outcomes);
    if (r.crashed) {
      crashes.push({ ...r.crashed, signal: r.signal, code: r.code, stderr: r.stderr });
      next = r.crashed.start + 1;
    } else if (r.code !== 0) {
      crashes.push({ start: next, what: "the child failed outside a case", code: r.code, stderr: r.stderr });
      break;
    } else {
      next = total;
    }
  }
  const byOutcome = {};
  for (const o of outcomes) byOutcome[o.outcome.replace(/:.*/, "")] = (byOutcome[o.outcome.replace(/:.*/, "")] ?? 0) + 1;
  const untyped = outcomes.filter((o) => o.outcome.startsWith("untyped"));
  const summary = { cases: total, crashes: crashes.length, untyped: untyped.length, outcomes: byOutcome, seconds: Math.round((Date.now() - start) / 1000) };
  if (opt.json) {
    console.log(JSON.stringify({ ...summary, crashList: crashes.slice(0, 20), untypedList: untyped.slice(0, 20) }));
  } else {
    console.log(JSON.stringify(summary));
    for (const c of crashes.slice(0, 20)) console.log(`CRASH case ${c.start}: ${c.what} (signal ${c.signal}, code ${c.code})\n${c.stderr}`);
    for (const u of untyped.slice(0, 20)) console.log(`UNTYPED case ${u.i}: ${u.what}: ${u.outcome}`);
  }
  process.exitCode = crashes.length || untyped.length ? 1 : 0;
}

if (opt.child) await child();
else await parent();
