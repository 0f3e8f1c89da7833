#include "controller.h"

#include <algorithm>
#include <cmath>

namespace specdec {

namespace {

// V(n) / V(1) for a main-model decode of n tokens, measured with main-q8_0 on 2 threads with the
// multi-column Q8_0 kernel (deps/patches/0002) in exact numerics: the starting guess until this
// session has measured its own.
double priorRatio(int n) {
  static const double table[][2] = {{1, 1.0}, {2, 1.3}, {3, 1.5}, {5, 1.75}, {9, 3.0}, {17, 5.4}};
  if (n <= 1) return 1.0;
  for (int i = 1; i < 6; i++) {
    if (n <= table[i][0]) {
      double t = (n - table[i - 1][0]) / (table[i][0] - table[i - 1][0]);
      return table[i - 1][1] + t * (table[i][1] - table[i - 1][1]);
    }
  }
  return table[5][1] + (n - 17) * (table[5][1] - table[4][1]) / 8;
}

constexpr double kEma = 0.2;         // weight of a new cost measurement
constexpr double kDecay = 0.97;      // per observed position, for the acceptance rate
constexpr double kProbeShare = 0.03;  // of plain decoding time, spent on probes at most
constexpr double kMargin = 1.05;      // drafting must promise this much over plain decoding
constexpr int kProbeTokens = 3;
constexpr double kRoundEma = 0.1;  // weight of a new round's rate
constexpr int kTrusted = 4;        // rounds after which a k's measured rate replaces the model's

}  // namespace

DraftController::DraftController(int maxTokens, bool adaptive, double draftCostRatio)
    : maxTokens_(maxTokens),
      adaptive_(adaptive),
      draftCostRatio_(draftCostRatio),
      decodeMs_(maxTokens + 2, 0.0),
      roundRate_(maxTokens + 1, 0.0),
      roundCount_(maxTokens + 1, 0) {}

void DraftController::recordRound(int k, int tokens, double ms) {
  if (k < 0 || k > maxTokens_ || ms <= 0) return;
  const double rate = tokens / ms;
  double& r = roundRate_[k];
  r = roundCount_[k]++ == 0 ? rate : (1 - kRoundEma) * r + kRoundEma * rate;
}

void DraftController::recordPrefill(int n, double ms) {
  if (n > 0) prefillMsPerToken_ = ms / n;
}

void DraftController::recordDecode(int n, double ms) {
  if (n == 1) probeBudgetMs_ += kProbeShare * ms;
  if (n < 1 || n >= (int)decodeMs_.size()) return;
  double& v = decodeMs_[n];
  v = v == 0 ? ms : (1 - kEma) * v + kEma * ms;
}

void DraftController::recordDraft(int n, double ms) {
  if (n < 1) return;
  double perToken = ms / n;
  draftMsPerToken_ = draftMsPerToken_ == 0 ? perToken : (1 - kEma) * draftMsPerToken_ + kEma * perToken;
}

void DraftController::recordPosition(bool accepted) {
  acceptedWeight_ = kDecay * acceptedWeight_ + (accepted ? 1 : 0);
  observedWeight_ = kDecay * observedWeight_ + 1;
}

// The measured V(n) when there is one; else the prior shape scaled to the nearest measurement.
double DraftController::decodeCost(int n) const {
  if (n < (int)decodeMs_.size() && decodeMs_[n] > 0) return decodeMs_[n];
  int best = 0;
  for (int m = 1; m < (int)decodeMs_.size(); m++) {
    if (decodeMs_[m] > 0 && (best == 0 || std::abs(m - n) < std::abs(best - n))) best = m;
  }
  if (best == 0) return priorRatio(n);
  return decodeMs_[best] * priorRatio(n) / priorRatio(best);
}

double DraftController::draftCost() const {
  return draftMsPerToken_ > 0 ? draftMsPerToken_ : draftCostRatio_ * decodeCost(1);
}

int DraftController::next(size_t catchUp) {
  if (!adaptive_) return maxTokens_;
  const double a = std::min(acceptance(), 0.999);
  const double v1 = decodeCost(1);
  const double draft = draftCost();
  int bestK = 0;
  double bestRate = kMargin * (roundCount_[0] >= kTrusted ? roundRate_[0] : 1.0 / v1);
  for (int k = 1; k <= maxTokens_; k++) {
    double rate;
    if (roundCount_[k] >= kTrusted) {
      rate = roundRate_[k];
    } else {
      double expected = (1 - std::pow(a, k + 1)) / (1 - a);
      rate = expected / (k * draft + decodeCost(k + 1));
    }
    if (rate > bestRate) {
      bestRate = rate;
      bestK = k;
    }
  }
  if (bestK > 0) return bestK;
  // Drafting does not pay as far as we know. Acceptance changes with the text, so look again
  // once plain decoding has paid for the look.
  const int k = std::min(kProbeTokens, maxTokens_);
  const double prefill = prefillMsPerToken_ > 0 ? prefillMsPerToken_ : v1 / 4;
  const double probeCost = catchUp * prefill * draftCostRatio_ + k * draft + decodeCost(k + 1) - v1;
  if (probeBudgetMs_ >= probeCost) {
    probeBudgetMs_ = 0;
    return k;
  }
  return 0;
}
}  // namespace specdec
