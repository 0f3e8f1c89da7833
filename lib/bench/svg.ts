// Charts for the benchmark report, as standalone SVG: horizontal grouped bars (speedups, tokens/s)
// and lines (acceptance by draft position). Drawn on a white background so they read the same in
// light and dark viewers.

const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
const FONT = `font-family="DejaVu Sans, Verdana, Arial, sans-serif"`;

export interface BarSeries {
  name: string;
  /** One value per category; undefined: no bar. */
  values: (number | undefined)[];
  /** Optional whiskers (the range over rounds), one per category. */
  low?: (number | undefined)[];
  high?: (number | undefined)[];
}

export interface BarChart {
  title: string;
  /** What the axis measures, with its unit. */
  axis: string;
  categories: string[];
  series: BarSeries[];
  /** A vertical rule (1.0 on a speedup chart). */
  reference?: { value: number; label: string };
  /** Digits of the value written at the end of each bar. */
  digits?: number;
}

export interface LineChart {
  title: string;
  xAxis: string;
  yAxis: string;
  x: number[];
  series: { name: string; values: (number | undefined)[] }[];
  /** The y axis runs from 0 to this (default: from the data). */
  yMax?: number;
  /** y values as percentages. */
  percent?: boolean;
}

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c] as string);
}

/** Round tick step for an axis running from 0 to max: 1, 2 or 5 times a power of ten, about 5 ticks. */
export function tickStep(max: number): number {
  if (!(max > 0)) return 1;
  const rough = max / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  return ([1, 2, 5, 10].find((m) => m * power >= rough) as number) * power;
}

const round = (x: number) => Math.round(x * 10) / 10;
const text = (x: number, y: number, s: string, attrs = "") => `<text x="${round(x)}" y="${round(y)}" ${attrs}>${escapeXml(s)}</text>`;

function frame(width: number, height: number, title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="12" fill="#222">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    text(width / 2, 24, title, `text-anchor="middle" font-size="15" font-weight="bold"`),
    ...body,
    `</svg>`,
    "",
  ].join("\n");
}

function legend(names: string[], x: number, y: number, width: number): { svg: string[]; height: number } {
  const svg: string[] = [];
  let cx = x;
  let cy = y;
  names.forEach((name, i) => {
    const w = 22 + name.length * 7;
    if (cx + w > x + width && cx > x) {
      cx = x;
      cy += 18;
    }
    svg.push(`<rect x="${round(cx)}" y="${round(cy - 10)}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/>`);
    svg.push(text(cx + 16, cy, name));
    cx += w;
  });
  return { svg, height: cy - y + 18 };
}

/** Horizontal grouped bars: a row of bars per category, one bar per series, whiskers and values. */
export function barChart(chart: BarChart): string {
  const width = 760;
  const labelWidth = Math.min(260, 14 + 7 * Math.max(...chart.categories.map((c) => c.length)));
  const left = labelWidth + 10;
  const right = 60;
  const plotWidth = width - left - right;
  const bar = 16;
  const gap = 10;
  const shown = chart.series.filter((s) => s.values.some((v) => v !== undefined));
  const key = legend(shown.map((s) => s.name), left, 50, plotWidth);
  const top = 50 + key.height + 6;
  const rowHeight = shown.length * bar + gap;
  const plotHeight = chart.categories.length * rowHeight;
  const values = shown.flatMap((s) => [...s.values, ...(s.high ?? [])]).filter((v): v is number => v !== undefined && Number.isFinite(v));
  const step = tickStep(Math.max(...values, chart.reference?.value ?? 0) * 1.08);
  const max = Math.ceil((Math.max(...values, chart.reference?.value ?? 0) * 1.08) / step) * step || 1;
  const xOf = (v: number) => left + (Math.max(0, v) / max) * plotWidth;
  const body: string[] = [...key.svg];
  for (let t = 0; t <= max + 1e-9; t += step) {
    const x = xOf(t);
    body.push(`<line x1="${round(x)}" y1="${top}" x2="${round(x)}" y2="${top + plotHeight}" stroke="#e3e3e3"/>`);
    body.push(text(x, top + plotHeight + 16, String(Number(t.toFixed(6))), `text-anchor="middle" fill="#555"`));
  }
  body.push(text(left + plotWidth / 2, top + plotHeight + 36, chart.axis, `text-anchor="middle"`));
  chart.categories.forEach((category, c) => {
    const y0 = top + c * rowHeight + gap / 2;
    body.push(text(left - 8, y0 + (shown.length * bar) / 2 + 4, category, `text-anchor="end"`));
    shown.forEach((s, i) => {
      const v = s.values[c];
      if (v === undefined || !Number.isFinite(v)) return;
      const y = y0 + i * bar;
      const colour = PALETTE[chart.series.indexOf(s) % PALETTE.length];
      body.push(`<rect x="${left}" y="${round(y + 1)}" width="${round(xOf(v) - left)}" height="${bar - 2}" fill="${colour}"><title>${escapeXml(`${category}, ${s.name}: ${v}`)}</title></rect>`);
      const lo = s.low?.[c];
      const hi = s.high?.[c];
      if (lo !== undefined && hi !== undefined && hi > lo) {
        const yMid = round(y + bar / 2);
        body.push(`<path d="M${round(xOf(lo))} ${yMid}H${round(xOf(hi))}M${round(xOf(lo))} ${yMid - 4}v8M${round(xOf(hi))} ${yMid - 4}v8" stroke="#333" fill="none"/>`);
      }
      body.push(text(Math.max(xOf(v), xOf(hi ?? v)) + 6, y + bar - 4, v.toFixed(chart.digits ?? 2), `font-size="11"`));
    });
  });
  if (chart.reference) {
    const x = round(xOf(chart.reference.value));
    body.push(`<line x1="${x}" y1="${top - 4}" x2="${x}" y2="${top + plotHeight}" stroke="#222" stroke-dasharray="4 3"/>`);
    body.push(text(x + 4, top + plotHeight - 4, chart.reference.label, `font-size="11" fill="#444"`));
  }
  body.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotHeight}" stroke="#888"/>`);
  return frame(width, top + plotHeight + 50, chart.title, body);
}

