#include "cost_curve.h"

#include <algorithm>

namespace specdec {

namespace {

// A size's mean follows the last few dozen samples (the context deepens, the machine's load
// changes); it counts as measured from a handful on.
constexpr double kFade = 0.97;
constexpr double kMinWeight = 4;

}  // namespace

// V(n) / V(1) measured with main-q8_0 (66 M parameters) on 2 threads at depth 400 with the
// multi-column Q8_0 kernel and the batch-invariant attention (deps/patches/0002, 0006) in exact
// numerics (V(2) measured 0.93-0.98).
double CostCurve::priorRatio(int n) {
  static const double table[][2] = {{1, 1.0}, {2, 1.0}, {3, 1.1}, {5, 1.45}, {9, 2.0}, {17, 3.7}};
  if (n <= 1) return 1.0;
  for (int i = 1; i < 6; i++) {
    if (n <= table[i][0]) {
      double t = (n - table[i - 1][0]) / (table[i][0] - table[i - 1][0]);
      return table[i - 1][1] + t * (table[i][1] - table[i - 1][1]);
    }
  }
  return table[5][1] + (n - 17) * (table[5][1] - table[4][1]) / 8;
}

void CostCurve::record(int key, int n, double ms) {
  if (n < 1 || n > kMaxTokens || !(ms > 0)) return;
  std::lock_guard<std::mutex> lock(mutex_);
  Table& table = tables_[key];
  if (table.empty()) table.resize(kMaxTokens + 1);
  Size& s = table[n];
  const bool wasMeasured = s.weight >= kMinWeight;
  // A decode the machine held up (another process, a page fault) counts as twice the usual at most.
  if (wasMeasured) ms = std::min(ms, 2 * s.ms);
  s.weight = s.weight * kFade + 1;
  // A process's first decodes of a size run on cold caches (the 1.1 B Q4_K_M model's first single
  // step after loading 131.8 ms, the second 37.3, then 15-17): until the size is measured its
  // figure is the least seen, then a faded mean from there. A mean from the first sample made
  // plain decoding look three to four times dearer than it was in a fresh process's first
  // generation (singleEstimateMs stands in for its rate until it is measured).
  s.ms = wasMeasured ? s.ms + (ms - s.ms) / s.weight : s.weight == 1 ? ms : std::min(s.ms, ms);
}

const CostCurve::Size* CostCurve::measured(const Table& table, int n) const {
  return n < (int)table.size() && table[n].weight >= kMinWeight ? &table[n] : nullptr;
}

std::vector<double> CostCurve::ratios(int key, int maxN) const {
  std::vector<double> out(maxN + 1, 1.0);
  for (int n = 2; n <= maxN; n++) out[n] = priorRatio(n);
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = tables_.find(key);
  if (it == tables_.end()) return out;
  const Table& table = it->second;
  const Size* one = measured(table, 1);
  if (!one) return out;
  // Measured points (n, V(n)/V(1)), 1 first; between two, a straight line; past the last, the
  // prior's shape scaled to meet it.
  std::vector<std::pair<int, double>> points = {{1, 1.0}};
  for (int n = 2; n <= std::min(maxN, kMaxTokens); n++) {
    if (const Size* s = measured(table, n)) points.push_back({n, std::max(s->ms / one->ms, points.back().second)});
  }
  size_t p = 0;
  for (int n = 2; n <= maxN; n++) {
    while (p + 1 < points.size() && points[p + 1].first < n) p++;
    if (p + 1 < points.size()) {
      const auto [n0, r0] = points[p];
      const auto [n1, r1] = points[p + 1];
      out[n] = r0 + (r1 - r0) * (n - n0) / (n1 - n0);
    } else {
      const auto [n0, r0] = points.back();
      out[n] = r0 * priorRatio(n) / priorRatio(n0);
    }
  }
  return out;
}

double CostCurve::singleMs(int key) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = tables_.find(key);
  if (it == tables_.end()) return 0;
  const Size* one = measured(it->second, 1);
  return one ? one->ms : 0;
}

double CostCurve::singleEstimateMs(int key) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = tables_.find(key);
  if (it == tables_.end()) return 0;
  if (const Size* one = measured(it->second, 1)) return one->ms;
  for (int n = 1; n < (int)it->second.size(); n++) {
    if (it->second[n].weight > 0) return it->second[n].ms / priorRatio(n);
  }
  return 0;
}

}  // namespace specdec
