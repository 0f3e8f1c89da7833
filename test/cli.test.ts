// The command line, run as a user would: a child process of `specdec generate`.
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import net from "node:net";
import fs from "node:fs";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { repoRoot, tempDir } from "./helpers/env.js";
import { MAIN, benchPrompts } from "./helpers/shared.js";

const cli = path.join(repoRoot, "dist/cli.js");

function run(...args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", timeout: 60_000 });
}

describe("specdec CLI", () => {
  it("generate streams the completion and prints the speed", () => {
    const r = run("generate", "-m", MAIN, "-p", "def fib(n):", "-n", "24", "--temp", "0", "-t", "2");
    expect(r.status).toBe(0);
    expect(r.stdout.startsWith("def fib(n):")).toBe(true);
    expect(r.stdout.length).toBeGreaterThan("def fib(n):".length + 10);
    expect(r.stderr).toMatch(/generated: 24 tokens, [\d.]+ t\/s/);
  });

  it("generate with a draft model prints the drafting figures", () => {
    const draft = path.join(path.dirname(MAIN), "draft-q8_0.gguf");
    const r = run("generate", "-m", MAIN, "-d", draft, "--draft-max", "4", "-p", "def fib(n):", "-n", "24", "--temp", "0", "-t", "2");
    expect(r.status).toBe(0);
    const plain = run("generate", "-m", MAIN, "-p", "def fib(n):", "-n", "24", "--temp", "0", "-t", "2", "--no-lookup");
    expect(plain.stderr).not.toMatch(/draft:/);
    expect(r.stdout).toBe(plain.stdout);
    expect(r.stderr).toMatch(/draft: \d+\/\d+ accepted .*draftModel \d+\/\d+, lookup \d+\/\d+/);
  });

  it("datastore build: a store from a folder, then up to date, then usable for drafting", () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, "src"));
    for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(dir, "src", `m${i}.py`), `def f${i}(x):\n    return x * ${i}\n`.repeat(20));
    const store = path.join(dir, "store.specdec");
    const built = run("datastore", "build", path.join(dir, "src"), "-m", MAIN, "-o", store);
    expect(built.status).toBe(0);
    expect(built.stdout).toMatch(/^built .*store\.specdec: 5 documents, \d+ tokens/);
    expect(built.stderr).toMatch(/tokenizing: 5\/5 files|indexing/);
    const again = run("datastore", "build", path.join(dir, "src"), "-m", MAIN, "-o", store);
    expect(again.stdout).toMatch(/^up to date:/);
    const r = run("generate", "-m", MAIN, "--retrieval", store, "-p", "def f3(x):\n", "-n", "16", "--temp", "0", "-t", "2");
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/retrieval \d+\/\d+/);
    expect(run("datastore", "build", "-m", MAIN).status).toBe(2);
  });

  it("generate with every drafter flag", () => {
    const draft = path.join(path.dirname(MAIN), "draft-q8_0.gguf");
    const r = run("generate", "-m", MAIN, "-d", draft, "--lookahead", "-p", "def fib(n):", "-n", "24", "--temp", "0", "-t", "2");
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/draftModel \d+\/\d+, lookup \d+\/\d+, lookahead \d+\/\d+/);
    const tuned = run("generate", "-m", MAIN, "--lookup-ngram", "1:3", "--lookup-max", "4", "--fixed-draft", "-p", "def fib(n):", "-n", "24", "--temp", "0", "-t", "2");
    expect(tuned.status).toBe(0);
    expect(tuned.stdout).toBe(run("generate", "-m", MAIN, "--no-lookup", "-p", "def fib(n):", "-n", "24", "--temp", "0", "-t", "2").stdout);
    expect(run("generate", "-m", MAIN, "--lookup-ngram", "1:2:3", "-p", "x").stderr).toMatch(/--lookup-ngram must be <min> or <min>:<max>/);
    expect(run("generate", "-m", MAIN, "--lookup-max", "99", "-p", "x").stderr).toMatch(/INVALID_ARGUMENT/);
  });

  it("bench: every system in turns, a report with charts, llama.cpp's timings read from its output", () => {
    const dir = tempDir();
    const all = benchPrompts();
    const prompts = path.join(dir, "prompts.jsonl");
    const chosen = [all.find((p) => p.kind === "complete")!, all.find((p) => p.kind === "grounded")!];
    fs.writeFileSync(prompts, chosen.map((p) => JSON.stringify({ ...p, n_predict: 24 })).join("\n") + "\n");
    // Stand-ins for llama.cpp's tools that print its timing lines: plain 50 tokens in 100 ms, lookup
    // 100 tokens in 0.1 s, so lookup is exactly 2x; speculative-simple 1.5x with ngram-mod, 0.5x
    // with a draft model.
    const tools = path.join(dir, "llama-bin");
    fs.mkdirSync(tools);
    const tool = (name: string, out: string, ngramOut = out) =>
      fs.writeFileSync(path.join(tools, name), `#!/bin/sh\ncase "$*" in *ngram-mod*) echo '${ngramOut}' >&2;; *) echo '${out}' >&2;; esac\n`, { mode: 0o755 });
    tool("llama-completion", "llama_perf_context_print: prompt eval time = 10.00 ms / 100 tokens\nllama_perf_context_print:        eval time =     100.00 ms /    50 runs");
    tool("llama-lookup", "decoded  100 tokens in 0.100 seconds, speed: 1000 t/s\naccept    = 75.000%");
    tool("llama-speculative-simple", "decoded   25 tokens in 0.100 seconds\naccept    = 50.000%", "decoded   75 tokens in 0.100 seconds\naccept    = 60.000%");
    const draft = path.join(path.dirname(MAIN), "draft-q8_0.gguf");
    const out = path.join(dir, "report");
    const r = spawnSync(process.execPath, [cli, "bench", "-m", MAIN, "-d", draft, "--prompts", prompts, "--rounds", "2", "--llama-cpp", tools, "-o", out], { encoding: "utf8", timeout: 110_000 });
    expect(r.stderr).toMatch(/\[32\/32\] done/);
    expect(r.status).toBe(0);
    const md = fs.readFileSync(path.join(out, "report.md"), "utf8");
    for (const name of ["specdec plain", "specdec + lookup", "specdec + draft", "specdec + draft + lookup", "llama.cpp plain", "llama.cpp lookup", "llama.cpp ngram-mod", "llama.cpp + draft"]) {
      expect(md).toContain(`| ${name} |`);
    }
    expect(md).toContain("| llama.cpp lookup | complete | **2.00x** | 2.00, 2.00 | 2.00 |");
    expect(md).toContain("| llama.cpp + draft | grounded | **0.50x** |");
    expect(md).toContain("| llama.cpp ngram-mod | complete | **1.50x** |");
    expect(md).toMatch(/\| llama\.cpp plain \| 500\.0 \| 500\.0 \| - \|/);
    // (24 tokens are too few for the draft model to catch up with the prompt: it may sit out.)
    expect(md).toMatch(/\| specdec \+ draft \+ lookup \| draftModel \| \d+ \| \d+ \| (\d+%|-) \|/);
    expect(md).toMatch(/\| specdec \+ draft \+ lookup \| lookup \| \d+ \| \d+ \| \d+% \|/);
    // Greedy speculation gives plain decoding's text.
    for (const name of ["specdec + lookup", "specdec + draft", "specdec + draft + lookup"]) expect(md).toContain(`- ${name}: 2/2 identical`);
    for (const chart of ["speedup.svg", "tokens-per-second.svg", "acceptance.svg"]) {
      expect(fs.readFileSync(path.join(out, chart), "utf8")).toMatch(/^<svg[^]*<\/svg>\n$/);
    }
    // Bad inputs: said, exit 2, no stack trace.
    const missing = run("bench", "-m", MAIN, "--prompts", path.join(dir, "none.jsonl"), "-o", out);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/cannot read the prompts file/);
    const noTools = run("bench", "-m", MAIN, "--prompts", prompts, "--llama-cpp", dir, "-o", out);
    expect(noTools.status).toBe(2);
    expect(noTools.stderr).toMatch(/--llama-cpp: no llama-completion in/);
  });

  it("usage errors exit with 2 and point to the command's help; flags are checked before a model loads", () => {
    const r = run("generate", "-p", "x");
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("specdec: --model is required\nspecdec generate --help lists its options.\n");
    expect(run("frobnicate").status).toBe(2);
    // a model that does not exist: the flag's error comes first, in the flag's own name
    const missing = "/nonexistent/model.gguf";
    expect(run("generate", "-m", missing, "-p", "x", "-n", "lots").stderr).toMatch(/--max-tokens must be a number/);
    expect(run("generate", "-m", missing, "-p", "x", "--temp=-1").stderr).toMatch(/^specdec: --temp must be a number from 0 to 100, got -1/);
    expect(run("chat", "-m", missing, "--top-k", "x").status).toBe(2);
    expect(run("serve", "-m", missing, "-c", "5").stderr).toMatch(/--ctx must be a whole number from 16/);
    expect(run("generate", "-m", missing, "-p", "x", "--numerics", "quick").stderr).toMatch(/--numerics must be exact or fast/);
  });

  it("--version, and each command's own help", () => {
    expect(run("--version").stdout).toMatch(/^specdec \d+\.\d+\.\d+\n$/);
    const top = run("--help").stdout;
    expect(top).toMatch(/specdec <command> --help/);
    expect(top.split("\n").length).toBeLessThan(15);
    const chat = run("chat", "--help").stdout;
    expect(chat).toMatch(/^usage: specdec chat /);
    expect(chat).toMatch(/--system|oldest turns are dropped/);
    expect(chat).not.toMatch(/rpc-server:/);
    const rpc = run("rpc-server", "--help").stdout;
    expect(rpc).toMatch(/^usage: specdec rpc-server/);
    expect(rpc).not.toMatch(/--draft-max/);
  });

  it("generate reads the prompt from a file or standard input", () => {
    const file = path.join(tempDir(), "prompt.txt");
    fs.writeFileSync(file, "def fibonacci(n):");
    const fromFile = run("generate", "-m", MAIN, "-f", file, "-n", "8", "--temp", "0");
    expect(fromFile.status).toBe(0);
    expect(fromFile.stdout.startsWith("def fibonacci(n):")).toBe(true);
    const fromStdin = spawnSync(process.execPath, [cli, "generate", "-m", MAIN, "-n", "8", "--temp", "0"], { input: "def fibonacci(n):", encoding: "utf8" });
    expect(fromStdin.status).toBe(0);
    expect(fromStdin.stdout).toBe(fromFile.stdout);
    expect(run("generate", "-m", MAIN, "-f", "/nonexistent/prompt.txt").stderr).toMatch(/cannot read the prompt from \/nonexistent\/prompt.txt/);
  });

  it("serve: a port out of range or in use is one clear line, not a stack trace", async () => {
    const range = run("serve", "-m", MAIN, "--port", "99999");
    expect(range.status).toBe(2);
    expect(range.stderr).toMatch(/--port takes a port number from 0 to 65535, not 99999/);
    const blocker = net.createServer().listen(0, "127.0.0.1");
    await once(blocker, "listening");
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const busy = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [cli, "serve", "-m", MAIN, "--port", String(port), "-c", "256"], { stdio: ["ignore", "pipe", "pipe"] });
        let stderr = "";
        child.stderr.on("data", (d) => (stderr += d));
        child.on("close", (status) => resolve({ status, stderr }));
      });
      expect(busy.status).toBe(1);
      expect(busy.stderr.trim()).toBe(`specdec: port ${port} is in use on 127.0.0.1 (another server?); choose another with --port`);
    } finally {
      blocker.close();
    }
  });

  it("a missing model is a clear error, not a crash", () => {
    const r = run("generate", "-m", "/nonexistent/model.gguf", "-p", "x");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/MODEL_NOT_FOUND/);
  });
});
