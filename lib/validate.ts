// Argument checks for the public API: each throws a SpecdecError (INVALID_ARGUMENT) that names
// the option and what it got, and returns the checked value.
import { SpecdecError } from "./errors.js";

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? v.slice(0, 40) + "..." : v);
  if (typeof v === "number" || typeof v === "boolean" || v === null || v === undefined) return String(v);
  return Array.isArray(v) ? "an array" : `a ${typeof v}`;
}

function invalid(name: string, expected: string, got: unknown): never {
  throw new SpecdecError("INVALID_ARGUMENT", `${name} must be ${expected}, got ${describe(got)}`);
}

/** Every key of an options type, each once: a list the compiler keeps complete and correct. */
export type OptionKeys<T> = { readonly [K in keyof Required<T>]: true };

/**
 * An options object (undefined or null: empty) whose keys are all in `keys` (or undefined): a
 * misspelt option is an error that names the nearest one, not a silent default.
 */
export function optionsObject<T extends object>(name: string, v: T | undefined, keys: OptionKeys<T>): Partial<T> {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) invalid(name, "an object", v);
  for (const [key, value] of Object.entries(v)) {
    if (Object.hasOwn(keys, key) || value === undefined) continue;
    const known = Object.keys(keys);
    const near = known.map((k) => [k, editDistance(k.toLowerCase(), key.toLowerCase())] as const).sort((a, b) => a[1] - b[1])[0];
    const hint = near && near[1] <= Math.max(2, key.length / 3) ? ` (did you mean ${near[0]}?)` : "";
    throw new SpecdecError("INVALID_ARGUMENT", `${name}.${key} is not an option${hint}; the options are ${known.join(", ")}`);
  }
  return v;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next.push(Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)));
    row = next;
  }
  return row[b.length];
}

export function integer(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    invalid(name, `an integer from ${min} to ${max}`, v);
  }
  return v;
}

export function number(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== "number" || Number.isNaN(v) || v < min || v > max) invalid(name, `a number from ${min} to ${max}`, v);
  return v;
}

export function boolean(name: string, v: unknown): boolean {
  if (typeof v !== "boolean") invalid(name, "a boolean", v);
  return v;
}

export function string(name: string, v: unknown): string {
  if (typeof v !== "string") invalid(name, "a string", v);
  return v;
}

export function oneOf<T extends string>(name: string, v: unknown, values: readonly T[]): T {
  if (typeof v !== "string" || !values.includes(v as T)) invalid(name, `one of ${values.join(", ")}`, v);
  return v as T;
}

export function stringArray(name: string, v: unknown): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) invalid(name, "an array of strings", v);
  return v;
}

/** Token ids: an array or typed array of integers (range is checked natively against the vocabulary). */
export function tokenArray(name: string, v: unknown): Int32Array {
  if (v instanceof Int32Array) return v;
  if (!Array.isArray(v) && !(v instanceof Uint32Array)) invalid(name, "an array of token ids", v);
  const out = new Int32Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const t = v[i];
    if (typeof t !== "number" || !Number.isInteger(t) || t < -0x80000000 || t > 0x7fffffff) {
      invalid(`${name}[${i}]`, "an integer token id", t);
    }
    out[i] = t;
  }
  return out;
}

export function abortSignal(name: string, v: unknown): AbortSignal {
  if (!(v instanceof AbortSignal)) invalid(name, "an AbortSignal", v);
  return v;
}

/** Copies `value` into `out[key]` after checking it, when it is not undefined. */
export function maybe<T>(v: unknown, check: (v: unknown) => T): T | undefined {
  return v === undefined ? undefined : check(v);
}

export function func(name: string, v: unknown): (...args: never[]) => unknown {
  if (typeof v !== "function") invalid(name, "a function", v);
  return v as (...args: never[]) => unknown;
}

/** A "host:port" endpoint (an IPv6 host in brackets). */
export function endpoint(name: string, v: string): string {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(v);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) invalid(name, "host:port", v);
  return v;
}
