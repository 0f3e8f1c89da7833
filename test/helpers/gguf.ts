// A small GGUF (v3) writer for test fixtures: tiny llama-architecture models with random F32
// weights and a SentencePiece-style vocabulary that llama.cpp loads and runs in milliseconds.
import fs from "node:fs";

const enum T {
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
}

export type KV =
  | { type: "u32"; value: number }
  | { type: "f32"; value: number }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { type: "strings"; value: string[] }
  | { type: "f32s"; value: number[] }
  | { type: "i32s"; value: number[] };

class Writer {
  private chunks: Buffer[] = [];
  size = 0;
  push(b: Buffer) {
    this.chunks.push(b);
    this.size += b.length;
  }
  u32(v: number) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  i32(v: number) {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    this.push(b);
  }
  u64(v: number) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  f32(v: number) {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.push(b);
  }
  str(s: string) {
    const b = Buffer.from(s, "utf8");
    this.u64(b.length);
    this.push(b);
  }
  pad(align: number) {
    const n = (align - (this.size % align)) % align;
    if (n) this.push(Buffer.alloc(n));
  }
  concat() {
    return Buffer.concat(this.chunks);
  }
}

function writeKV(w: Writer, key: string, kv: KV) {
  w.str(key);
  switch (kv.type) {
    case "u32":
      w.u32(T.U32), w.u32(kv.value);
      break;
    case "f32":
      w.u32(T.F32), w.f32(kv.value);
      break;
    case "bool":
      w.u32(T.BOOL), w.push(Buffer.from([kv.value ? 1 : 0]));
      break;
    case "string":
      w.u32(T.STRING), w.str(kv.value);
      break;
    case "strings":
      w.u32(T.ARRAY), w.u32(T.STRING), w.u64(kv.value.length);
      kv.value.forEach((s) => w.str(s));
      break;
    case "f32s":
      w.u32(T.ARRAY), w.u32(T.F32), w.u64(kv.value.length);
      kv.value.forEach((x) => w.f32(x));
      break;
    case "i32s":
      w.u32(T.ARRAY), w.u32(T.I32), w.u64(kv.value.length);
      kv.value.forEach((x) => w.i32(x));
      break;
  }
}

/** A deterministic PRNG (mulberry32) so fixtures are the same on every run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface TinyLlamaSpec {
  /** Extra vocabulary pieces after the control and byte tokens ("▁" marks a space). */
  pieces?: string[];
  nEmbd?: number;
  nLayer?: number;
  nHead?: number;
  nFf?: number;
  nCtx?: number;
  seed?: number;
  /** Metadata values to write instead of the usual ones (to make broken models), or besides them. */
  kv?: Record<string, KV>;
}

export const DEFAULT_PIECES = [
  "▁",
  ..."abcdefghijklmnopqrstuvwxyz".split(""),
  ..."abcdefghijklmnopqrstuvwxyz".split("").map((c) => "▁" + c),
  "▁the",
  "▁def",
  "▁return",
  "in",
  "er",
  "on",
  "(",
  ")",
  ":",
];

