// The benchmark report: report.md with its tables, three SVG charts beside it, results.json.
import fs from "node:fs";
import path from "node:path";

import { acceptanceByPosition, median, speedup, tokensPerSecond, type RoundResults } from "./run.js";
import { barChart, lineChart } from "./svg.js";
import type { BenchPrompt, BenchSystem } from "./systems.js";

export interface ReportInput {
  systems: BenchSystem[];
  prompts: BenchPrompt[];
  results: RoundResults;
  temperature: number;
  /** Bullet lines describing the set-up (models, threads, machine, command). */
  setup: string[];
}

const fmt = (x: number | undefined, digits = 2) => (x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(digits));

/** Index of the plain-decoding system of a system's tool. */
function plainOf(systems: BenchSystem[], sys: BenchSystem): number {
  return systems.findIndex((s) => s.tool === sys.tool && s.plain);
}

/** Writes report.md, speedup.svg, tokens-per-second.svg, acceptance.svg and results.json into dir; returns their paths. */
export function writeReport(dir: string, input: ReportInput): string[] {
  const { systems, prompts, results, temperature } = input;
  const kinds = [...new Set(prompts.map((p) => p.kind))];
  const drafting = systems.map((s, i) => ({ s, i })).filter(({ s }) => !s.plain && plainOf(systems, s) >= 0);
  const speedups = drafting.map(({ s, i }) => kinds.map((k) => speedup(results, prompts, k, i, plainOf(systems, s))));
  const tps = systems.map((_, i) => kinds.map((k) => tokensPerSecond(results, prompts, k, i)));
  const specdecDrafting = drafting.filter(({ s }) => s.tool === "specdec");
  const positions = specdecDrafting.map(({ i }) => acceptanceByPosition(results, i));
  const positionCount = Math.max(0, ...positions.map((a) => a.length));

  fs.mkdirSync(dir, { recursive: true });
  const files = {
    speedup: path.join(dir, "speedup.svg"),
    tps: path.join(dir, "tokens-per-second.svg"),
    acceptance: path.join(dir, "acceptance.svg"),
    report: path.join(dir, "report.md"),
    json: path.join(dir, "results.json"),
  };
  fs.writeFileSync(
    files.speedup,
    barChart({
      title: `Speedup over plain decoding of the same tool, temperature ${temperature}`,
      axis: "tokens/s divided by plain decoding's (median over prompts; whiskers: range over rounds)",
      categories: drafting.map(({ s }) => s.name),
      series: kinds.map((k, ki) => ({
        name: `${k} prompts`,
        values: speedups.map((row) => row[ki]?.median),
        low: speedups.map((row) => (row[ki] ? Math.min(...row[ki]!.perRound) : undefined)),
        high: speedups.map((row) => (row[ki] ? Math.max(...row[ki]!.perRound) : undefined)),
      })),
      reference: { value: 1, label: "plain" },
    }),
  );
  fs.writeFileSync(
    files.tps,
    barChart({
      title: `Generation speed, temperature ${temperature}`,
      axis: "tokens/s (median over prompts of the median over rounds)",
      categories: systems.map((s) => s.name),
      series: kinds.map((k, ki) => ({ name: `${k} prompts`, values: tps.map((row) => row[ki]) })),
      digits: 0,
    }),
  );
  fs.writeFileSync(
    files.acceptance,
    lineChart({
      title: "Drafted tokens kept, by position in the draft",
      xAxis: "position in the draft (1 = first drafted token)",
      yAxis: "share kept",
      x: Array.from({ length: positionCount }, (_, i) => i + 1),
      series: specdecDrafting.map(({ s }, j) => ({ name: s.name, values: positions[j] })),
      yMax: 1,
      percent: true,
    }),
  );

  const lines: string[] = [];
  lines.push(`# specdec benchmark, temperature ${temperature}`, "");
  lines.push(...input.setup.map((l) => `- ${l}`), "");
  lines.push("![speedup over plain decoding](speedup.svg)", "");
  lines.push("![tokens per second](tokens-per-second.svg)", "");
  if (positionCount) lines.push("![drafted tokens kept by position](acceptance.svg)", "");

  lines.push("## Speedup over plain decoding", "");
  lines.push("Each system against plain decoding of the same tool, prompt by prompt within a round; the median over a kind's prompts per round, then the median over rounds (the per-round medians in brackets), and the lowest single prompt of any round.", "");
  lines.push("| system | kind | speedup | per round | lowest prompt |", "| --- | --- | --- | --- | --- |");
  drafting.forEach(({ s }, j) =>
    kinds.forEach((k, ki) => {
      const x = speedups[j][ki];
      if (x) lines.push(`| ${s.name} | ${k} | **${fmt(x.median)}x** | ${x.perRound.map((v) => fmt(v)).join(", ")} | ${fmt(x.lowest)} |`);
    }),
  );
  lines.push("");

  lines.push("## Tokens per second", "");
  lines.push(`| system | ${kinds.map((k) => `${k} (t/s)`).join(" | ")} | drafted tokens kept |`, `| --- | ${kinds.map(() => "---").join(" | ")} | --- |`);
  systems.forEach((s, i) => {
    const acc = results.flatMap((round) => [...round[i].values()]).map((r) => r.acceptance).filter((a): a is number => a !== undefined);
    lines.push(`| ${s.name} | ${tps[i].map((v) => fmt(v, 1)).join(" | ")} | ${acc.length ? `${fmt(100 * median(acc), 0)}%` : "-"} |`);
  });
  lines.push("");

  if (positionCount) {
    lines.push("## Drafted tokens kept by draft position", "");
    lines.push("Over every prompt and round: of the tokens drafted at a position, the share the main model kept (- where fewer than 10 were drafted).", "");
    const cols = Array.from({ length: positionCount }, (_, i) => String(i + 1));
    lines.push(`| system | ${cols.join(" | ")} |`, `| --- | ${cols.map(() => "---").join(" | ")} |`);
    specdecDrafting.forEach(({ s }, j) => lines.push(`| ${s.name} | ${cols.map((_, i) => (positions[j][i] === undefined ? "-" : `${fmt(100 * positions[j][i]!, 0)}%`)).join(" | ")} |`));
    lines.push("");
  }

  const byDrafter = specdecDrafting.flatMap(({ s, i }) => {
    const sums = new Map<string, { proposed: number; accepted: number }>();
    for (const round of results) {
      for (const r of round[i].values()) {
        for (const d of r.drafters ?? []) {
          const t = sums.get(d.name) ?? { proposed: 0, accepted: 0 };
          t.proposed += d.proposed;
          t.accepted += d.accepted;
          sums.set(d.name, t);
        }
      }
    }
    return [...sums].map(([name, t]) => ({ system: s.name, name, ...t }));
  });
  if (byDrafter.length) {
    lines.push("## By drafter", "");
    lines.push("Over every prompt and round: tokens each drafter proposed and the main model kept (a token two drafters proposed at the same place counts for both).", "");
    lines.push("| system | drafter | proposed | kept | share kept |", "| --- | --- | --- | --- | --- |");
    for (const d of byDrafter) lines.push(`| ${d.system} | ${d.name} | ${d.proposed} | ${d.accepted} | ${d.proposed ? `${fmt((100 * d.accepted) / d.proposed, 0)}%` : "-"} |`);
    lines.push("");
  }

  const specdecPlain = systems.findIndex((s) => s.tool === "specdec" && s.plain);
  if (temperature === 0 && specdecPlain >= 0) {
    lines.push("## Exactness", "");
    lines.push("Greedy text of each specdec system, prompt by prompt, against specdec's plain decoding (first round):", "");
    for (const { s, i } of specdecDrafting) {
      const ids = prompts.filter((p) => results[0][i].has(p.id) && results[0][specdecPlain].has(p.id)).map((p) => p.id);
      const same = ids.filter((id) => results[0][i].get(id)!.text === results[0][specdecPlain].get(id)!.text).length;
      lines.push(`- ${s.name}: ${same}/${ids.length} identical`);
    }
    lines.push("");
  }

  lines.push("## Per prompt (tokens/s, median over rounds)", "");
  lines.push(`| prompt | kind | ${systems.map((s) => s.name).join(" | ")} |`, `| --- | --- | ${systems.map(() => "---").join(" | ")} |`);
  for (const p of prompts) {
    const cells = systems.map((_, i) => (results[0][i].has(p.id) ? fmt(median(results.map((round) => round[i].get(p.id)!.tokensPerSecond)), 1) : "-"));
    lines.push(`| ${p.id} | ${p.kind} | ${cells.join(" | ")} |`);
  }
  fs.writeFileSync(files.report, lines.join("\n") + "\n");

  const json = {
    temperature,
    setup: input.setup,
    prompts: prompts.map(({ id, kind, maxTokens }) => ({ id, kind, maxTokens })),
    systems: systems.map((s, i) => ({
      name: s.name,
      tool: s.tool,
      plain: s.plain,
      rounds: results.map((round) => Object.fromEntries([...round[i]].map(([id, r]) => [id, { ...r, text: undefined }]))),
    })),
  };
  fs.writeFileSync(files.json, JSON.stringify(json, null, 1) + "\n");
  return Object.values(files);
}
