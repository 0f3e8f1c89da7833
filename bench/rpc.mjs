#!/usr/bin/env node
// The main model on RPC workers over loopback, side by side with the same model local: two
// `specdec rpc-server` workers (child processes, 1 thread each) hold main-q8_0's layers split 1:1;
// the draft model and lookup run in this process. In front of each worker a TCP proxy in this
// process counts network round trips (a client-to-worker transfer after a worker-to-client one
// starts a new round trip: the client waited for an answer) and can hold every chunk --delays ms
// in each direction, a simulated network. Systems take turns prompt by prompt, round after round.
//
// usage: node bench/rpc.mjs [--rounds 2] [--delays 0,1,2,5] [--prompts-per-kind 2] [--max-tokens 96]
//        [--out bench/results/rpc.md]
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { parseArgs } from "node:util";

import { loadModel } from "../dist/index.js";
import { loadPrompts, machineLine, median, models, root } from "./lib.mjs";

const { values: opt } = parseArgs({
  options: {
    rounds: { type: "string", default: "2" },
    delays: { type: "string", default: "0,1,2,5" },
    "prompts-per-kind": { type: "string", default: "2" },
    "max-tokens": { type: "string", default: "96" },
    out: { type: "string", default: path.join(root, "bench/results/rpc.md") },
  },
});
const delays = opt.delays.split(",").map(Number);
const maxTokens = Number(opt["max-tokens"]);
const all = loadPrompts(path.resolve(root, "../shared/bench/prompts.jsonl"));
const prompts = ["complete", "grounded"].flatMap((k) => all.filter((p) => p.kind === k).slice(0, Number(opt["prompts-per-kind"])));

const children = [];
process.on("exit", () => children.forEach((c) => c.kill("SIGKILL")));
async function worker(port) {
  const child = spawn(process.execPath, [path.join(root, "dist/cli.js"), "rpc-server", "--port", String(port), "-t", "1"], { stdio: ["ignore", "ignore", "pipe"] });
  children.push(child);
  let err = "";
  await new Promise((resolve, reject) => {
    child.stderr.on("data", (d) => ((err += d), err.includes("serving at") && resolve()));
    child.once("exit", (code) => reject(new Error(`rpc-server exited with ${code}: ${err}`)));
  });
}

// One proxy per worker: `delay` ms each way (changed between runs), round trips counted.
const net_ = { delay: 0, roundTrips: 0 };
async function proxy(workerPort) {
  const server = net.createServer((client) => {
    const upstream = net.connect(workerPort, "127.0.0.1");
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    let last = "down";
    const pass = (to, d) => (net_.delay > 0 ? setTimeout(() => to.write(d), net_.delay) : to.write(d));
    client.on("data", (d) => {
      if (last === "down") net_.roundTrips++;
      last = "up";
      pass(upstream, d);
    });
    upstream.on("data", (d) => {
      last = "down";
      pass(client, d);
    });
    const end = () => (client.destroy(), upstream.destroy());
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `127.0.0.1:${server.address().port}`;
}

const ports = [50161, 50162];
await Promise.all(ports.map(worker));
const endpoints = await Promise.all(ports.map(proxy));
const main = path.join(models, "main-q8_0.gguf");
const local = await loadModel(main);
const remote = await loadModel(main, { rpcServers: endpoints, tensorSplit: [1, 1] });
const draft = await loadModel(path.join(models, "draft-q8_0.gguf"));

const configs = [
  { name: "plain", session: { drafters: [] } },
  { name: "draft", session: { draft: { model: draft }, drafters: [] } },
  { name: "draft + lookup", session: { draft: { model: draft }, drafters: [{ type: "lookup" }] } },
];
const systems = [
  ...configs.map((c) => ({ ...c, where: "local", delay: null, model: local })),
  ...delays.flatMap((delay) => configs.map((c) => ({ ...c, where: "rpc", delay, model: remote }))),
];
const key = (s) => `${s.where} ${s.delay ?? ""} ${s.name}`;
const results = new Map(systems.map((s) => [key(s), []]));
for (let r = 0; r < Number(opt.rounds); r++) {
  for (const p of prompts) {
    for (const s of r % 2 ? [...systems].reverse() : systems) {
      net_.delay = s.delay ?? 0;
      const session = await s.model.createSession({ contextSize: 2048, threads: 2, ...s.session });
      net_.roundTrips = 0;
      const out = await session.complete(p.prompt, { maxTokens: Math.min(maxTokens, p.n_predict), temperature: 0 });
      results.get(key(s)).push({ id: p.id, round: r, tps: out.stats.tokensPerSecond, tokens: out.stats.generatedTokens, steps: out.stats.mainDecodes, roundTrips: net_.roundTrips, text: out.text });
      session.dispose();
    }
    process.stderr.write(`round ${r + 1}: ${p.id} done\n`);
  }
}

const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "-");
const byId = (list) => new Map(list.map((x) => [`${x.round} ${x.id}`, x]));
const localPlain = byId(results.get("local  plain"));
const lines = [
  "# The main model on RPC workers (loopback), with and without speculation",
  "",
  `- main-q8_0 split 1:1 over two \`specdec rpc-server\` workers (1 thread each) on this machine; draft-q8_0 and lookup in the client (2 threads); greedy; ${prompts.length} prompts (${prompts.map((p) => p.id).join(", ")}), at most ${maxTokens} tokens each; ${opt.rounds} rounds`,
  "- delay: what a proxy in front of each worker adds in each direction (a round trip pays it twice); round trips: transfers the client had to wait for, over both workers, per generated token (prompt included: one round of prompt processing)",
  `- machine: ${machineLine()}`,
  `- command: \`node bench/rpc.mjs ${process.argv.slice(2).join(" ")}\``,
  "",
  "| where | delay each way | system | tokens/s (median) | vs local plain | vs plain at this delay | round trips per token | tokens per main step | text = local plain |",
  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
];
for (const s of systems) {
  const list = results.get(key(s));
  const plainHere = byId(results.get(key({ ...s, name: "plain" })));
  const ratio = (ref) => median(list.map((x) => x.tps / ref.get(`${x.round} ${x.id}`).tps));
  const same = list.filter((x) => x.text === localPlain.get(`${x.round} ${x.id}`).text).length;
  lines.push(
    `| ${s.where} | ${s.delay === null ? "-" : `${s.delay} ms`} | ${s.name} | ${fmt(median(list.map((x) => x.tps)), 1)} | ${fmt(ratio(localPlain))} | ${fmt(ratio(plainHere))} | ` +
      `${s.where === "rpc" ? fmt(median(list.map((x) => x.roundTrips / x.tokens))) : "-"} | ${fmt(median(list.map((x) => x.tokens / x.steps)))} | ${same}/${list.length} |`,
  );
}
const report = lines.join("\n") + "\n";
console.log(report);
fs.writeFileSync(opt.out, report);
local.dispose();
remote.dispose();
draft.dispose();
process.exit(0);
