// Datastores and the retrieval drafter: the suffix array is sorted (read back from the file),
// build / reuse / rebuild, damaged and stale files, bad corpora, and generation: token-identical
// to plain greedy alone and with the other drafters in one tree; a corpus that holds the answer
// is accepted almost whole; beside lookup, guesses seldom kept are cut.
import fs from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { buildDatastore, loadModel, openDatastore, setNumerics, type DatastoreProgress, type Model } from "../lib/index.js";
import { repoRoot, tempDir, tinyModel } from "./helpers/env.js";
import { benchPrompts, MAIN, sharedModels } from "./helpers/shared.js";
import { expectCode } from "./helpers/expect.js";
import { plainGreedy } from "./helpers/plain.js";

const HEADER_BYTES = 48;

/** The tokens and suffix array of a datastore file, read as its format says. */
function readStore(file: string): { tokens: Int32Array; sa: Uint32Array } {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(32));
  const tokens = new Int32Array(buf.buffer.slice(buf.byteOffset + HEADER_BYTES, buf.byteOffset + HEADER_BYTES + 4 * n));
  const sa = new Uint32Array(buf.buffer.slice(buf.byteOffset + HEADER_BYTES + 4 * n, buf.byteOffset + HEADER_BYTES + 8 * n));
  return { tokens, sa };
}

function compareSuffixes(t: Int32Array, a: number, b: number): number {
  while (a < t.length && b < t.length) {
    if (t[a] !== t[b]) return t[a] - t[b];
    a++;
    b++;
  }
  return a === t.length ? (b === t.length ? 0 : -1) : 1;
}

