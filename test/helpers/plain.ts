// The reference every speculative test compares with: plain greedy decoding (no drafters) of
// each prompt, one after the other in one session.
import type { Model } from "../../lib/index.js";

export async function plainGreedy(
  model: Model,
  prompts: { prompt: string; maxTokens: number }[],
  contextSize = 2048,
): Promise<{ text: string; tokens: number[] }[]> {
  const session = await model.createSession({ contextSize, threads: 2, drafters: [] });
  try {
    const out = [];
    for (const p of prompts) out.push(await session.complete(p.prompt, { maxTokens: p.maxTokens, temperature: 0 }));
    return out;
  } finally {
    session.dispose();
  }
}
