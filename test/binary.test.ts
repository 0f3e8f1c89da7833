// Which addon file is loaded: a source build first, else the best prebuilt CPU variant this CPU
// runs, or the one SPECDEC_CPU_VARIANT forces.
import fs from "node:fs";
import path from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { X64_VARIANTS, cpuFlags, findAddon, nodeHost, runnableX64Variants, type Host } from "../lib/binary.js";
import { repoRoot, tempDir } from "./helpers/env.js";

function packageRoot(files: string[]): string {
  const root = tempDir();
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), "");
  }
  return root;
}

const platformDir = `prebuilds/${process.platform}-${process.arch}`;
const allVariants = X64_VARIANTS.map((v) => `${platformDir}/specdec.${v.name}.node`);

describe("addon selection", () => {
  afterEach(() => {
    delete process.env.SPECDEC_CPU_VARIANT;
  });

  it("lists the variants this CPU runs, best first, the baseline always", () => {
    const here = () => cpuFlags(nodeHost(), []);
    const runnable = runnableX64Variants({}, here);
    expect(runnable.at(-1)).toBe("sse42");
    const order = X64_VARIANTS.map((v) => v.name);
    expect([...runnable].sort((a, b) => order.indexOf(a) - order.indexOf(b))).toEqual(runnable);
    expect(runnableX64Variants({ SPECDEC_CPU_VARIANT: "avx2" }, here)).toEqual(["avx2"]);
  });

  it.runIf(process.arch === "x64")("takes the best prebuild the CPU runs, a source build before any", () => {
    const best = runnableX64Variants({}, () => cpuFlags(nodeHost(), []))[0];
    const prebuilt = packageRoot(allVariants);
    expect(findAddon(prebuilt)).toBe(path.join(prebuilt, platformDir, `specdec.${best}.node`));

    const onlyBaseline = packageRoot([`${platformDir}/specdec.sse42.node`]);
    expect(findAddon(onlyBaseline)).toBe(path.join(onlyBaseline, platformDir, "specdec.sse42.node"));

    const built = packageRoot([...allVariants, "build/Release/specdec.node"]);
    expect(findAddon(built)).toBe(path.join(built, "build/Release/specdec.node"));

    process.env.SPECDEC_CPU_VARIANT = "sse42";
    expect(findAddon(built)).toBe(path.join(built, platformDir, "specdec.sse42.node"));
    // forced to a variant that is not there: the source build
    expect(findAddon(packageRoot(["build/Release/specdec.node"]))).toMatch(/build[\\/]Release[\\/]specdec\.node$/);
  });

  it("finds nothing where nothing fits", () => {
    expect(findAddon(packageRoot([]))).toBeNull();
    expect(findAddon(packageRoot([`prebuilds/${process.platform}-other/specdec.sse42.node`]))).toBeNull();
  });
});

// A machine as the loader sees it: its platform, files (path -> text), commands' output and the
// CPU probe's answer.
function fakeHost(platform: NodeJS.Platform, arch: string, spec: { files?: Record<string, string>; sysctl?: string; probe?: string[] | null } = {}): Host {
  const files = spec.files ?? {};
  return {
    platform,
    arch,
    env: {},
    exists: (f) => f in files || (f.endsWith("cpu-probe.node") && spec.probe !== undefined),
    read: (f) => files[f] ?? null,
    run: (cmd) => (cmd === "sysctl" ? (spec.sysctl ?? null) : null),
    probe: () => spec.probe ?? null,
  };
}

// What these machines print (machdep.cpu.features, then leaf7_features).
const SYSCTL_HASWELL_MAC =
  "FPU VME DE PSE TSC MSR PAE MCE CX8 APIC SEP MTRR PGE MCA CMOV PAT PSE36 CLFSH DS ACPI MMX FXSR SSE SSE2 SS HTT TM PBE SSE3 PCLMULQDQ DTES64 MON DSCPL VMX EST TM2 SSSE3 FMA CX16 TPR PDCM SSE4.1 SSE4.2 x2APIC MOVBE POPCNT AES PCID XSAVE OSXSAVE SEGLIM64 TSCTMR AVX1.0 RDRAND F16C\nRDWRFSGS TSC_THREAD_OFFSET BMI1 AVX2 SMEP BMI2 ERMS INVPCID FPU_CSDS\n";
const SYSCTL_ICE_LAKE_MAC =
  "FPU VME DE PSE TSC MSR PAE MCE CX8 APIC SEP MTRR PGE MCA CMOV PAT PSE36 CLFSH DS ACPI MMX FXSR SSE SSE2 SS HTT TM PBE SSE3 PCLMULQDQ DTES64 MON DSCPL VMX EST TM2 SSSE3 FMA CX16 TPR PDCM SSE4.1 SSE4.2 x2APIC MOVBE POPCNT AES PCID XSAVE OSXSAVE SEGLIM64 TSCTMR AVX1.0 RDRAND F16C\nRDWRFSGS TSC_THREAD_OFFSET SGX BMI1 AVX2 FDPEO SMEP BMI2 ERMS INVPCID FPU_CSDS AVX512F AVX512DQ RDSEED ADX SMAP AVX512IFMA CLFSOPT IPT AVX512CD SHA AVX512BW AVX512VL AVX512VBMI UMIP PKU GFNI VAES VPCLMULQDQ AVX512VNNI AVX512BITALG AVX512VPOPCNTDQ RDPID SGXLC FSREPMOV MDCLEAR IBRS STIBP L1DF ACAPMSR SSBD\n";