describe("datastores", () => {
  let model: Model;
  let dir: string;
  beforeAll(async () => {
    model = await loadModel(MAIN, { vocabOnly: true });
    dir = tempDir();
  });
  afterAll(() => model.dispose());

  it("the suffix array is a sorted permutation, on repetitive and varied text", async () => {
    const texts = [
      "ab".repeat(300),
      "def f(x):\n    return x\n".repeat(40),
      Array.from({ length: 400 }, (_, i) => `word${(i * 7919) % 97}`).join(" "),
      "a",
      "",
    ];
    const store = await buildDatastore(model, { texts, path: path.join(dir, "sa.specdec") });
    const { tokens, sa } = readStore(store.path);
    expect(tokens.length).toBe(store.tokens);
    expect(store.documents).toBe(texts.length);
    expect(tokens.filter((t) => t === model.vocabSize).length).toBe(texts.length); // one separator per document
    expect(new Set(sa).size).toBe(sa.length);
    expect(Math.max(...sa)).toBe(sa.length - 1);
    for (let i = 1; i < sa.length; i++) expect(compareSuffixes(tokens, sa[i - 1], sa[i])).toBeLessThan(0);
  });

  it("is reused while the corpus and tokenizer are the same, built again when a file changes or when asked", async () => {
    const corpus = path.join(dir, "corpus");
    fs.mkdirSync(path.join(corpus, "sub"), { recursive: true });
    fs.writeFileSync(path.join(corpus, "a.py"), "import os\nprint(os.getcwd())\n");
    fs.writeFileSync(path.join(corpus, "sub", "b.py"), "def g():\n    pass\n");
    const file = path.join(dir, "reuse.specdec");
    const progress: DatastoreProgress[] = [];
    const first = await buildDatastore(model, { files: [corpus], path: file }, { onProgress: (p) => progress.push(p) });
    expect(first.rebuilt).toBe(true);
    expect(first.documents).toBe(2);
    expect(progress.map((p) => p.phase)).toEqual(["list", "tokenize", "tokenize", "index"]);
    expect(progress[2].bytesDone).toBe(progress[2].bytes);
    expect((await buildDatastore(model, { files: [corpus], path: file })).rebuilt).toBe(false);
    expect((await buildDatastore(model, { files: [corpus], path: file }, { rebuild: true })).rebuilt).toBe(true);
    fs.writeFileSync(path.join(corpus, "sub", "b.py"), "def g():\n    return 2\n");
    expect((await buildDatastore(model, { files: [corpus], path: file })).rebuilt).toBe(true);
    // Another tokenizer: built again, and a session of the other model refuses the old file.
    const other = await loadModel(tinyModel({ seed: 31, pieces: ["x", "y", "z"] }));
    const reopened = await openDatastore(file);
    await expectCode(other.createSession({ contextSize: 64, drafters: [{ type: "retrieval", store: reopened }] }), "VOCAB_MISMATCH");
    const theirs = await buildDatastore(other, { files: [corpus], path: file });
    expect(theirs.rebuilt).toBe(true);
    other.dispose();
  });

  it("walks a folder as git would: .gitignore rules, no .git, node_modules or binary files, and says what it left out", async () => {
    const repo = path.join(dir, "repo");
    const write = (rel: string, data: string | Buffer) => {
      fs.mkdirSync(path.dirname(path.join(repo, rel)), { recursive: true });
      fs.writeFileSync(path.join(repo, rel), data);
    };
    write(".gitignore", "build/\n*.log\n!keep.log\n");
    write("src/main.py", "def main():\n    pass\n");
    write("src/.gitignore", "generated_*.py\n");
    write("src/generated_parser.py", "x = 1\n");
    write("src/keep.log", "kept by a negation\n");
    write("debug.log", "noise\n");
    write("build/out.py", "y = 2\n");
    write(".git/HEAD", "ref: refs/heads/main\n");
    write("node_modules/pkg/index.js", "module.exports = 1;\n");
    write("assets/logo.png", Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 13]));
    const progress: DatastoreProgress[] = [];
    const store = await buildDatastore(model, { files: [repo], path: path.join(dir, "repo.specdec") }, { onProgress: (p) => progress.push(p) });
    // .gitignore files are text of the corpus too, as git keeps them
    expect(store.documents).toBe(4);  // .gitignore, src/.gitignore, src/keep.log, src/main.py
    const skipped = Object.fromEntries(progress[0].skipped.map((x) => [path.relative(repo, x.path).split(path.sep).join("/"), x.reason]));
    expect(skipped).toEqual({
      ".git": "folder",
      "node_modules": "folder",
      "assets/logo.png": "binary",
      "build": "gitignore",
      "debug.log": "gitignore",
      "src/generated_parser.py": "gitignore",
    });
    // a file named on its own is taken as it is
    expect((await buildDatastore(model, { files: [path.join(repo, "debug.log")], path: path.join(dir, "one.specdec") })).documents).toBe(1);
  });

  it("never reads a file over the size limit, never writes over its own input, leaves itself out of its folder", async () => {
    const corpus = path.join(dir, "own");
    fs.mkdirSync(corpus, { recursive: true });
    const source = path.join(corpus, "a.py");
    fs.writeFileSync(source, "def f():\n    return 1\n");
    await expectCode(buildDatastore(model, { files: [source], path: source }), "INVALID_ARGUMENT", /both a file of the corpus and the datastore/);
    expect(fs.readFileSync(source, "utf8")).toBe("def f():\n    return 1\n");
    // the store written into the folder it indexes: built again later, it is not its own input
    const inside = path.join(corpus, "index.specdec");
    expect((await buildDatastore(model, { files: [corpus], path: inside })).documents).toBe(1);
    expect((await buildDatastore(model, { files: [corpus], path: inside }, { rebuild: true })).documents).toBe(1);
    fs.writeFileSync(path.join(corpus, "big.txt"), Buffer.alloc(5000, 97));
    await expectCode(buildDatastore(model, { files: [corpus], path: inside }, { maxFileBytes: 4096 }), "INVALID_ARGUMENT", /big\.txt has 5000 bytes/);
    await expectCode(buildDatastore(model, { files: [corpus], path: inside }, { maxFileBytes: 0 }), "INVALID_ARGUMENT");
    expect((await buildDatastore(model, { files: [corpus], path: inside }, { maxFileBytes: 5000 })).documents).toBe(2);
  });

  it("a datastore truncated or overwritten while a session drafts from it: the session goes on with what it read", async () => {
    const main = await loadModel(MAIN);
    const texts = benchPrompts().map((p) => p.prompt);
    const file = path.join(dir, "changing.specdec");
    const store = await buildDatastore(main, { texts, path: file });
    const session = await main.createSession({ contextSize: 512, threads: 2, drafters: [{ type: "retrieval", store }] });
    try {
      const prompt = texts[0].slice(0, 300);
      const first = await session.complete(prompt, { maxTokens: 48, temperature: 0 });
      expect(first.stats.drafted).toBeGreaterThan(0);
      const run = session.complete(prompt, { maxTokens: 48, temperature: 0 });
      fs.truncateSync(file, 100);
      expect((await run).text).toBe(first.text);
      fs.writeFileSync(file, Buffer.alloc(100_000, 7)); // overwritten in place
      expect((await session.complete(prompt, { maxTokens: 48, temperature: 0 })).text).toBe(first.text);
      // a new session reads the file as it is now
      await expectCode(main.createSession({ contextSize: 64, drafters: [{ type: "retrieval", store }] }), "INVALID_DATASTORE");
    } finally {
      session.dispose();
      main.dispose();
    }
  });

  it("bad corpora and damaged files are typed errors", async () => {
    const file = path.join(dir, "bad.specdec");
    await expectCode(buildDatastore(model, { path: file }), "INVALID_ARGUMENT");
    await expectCode(buildDatastore(model, { texts: ["", ""], path: file }), "INVALID_ARGUMENT", /empty/);
    await expectCode(buildDatastore(model, { files: [path.join(dir, "missing.txt")], path: file }), "IO_ERROR");
    await expectCode(buildDatastore(model, { texts: ["x"], path: path.join(dir, "no-such-folder", "x.specdec") }), "IO_ERROR");
    await expectCode(buildDatastore(model, { texts: "x" as never, path: file }), "INVALID_ARGUMENT");
    await expectCode(buildDatastore(model, { texts: ["x"], path: file }, { onProgress: 3 as never }), "INVALID_ARGUMENT");

    const good = await buildDatastore(model, { texts: ["some text to index, some text"], path: path.join(dir, "good.specdec") });
    const bytes = fs.readFileSync(good.path);
    const damaged = (name: string, edit: (b: Buffer) => Buffer) => {
      const f = path.join(dir, name);
      fs.writeFileSync(f, edit(Buffer.from(bytes)));
      return f;
    };
    await expectCode(openDatastore(damaged("magic.specdec", (b) => (b.write("NOTASTOR", 0), b))), "INVALID_DATASTORE", /not a specdec datastore/);
    await expectCode(openDatastore(damaged("version.specdec", (b) => (b.writeUInt32LE(99, 8), b))), "INVALID_DATASTORE", /version 99/);
    await expectCode(openDatastore(damaged("short.specdec", (b) => b.subarray(0, b.length - 4))), "INVALID_DATASTORE", /size/);
    await expectCode(openDatastore(damaged("tiny.specdec", (b) => b.subarray(0, 10))), "INVALID_DATASTORE");
    await expectCode(openDatastore(path.join(dir, "missing.specdec")), "IO_ERROR");
    // Right size and header, out-of-range contents: refused when a session maps it.
    const main = await loadModel(MAIN);
    const token = damaged("token.specdec", (b) => (b.writeInt32LE(1 << 30, HEADER_BYTES), b));
    await expectCode(main.createSession({ contextSize: 64, drafters: [{ type: "retrieval", store: await openDatastore(token) }] }), "INVALID_DATASTORE", /token id/);
    const entry = damaged("entry.specdec", (b) => (b.writeUInt32LE(1 << 30, b.length - 4), b));
    await expectCode(main.createSession({ contextSize: 64, drafters: [{ type: "retrieval", store: await openDatastore(entry) }] }), "INVALID_DATASTORE", /suffix/);
    // Deleted after it was opened.
    const gone = await openDatastore(damaged("gone.specdec", (b) => b));
    fs.rmSync(gone.path);
    await expectCode(main.createSession({ contextSize: 64, drafters: [{ type: "retrieval", store: gone }] }), "IO_ERROR");
    await expectCode(main.createSession({ contextSize: 64, drafters: [{ type: "retrieval", store: good.path as never }] }), "INVALID_ARGUMENT");
    const session = await main.createSession({ contextSize: 64, drafters: [{ type: "retrieval", store: good }] });
    expect((await session.complete("some text", { maxTokens: 4, temperature: 0 })).tokens.length).toBe(4);
    session.dispose();
    main.dispose();
  });
});

