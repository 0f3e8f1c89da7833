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
