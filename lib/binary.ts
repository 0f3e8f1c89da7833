// Which compiled addon to load. A source build (build/Release/specdec.node) wins; otherwise a
// prebuilt one from prebuilds/<platform>-<arch>/, where x86-64 ships one file per CPU level
// (specdec.<variant>.node) and the best one this CPU runs is taken. SPECDEC_CPU_VARIANT=<variant>
// takes that prebuild whatever the CPU and even beside a source build (for tests and
// measurements); SPECDEC_NATIVE_PATH names the file outright (a sanitizer build). Also used by
// scripts/install.mjs to decide whether a build is needed.
import fs from "node:fs";
import path from "node:path";

/**
 * The x86-64 CPU levels of the prebuilds, best first, with the /proc/cpuinfo flags each needs:
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

/** The CPU's feature flags where the system tells them (Linux), else null. */
function cpuFlags(): Set<string> | null {
  try {
    const info = fs.readFileSync("/proc/cpuinfo", "utf8");
    const line = info.split("\n").find((l) => l.startsWith("flags"));
    return line ? new Set(line.slice(line.indexOf(":") + 1).trim().split(/\s+/)) : null;
  } catch {
    return null;
  }
}

/**
 * The prebuilt x86-64 variants this CPU can run, best first (SPECDEC_CPU_VARIANT: that one alone).
 * Where the CPU's flags cannot be read, only the baseline is safe.
 */
export function runnableX64Variants(env: NodeJS.ProcessEnv = process.env): string[] {
  const forced = env.SPECDEC_CPU_VARIANT;
  if (forced) return [forced];
  const flags = cpuFlags();
  if (!flags) return ["sse42"];
  return X64_VARIANTS.filter((v) => v.flags.every((f) => flags.has(f))).map((v) => v.name);
}

/** The addon file to load from the package root `root`, or null when there is none that fits. */
export function findAddon(root: string): string | null {
  if (process.env.SPECDEC_NATIVE_PATH) return process.env.SPECDEC_NATIVE_PATH;  // e.g. a sanitizer build
  const built = path.join(root, "build", "Release", "specdec.node");
  if (fs.existsSync(built) && !process.env.SPECDEC_CPU_VARIANT) return built;
  const dir = path.join(root, "prebuilds", `${process.platform}-${process.arch}`);
  const candidates = process.arch === "x64" ? runnableX64Variants().map((v) => `specdec.${v}.node`) : [];
  candidates.push("specdec.node");
  for (const file of candidates) {
    if (fs.existsSync(path.join(dir, file))) return path.join(dir, file);
  }
  return fs.existsSync(built) ? built : null;  // a forced variant that is not there
}