/** Writes a tiny llama model; returns the vocabulary it used. */
export function writeTinyLlama(file: string, spec: TinyLlamaSpec = {}): string[] {
  const { nEmbd = 32, nLayer = 2, nHead = 2, nFf = 64, nCtx = 256, seed = 1 } = spec;
  const pieces = spec.pieces ?? DEFAULT_PIECES;
  const tokens = ["<unk>", "<s>", "</s>"];
  const types = [2, 3, 3];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(6);
  }
  for (const p of pieces) {
    tokens.push(p);
    types.push(1);
  }
  const scores = tokens.map((t, i) => (types[i] === 1 ? -i / 10 + t.length : 0));
  const nVocab = tokens.length;
  const kvs: [string, KV][] = [
    ["general.architecture", { type: "string", value: "llama" }],
    ["general.name", { type: "string", value: "tiny-test" }],
    ["general.alignment", { type: "u32", value: 32 }],
    ["llama.context_length", { type: "u32", value: nCtx }],
    ["llama.embedding_length", { type: "u32", value: nEmbd }],
    ["llama.block_count", { type: "u32", value: nLayer }],
    ["llama.feed_forward_length", { type: "u32", value: nFf }],
    ["llama.attention.head_count", { type: "u32", value: nHead }],
    ["llama.attention.head_count_kv", { type: "u32", value: nHead }],
    ["llama.rope.dimension_count", { type: "u32", value: nEmbd / nHead }],
    ["llama.attention.layer_norm_rms_epsilon", { type: "f32", value: 1e-5 }],
    ["tokenizer.ggml.model", { type: "string", value: "llama" }],
    ["tokenizer.ggml.tokens", { type: "strings", value: tokens }],
    ["tokenizer.ggml.scores", { type: "f32s", value: scores }],
    ["tokenizer.ggml.token_type", { type: "i32s", value: types }],
    ["tokenizer.ggml.unknown_token_id", { type: "u32", value: 0 }],
    ["tokenizer.ggml.bos_token_id", { type: "u32", value: 1 }],
    ["tokenizer.ggml.eos_token_id", { type: "u32", value: 2 }],
    ["tokenizer.ggml.add_bos_token", { type: "bool", value: true }],
  ].map(([k, v]) => [k, spec.kv?.[k as string] ?? v] as [string, KV]);
  for (const [k, v] of Object.entries(spec.kv ?? {})) if (!kvs.some(([key]) => key === k)) kvs.push([k, v]);
  const tensors: [string, number[]][] = [["token_embd.weight", [nEmbd, nVocab]], ["output_norm.weight", [nEmbd]]];
  for (let i = 0; i < nLayer; i++) {
    tensors.push(
      [`blk.${i}.attn_norm.weight`, [nEmbd]],
      [`blk.${i}.attn_q.weight`, [nEmbd, nEmbd]],
      [`blk.${i}.attn_k.weight`, [nEmbd, nEmbd]],
      [`blk.${i}.attn_v.weight`, [nEmbd, nEmbd]],
      [`blk.${i}.attn_output.weight`, [nEmbd, nEmbd]],
      [`blk.${i}.ffn_norm.weight`, [nEmbd]],
      [`blk.${i}.ffn_gate.weight`, [nEmbd, nFf]],
      [`blk.${i}.ffn_up.weight`, [nEmbd, nFf]],
      [`blk.${i}.ffn_down.weight`, [nFf, nEmbd]],
    );
  }
  const w = new Writer();
  w.push(Buffer.from("GGUF"));
  w.u32(3);
  w.u64(tensors.length);
  w.u64(kvs.length);
  for (const [k, v] of kvs) writeKV(w, k, v);
  let offset = 0;
  const offsets: number[] = [];
  for (const [name, dims] of tensors) {
    w.str(name);
    w.u32(dims.length);
    dims.forEach((d) => w.u64(d));
    w.u32(0); // F32
    w.u64(offset);
    offsets.push(offset);
    const bytes = dims.reduce((a, b) => a * b, 1) * 4;
    offset += Math.ceil(bytes / 32) * 32;
  }
  w.pad(32);
  const random = rng(seed);
  for (const [name, dims] of tensors) {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = Buffer.alloc(Math.ceil((n * 4) / 32) * 32);
    const isNorm = name.endsWith("norm.weight");
    const scale = name === "token_embd.weight" ? 1.0 : 1 / Math.sqrt(dims[0]);
    for (let i = 0; i < n; i++) data.writeFloatLE(isNorm ? 1 : (random() * 2 - 1) * scale * 1.7, i * 4);
    w.push(data);
  }
  fs.writeFileSync(file, w.concat());
  return tokens;
}

interface ParsedGguf {
  buf: Buffer;
  /** Each key-value record: its key, parsed value and byte range in the file. */
  kvs: { key: string; value: unknown; start: number; end: number }[];
  tensors: { name: string; dims: number[]; type: number; offset: number }[];
  /** Where the tensor infos end and the data section (aligned) starts. */
  infoEnd: number;
  dataStart: number;
  alignment: number;
}