const AVX2_FLAGS = ["sse4_2", "avx", "fma", "f16c", "avx2", "bmi2"];
const AVX512_FLAGS = [...AVX2_FLAGS, "avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl", "avx512vbmi", "avx512_vnni"];

describe("addon selection on each platform", () => {
  const prebuilt = (platform: string, arch: string, names: string[]) => {
    const root = packageRoot(names.map((n) => `prebuilds/${platform}-${arch}/${n}`));
    const files = Object.fromEntries(names.map((n) => [path.join(root, `prebuilds/${platform}-${arch}`, n), ""]));
    return { root, files };
  };
  const x64 = ["specdec.avx512.node", "specdec.avx2.node", "specdec.sse42.node"];
  const pick = (host: Host, root: string) => path.basename(findAddon(root, host) ?? "none");

  it("Linux x64: /proc/cpuinfo's flags; unreadable, the CPU probe; neither, the baseline", () => {
    const { root, files } = prebuilt("linux", "x64", [...x64, "cpu-probe.node"]);
    const cpuinfo = (flags: string[]) => ({ ...files, "/proc/cpuinfo": `processor\t: 0\nflags\t\t: fpu ${flags.join(" ")}\n` });
    expect(pick(fakeHost("linux", "x64", { files: cpuinfo(AVX512_FLAGS) }), root)).toBe("specdec.avx512.node");
    expect(pick(fakeHost("linux", "x64", { files: cpuinfo(AVX2_FLAGS) }), root)).toBe("specdec.avx2.node");
    expect(pick(fakeHost("linux", "x64", { files: cpuinfo(["sse4_2", "avx2"]) }), root)).toBe("specdec.sse42.node");
    expect(pick(fakeHost("linux", "x64", { files, probe: AVX2_FLAGS }), root)).toBe("specdec.avx2.node");
    expect(pick(fakeHost("linux", "x64", { files }), root)).toBe("specdec.sse42.node");
  });

  it("macOS x64: sysctl's feature names; arm64: the one build", () => {
    const { root, files } = prebuilt("darwin", "x64", x64);
    expect(pick(fakeHost("darwin", "x64", { files, sysctl: SYSCTL_ICE_LAKE_MAC }), root)).toBe("specdec.avx512.node");
    expect(pick(fakeHost("darwin", "x64", { files, sysctl: SYSCTL_HASWELL_MAC }), root)).toBe("specdec.avx2.node");
    expect(pick(fakeHost("darwin", "x64", { files }), root)).toBe("specdec.sse42.node");
    const arm = prebuilt("darwin", "arm64", ["specdec.node"]);
    expect(pick(fakeHost("darwin", "arm64", { files: arm.files }), arm.root)).toBe("specdec.node");
  });

  it("Windows x64: the CPU probe; where it cannot load, the baseline", () => {
    const { root, files } = prebuilt("win32", "x64", [...x64, "cpu-probe.node"]);
    expect(pick(fakeHost("win32", "x64", { files, probe: AVX512_FLAGS }), root)).toBe("specdec.avx512.node");
    expect(pick(fakeHost("win32", "x64", { files, probe: AVX2_FLAGS }), root)).toBe("specdec.avx2.node");
    expect(pick(fakeHost("win32", "x64", { files, probe: null }), root)).toBe("specdec.sse42.node");
    // /proc/cpuinfo or sysctl output on Windows is not asked for
    const linuxFiles = { ...files, "/proc/cpuinfo": `flags\t: ${AVX512_FLAGS.join(" ")}\n` };
    expect(pick(fakeHost("win32", "x64", { files: linuxFiles, sysctl: SYSCTL_ICE_LAKE_MAC }), root)).toBe("specdec.sse42.node");
    // another platform's files are not taken
    expect(pick(fakeHost("win32", "arm64", { files }), root)).toBe("none");
  });

  // The probe is built beside the addon on x86-64; here it must say what Linux says.
  const probe = path.join(repoRoot, "build/Release/cpu-probe.node");
  it.runIf(process.platform === "linux" && process.arch === "x64" && fs.existsSync(probe))("the CPU probe reads what /proc/cpuinfo says", () => {
    const fromProbe = nodeHost().probe(probe);
    expect(fromProbe).not.toBeNull();
    const fromLinux = cpuFlags(nodeHost(), [])!;
    const relevant = new Set(X64_VARIANTS.flatMap((v) => v.flags));
    expect(new Set(fromProbe)).toEqual(new Set([...relevant].filter((f) => fromLinux.has(f))));
  });
});
