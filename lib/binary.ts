// Which compiled addon to load. A source build (build/Release/specdec.node) wins; otherwise a
// prebuilt one from prebuilds/<platform>-<arch>/, where x86-64 ships one file per CPU level
// (specdec.<variant>.node) and the best one this CPU runs is taken. SPECDEC_CPU_VARIANT=<variant>
// takes that prebuild whatever the CPU and even beside a source build (for tests and
// measurements); SPECDEC_NATIVE_PATH names the file outright (a sanitizer build). Also used by
// scripts/install.mjs to decide whether a build is needed.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

/**
 * The x86-64 CPU levels of the prebuilds, best first, with the CPU features each needs (in
 * /proc/cpuinfo's names):
 * - avx512: AVX-512 F/CD/VL/DQ/BW with VBMI and VNNI (Ice Lake, Zen 4 and later); the level
 *   where specdec's multi-column verification kernel exists;
 * - avx2: AVX2, FMA, F16C, BMI2 (Haswell, Zen 1 and later);
 * - sse42: SSE4.2 (every x86-64 CPU of the last 15 years).
 */
export const X64_VARIANTS: { name: string; flags: string[] }[] = [
  { name: "avx512", flags: ["avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw", "avx512vbmi", "avx512_vnni", "avx2", "fma", "f16c", "bmi2"] },
  { name: "avx2", flags: ["avx", "avx2", "fma", "f16c", "bmi2", "sse4_2"] },
  { name: "sse42", flags: ["sse4_2"] },
];

/** What the loader asks of the machine: the real one, or a test's. */
export interface Host {
  platform: NodeJS.Platform;
  arch: string;
  env: NodeJS.ProcessEnv;
  exists(file: string): boolean;
  /** A file's text, null when it cannot be read. */
  read(file: string): string | null;
  /** A command's output, null when it fails. */
  run(command: string, args: string[]): string | null;
  /** The features cpu-probe.node at `file` reports, null when it cannot be loaded. */
  probe(file: string): string[] | null;
}

export function nodeHost(): Host {
  const require = createRequire(import.meta.url);
  return {
    platform: process.platform,
    arch: process.arch,
    env: process.env,
    exists: (file) => fs.existsSync(file),
    read(file) {
      try {
        return fs.readFileSync(file, "utf8");
      } catch {
        return null;
      }
    },
    run(command, args) {
      try {
        return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 5000 });
      } catch {
        return null;
      }
    },
    probe(file) {
      try {
        return (require(file) as { features(): string[] }).features();
      } catch {
        return null;
      }
    },
  };
}

/** A macOS sysctl feature name (machdep.cpu.features, leaf7_features) in /proc/cpuinfo's words. */
function linuxName(sysctlName: string): string {
  const name = sysctlName.toLowerCase();
  if (name === "avx1.0") return "avx";
  if (name === "avx512vnni") return "avx512_vnni";
  return name.replace(/^sse4\.(\d)$/, "sse4_$1");
}

/**
 * The x86-64 CPU's features, in /proc/cpuinfo's names: Linux's /proc/cpuinfo, macOS's sysctl,
 * else (Windows) what cpu-probe.node (native/cpu_probe/), the first of `probes` that loads,
 * reads with cpuid. Null where nothing tells.
 */
export function cpuFlags(host: Host, probes: string[]): Set<string> | null {
  if (host.platform === "linux") {
    const line = host.read("/proc/cpuinfo")?.split("\n").find((l) => l.startsWith("flags"));
    if (line) return new Set(line.slice(line.indexOf(":") + 1).trim().split(/\s+/));
  }
  if (host.platform === "darwin") {
    const out = host.run("sysctl", ["-n", "machdep.cpu.features", "machdep.cpu.leaf7_features"]);
    if (out?.trim()) return new Set(out.trim().split(/\s+/).map(linuxName));
  }
  for (const file of probes) {
    if (!host.exists(file)) continue;
    const features = host.probe(file);
    if (features) return new Set(features);
  }
  return null;
}

/**
 * The prebuilt x86-64 variants this CPU can run, best first (SPECDEC_CPU_VARIANT: that one alone).
 * Where the CPU's features cannot be read, only the baseline is safe.
 */
export function runnableX64Variants(env: NodeJS.ProcessEnv, flags: () => Set<string> | null): string[] {
  const forced = env.SPECDEC_CPU_VARIANT;
  if (forced) return [forced];
  const known = flags();
  if (!known) return ["sse42"];
  return X64_VARIANTS.filter((v) => v.flags.every((f) => known.has(f))).map((v) => v.name);
}

/** The addon file to load from the package root `root`, or null when there is none that fits. */
export function findAddon(root: string, host: Host = nodeHost()): string | null {
  const { env } = host;
  if (env.SPECDEC_NATIVE_PATH) return env.SPECDEC_NATIVE_PATH;  // e.g. a sanitizer build
  const built = path.join(root, "build", "Release", "specdec.node");
  if (host.exists(built) && !env.SPECDEC_CPU_VARIANT) return built;
  const dir = path.join(root, "prebuilds", `${host.platform}-${host.arch}`);
  const probes = [path.join(dir, "cpu-probe.node"), path.join(root, "build", "Release", "cpu-probe.node")];
  const candidates = host.arch === "x64" ? runnableX64Variants(env, () => cpuFlags(host, probes)).map((v) => `specdec.${v}.node`) : [];
  candidates.push("specdec.node");
  for (const file of candidates) {
    if (host.exists(path.join(dir, file))) return path.join(dir, file);
  }
  return host.exists(built) ? built : null;  // a forced variant that is not there
}