function parseGguf(file: string): ParsedGguf {
  const buf = fs.readFileSync(file);
  let at = 0;
  const take = (n: number) => {
    at += n;
    return at - n;
  };
  const u64 = () => Number(buf.readBigUInt64LE(take(8)));
  const str = () => {
    const n = u64();
    return buf.toString("utf8", take(n), at);
  };
  const scalar = (type: number): unknown => {
    switch (type) {
      case 0: return buf.readUInt8(take(1));
      case 1: return buf.readInt8(take(1));
      case 2: return buf.readUInt16LE(take(2));
      case 3: return buf.readInt16LE(take(2));
      case 4: return buf.readUInt32LE(take(4));
      case 5: return buf.readInt32LE(take(4));
      case 6: return buf.readFloatLE(take(4));
      case 7: return buf.readUInt8(take(1)) !== 0;
      case 8: return str();
      case 9: {
        const itemType = buf.readUInt32LE(take(4));
        return Array.from({ length: u64() }, () => scalar(itemType));
      }
      case 10: return buf.readBigUInt64LE(take(8));
      case 11: return buf.readBigInt64LE(take(8));
      case 12: return buf.readDoubleLE(take(8));
      default: throw new Error(`unknown GGUF type ${type}`);
    }
  };
  if (buf.toString("latin1", 0, 4) !== "GGUF") throw new Error(`${file} is not a GGUF file`);
  take(8); // magic, version
  const nTensors = u64();
  const nKv = u64();
  const kvs: ParsedGguf["kvs"] = [];
  for (let i = 0; i < nKv; i++) {
    const start = at;
    const key = str();
    kvs.push({ key, value: scalar(buf.readUInt32LE(take(4))), start, end: at });
  }
  const tensors: ParsedGguf["tensors"] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = str();
    const dims = Array.from({ length: buf.readUInt32LE(take(4)) }, () => u64());
    tensors.push({ name, dims, type: buf.readUInt32LE(take(4)), offset: u64() });
  }
  const alignment = (kvs.find((kv) => kv.key === "general.alignment")?.value as number | undefined) ?? 32;
  return { buf, kvs, tensors, infoEnd: at, dataStart: Math.ceil(at / alignment) * alignment, alignment };
}

/** A GGUF file's metadata (key-value pairs; no tensors), as the file holds it. */
export function readGgufMetadata(file: string): Record<string, unknown> {
  return Object.fromEntries(parseGguf(file).kvs.map((kv) => [kv.key, kv.value]));
}

// Bytes per row of n values, for the tensor types the shared models use.
function rowBytes(type: number, n: number): number {
  const blocks: Record<number, [number, number]> = { 0: [1, 4], 1: [1, 2], 2: [32, 18], 8: [32, 34] }; // F32 F16 Q4_0 Q8_0
  const b = blocks[type];
  if (!b) throw new Error(`tensor type ${type} is not handled`);
  return (n / b[0]) * b[1];
}

/**
 * Copies a model with another vocabulary that reads text the same way in part: the ids of the
 * normal tokens shuffled (the embedding rows moved with them, so the model computes what it did
 * on the same text) and `disabled` of the longer pieces replaced by text no input holds, so words
 * that used them are split otherwise. A draft of "another vocabulary" with real acceptance.
 */
export function writeOtherVocabulary(source: string, destination: string, { seed = 1, disabled = 0 } = {}): void {
  const g = parseGguf(source);
  const get = (key: string) => g.kvs.find((kv) => kv.key === key)!.value as never[];
  const tokens = get("tokenizer.ggml.tokens") as string[];
  const scores = get("tokenizer.ggml.scores") as number[];
  const types = get("tokenizer.ggml.token_type") as number[];
  const normal = types.map((t, i) => (t === 1 ? i : -1)).filter((i) => i >= 0);
  const random = rng(seed);
  const shuffled = [...normal];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
  }
  const from = tokens.map((_, i) => i); // new id -> old id
  normal.forEach((id, k) => (from[id] = shuffled[k]));
  const newTokens = from.map((old) => tokens[old]);
  const long = normal.filter((id) => [...newTokens[id]].length >= 4);
  for (let k = 0; k < disabled && long.length; k++) {
    const id = long.splice(Math.floor(random() * long.length), 1)[0];
    newTokens[id] = `\u{F0000}${id}\u{F0001}`;
  }
  const replaced: Record<string, KV> = {
    "tokenizer.ggml.tokens": { type: "strings", value: newTokens },
    "tokenizer.ggml.scores": { type: "f32s", value: from.map((old) => scores[old]) },
    "tokenizer.ggml.token_type": { type: "i32s", value: from.map((old) => types[old]) },
  };
  const w = new Writer();
  w.push(g.buf.subarray(0, g.kvs[0].start));
  for (const kv of g.kvs) {
    if (replaced[kv.key]) writeKV(w, kv.key, replaced[kv.key]);
    else w.push(g.buf.subarray(kv.start, kv.end));
  }
  w.push(g.buf.subarray(g.kvs[g.kvs.length - 1].end, g.infoEnd));
  w.pad(g.alignment);
  const data = Buffer.from(g.buf.subarray(g.dataStart));
  for (const t of g.tensors) {
    if (t.dims.length !== 2 || t.dims[1] !== tokens.length) continue; // token_embd, output
    const row = rowBytes(t.type, t.dims[0]);
    const old = g.buf.subarray(g.dataStart + t.offset, g.dataStart + t.offset + row * tokens.length);
    from.forEach((o, i) => old.copy(data, t.offset + i * row, o * row, (o + 1) * row));
  }
  w.push(data);
  fs.writeFileSync(destination, w.concat());
}
