// Loads the compiled addon (a source build, else the prebuild for this platform and CPU: see
// binary.ts) and describes its interface. Only the classes in this folder talk to it.
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { findAddon } from "./binary.js";
import { SpecdecError } from "./errors.js";
import type { LoadModelOptions } from "./model.js";
import type { GenerateOptions } from "./options.js";
import type { GenerationStats } from "./session.js";

/** A compute device a backend of this build found: where a model's `gpuLayers` go. */
export interface Device {
  /** The backend's name for it, e.g. "CPU", "CUDA0", "Vulkan0", "Metal". */
  name: string;
  description: string;
  /** "cpu", "gpu" (discrete), "igpu" (integrated) or "accel" (an accelerator beside the CPU). */
  type: "cpu" | "gpu" | "igpu" | "accel";
  /** Bytes; 0 where the backend does not tell. */
  memoryTotal: number;
  memoryFree: number;
}

export interface NativeModelInfo {
  description: string;
  architecture: string;
  name: string;
  trainContextSize: number;
  embeddingSize: number;
  layers: number;
  heads: number;
  headsKv: number;
  parameters: number;
  sizeBytes: number;
  vocabSize: number;
  vocabType: string;
  specialTokens: { bos: number | null; eos: number | null; eot: number | null; nl: number | null; pad: number | null };
  addBos: boolean;
  addEos: boolean;
  chatTemplate: string | null;
  metadata: Record<string, string>;
  vocabOnly: boolean;
  /** A hash of the vocabulary, as 16 hex digits: equal for tokenizers that give every id the same meaning. */
  vocabFingerprint: string;
}

export interface NativeModel {
  info(): NativeModelInfo;
  tokenize(text: string, addSpecial: boolean, parseSpecial: boolean): Promise<Int32Array>;
  detokenize(tokens: Int32Array, special: boolean): Promise<string>;
  tokenPiece(token: number, special: boolean): string;
  isEndOfGeneration(token: number): boolean;
  applyChatTemplate(messages: { role: string; content: string }[], addAssistant: boolean, name?: string): string;
  createSession(options: NativeSessionOptions): Promise<NativeSession>;
  costCurve(threads: number, threadsBatch: number, maxTokens: number): { singleMs: number; ratios: number[] };
  dispose(): void;
}

// The options objects the addon takes, checked and spelt out by lib/ (the addon rejects a key it
// does not read). A value left undefined takes the native default: native/options.h.

export type NativeLoadOptions = Omit<LoadModelOptions, "gpuLayers" | "onProgress"> & {
  gpuLayers?: number;  // -1: all that fit
  /** Written by the loader: the fraction loaded. */
  progress?: Float32Array;
};

export interface NativeSessionOptions {
  contextSize?: number;
  batchSize?: number;
  threads?: number;
  threadsBatch?: number;
  flashAttention?: -1 | 0 | 1;
  draft?: { model: NativeModel; maxTokens?: number; adaptive?: boolean; minConfidence?: number; greedy?: boolean; translate?: boolean };
  lookup?: { ngramMin?: number; ngramMax?: number; maxTokens?: number; adaptive?: boolean };
  retrieval?: { path: string; minMatch?: number; maxMatch?: number; candidates?: number; maxTokens?: number; adaptive?: boolean };
  lookahead?: { window?: number; ngram?: number; candidates?: number };
}

/** GenerateOptions checked, with the prompt; the signal stays in lib/. */
export type NativeGenerationRequest = Omit<GenerateOptions, "signal" | "jsonSchema"> & { prompt: string | Int32Array };

export interface NativeStep {
  tokens: Int32Array;
  /** By token: 1 where it is a drafted token the main model kept. */
  drafted: Uint8Array;
  text: string;
  done: boolean;
  /** With the request's logprobs: by token, and the alternatives flattened (logprobs per token). */
  logprobs?: Float32Array;
  topTokens?: Int32Array;
  topLogprobs?: Float32Array;
}

/** The figures as native/stats.h counts them: GenerationStats less what lib/session.ts derives. */
export type NativeStats = Omit<GenerationStats, "promptTokensPerSecond" | "tokensPerSecond" | "tokensPerStep" | "acceptanceRate">;

export interface NativeSession {
  info(): { contextSize: number; batchSize: number; hasDraft: boolean };
  begin(request: NativeGenerationRequest): void;
  step(): Promise<NativeStep>;
  abort(disconnectRpc?: boolean): void;
  stats(): { last: NativeStats; totals: NativeStats };
  evaluateLogits(tokens: Int32Array, options: { batchSize?: number }): Promise<Float32Array>;
  measureDecode(options: { depth: number; sizes: number[]; repeats: number }): Promise<number[]>;
  dispose(): void;
}

export interface NativeDatastoreBuilder {
  addFile(path: string): Promise<number>;
  addText(text: string): Promise<number>;
  write(path: string, corpusFingerprint: string): Promise<void>;
}

export interface NativeDatastoreHeader {
  version: number;
  nVocab: number;
  vocabFingerprint: string;
  corpusFingerprint: string;
  tokens: number;
  documents: number;
}

export interface NativeAddon {
  loadModel(path: string, options: NativeLoadOptions): Promise<NativeModel>;
  DatastoreBuilder: new (model: NativeModel) => NativeDatastoreBuilder;
  readDatastoreHeader(path: string): Promise<NativeDatastoreHeader>;
  setNumerics(mode: "exact" | "fast"): void;
  getNumerics(): "exact" | "fast";
  setLogLevel(level: number): void;
  systemInfo(): string;
  devices(): Device[];
  /** The native models and sessions alive in this process (for tests: disposing frees them). */
  liveObjects(): { models: number; sessions: number };
  quantizeModel(source: string, destination: string, options: { type: string; pure?: boolean; threads?: number }): Promise<void>;
  deriveDraft(
    source: string,
    destination: string,
    options: { layers?: number[]; keep?: number; spacing?: string; type?: string; threads?: number },
  ): Promise<{ architecture: string; sourceLayers: number; layers: number[] }>;
  rpcServeSocket(options: { fd: number; threads: number; memoryBytes: number; idleMs: number }): Promise<void>;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);

/** The addon file loaded: a source build, or the prebuild for this platform and CPU. */
export const addonFile = findAddon(root);

function load(file: string | null): NativeAddon {
  if (!file) {
    throw new SpecdecError(
      "NATIVE_LOAD_FAILED",
      `no specdec native addon for ${process.platform}-${process.arch} in ${root}: build one with \`npm rebuild specdec\` (needs CMake and a C++ compiler)`,
    );
  }
  try {
    return require(file) as NativeAddon;
  } catch (err) {
    throw new SpecdecError(
      "NATIVE_LOAD_FAILED",
      `the specdec native addon ${file} could not be loaded (run \`npm rebuild specdec\` to build it from source): ${
        (err as Error).message
      }`,
      { cause: err },
    );
  }
}

export const addon: NativeAddon = load(addonFile);