/** Lines over a numeric x axis, one per series, with a dot at each point. */
export function lineChart(chart: LineChart): string {
  const width = 760;
  const left = 60;
  const right = 20;
  const plotWidth = width - left - right;
  const shown = chart.series.filter((s) => s.values.some((v) => v !== undefined));
  const key = legend(shown.map((s) => s.name), left, 50, plotWidth);
  const top = 50 + key.height + 6;
  const plotHeight = 280;
  const ys = shown.flatMap((s) => s.values).filter((v): v is number => v !== undefined && Number.isFinite(v));
  const yMax = chart.yMax ?? (Math.max(...ys, 0) * 1.1 || 1);
  const yStep = tickStep(yMax);
  const xMin = Math.min(...chart.x);
  const xMax = Math.max(...chart.x);
  const xOf = (x: number) => left + (xMax === xMin ? plotWidth / 2 : ((x - xMin) / (xMax - xMin)) * plotWidth);
  const yOf = (y: number) => top + plotHeight - (Math.min(y, yMax) / yMax) * plotHeight;
  const body: string[] = [...key.svg];
  for (let t = 0; t <= yMax + 1e-9; t += yStep) {
    const y = round(yOf(t));
    body.push(`<line x1="${left}" y1="${y}" x2="${left + plotWidth}" y2="${y}" stroke="#e3e3e3"/>`);
    body.push(text(left - 6, y + 4, chart.percent ? `${Math.round(t * 100)}%` : String(Number(t.toFixed(6))), `text-anchor="end" fill="#555"`));
  }
  for (const x of chart.x) body.push(text(xOf(x), top + plotHeight + 16, String(x), `text-anchor="middle" fill="#555"`));
  body.push(text(left + plotWidth / 2, top + plotHeight + 36, chart.xAxis, `text-anchor="middle"`));
  body.push(text(16, top + plotHeight / 2, chart.yAxis, `text-anchor="middle" transform="rotate(-90 16 ${round(top + plotHeight / 2)})"`));
  body.push(`<path d="M${left} ${top}V${top + plotHeight}H${left + plotWidth}" stroke="#888" fill="none"/>`);
  shown.forEach((s) => {
    const colour = PALETTE[chart.series.indexOf(s) % PALETTE.length];
    const points = chart.x.map((x, i) => [x, s.values[i]] as const).filter((p): p is readonly [number, number] => p[1] !== undefined && Number.isFinite(p[1]));
    if (points.length > 1) {
      body.push(`<polyline points="${points.map(([x, y]) => `${round(xOf(x))},${round(yOf(y))}`).join(" ")}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    }
    for (const [x, y] of points) {
      const label = chart.percent ? `${(y * 100).toFixed(1)}%` : String(y);
      body.push(`<circle cx="${round(xOf(x))}" cy="${round(yOf(y))}" r="3.5" fill="${colour}"><title>${escapeXml(`${s.name}, ${chart.xAxis} ${x}: ${label}`)}</title></circle>`);
    }
  });
  return frame(width, top + plotHeight + 50, chart.title, body);
}
