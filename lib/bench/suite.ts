// `specdec bench`: the systems to compare from what the user gives (models, a datastore,
// llama.cpp's binaries, a node-llama-cpp install), run side by side in one run, and the report.
import fs from "node:fs";
import os from "node:os";

import { nativeBinary } from "../config.js";
import { openDatastore } from "../datastore.js";
import { loadModel, type LoadModelOptions, type Model } from "../model.js";
import type { DrafterOptions } from "../options.js";
import { writeReport } from "./report.js";
import { runRounds } from "./run.js";
import { BenchInputError, llamaCppSystem, nodeLlamaCppSystem, specdecSystem, type BenchPrompt, type BenchSystem, type RunSettings } from "./systems.js";

export { BenchInputError };

/** The peers' draft length where none is given: the one every earlier report compared them at. */
const PEER_DRAFT_MAX = 4;

export interface SuiteOptions extends RunSettings {
  model: string;
  /** How specdec loads the main model (RPC workers). */
  load?: LoadModelOptions;
  draft?: string;
  /**
   * Most tokens the draft model drafts per round: specdec's own default where not given;
   * llama.cpp and node-llama-cpp always draft this many ({@link PEER_DRAFT_MAX} where not given).
   */
  draftMax?: number;
  /** A datastore file: adds retrieval systems. */
  retrieval?: string;
  lookahead?: boolean;
  /** JSON lines: { id?, kind?, prompt, n_predict? or maxTokens? }. */
  promptsFile: string;
  /** Tokens per prompt where the file does not say. */
  maxTokens: number;
  /** Only the prompts of this kind. */
  kind?: string;
  /** At most this many prompts of each kind. */
  maxPrompts?: number;
  rounds: number;
  /** A folder with llama.cpp's llama-completion, llama-lookup and llama-speculative-simple (ngram-mod and draft). */
  llamaCpp?: string;
  /** A folder whose node_modules holds node-llama-cpp. */
  nodeLlamaCpp?: string;
  /** node-llama-cpp runs only the first this many prompts of each kind (it is slow with its predictors). */
  nodeLlamaCppPrompts?: number;
  out: string;
  /** The command line, for the report. */
  command: string;
  onProgress?: (done: number, total: number, what: string) => void;
}

/** Reads a prompts file. */
export function readPrompts(file: string, maxTokens: number): BenchPrompt[] {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new BenchInputError(`cannot read the prompts file ${file}: ${(err as Error).message}`);
  }
  const prompts = text
    .split("\n")
    .map((line, i) => [line.trim(), i + 1] as const)
    .filter(([line]) => line)
    .map(([line, n]) => {
      let p: Record<string, unknown>;
      try {
        p = JSON.parse(line);
      } catch {
        throw new BenchInputError(`${file}:${n}: not a JSON line`);
      }
      if (typeof p?.prompt !== "string" || !p.prompt) throw new BenchInputError(`${file}:${n}: "prompt" must be a non-empty string`);
      const tokens = p.n_predict ?? p.maxTokens ?? maxTokens;
      if (!Number.isInteger(tokens) || (tokens as number) < 1) throw new BenchInputError(`${file}:${n}: "n_predict" must be a positive integer`);
      return { id: String(p.id ?? `prompt-${n}`), kind: String(p.kind ?? "prompt"), prompt: p.prompt, maxTokens: tokens as number };
    });
  if (!prompts.length) throw new BenchInputError(`${file} holds no prompts`);
  return prompts;
}

function choosePrompts(all: BenchPrompt[], kind?: string, maxPrompts?: number): BenchPrompt[] {
  const kinds = [...new Set(all.map((p) => p.kind))].filter((k) => !kind || k === kind);
  if (!kinds.length) throw new BenchInputError(`no prompts of kind "${kind}"`);
  return kinds.flatMap((k) => all.filter((p) => p.kind === k).slice(0, maxPrompts ?? Infinity));
}

