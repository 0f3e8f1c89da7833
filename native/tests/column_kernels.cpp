// The multi-column kernels of deps/patches (batch-invariant small batches) against llama.cpp's own
// single-column kernels, on random blocks: every column's result must have the same bits. The
// numerics tests in test/numerics.test.ts compare a token alone with the same token in a batch;
// in exact mode both take the column kernel (one column or many), so only this test sees a column
// kernel that is wrong for one column and many alike.
//
// The kernels are ggml-cpu internals with C linkage. The single-column ones exist in every build
// (and referencing them links in the files that hold the column kernels); the column kernels only
// in x86 builds with AVX2, so they are referenced weakly and a build without them checks nothing.
#include "column_kernels.h"

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ggml-cpu.h"
#include "ggml.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define SPECDEC_WEAK __attribute__((weak))
#else
#define SPECDEC_WEAK
#define SPECDEC_NO_COLUMN_KERNELS
#endif

#if !defined(SPECDEC_NO_COLUMN_KERNELS)
extern "C" {
// repack.h: n values per row; nc weight rows (a multiple of 8), repacked eight at a time
void ggml_gemv_q4_0_8x8_q8_0(int n, float* s, size_t bs, const void* vx, const void* vy, int nr, int nc);
void ggml_gemv_q4_0_8x8_q8_0_cols(int n, float* s, size_t bs, const void* vx, const void* vy, int ncols, int nc) SPECDEC_WEAK;
void ggml_gemv_q4_K_8x8_q8_K(int n, float* s, size_t bs, const void* vx, const void* vy, int nr, int nc);
void ggml_gemv_q4_K_8x8_q8_K_cols(int n, float* s, size_t bs, const void* vx, const void* vy, int ncols, int nc) SPECDEC_WEAK;
// quants.h: one row against ncols columns `by` bytes apart
void ggml_vec_dot_q5_K_q8_K(int n, float* s, size_t bs, const void* vx, size_t bx, const void* vy, size_t by, int nrc);
void ggml_vec_dot_q5_K_q8_K_cols(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by, int ncols) SPECDEC_WEAK;
void ggml_vec_dot_q6_K_q8_K(int n, float* s, size_t bs, const void* vx, size_t bx, const void* vy, size_t by, int nrc);
void ggml_vec_dot_q6_K_q8_K_cols(int n, float* s, size_t bs, const void* vx, const void* vy, size_t by, int ncols) SPECDEC_WEAK;
}
#endif

