// Datastores for the retrieval drafter: a corpus tokenized with a model's tokenizer and indexed
// (a suffix array), saved to one file, read (once per process) by the sessions that use it, built again
// only when the corpus or the tokenizer changed.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

import ignore, { type Ignore } from "ignore";

import { SpecdecError, wrapNative } from "./errors.js";
import type { Model } from "./model.js";
import { addon } from "./native.js";
import * as v from "./validate.js";

/** What a datastore is made of. */
export interface DatastoreCorpus {
  /**
   * Files and folders; each file is one document. A folder is read recursively, in name order, as
   * git would take it: the rules of the .gitignore files in it are followed, and .git,
   * node_modules and binary files (a NUL byte in their first 8,000 bytes) are left out, with what
   * was left out reported (progress phase "list"). A file named here is taken as it is.
   */
  files?: string[];
  /** Texts, each one document. */
  texts?: string[];
  /** Where the datastore file goes. */
  path: string;
}

/** A path the walk of a corpus folder left out, and why. */
export interface SkippedPath {
  path: string;
  /** "gitignore": a .gitignore rule; "folder": .git or node_modules; "binary": not text; "special": not a file or folder (a link, a socket...). */
  reason: "gitignore" | "folder" | "binary" | "special";
}

/** Progress of {@link buildDatastore}. */
export interface DatastoreProgress {
  /**
   * "list": the corpus's folders walked (once, before anything else); "tokenize": documents read
   * and tokenized; "index": sorting the suffixes and writing the file.
   */
  phase: "list" | "tokenize" | "index";
  /** What the walk of the folders left out. */
  skipped: SkippedPath[];
  /** Documents tokenized so far, of `documents`. */
  documentsDone: number;
  /** Documents in the corpus (a file or a text each). */
  documents: number;
  /** Bytes of the corpus tokenized so far, of `bytes`. */
  bytesDone: number;
  /** Bytes of the whole corpus. */
  bytes: number;
  /** Tokens so far. */
  tokens: number;
}

/**
 * Options of {@link buildDatastore}.
 * @example
 * await buildDatastore(model, { files: ["docs/"], path: "docs.specdec" }, { onProgress: (p) => console.log(p.phase, p.documentsDone) });
 */
export interface BuildDatastoreOptions {
  /** Called as the build goes on (after each document, and when indexing starts and ends). */
  onProgress?: (progress: DatastoreProgress) => void;
  /** Build even when the file holds a datastore of the same corpus and tokenizer (default false). */
  rebuild?: boolean;
  /**
   * Largest file taken, in bytes (default 64 MiB): a larger one is an INVALID_ARGUMENT error
   * before anything is read (a file is read whole, and its tokens take four bytes each).
   */
  maxFileBytes?: number;
}

/** A datastore file, for `drafters: [{ type: "retrieval", store }]`. */
export class Datastore {
  /** @internal Use {@link buildDatastore} or {@link openDatastore}. */
  constructor(
    /** The file. */
    readonly path: string,
    /** Tokens in the corpus (a separator after each document included). */
    readonly tokens: number,
    /** Documents in the corpus. */
    readonly documents: number,
    /** The tokenizer it was built with (see ModelInfo.vocabFingerprint). */
    readonly vocabFingerprint: string,
    /** What it was built from (files: paths, sizes and modification times; texts: their contents). */
    readonly corpusFingerprint: string,
    /** Whether buildDatastore built it (false: the file was up to date and reused). */
    readonly rebuilt: boolean,
  ) {}
}

/**
 * Opens an existing datastore file (the sessions that use it read it from disk).
 *
 * @throws SpecdecError IO_ERROR, INVALID_DATASTORE
 */
export async function openDatastore(file: string): Promise<Datastore> {
  v.string("path", file);
  const h = await wrapNative(() => addon.readDatastoreHeader(file));
  return new Datastore(file, h.tokens, h.documents, h.vocabFingerprint, h.corpusFingerprint, false);
}

/**
 * Tokenizes a corpus with the model's tokenizer, indexes it and saves it as `corpus.path`; when
 * that file already holds a datastore of the same corpus (the same files, sizes and modification
 * times, the same texts) and tokenizer, it is reused as it is. The work runs off the main thread.
 *
 * @throws SpecdecError INVALID_ARGUMENT (no corpus, or an empty one), IO_ERROR, DISPOSED
 */
