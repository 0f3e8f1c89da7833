// Statistics for the sampling-exactness tests: chi-square goodness of fit, and seeded samples.

import type { GenerateOptions, Model, Session } from "../../lib/index.js";

// ln Γ(x), Lanczos approximation (g = 7, n = 9).
function lnGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

// Regularized upper incomplete gamma Q(s, x).
function gammaQ(s: number, x: number): number {
  if (x <= 0) return 1;
  if (x < s + 1) {
    let sum = 1 / s;
    let term = sum;
    for (let n = 1; n < 1000; n++) {
      term *= x / (s + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
    }
    return 1 - sum * Math.exp(-x + s * Math.log(x) - lnGamma(s));
  }
  // Continued fraction (Lentz).
  let b = x + 1 - s;
  let c = 1 / 1e-300;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - s);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < 1e-300) d = 1e-300;
    c = b + an / c;
    if (Math.abs(c) < 1e-300) c = 1e-300;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return Math.exp(-x + s * Math.log(x) - lnGamma(s)) * h;
}

/**
 * Pearson's chi-square test of observed counts against expected probabilities. Categories with an
 * expected count below 5 are pooled into one. Returns the statistic, degrees of freedom and p-value.
 */
export function chiSquare(counts: Map<number, number>, probs: Map<number, number>, n: number) {
  let stat = 0;
  let bins = 0;
  let pooledExpected = 0;
  let pooledObserved = 0;
  for (const [token, p] of probs) {
    const expected = p * n;
    const observed = counts.get(token) ?? 0;
    if (expected >= 5) {
      stat += (observed - expected) ** 2 / expected;
      bins++;
    } else {
      pooledExpected += expected;
      pooledObserved += observed;
    }
  }
  // tokens observed outside the support of probs count in the pool too
  for (const [token, c] of counts) if (!probs.has(token)) pooledObserved += c;
  if (pooledExpected > 0) {
    stat += (pooledObserved - pooledExpected) ** 2 / Math.max(pooledExpected, 1e-9);
    bins++;
  }
  const df = bins - 1;
  return { stat, df, pValue: gammaQ(df / 2, stat / 2) };
}

export function softmax(logits: Float32Array, temperature = 1): Float64Array {
  let max = -Infinity;
  for (const l of logits) max = Math.max(max, l);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp((logits[i] - max) / temperature);
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

/**
 * Counts of the first and second generated tokens over n seeded generations of 3 tokens (seeds
 * 0..n-1), plain sampling (no top-k, top-p or min-p) at the given temperature; n2: how many
 * generations had a second token.
 */
export async function sampleFirstTwo(
  session: Session,
  prompt: number[],
  n: number,
  temperature: number,
  maxTokens = 3,
  extra: GenerateOptions = {},
) {
  const c1 = new Map<number, number>();
  const c2 = new Map<number, number>();
  let n2 = 0;
  for (let seed = 0; seed < n; seed++) {
    const r = await session.complete(prompt, { maxTokens, temperature, topK: 0, topP: 1, minP: 0, seed, ...extra });
    c1.set(r.tokens[0], (c1.get(r.tokens[0]) ?? 0) + 1);
    if (r.tokens.length > 1) {
      c2.set(r.tokens[1], (c2.get(r.tokens[1]) ?? 0) + 1);
      n2++;
    }
  }
  return { c1, c2, n2 };
}

/**
 * The model's exact distributions of the first two tokens it generates after `prompt` at
 * `temperature` (no other sampler): p(first), and p(second) marginalised over the first (first
 * tokens below 1e-4, or ending the generation, left out of it).
 */
export async function exactFirstTwo(model: Model, prompt: number[], temperature: number) {
  const first = new Map<number, number>();
  const second = new Map<number, number>();
  const scorer = await model.createSession({ contextSize: 64 });
  try {
    const logits = await scorer.evaluateLogits(prompt);
    const p1 = softmax(logits.subarray((prompt.length - 1) * model.vocabSize), temperature);
    p1.forEach((p, t) => p > 0 && first.set(t, p));
    for (const [t1, pt1] of first) {
      if (pt1 < 1e-4 || model.isEndOfGeneration(t1)) continue;
      const l2 = await scorer.evaluateLogits([...prompt, t1]);
      softmax(l2.subarray(prompt.length * model.vocabSize), temperature).forEach((p, t) => second.set(t, (second.get(t) ?? 0) + pt1 * p));
    }
  } finally {
    scorer.dispose();
  }
  return { first, second };
}