/** Runs the benchmark and writes its report; returns the files written. */
export async function runSuite(o: SuiteOptions): Promise<string[]> {
  const prompts = choosePrompts(readPrompts(o.promptsFile, o.maxTokens), o.kind, o.maxPrompts);
  const settings: RunSettings = { threads: o.threads, contextSize: o.contextSize, temperature: o.temperature, seed: o.seed };
  const models: Model[] = [];
  const systems: BenchSystem[] = [];
  try {
    const model = await loadModel(o.model, o.load);
    models.push(model);
    const draft = o.draft ? await loadModel(o.draft) : undefined;
    if (draft) models.push(draft);
    const store = o.retrieval ? await openDatastore(o.retrieval) : undefined;
    const lookup: DrafterOptions[] = [{ type: "lookup" }];
    const retrieval: DrafterOptions[] = store ? [{ type: "retrieval", store }] : [];
    const draftOption = draft ? { model: draft, maxTokens: o.draftMax } : undefined;
    const specdec = (name: string, session: Parameters<typeof specdecSystem>[2]) => systems.push(specdecSystem(name, model, session, settings));
    specdec("specdec plain", {});
    specdec("specdec + lookup", { drafters: lookup });
    if (store) specdec("specdec + retrieval", { drafters: retrieval });
    if (o.lookahead) specdec("specdec + lookahead", { drafters: [{ type: "lookahead" }] });
    if (draft) {
      specdec("specdec + draft", { draft: draftOption });
      specdec("specdec + draft + lookup", { draft: draftOption, drafters: lookup });
    }
    if (store) specdec(`specdec + ${draft ? "draft + " : ""}lookup + retrieval`, { draft: draftOption, drafters: [...lookup, ...retrieval] });
    if (o.llamaCpp) {
      systems.push(llamaCppSystem("llama.cpp plain", o.llamaCpp, { kind: "plain" }, o.model, settings));
      systems.push(llamaCppSystem("llama.cpp lookup", o.llamaCpp, { kind: "lookup" }, o.model, settings));
      systems.push(llamaCppSystem("llama.cpp ngram-mod", o.llamaCpp, { kind: "ngram-mod" }, o.model, settings));
      if (o.draft) systems.push(llamaCppSystem("llama.cpp + draft", o.llamaCpp, { kind: "draft", draft: o.draft, draftMax: o.draftMax ?? PEER_DRAFT_MAX }, o.model, settings));
    }
    if (o.nodeLlamaCpp) {
      const ids = new Set(choosePrompts(prompts, undefined, o.nodeLlamaCppPrompts).map((p) => p.id));
      systems.push(nodeLlamaCppSystem("node-llama-cpp plain", o.nodeLlamaCpp, { kind: "plain" }, o.model, settings, ids));
      systems.push(nodeLlamaCppSystem("node-llama-cpp + input lookup", o.nodeLlamaCpp, { kind: "lookup" }, o.model, settings, ids));
      if (o.draft) systems.push(nodeLlamaCppSystem("node-llama-cpp + draft", o.nodeLlamaCpp, { kind: "draft", draft: o.draft, draftMax: o.draftMax ?? PEER_DRAFT_MAX }, o.model, settings, ids));
    }
    const results = await runRounds(systems, prompts, o.rounds, o.onProgress);
    const kinds = [...new Set(prompts.map((p) => p.kind))].map((k) => `${prompts.filter((p) => p.kind === k).length} ${k}`);
    const setup = [
      ...(o.load?.rpcServers ? [`specdec's main model on RPC workers ${o.load.rpcServers.join(", ")}${o.load.tensorSplit ? ` split ${o.load.tensorSplit.join(":")}` : ""}`] : []),
      `main model \`${o.model}\`${o.draft ? `, draft model \`${o.draft}\` (${o.draftMax === undefined ? `specdec's default length, the others' ${PEER_DRAFT_MAX}` : `at most ${o.draftMax} tokens a round`})` : ""}${o.retrieval ? `, datastore \`${o.retrieval}\`` : ""}`,
      `prompts: ${kinds.join(", ")} from \`${o.promptsFile}\`; ${o.rounds} rounds; ${o.threads} threads, context ${o.contextSize}, temperature ${o.temperature}, seed ${o.seed}`,
      ...(o.nodeLlamaCpp ? [`node-llama-cpp ran the first ${o.nodeLlamaCppPrompts ?? "all"} prompts of each kind`] : []),
      `machine: ${os.cpus()[0]?.model ?? "?"}, ${os.availableParallelism()} processors, ${os.platform()} ${os.arch()}; specdec binary ${nativeBinary()}`,
      `date: ${new Date().toISOString()}`,
      `command: \`${o.command}\``,
    ];
    return writeReport(o.out, { systems, prompts, results, temperature: o.temperature, setup });
  } finally {
    await Promise.all(systems.map((s) => s.close?.()));
    for (const m of models) m.dispose();
  }
}