export async function buildDatastore(model: Model, corpus: DatastoreCorpus, options: BuildDatastoreOptions = {}): Promise<Datastore> {
  const c = v.optionsObject("corpus", corpus, { files: true, texts: true, path: true });
  const out = v.string("corpus.path", c.path);
  const files = c.files === undefined ? [] : v.stringArray("corpus.files", c.files);
  const texts = c.texts === undefined ? [] : v.stringArray("corpus.texts", c.texts);
  const o = v.optionsObject("options", options, { onProgress: true, rebuild: true, maxFileBytes: true });
  if (o.onProgress !== undefined && typeof o.onProgress !== "function") {
    throw new SpecdecError("INVALID_ARGUMENT", "options.onProgress must be a function");
  }
  const rebuild = o.rebuild === undefined ? false : v.boolean("options.rebuild", o.rebuild);
  const maxFileBytes = o.maxFileBytes === undefined ? 64 << 20 : v.integer("options.maxFileBytes", o.maxFileBytes, 1, Number.MAX_SAFE_INTEGER);
  const output = path.resolve(out);
  const skipped: SkippedPath[] = [];
  const walked = await Promise.all(files.map((f) => listFiles(f, skipped)));
  const listed = files.flatMap((f, i) => {
    const found = walked[i];
    // the store itself, where it lies in a folder of the corpus, is not part of the corpus
    if (found.length === 1 && found[0].file === path.resolve(f)) {  // named as a file
      if (found[0].file === output) throw new SpecdecError("INVALID_ARGUMENT", `${f} is both a file of the corpus and the datastore to write`);
      return found;
    }
    return found.filter((d) => d.file !== output && !d.file.startsWith(`${output}.tmp`));
  });
  const tooLarge = listed.find((d) => d.size > maxFileBytes);
  if (tooLarge) {
    throw new SpecdecError("INVALID_ARGUMENT", `${tooLarge.file} has ${tooLarge.size} bytes, more than options.maxFileBytes (${maxFileBytes})`);
  }
  const documents = [...listed, ...texts.map((text) => ({ text }))];
  const bytes = documents.reduce((n, d) => n + ("file" in d ? d.size : Buffer.byteLength(d.text)), 0);
  const progress: DatastoreProgress = { phase: "list", skipped, documentsDone: 0, documents: documents.length, bytesDone: 0, bytes, tokens: 0 };
  o.onProgress?.({ ...progress });
  if (documents.length === 0) throw new SpecdecError("INVALID_ARGUMENT", "the corpus is empty: give files or texts");

  const vocab = model.info.vocabFingerprint;
  const hash = createHash("sha256");
  for (const d of documents) {
    hash.update("file" in d ? `file\0${d.file}\0${d.size}\0${d.mtimeMs}\0` : `text\0${createHash("sha256").update(d.text).digest("hex")}\0`);
  }
  const fingerprint = hash.digest("hex").slice(0, 16);
  if (!rebuild && fs.existsSync(out)) {
    const existing = await openDatastore(out).catch(() => null);
    if (existing && existing.corpusFingerprint === fingerprint && existing.vocabFingerprint === vocab) return existing;
  }

  const builder = new addon.DatastoreBuilder(model.nativeHandle());
  progress.phase = "tokenize";
  for (const d of documents) {
    progress.tokens = await wrapNative(() => ("file" in d ? builder.addFile(d.file) : builder.addText(d.text)));
    progress.documentsDone++;
    progress.bytesDone += "file" in d ? d.size : Buffer.byteLength(d.text);
    o.onProgress?.({ ...progress });
  }
  o.onProgress?.({ ...progress, phase: "index" });
  await wrapNative(() => builder.write(out, fingerprint));
  const h = await wrapNative(() => addon.readDatastoreHeader(out));
  return new Datastore(out, h.tokens, h.documents, h.vocabFingerprint, h.corpusFingerprint, true);
}

type Listed = { file: string; size: number; mtimeMs: number };

const SKIPPED_FOLDERS = new Set([".git", "node_modules"]);

/**
 * The files of a path: itself, or the files under a folder in name order as git would take them
 * (its .gitignore rules followed, .git, node_modules and binary files left out, into `skipped`).
 */
async function listFiles(entry: string, skipped: SkippedPath[]): Promise<Listed[]> {
  const io = (what: string, err: unknown): never => {
    throw new SpecdecError("IO_ERROR", `cannot read ${what}: ${(err as Error).message}`, { cause: err });
  };
  const st = await fs.promises.stat(entry).catch((err) => io(entry, err));
  if (st.isFile()) return [{ file: path.resolve(entry), size: st.size, mtimeMs: st.mtimeMs }];
  if (!st.isDirectory()) throw new SpecdecError("IO_ERROR", `${entry} is neither a file nor a folder`);
  const root = path.resolve(entry);
  const out: Listed[] = [];
  // rules: each .gitignore seen on the way down, with the folder it lies in
  const walk = async (dir: string, rules: { base: string; ig: Ignore }[]): Promise<void> => {
    const names = await fs.promises.readdir(dir, { withFileTypes: true }).catch((err) => io(`the folder ${dir}`, err));
    const gitignore = names.find((d) => d.name === ".gitignore" && d.isFile());
    if (gitignore) {
      const text = await fs.promises.readFile(path.join(dir, ".gitignore"), "utf8").catch((err) => io(path.join(dir, ".gitignore"), err));
      rules = [...rules, { base: dir, ig: ignore().add(text) }];
    }
    for (const d of names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const full = path.join(dir, d.name);
      if (d.isDirectory() && SKIPPED_FOLDERS.has(d.name)) {
        skipped.push({ path: full, reason: "folder" });
        continue;
      }
      if (!d.isFile() && !d.isDirectory()) {
        skipped.push({ path: full, reason: "special" });
        continue;
      }
      const ignored = rules.some(({ base, ig }) => ig.ignores(path.relative(base, full).split(path.sep).join("/") + (d.isDirectory() ? "/" : "")));
      if (ignored) {
        skipped.push({ path: full, reason: "gitignore" });
        continue;
      }
      if (d.isDirectory()) {
        await walk(full, rules);
        continue;
      }
      const st = await fs.promises.stat(full).catch((err) => io(full, err));
      if (await isBinary(full).catch((err) => io(full, err))) {
        skipped.push({ path: full, reason: "binary" });
        continue;
      }
      out.push({ file: full, size: st.size, mtimeMs: st.mtimeMs });
    }
  };
  await walk(root, []);
  return out;
}

/** Git's test: a NUL byte in the first 8,000 bytes. */
async function isBinary(file: string): Promise<boolean> {
  const handle = await fs.promises.open(file, "r");
  try {
    const buffer = Buffer.alloc(8000);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead).includes(0);
  } finally {
    await handle.close();
  }
}
