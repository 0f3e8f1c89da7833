#include "acceptance_record.h"

#include <algorithm>

namespace specdec {

namespace {
constexpr double kFade = 0.99;         // per round: about the last hundred rounds (three generations of 128 tokens)
constexpr double kMinChecked = 8;      // a position counts as measured from this many rounds
constexpr double kLowest = 0.3, kHighest = 0.95;  // a record never rules drafting in or out outright
constexpr int kMaxPositions = 64;
}  // namespace

void AcceptanceRecord::record(const Key& key, int checked, int accepted) {
  if (checked <= 0) return;
  checked = std::min(checked, kMaxPositions);
  std::lock_guard<std::mutex> lock(mutex_);
  Positions& p = records_[key];
  if ((int)p.checked.size() < checked) {
    p.checked.resize(checked, 0.0);
    p.accepted.resize(checked, 0.0);
  }
  for (size_t i = 0; i < p.checked.size(); i++) {
    p.checked[i] = p.checked[i] * kFade + ((int)i < checked ? 1 : 0);
    p.accepted[i] = p.accepted[i] * kFade + ((int)i < accepted ? 1 : 0);
  }
}

std::vector<double> AcceptanceRecord::acceptance(const Key& key, int positions) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = records_.find(key);
  if (it == records_.end() || it->second.checked.empty() || it->second.checked[0] < kMinChecked) return {};
  const Positions& p = it->second;
  std::vector<double> out(positions);
  double last = 0;
  for (int i = 0; i < positions; i++) {
    if (i < (int)p.checked.size() && p.checked[i] >= kMinChecked) last = std::clamp(p.accepted[i] / p.checked[i], kLowest, kHighest);
    out[i] = last;
  }
  return out;
}

}  // namespace specdec
