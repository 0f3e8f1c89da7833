// cpu-probe.node: the x86-64 CPU's features in /proc/cpuinfo's names, for the loader (lib/binary.ts)
// where no system file or command tells them (Windows). Plain C over Node-API, built with no
// instruction-set flags, so that it runs on any x86-64 CPU; a feature counts only when the CPU
// has it and the OS saves its registers (XCR0), as Linux's flags do.
#define NAPI_VERSION 8
#include <node_api.h>

#if defined(_MSC_VER)
#include <intrin.h>
static void cpuid(int leaf, int sub, int r[4]) { __cpuidex(r, leaf, sub); }
static unsigned long long xcr0(void) { return _xgetbv(0); }
#else
#include <cpuid.h>
static void cpuid(int leaf, int sub, int r[4]) {
  unsigned a, b, c, d;
  __cpuid_count(leaf, sub, a, b, c, d);
  r[0] = (int)a, r[1] = (int)b, r[2] = (int)c, r[3] = (int)d;
}
static unsigned long long xcr0(void) {
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((unsigned long long)hi << 32) | lo;
}
#endif

#define BIT(x, n) (((unsigned)(x) >> (n)) & 1u)

static napi_value features(napi_env env, napi_callback_info info) {
  (void)info;
  const char* found[16];
  int n = 0;
  int r1[4], r7[4] = {0, 0, 0, 0};
  cpuid(0, 0, r1);
  const int maxLeaf = r1[0];
  cpuid(1, 0, r1);
  if (maxLeaf >= 7) cpuid(7, 0, r7);
  const unsigned long long x = BIT(r1[2], 27) ? xcr0() : 0;  // OSXSAVE: xgetbv is there
  const int ymm = (x & 0x6) == 0x6;                          // SSE and AVX state
  const int zmm = ymm && (x & 0xe0) == 0xe0;                 // opmask, ZMM0-15 upper halves, ZMM16-31
  if (BIT(r1[2], 20)) found[n++] = "sse4_2";
  if (ymm && BIT(r1[2], 28)) found[n++] = "avx";
  if (ymm && BIT(r1[2], 12)) found[n++] = "fma";
  if (ymm && BIT(r1[2], 29)) found[n++] = "f16c";
  if (ymm && BIT(r7[1], 5)) found[n++] = "avx2";
  if (BIT(r7[1], 8)) found[n++] = "bmi2";
  if (zmm && BIT(r7[1], 16)) found[n++] = "avx512f";
  if (zmm && BIT(r7[1], 17)) found[n++] = "avx512dq";
  if (zmm && BIT(r7[1], 28)) found[n++] = "avx512cd";
  if (zmm && BIT(r7[1], 30)) found[n++] = "avx512bw";
  if (zmm && BIT(r7[1], 31)) found[n++] = "avx512vl";
  if (zmm && BIT(r7[2], 1)) found[n++] = "avx512vbmi";
  if (zmm && BIT(r7[2], 11)) found[n++] = "avx512_vnni";
  napi_value list;
  if (napi_create_array_with_length(env, (size_t)n, &list) != napi_ok) return NULL;
  for (int i = 0; i < n; i++) {
    napi_value s;
    if (napi_create_string_utf8(env, found[i], NAPI_AUTO_LENGTH, &s) != napi_ok) return NULL;
    if (napi_set_element(env, list, (uint32_t)i, s) != napi_ok) return NULL;
  }
  return list;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "features", NAPI_AUTO_LENGTH, features, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "features", fn) != napi_ok) return NULL;
  return exports;
}
