#include "controller.h"

#include <algorithm>
#include <cmath>

namespace specdec {

namespace {

// V(n) / V(1) for a main-model decode of n tokens, measured with main-q8_0 on 2 threads with the
// multi-column Q8_0 kernel (deps/patches/0002) in exact numerics.
double priorRatio(int n) {
  static const double table[][2] = {{1, 1.0}, {2, 1.15}, {3, 1.4}, {5, 1.8}, {9, 3.0}, {17, 5.5}};
  if (n <= 1) return 1.0;
  for (int i = 1; i < 6; i++) {
    if (n <= table[i][0]) {
      double t = (n - table[i - 1][0]) / (table[i][0] - table[i - 1][0]);
      return table[i - 1][1] + t * (table[i][1] - table[i - 1][1]);
    }
  }
  return table[5][1] + (n - 17) * (table[5][1] - table[4][1]) / 8;
}

constexpr double kPriorAcceptance = 0.7;
// A small draft model's step costs about half its size's share of a main-model step (measured:
// draft-q8_0 0.09 for a size ratio of 0.21, tiny-q8_0 0.06 for 0.14).
constexpr double kDraftCostShare = 0.5;
constexpr int kSegmentRounds = 3;  // rounds drafted with one length and measured together
constexpr double kFade = 0.93;     // per segment, of what every length has measured
constexpr int kTryEvery = 3;       // segments between tries of a neighbour of the best length
constexpr size_t kMinPrefillTokens = 32;  // a prompt evaluation that tells the prefill rate

}  // namespace

DraftController::DraftController(int maxTokens, bool adaptive, double sizeRatio, double paramRatio)
    : maxTokens_(maxTokens),
      adaptive_(adaptive),
      start_(0),
      paramRatio_(paramRatio),
      tokens_(maxTokens + 1, 0.0),
      ms_(maxTokens + 1, 0.0) {
  // Expected tokens per unit of time of drafting k tokens, (1 - a^(k+1)) / (1 - a) tokens in
  // k * draft + V(k + 1), against plain decoding's 1 per V(1) = 1.
  double bestRate = 1;
  const double a = kPriorAcceptance;
  for (int k = 1; k <= maxTokens_; k++) {
    const double rate = (1 - std::pow(a, k + 1)) / (1 - a) / (k * kDraftCostShare * sizeRatio + priorRatio(k + 1));
    if (rate > bestRate) {
      bestRate = rate;
      start_ = k;
    }
  }
  startSaving_ = 1 - 1 / bestRate;
}

void DraftController::recordPrefill(size_t tokens, double ms) {
  if (tokens >= kMinPrefillTokens) prefillMsPerToken_ = ms / tokens;
}

// The drafter's catch-up, priced as the main model's prompt evaluation scaled by parameters,
// against the prior's saving over the tokens left at the measured plain rate.
bool DraftController::worthCatchingUp(size_t catchUp, size_t remaining) const {
  if (ms_[0] <= 0 || prefillMsPerToken_ <= 0) return false;  // decode plainly first, and measure
  const double plainMsPerToken = ms_[0] / tokens_[0];
  return catchUp * prefillMsPerToken_ * paramRatio_ < remaining * plainMsPerToken * startSaving_;
}

int DraftController::best() const {
  int bestK = start_;
  double bestRate = -1;
  for (int k = 0; k <= maxTokens_; k++) {
    if (ms_[k] <= 0) continue;
    const double rate = tokens_[k] / ms_[k];
    if (rate > bestRate) {
      bestRate = rate;
      bestK = k;
    }
  }
  return bestK;
}

int DraftController::next(size_t catchUp, size_t remaining) {
  if (!adaptive_) return maxTokens_;
  if (segmentRounds_ > 0) return segmentK_;  // a segment keeps its length
  int k = best();
  // A try that won makes the next segment a try in the same direction. Tries go in turn one
  // longer, one shorter and plain decoding (the baseline; from plain, the prior's length).
  const bool climbing = k == tried_ && k != lastBest_ && k > 0;
  const int direction = k > lastBest_ ? 1 : -1;
  lastBest_ = k;
  tried_ = -1;
  if (climbing || ++segmentsSinceTry_ >= kTryEvery) {
    segmentsSinceTry_ = 0;
    if (k == 0) {
      k = std::max(start_, 1);
    } else if (climbing) {
      k = std::clamp(k + direction, 1, maxTokens_);
    } else {
      tryTurn_ = (tryTurn_ + 1) % 3;
      const int candidates[3] = {std::min(k + 1, maxTokens_), k - 1, 0};
      k = candidates[tryTurn_];
    }
    tried_ = k;
  }
  if (k > 0 && catchUp > 0 && !worthCatchingUp(catchUp, remaining)) k = tried_ = 0;
  segmentK_ = k;
  return k;
}

void DraftController::recordRound(int tokens, double ms) {
  if (!adaptive_) return;
  segmentTokens_ += tokens;
  segmentMs_ += ms;
  if (++segmentRounds_ < kSegmentRounds) return;
  for (int i = 0; i <= maxTokens_; i++) {
    tokens_[i] *= kFade;
    ms_[i] *= kFade;
  }
  tokens_[segmentK_] += segmentTokens_;
  ms_[segmentK_] += segmentMs_;
  segmentRounds_ = 0;
  segmentTokens_ = 0;
  segmentMs_ = 0;
}

}  // namespace specdec