describe("greedy decoding with the retrieval drafter on the shared models", () => {
  let main: Model;
  const prompts = benchPrompts();
  const expected: number[][] = [];
  let dir: string;
  beforeAll(async () => {
    setNumerics("exact");
    main = await loadModel(MAIN);
    dir = tempDir();
    const plain = await plainGreedy(main, prompts.map((p) => ({ prompt: p.prompt, maxTokens: p.n_predict })));
    expected.push(...plain.map((r) => r.tokens));
  });
  afterAll(() => main.dispose());

  it("a corpus that holds the answers: token-identical, and nearly every draft kept", async () => {
    const texts = await Promise.all(prompts.slice(0, 4).map(async (p, i) => p.prompt + (await main.detokenize(expected[i]))));
    const store = await buildDatastore(main, { texts, path: path.join(dir, "answers.specdec") });
    const session = await main.createSession({ contextSize: 2048, threads: 2, drafters: [{ type: "retrieval", store, maxTokens: 8, adaptive: false }] });
    for (const [i, p] of prompts.slice(0, 4).entries()) {
      const r = await session.complete(p.prompt, { maxTokens: p.n_predict, temperature: 0 });
      expect(r.tokens, p.id).toEqual(expected[i]);
    }
    const t = session.totals;
    console.log(`retrieval, answers in the corpus: ${t.accepted}/${t.drafted} kept, ${t.tokensPerStep.toFixed(2)} tokens per step`);
    expect(t.acceptanceRate).toBeGreaterThan(0.9);
    expect(t.tokensPerStep).toBeGreaterThan(5);
    session.dispose();
  });

  it("a corpus of other code, with the draft model and lookup in one tree: token-identical on every prompt", async () => {
    // The prompts themselves (not their continuations) and this project's sources.
    const store = await buildDatastore(main, { texts: prompts.map((p) => p.prompt), files: [path.join(sharedModels, "../bench")], path: path.join(dir, "other.specdec") });
    const draft = await loadModel(path.join(sharedModels, "draft-q8_0.gguf"));
    for (const options of [
      { drafters: [{ type: "retrieval" as const, store }] },
      // adaptive off: the draft model drafts wherever lookup and retrieval fall short (adaptive, it
      // seldom pays for its prompt evaluation beside them on these short generations)
      { draft: { model: draft, adaptive: false }, drafters: [{ type: "lookup" as const }, { type: "retrieval" as const, store, candidates: 2 }] },
    ]) {
      const session = await main.createSession({ contextSize: 2048, threads: 2, ...options });
      for (const [i, p] of prompts.entries()) {
        const r = await session.complete(p.prompt, { maxTokens: p.n_predict, temperature: 0 });
        expect(r.tokens, p.id).toEqual(expected[i]);
      }
      console.log(`retrieval ${options.draft ? "+ draft + lookup" : "alone"}: ${JSON.stringify(session.totals.drafters)}, ${session.totals.tokensPerStep.toFixed(2)} tokens per step`);
      for (const name of options.draft ? ["retrieval", "draftModel", "lookup"] : ["retrieval"]) {
        expect(session.totals.drafters.find((d) => d.name === name)!.proposed, name).toBeGreaterThan(0);
      }
      session.dispose();
    }
    draft.dispose();
  });

  it("beside lookup, its guesses are cut where they are seldom kept (adaptive), the text unchanged", async () => {
    // Python code of another project: seldom right past its first token. Lookup drafts a fixed 8
    // every round, so that the two sessions differ only in retrieval's cuts.
    const store = await buildDatastore(main, { files: [path.join(repoRoot, "deps/llama.cpp/gguf-py")], path: path.join(dir, "gguf-py.specdec") });
    const retrieval = [];
    for (const adaptive of [true, false]) {
      const session = await main.createSession({
        contextSize: 2048,
        threads: 2,
        drafters: [{ type: "lookup", adaptive: false }, { type: "retrieval", store, adaptive }],
      });
      for (const [i, p] of prompts.entries()) {
        if (p.kind !== "complete") continue;
        const r = await session.complete(p.prompt, { maxTokens: p.n_predict, temperature: 0 });
        expect(r.tokens, p.id).toEqual(expected[i]);
      }
      retrieval.push(session.totals.drafters.find((d) => d.name === "retrieval")!);
      session.dispose();
    }
    const [cut, whole] = retrieval;
    console.log(`retrieval beside lookup: adaptive ${JSON.stringify(cut)}, fixed ${JSON.stringify(whole)}`);
    expect(cut.proposed).toBeLessThan(0.25 * whole.proposed);
    expect(cut.accepted).toBeGreaterThanOrEqual(0.8 * whole.accepted);
  });
});
