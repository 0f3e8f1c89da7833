// CostCurve: what one evaluation of n tokens costs this model, V(n), learnt from every decode
// any session of the model runs (plain steps give V(1), verification batches V(k + 1)), per
// thread count, so that the draft-length controllers of later sessions start from the model,
// machine and threads at hand rather than from a prior measured elsewhere. Until a size has
// been seen often enough, the prior (V(n)/V(1) of a 66 M-parameter Q8_0 model on a 2-core x86
// CPU) stands in, scaled to what is measured.
//
// Threading: record() is called from the pool threads of every session of the model; all
// methods lock.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <vector>

namespace specdec {

class CostCurve {
 public:
  // Sizes beyond this are prompt chunks, not verification batches: not recorded.
  static constexpr int kMaxTokens = 64;
  // Figures are kept per thread setting: this is its key.
  static int key(int threads, int threadsBatch) { return threads * 65536 + threadsBatch; }

  // One evaluation of n tokens with the thread setting `key` took ms.
  void record(int key, int n, double ms);
  // V(n) / V(1) for n = 0..maxN (index 0 unused, 1 is 1.0): measured where n and 1 were seen
  // often enough, interpolated between measured sizes, the prior's shape beyond them.
  std::vector<double> ratios(int key, int maxN) const;
  // Measured V(1) in ms; 0 while not seen often enough.
  double singleMs(int key) const;
  // V(1) in ms as well as can be told: measured; else from the smallest size seen at all, by the
  // prior's shape (which, batches being cheapest on GPUs, errs towards a V(1) too small); 0:
  // nothing seen.
  double singleEstimateMs(int key) const;
  // The prior's V(n) / V(1).
  static double priorRatio(int n);

 private:
  struct Size {
    double weight = 0;  // faded count of samples
    double ms = 0;      // the least seen until measured, then a faded mean
  };
  using Table = std::vector<Size>;  // by n, 0..kMaxTokens
  const Size* measured(const Table& table, int n) const;

  mutable std::mutex mutex_;
  std::map<int, Table> tables_;  // by key()
};

}  // namespace specdec
