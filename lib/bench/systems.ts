// The systems a benchmark compares: specdec in this process (plain and with each drafter),
// llama.cpp's own tools as child processes, and node-llama-cpp in a child process each.
import { execFile, spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

import type { Model } from "../model.js";
import type { SessionOptions } from "../options.js";

/** A bad benchmark input (prompts file, tool folder): said to the user, not a crash. */
export class BenchInputError extends Error {}

export interface BenchPrompt {
  id: string;
  kind: string;
  prompt: string;
  maxTokens: number;
}

/** What one system did on one prompt. */
export interface PromptResult {
  tokens: number;
  tokensPerSecond: number;
  /** Drafted tokens kept, where the system drafts and says so. */
  acceptance?: number;
  /** By draft position: tokens checked and kept (specdec only). */
  draftedAt?: number[];
  acceptedAt?: number[];
  /** By drafter: tokens proposed and kept (specdec only). */
  drafters?: { name: string; proposed: number; accepted: number }[];
  /** The generated text (where the system gives it apart from its logs). */
  text?: string;
}

export interface BenchSystem {
  name: string;
  /** Whose system: speedups are measured against the same tool's plain decoding. */
  tool: "specdec" | "llama.cpp" | "node-llama-cpp";
  /** Plain decoding of its tool (no drafting). */
  plain: boolean;
  /** Only these prompts (node-llama-cpp is slow with its predictors); undefined: all. */
  ids?: Set<string>;
  run(prompt: BenchPrompt): Promise<PromptResult>;
  close?(): Promise<void>;
}

export interface RunSettings {
  threads: number;
  contextSize: number;
  temperature: number;
  seed: number;
}

/** specdec with the given session options; a fresh session per prompt. */
export function specdecSystem(name: string, model: Model, session: SessionOptions, settings: RunSettings): BenchSystem {
  const plain = !session.draft && !session.drafters?.length;
  return {
    name,
    tool: "specdec",
    plain,
    async run(p) {
      const s = await model.createSession({ ...session, drafters: session.drafters ?? [], contextSize: settings.contextSize, threads: settings.threads });
      try {
        const r = await s.complete(p.prompt, { maxTokens: p.maxTokens, temperature: settings.temperature, seed: settings.seed });
        const st = r.stats;
        return {
          tokens: st.generatedTokens,
          tokensPerSecond: st.tokensPerSecond,
          acceptance: plain ? undefined : st.acceptanceRate,
          draftedAt: st.draftedAt,
          acceptedAt: st.acceptedAt,
          drafters: st.drafters.map(({ name, proposed, accepted }) => ({ name, proposed, accepted })),
          text: r.text,
        };
      } finally {
        s.dispose();
      }
    },
  };
}

function run(file: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { encoding: "utf8", maxBuffer: 1 << 26 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(file)} failed: ${err.message}\n${stderr.slice(-1500)}`));
      else resolve({ stdout, stderr });
    });
  });
}

/**
 * llama.cpp's tools from a folder of its binaries: llama-completion (plain), llama-lookup
 * (n-gram lookup, n-max 8), llama-speculative-simple with its ngram-mod drafter (llama.cpp's
 * strongest method without a second model) or with a draft model (n-max draftMax).
 * Tokens/s as the tool prints it for the generation phase; llama-completion's text too.
 */
export function llamaCppSystem(
  name: string,
  binDir: string,
  mode: { kind: "plain" } | { kind: "lookup" } | { kind: "ngram-mod" } | { kind: "draft"; draft: string; draftMax: number },
  modelPath: string,
  settings: RunSettings,
): BenchSystem {
  const tool = { plain: "llama-completion", lookup: "llama-lookup", "ngram-mod": "llama-speculative-simple", draft: "llama-speculative-simple" }[mode.kind];
  const bin = path.join(binDir, tool);
  if (!fs.existsSync(bin)) throw new BenchInputError(`--llama-cpp: no ${tool} in ${binDir}`);
  return {
    name,
    tool: "llama.cpp",
    plain: mode.kind === "plain",
    async run(p) {
      const common = ["-m", modelPath, "-p", p.prompt, "-n", String(p.maxTokens), "--temp", String(settings.temperature), "--seed", String(settings.seed), "-t", String(settings.threads), "-c", String(settings.contextSize)];
      if (mode.kind === "plain") {
        const { stdout, stderr } = await run(bin, [...common, "-no-cnv", "--no-display-prompt"]);
        const out = stdout + stderr;
        // "eval time = X ms / N runs", not the "prompt eval time" line.
        const m = /(?<!prompt )eval time =\s*([\d.]+) ms \/\s*(\d+) runs/.exec(out);
        if (!m) throw new Error(`${tool} printed no timing:\n${out.slice(-1500)}`);
        const text = stdout.replace(/\n*llama_completion:.*$/s, "");
        return { tokens: Number(m[2]), tokensPerSecond: (Number(m[2]) * 1000) / Number(m[1]), text };
      }
      const extra =
        mode.kind === "lookup"
          ? ["--spec-draft-n-max", "8"]
          : mode.kind === "ngram-mod"
            ? ["--spec-type", "ngram-mod"]
            : ["-md", mode.draft, "--spec-type", "draft-simple", "--spec-draft-n-max", String(mode.draftMax)];
      const { stdout, stderr } = await run(bin, [...common, ...extra]);
      const out = stdout + stderr;
      const m = /decoded\s+(\d+) tokens in\s+([\d.]+) seconds/.exec(out);
      if (!m) throw new Error(`${tool} printed no timing:\n${out.slice(-1500)}`);
      const acc = /accept\s+=\s+([\d.]+)%/.exec(out);
      return { tokens: Number(m[1]), tokensPerSecond: Number(m[1]) / Number(m[2]), acceptance: acc ? Number(acc[1]) / 100 : undefined };
    },
  };
}

/**
 * node-llama-cpp, installed in `dir` (a folder whose node_modules holds it), in a child process
 * that keeps the models loaded and takes one prompt a line: plain, with its
 * DraftSequenceTokenPredictor (draft), or with its InputLookupTokenPredictor (lookup).
 */
export function nodeLlamaCppSystem(
  name: string,
  dir: string,
  mode: { kind: "plain" } | { kind: "lookup" } | { kind: "draft"; draft: string; draftMax: number },
  modelPath: string,
  settings: RunSettings,
  ids?: Set<string>,
): BenchSystem {
  if (!fs.existsSync(path.join(dir, "node_modules/node-llama-cpp"))) throw new BenchInputError(`--node-llama-cpp: no node_modules/node-llama-cpp in ${dir}`);
  const runner = path.join(path.dirname(fileURLToPath(import.meta.url)), "node-llama-cpp-runner.js");
  const job = { dir: path.resolve(dir), model: modelPath, mode, ...settings };
  let child: ChildProcessWithoutNullStreams | undefined;
  let lines: AsyncIterator<string> | undefined;
  let stderr = "";
  return {
    name,
    tool: "node-llama-cpp",
    plain: mode.kind === "plain",
    ids,
    async run(p) {
      if (!child) {
        child = spawn(process.execPath, [runner, JSON.stringify(job)], { stdio: ["pipe", "pipe", "pipe"] });
        child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
        lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
      }
      child.stdin.write(JSON.stringify(p) + "\n");
      const line = await lines!.next();
      if (line.done) throw new Error(`node-llama-cpp (${name}) exited:\n${stderr}`);
      const r = JSON.parse(line.value);
      if (r.error) throw new Error(`node-llama-cpp (${name}): ${r.error}`);
      return r as PromptResult;
    },
    async close() {
      if (!child) return;
      const exited = new Promise((resolve) => child!.once("exit", resolve));
      child.stdin.end();
      await exited;
    },
  };
}
