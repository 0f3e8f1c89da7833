// Runs a benchmark's systems in turns and sums up what they did.
import type { BenchPrompt, BenchSystem, PromptResult } from "./systems.js";

/** results[round][system index]: prompt id -> what the system did. */
export type RoundResults = Map<string, PromptResult>[][];

/**
 * Every prompt on every system, round after round: prompt by prompt, the systems one after the
 * other (in reverse order every other round), so that the machine's slow and fast spells fall on
 * all of them alike.
 */
export async function runRounds(
  systems: BenchSystem[],
  prompts: BenchPrompt[],
  rounds: number,
  onProgress: (done: number, total: number, what: string) => void = () => {},
): Promise<RoundResults> {
  const results: RoundResults = [];
  const total = rounds * prompts.length * systems.length;
  let done = 0;
  for (let r = 0; r < rounds; r++) {
    const round = systems.map(() => new Map<string, PromptResult>());
    const order = systems.map((_, i) => i);
    if (r % 2) order.reverse();
    for (const p of prompts) {
      for (const i of order) {
        const sys = systems[i];
        onProgress(done++, total, `round ${r + 1}/${rounds}, ${p.id}, ${sys.name}`);
        if (sys.ids && !sys.ids.has(p.id)) continue;
        round[i].set(p.id, await sys.run(p));
      }
    }
    results.push(round);
  }
  onProgress(total, total, "done");
  return results;
}

export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface Speedup {
  /** Median over rounds of the per-round median over the prompts. */
  median: number;
  /** The per-round medians. */
  perRound: number[];
  /** The lowest single prompt of any round. */
  lowest: number;
  prompts: number;
}

/** Speedup of system `num` over system `den` on the prompts of a kind, within each round. */
export function speedup(results: RoundResults, prompts: BenchPrompt[], kind: string, num: number, den: number): Speedup | undefined {
  const ids = prompts.filter((p) => p.kind === kind && results[0][num].has(p.id) && results[0][den].has(p.id)).map((p) => p.id);
  if (!ids.length) return undefined;
  const ratios = results.map((round) => ids.map((id) => round[num].get(id)!.tokensPerSecond / round[den].get(id)!.tokensPerSecond));
  const perRound = ratios.map(median);
  return { median: median(perRound), perRound, lowest: Math.min(...ratios.flat()), prompts: ids.length };
}

/** Median over the prompts of a kind of the median over rounds of a system's tokens/s. */
export function tokensPerSecond(results: RoundResults, prompts: BenchPrompt[], kind: string, sys: number): number | undefined {
  const ids = prompts.filter((p) => p.kind === kind && results[0][sys].has(p.id)).map((p) => p.id);
  if (!ids.length) return undefined;
  return median(ids.map((id) => median(results.map((round) => round[sys].get(id)!.tokensPerSecond))));
}

/** Share of drafted tokens kept by draft position, over every prompt and round (undefined below minDrafted). */
export function acceptanceByPosition(results: RoundResults, sys: number, minDrafted = 10): (number | undefined)[] {
  const drafted: number[] = [];
  const accepted: number[] = [];
  for (const round of results) {
    for (const r of round[sys].values()) {
      r.draftedAt?.forEach((n, i) => (drafted[i] = (drafted[i] ?? 0) + n));
      r.acceptedAt?.forEach((n, i) => (accepted[i] = (accepted[i] ?? 0) + n));
    }
  }
  return Array.from(drafted, (n, i) => (n >= minDrafted ? (accepted[i] ?? 0) / n : undefined));
}