namespace specdec {

#if !defined(SPECDEC_NO_COLUMN_KERNELS)
namespace {

// ggml-common.h's block sizes, in bytes
constexpr size_t kQ8_0 = 2 + 32;                     // block_q8_0: d, qs[32]
constexpr size_t kQ8_K = 4 + 256 + 2 * 16;           // block_q8_K: float d, qs[256], bsums[16]
constexpr size_t kQ4_0x8 = 8 * 2 + 128;              // block_q4_0x8: d[8], qs[128]
constexpr size_t kQ4_Kx8 = 8 * 2 + 8 * 2 + 96 + 1024;  // block_q4_Kx8: d[8], dmin[8], scales[96], qs[1024]
constexpr size_t kQ5_K = 2 + 2 + 12 + 32 + 128;     // block_q5_K: d, dmin, scales[12], qh[32], qs[128]
constexpr size_t kQ6_K = 128 + 64 + 16 + 2;         // block_q6_K: ql[128], qh[64], scales[16], d
constexpr int kValues = 512;                         // per row: two K-quant super blocks
constexpr int kRows = 64;
const int kColumnCounts[] = {1, 2, 3, 5, 8, 9, 12, 16};

struct Random {
  std::mt19937 engine{20261202};
  void bytes(uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)engine();
  }
  int8_t quant(int lo) { return (int8_t)(lo + (int)(engine() % (unsigned)(128 - lo))); }
  void half(uint8_t* p, float lo, float hi) {
    const float x = lo + (hi - lo) * (float)(engine() % 10000) / 10000.0f;
    const ggml_fp16_t h = ggml_fp32_to_fp16(x);
    std::memcpy(p, &h, 2);
  }
};

// Random weights in a layout of `blocks` blocks of `size` bytes whose fp16 scales (count of them
// from `scaleAt`) are kept finite and small.
std::vector<uint8_t> weights(Random& r, size_t blocks, size_t size, size_t scaleAt, int scales) {
  std::vector<uint8_t> w(blocks * size);
  r.bytes(w.data(), w.size());
  for (size_t b = 0; b < blocks; b++) {
    for (int i = 0; i < scales; i++) r.half(&w[b * size + scaleAt + 2 * i], 0.001f, 0.05f);
  }
  return w;
}

std::vector<uint8_t> columnsQ8_0(Random& r, int columns) {
  const int blocks = columns * kValues / 32;
  std::vector<uint8_t> y((size_t)blocks * kQ8_0);
  for (int b = 0; b < blocks; b++) {
    uint8_t* p = &y[(size_t)b * kQ8_0];
    r.half(p, 0.001f, 0.05f);
    for (int i = 0; i < 32; i++) p[2 + i] = (uint8_t)r.quant(-127);
  }
  return y;
}

std::vector<uint8_t> columnsQ8_K(Random& r, int columns) {
  const int blocks = columns * kValues / 256;
  std::vector<uint8_t> y((size_t)blocks * kQ8_K);
  for (int b = 0; b < blocks; b++) {
    uint8_t* p = &y[(size_t)b * kQ8_K];
    const float d = 0.001f + (float)(r.engine() % 1000) / 100000.0f;
    std::memcpy(p, &d, 4);
    int8_t qs[256];
    for (int8_t& q : qs) q = r.quant(-128);
    std::memcpy(p + 4, qs, 256);
    for (int g = 0; g < 16; g++) {
      int16_t sum = 0;
      for (int i = 0; i < 16; i++) sum = (int16_t)(sum + qs[16 * g + i]);
      std::memcpy(p + 4 + 256 + 2 * g, &sum, 2);
    }
  }
  return y;
}

bool sameBits(const float* a, const float* b, size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

}  // namespace
#endif

int checkColumnKernels(std::vector<std::string>& failures) {
#if defined(SPECDEC_NO_COLUMN_KERNELS)
  (void)failures;
  return 0;
#else
  ggml_cpu_init();  // the CPU backend's fp16 tables
  Random r;
  int checked = 0;
  // Results all 0 (e.g. the fp16 tables not set up) would make the comparison vacuous.
  const auto vacuous = [&](const std::vector<float>& v, const char* kernel) {
    for (float x : v) {
      if (x != 0) return false;
    }
    failures.push_back(std::string(kernel) + ": every result is 0, nothing was compared");
    return true;
  };
  const auto fail = [&](const char* kernel, int columns) {
    failures.push_back(std::string(kernel) + ", " + std::to_string(columns) + " columns: bits differ from the single-column kernel");
  };

  // Repacked Q4_0 and Q4_K: kRows rows, eight to a repacked block group
  struct RepackedKernel {
    const char* name;
    size_t blockSize, blockValues;
    int scales;  // fp16 scales at the block's start
    bool q8K;    // the columns as Q8_K (else Q8_0)
    void (*single)(int, float*, size_t, const void*, const void*, int, int);
    void (*columns)(int, float*, size_t, const void*, const void*, int, int);
  };
  const RepackedKernel repackedKernels[] = {
      {"Q4_0 8x8", kQ4_0x8, 32, 8, false, ggml_gemv_q4_0_8x8_q8_0, ggml_gemv_q4_0_8x8_q8_0_cols},
      {"Q4_K 8x8", kQ4_Kx8, 256, 16, true, ggml_gemv_q4_K_8x8_q8_K, ggml_gemv_q4_K_8x8_q8_K_cols},
  };
  for (const RepackedKernel& k : repackedKernels) {
    if (!k.columns) continue;
    const std::vector<uint8_t> w = weights(r, (size_t)kRows / 8 * kValues / k.blockValues, k.blockSize, 0, k.scales);
    for (int columns : kColumnCounts) {
      const std::vector<uint8_t> y = k.q8K ? columnsQ8_K(r, columns) : columnsQ8_0(r, columns);
      const size_t stride = y.size() / columns;
      std::vector<float> together((size_t)columns * kRows), alone(kRows);
      k.columns(kValues, together.data(), kRows, w.data(), y.data(), columns, kRows);
      if (vacuous(together, k.name)) break;
      for (int c = 0; c < columns; c++) {
        k.single(kValues, alone.data(), kRows, w.data(), &y[c * stride], 1, kRows);
        if (!sameBits(&together[(size_t)c * kRows], alone.data(), kRows)) { fail(k.name, columns); break; }
      }
      checked++;
    }
  }

  // Q5_K and Q6_K rows: one row against the columns
  struct RowKernel {
    const char* name;
    size_t blockSize, scaleAt;
    int scales;
    void (*single)(int, float*, size_t, const void*, size_t, const void*, size_t, int);
    void (*columns)(int, float*, size_t, const void*, const void*, size_t, int);
  };
  const RowKernel rowKernels[] = {
      {"Q5_K", kQ5_K, 0, 2, ggml_vec_dot_q5_K_q8_K, ggml_vec_dot_q5_K_q8_K_cols},
      {"Q6_K", kQ6_K, 128 + 64 + 16, 1, ggml_vec_dot_q6_K_q8_K, ggml_vec_dot_q6_K_q8_K_cols},
  };
  for (const RowKernel& k : rowKernels) {
    if (!k.columns) continue;
    const std::vector<uint8_t> w = weights(r, kValues / 256, k.blockSize, k.scaleAt, k.scales);
    for (int columns : kColumnCounts) {
      const std::vector<uint8_t> y = columnsQ8_K(r, columns);
      const size_t stride = y.size() / columns;
      std::vector<float> together(columns);
      k.columns(kValues, together.data(), 1, w.data(), y.data(), stride, columns);
      if (vacuous(together, k.name)) break;
      for (int c = 0; c < columns; c++) {
        float alone = 0;
        k.single(kValues, &alone, 0, w.data(), 0, &y[c * stride], 0, 1);
        if (!sameBits(&together[c], &alone, 1)) { fail(k.name, columns); break; }
      }
      checked++;
    }
  }
  return checked;
#endif
}

}  // namespace specdec
