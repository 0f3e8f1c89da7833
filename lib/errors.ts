/** Every failure specdec reports is a SpecdecError with one of these codes. */
export type SpecdecErrorCode =
  /** A function got an argument of the wrong type or out of range. */
  | "INVALID_ARGUMENT"
  /** The model file does not exist or cannot be opened. */
  | "MODEL_NOT_FOUND"
  /** The file is not a GGUF model llama.cpp can load (empty, truncated, corrupt, a directory...). */
  | "INVALID_MODEL"
  /** The prompt, or prompt plus maxTokens, does not fit in the session's context. */
  | "CONTEXT_OVERFLOW"
  /** The model or session was disposed. */
  | "DISPOSED"
  /** The generation was aborted through its AbortSignal. */
  | "ABORTED"
  /** The session is already running a generation. */
  | "BUSY"
  /** llama.cpp could not create a context (usually out of memory). */
  | "CONTEXT_FAILED"
  /** A draft model's vocabulary differs from the main model's. */
  | "VOCAB_MISMATCH"
  /** llama.cpp failed to evaluate a batch. */
  | "DECODE_FAILED"
  /** The model has no chat template and none was given, or llama.cpp does not support it. */
  | "NO_CHAT_TEMPLATE"
  /** The native addon could not be loaded. */
  | "NATIVE_LOAD_FAILED"
  /** A file could not be read or written (a corpus file, a datastore). */
  | "IO_ERROR"
  /** The file is not a specdec datastore, is damaged, or is of another format version. */
  | "INVALID_DATASTORE"
  /** An RPC worker cannot be reached, or its connection broke (the model must be loaded again). */
  | "RPC_UNAVAILABLE"
  /** A bug in specdec: please report it. */
  | "INTERNAL";

/** The error class of everything specdec throws or rejects with. */
export class SpecdecError extends Error {
  /** A stable machine-readable code. */
  readonly code: SpecdecErrorCode;

  constructor(code: SpecdecErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SpecdecError";
    this.code = code;
  }
}

const KNOWN_CODES = new Set<string>([
  "IO_ERROR",
  "INVALID_DATASTORE",
  "INVALID_ARGUMENT",
  "MODEL_NOT_FOUND",
  "INVALID_MODEL",
  "CONTEXT_OVERFLOW",
  "DISPOSED",
  "ABORTED",
  "BUSY",
  "CONTEXT_FAILED",
  "DECODE_FAILED",
  "VOCAB_MISMATCH",
  "NO_CHAT_TEMPLATE",
  "NATIVE_LOAD_FAILED",
  "RPC_UNAVAILABLE",
  "INTERNAL",
]);

/** Turns an error thrown by the native layer (an Error with a `code`) into a SpecdecError. */
export function fromNative(err: unknown): SpecdecError {
  if (err instanceof SpecdecError) return err;
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === "string" && KNOWN_CODES.has(e.code) ? (e.code as SpecdecErrorCode) : "INTERNAL";
  const message = typeof e?.message === "string" ? e.message : String(err);
  return new SpecdecError(code, message, { cause: err });
}

/** Runs fn and rethrows any failure as a SpecdecError. */
export async function wrapNative<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw fromNative(err);
  }
}

/** The synchronous twin of wrapNative. */
export function wrapNativeSync<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromNative(err);
  }
}
