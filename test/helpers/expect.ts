import { expect } from "vitest";

import { SpecdecError } from "../../lib/index.js";

/** Awaits p (or calls it) and expects a SpecdecError with this code (and message). */
export async function expectCode(p: Promise<unknown> | (() => unknown), code: string, message?: RegExp) {
  let caught: unknown;
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected a SpecdecError ${code}`).toBeInstanceOf(SpecdecError);
  expect((caught as SpecdecError).code).toBe(code);
  if (message) expect((caught as SpecdecError).message).toMatch(message);
}
