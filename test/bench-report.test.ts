// The benchmark report's pieces on made-up figures: charts, medians, speedups, prompts files.
import fs from "node:fs";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { writeReport } from "../lib/bench/report.js";
import { acceptanceByPosition, speedup, tokensPerSecond, type RoundResults } from "../lib/bench/run.js";
import { readPrompts } from "../lib/bench/suite.js";
import { barChart, lineChart, tickStep } from "../lib/bench/svg.js";
import { BenchInputError, type BenchPrompt, type BenchSystem, type PromptResult } from "../lib/bench/systems.js";
import { tempDir } from "./helpers/env.js";

const prompts: BenchPrompt[] = [
  { id: "a", kind: "code", prompt: "x", maxTokens: 8 },
  { id: "b", kind: "code", prompt: "y", maxTokens: 8 },
  { id: "c", kind: "code", prompt: "z", maxTokens: 8 },
  { id: "d", kind: "text", prompt: "w", maxTokens: 8 },
];

function system(name: string, tool: BenchSystem["tool"], plain: boolean): BenchSystem {
  return { name, tool, plain, run: async () => ({ tokens: 0, tokensPerSecond: 0 }) };
}

const r = (tokensPerSecond: number, extra: Partial<PromptResult> = {}): PromptResult => ({ tokens: 8, tokensPerSecond, ...extra });

// Two rounds; system 0 plain at 100 t/s; system 1 drafts.
const results: RoundResults = [
  [
    new Map([["a", r(100, { text: "A" })], ["b", r(100, { text: "B" })], ["c", r(100, { text: "C" })], ["d", r(100, { text: "D" })]]),
    new Map([
      ["a", r(200, { text: "A", draftedAt: [10, 8], acceptedAt: [9, 4], drafters: [{ name: "lookup", proposed: 18, accepted: 13 }] })],
      ["b", r(300, { text: "B", draftedAt: [10, 4], acceptedAt: [5, 2], drafters: [{ name: "lookup", proposed: 14, accepted: 7 }] })],
      ["c", r(250, { text: "c!", draftedAt: [0], acceptedAt: [0] })],
      ["d", r(150, { text: "D" })],
    ]),
  ],
  [
    new Map([["a", r(100)], ["b", r(100)], ["c", r(100)], ["d", r(50)]]),
    new Map([["a", r(100)], ["b", r(200)], ["c", r(300)], ["d", r(100)]]),
  ],
];

describe("benchmark report", () => {
  it("tick steps are 1, 2 or 5 times a power of ten", () => {
    expect(tickStep(7.3)).toBe(2);
    expect(tickStep(870)).toBe(200);
    expect(tickStep(0.9)).toBeCloseTo(0.2);
    expect(tickStep(0)).toBe(1);
  });

  it("bars are as long as their values, labels are escaped, missing values draw nothing", () => {
    const svg = barChart({ title: "t", axis: "x", categories: ["<a&b>", "c"], series: [{ name: "s1", values: [1, 2] }, { name: "s2", values: [3, undefined] }] });
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg).toContain("&lt;a&amp;b&gt;");
    expect(svg).not.toContain("<a&b>");
    const bars = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)" height="14" fill="[^"]+"><title>([^<]+)<\/title>/g)];
    expect(bars.map((b) => b[2])).toEqual(["&lt;a&amp;b&gt;, s1: 1", "&lt;a&amp;b&gt;, s2: 3", "c, s1: 2"]);
    const [w1, w3, w2] = bars.map((b) => Number(b[1]));
    expect(w3 / w1).toBeCloseTo(3, 1);
    expect(w2 / w1).toBeCloseTo(2, 1);
  });

  it("lines skip the points without a value", () => {
    const svg = lineChart({ title: "t", xAxis: "x", yAxis: "y", x: [1, 2, 3], series: [{ name: "s", values: [0.5, undefined, 1] }], yMax: 1, percent: true });
    expect(svg.match(/<circle /g)).toHaveLength(2);
    expect(svg).toContain("100%");
  });

  it("speedups: per round the median over a kind's prompts, then the median over rounds", () => {
    const s = speedup(results, prompts, "code", 1, 0)!;
    expect(s.perRound).toEqual([2.5, 2]);
    expect(s.median).toBeCloseTo(2.25);
    expect(s.lowest).toBe(1);
    expect(speedup(results, prompts, "text", 1, 0)!.perRound).toEqual([1.5, 2]);
    expect(tokensPerSecond(results, prompts, "code", 1)).toBe(250);
  });

  it("acceptance by position adds up every prompt and round", () => {
    // position 1: 14 kept of 20; position 2: 6 of 12 (under 10 drafted would be left out)
    expect(acceptanceByPosition(results, 1)).toEqual([0.7, 0.5]);
    expect(acceptanceByPosition(results, 1, 15)).toEqual([0.7, undefined]);
  });

  it("the report has the tables, the charts and the exactness count", () => {
    const dir = tempDir();
    const systems = [system("plain", "specdec", true), system("drafting", "specdec", false)];
    const files = writeReport(dir, { systems, prompts, results, temperature: 0, setup: ["set-up line"] });
    expect(files.map((f) => path.basename(f)).sort()).toEqual(["acceptance.svg", "report.md", "results.json", "speedup.svg", "tokens-per-second.svg"]);
    const md = fs.readFileSync(path.join(dir, "report.md"), "utf8");
    expect(md).toContain("- set-up line");
    expect(md).toContain("| drafting | code | **2.25x** | 2.50, 2.00 | 1.00 |");
    expect(md).toContain("| drafting | text | **1.75x** | 1.50, 2.00 | 1.50 |");
    expect(md).toContain("- drafting: 3/4 identical");
    expect(md).toContain("| drafting | 70% | 50% |");
    expect(md).toContain("| drafting | lookup | 32 | 20 | 63% |");
    expect(md).toContain("![speedup over plain decoding](speedup.svg)");
    const json = JSON.parse(fs.readFileSync(path.join(dir, "results.json"), "utf8"));
    expect(json.systems[1].rounds[0].a.tokensPerSecond).toBe(200);
  });

  it("prompts files: JSON lines with defaults, and clear errors", () => {
    const dir = tempDir();
    const file = path.join(dir, "p.jsonl");
    fs.writeFileSync(file, '{"prompt": "a"}\n\n{"id": "x", "kind": "k", "prompt": "b", "n_predict": 5}\n');
    expect(readPrompts(file, 16)).toEqual([
      { id: "prompt-1", kind: "prompt", prompt: "a", maxTokens: 16 },
      { id: "x", kind: "k", prompt: "b", maxTokens: 5 },
    ]);
    const bad = (text: string) => {
      fs.writeFileSync(file, text);
      return () => readPrompts(file, 16);
    };
    expect(bad('{"prompt": "a"}\nnot json\n')).toThrow(/p\.jsonl:2: not a JSON line/);
    expect(bad('{"text": "a"}\n')).toThrow(/"prompt" must be a non-empty string/);
    expect(bad('{"prompt": "a", "n_predict": 0}\n')).toThrow(/positive integer/);
    expect(bad("\n")).toThrow(BenchInputError);
    expect(() => readPrompts(path.join(dir, "none.jsonl"), 16)).toThrow(/cannot read the prompts file/);
  });
});
