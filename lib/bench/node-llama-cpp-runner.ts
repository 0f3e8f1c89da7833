// Child process of `specdec bench` running node-llama-cpp (the user's install, found from the
// folder the job names): loads the model once, then completes one prompt per stdin line and writes
// one JSON line per prompt. Tokens/s from the first generated token to the last.
import { createRequire } from "node:module";
import path from "node:path";
import readline from "node:readline";
import { pathToFileURL } from "node:url";

interface Job {
  dir: string;
  model: string;
  mode: { kind: "plain" | "lookup" | "draft"; draft?: string; draftMax?: number };
  threads: number;
  contextSize: number;
  temperature: number;
  seed: number;
}

// With a token predictor, disposing a sequence can race with the predictor's evaluation still
// under way, which then rejects with DisposedError from inside node-llama-cpp after the prompt's
// result is out: not the benchmark's failure.
const ignoreDisposed = (err: unknown) => {
  if ((err as object)?.constructor?.name === "DisposedError") return;
  console.error(err);
  process.exit(1);
};
process.on("uncaughtException", ignoreDisposed);
process.on("unhandledRejection", ignoreDisposed);

const job = JSON.parse(process.argv[2]) as Job;
const require = createRequire(path.join(job.dir, "package.json"));
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const nlc: any = await import(pathToFileURL(require.resolve("node-llama-cpp")).href);
const llama = await nlc.getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath: job.model });
const context = await model.createContext({ contextSize: job.contextSize, threads: job.threads });
const draftModel = job.mode.kind === "draft" ? await llama.loadModel({ modelPath: job.mode.draft }) : undefined;
const draftContext = draftModel ? await draftModel.createContext({ contextSize: job.contextSize, threads: job.threads }) : undefined;

for await (const line of readline.createInterface({ input: process.stdin })) {
  const p = JSON.parse(line) as { prompt: string; maxTokens: number };
  try {
    const draftSequence = draftContext?.getSequence();
    const tokenPredictor = draftSequence
      ? new nlc.DraftSequenceTokenPredictor(draftSequence, { maxTokens: job.mode.draftMax })
      : job.mode.kind === "lookup"
        ? new nlc.InputLookupTokenPredictor()
        : undefined;
    const sequence = context.getSequence(tokenPredictor ? { tokenPredictor } : undefined);
    const completion = new nlc.LlamaCompletion({ contextSequence: sequence });
    let first = 0;
    let last = 0;
    let n = 0;
    const text: string = await completion.generateCompletion(p.prompt, {
      maxTokens: p.maxTokens,
      temperature: job.temperature,
      seed: job.seed,
      onToken(tokens: unknown[]) {
        const now = performance.now();
        if (n === 0) first = now;
        last = now;
        n += tokens.length;
      },
    });
    sequence.dispose();
    draftSequence?.dispose();
    // The first token's time is the prompt's: count the n - 1 after it.
    console.log(JSON.stringify({ tokens: n, tokensPerSecond: n > 1 ? ((n - 1) * 1000) / (last - first) : 0, text }));
  } catch (err) {
    console.log(JSON.stringify({ error: String((err as Error)?.message ?? err) }));
  }
}
await draftContext?.dispose();
await draftModel?.dispose();
await context.dispose();
await model.dispose();
