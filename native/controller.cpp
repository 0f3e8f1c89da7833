#include "controller.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "cost_curve.h"

namespace specdec {

namespace {

// The chance that a draft is kept at each position (given the ones before) before anything is
// measured for the pair: draft-q8_0's drafts for main-q8_0's 1.1 B Q4_K_M copy were kept 0.7-0.9
// greedy and 0.7-0.8 at temperature 0.8, also where lookup falls short (the benchmark prompts).
constexpr double kPriorAcceptance = 0.7;
constexpr double kPriorWeight = 2;  // rounds' worth of the prior in a position's acceptance
// ... of the pair's acceptance measured in earlier generations (AcceptanceRecord)
constexpr double kMeasuredPriorWeight = 4;
// Rounds one length apart's worth of the prior's slope. The prior's is the model's measured cost
// curve and draft step; the rounds' own fit reads steeper (5-6 ms a drafted token where the round
// times give 3.7-4 at 1.1 B Q4_K_M): rounds the machine stalls sit at whatever length was under
// way (as, when that was measured, rounds that ran no batch did). At 3 rounds' weight the
// controller drafted shorter than the best fixed length; at 12, greedy, 1.1 B Q4_K_M, in-process
// A/B: draft 3-5% faster, draft + lookup 3% (bench/results/round-costs-1b-q4_k_m.md).
constexpr double kSlopeWeight = 12;
constexpr int kSegmentRounds = 3;  // rounds drafted with one length in a row
constexpr double kFade = 0.93;     // per segment, of everything measured
constexpr int kTryEvery = 5;       // segments between tries
const double kRoundFade = std::pow(kFade, 1.0 / kSegmentRounds);  // per round, where rounds are not in segments
constexpr double kBranchShare = 0.25;  // of a round's time that a tree's branches may add
constexpr double kPlainTryBelow = 1.25;  // drafting's lead over plain decoding that stops plain tries
// A one-round try's time is one sample, and the machine stalls now and then (a round 1.5x its
// usual is common on a shared 2-core VM): a try that leaves drafting within this factor of plain
// decoding at the prior's acceptance goes on for a segment. Where drafting does not pay at all
// (a draft step as dear as a main one: 0.6x at the prior) it stops after the round.
constexpr double kTrySlack = 1.3;
constexpr size_t kMinPrefillTokens = 32;  // a prompt evaluation that tells the prefill rate
// From plain decoding, drafting is tried for one round; after each try that found it slower, the
// next waits twice as many segments (up to 2^kMaxBackoff times kTryEvery): where drafting is far
// behind (a GPU, where a draft step costs as much as a main one), a try every few segments would
// cost more than 5%, while one unlucky try does not shut drafting out where it pays.
constexpr int kMaxBackoff = 4;

}  // namespace

DraftController::DraftController(int maxTokens, bool adaptive, const CostPrior& prior)
    : maxTokens_(maxTokens),
      adaptive_(adaptive),
      paramRatio_(prior.paramRatio),
      checked_(maxTokens, 0.0),
      accepted_(maxTokens, 0.0) {
  // A round of k: k draft steps, the draft model's round and V(k + 1), against plain decoding's
  // 1 per V(1) = 1.
  roundCost_.resize(maxTokens_ + 1);
  for (int k = 0; k <= maxTokens_; k++) {
    const double batch = k + 1 < (int)prior.ratio.size() ? prior.ratio[k + 1] : CostCurve::priorRatio(k + 1);
    roundCost_[k] = prior.draftRound + k * prior.draftStep + batch;
  }
  priorChord_ = maxTokens_ > 1 ? (roundCost_[maxTokens_] - roundCost_[1]) / (maxTokens_ - 1) : roundCost_[maxTokens_] - roundCost_[0];
  setPriorAcceptance({});
}

void DraftController::setPriorAcceptance(const std::vector<double>& measured) {
  const bool useMeasured = (int)measured.size() >= maxTokens_;
  priorAcceptance_.assign(maxTokens_, kPriorAcceptance);
  if (useMeasured) std::copy(measured.begin(), measured.begin() + maxTokens_, priorAcceptance_.begin());
  priorWeight_ = useMeasured ? kMeasuredPriorWeight : kPriorWeight;
  // The best rate a round can have at the prior's acceptance, in plain steps' tokens.
  double bestRate = 1;
  for (int k = 1; k <= maxTokens_; k++) {
    double tokens = 1, kept = 1;  // the pending token, then each draft kept with all before it
    for (int i = 0; i < k; i++) tokens += (kept *= priorAcceptance_[i]);
    bestRate = std::max(bestRate, tokens / roundCost_[k]);
  }
  draftingPays_ = bestRate > 1;
  startSaving_ = 1 - 1 / bestRate;
}

void DraftController::startGeneration() {
  if (!adaptive_ || segmentK_ > 0 || w_ <= 0 || !plainBest(bestDraftLength())) return;
  failedTrials_ = 0;
  segmentRounds_ = 0;
  segmentsSinceTry_ = kTryEvery - 1;
}

void DraftController::recordPrefill(size_t tokens, double ms) {
  if (tokens >= kMinPrefillTokens) prefillMsPerToken_ = ms / tokens;
}

bool DraftController::catchUpPays(size_t catchUp, size_t remaining) const {
  if (!adaptive_) return true;  // told to draft every round
  // The rate of plain decoding; with free drafters running from the start, the best measured.
  const double r = rate(0) > 0 ? rate(0) : rate(bestDraftLength());
  if (r <= 0 || prefillMsPerToken_ <= 0) return false;  // decode first, and measure
  return catchUp * prefillMsPerToken_ * paramRatio_ < remaining / r * startSaving_;
}

// The chance that the draft's token at `position` is kept, given that the ones before it were: the
// measured share, shrunk towards the prior by a few rounds' weight, so that one round does not
// decide it.
double DraftController::acceptance(int position) const {
  return (accepted_[position] + priorWeight_ * priorAcceptance_[position]) / (checked_[position] + priorWeight_);
}

double DraftController::expectedKept(int k) const {
  double drafts = 0, kept = 1;
  for (int i = 0; i < k; i++) drafts += (kept *= acceptance(i));
  return drafts;
}

// Tokens the main model evaluates and keeps in a round drafting k: each draft with the chance
// that it and all before it are kept, and the pending token when there is one: when the round
// before rejected a draft (had it kept all, the next draft's first token is checked against
// logits at hand instead).
double DraftController::expectedTokens(int k, bool atLeastPrior) const {
  double drafts = 0, kept = 1;
  for (int i = 0; i < k; i++) drafts += (kept *= atLeastPrior ? std::max(acceptance(i), priorAcceptance_[i]) : acceptance(i));
  return drafts + (1 - kept);
}

// The fitted line a + b * k through the drafting rounds' times, its slope a least-squares one
// held towards the prior's with kSlopeWeight rounds' weight: the prior's cost per drafted token
// over the lengths (its chord), scaled as its cost at the mean length is the mean time. (Its top
// end's slope drawn as a line down to a first round that drafted 3 read a round of 8 as 107 ms
// where the curve says 67, 1.1 B Q4_K_M, and chose 1 token a round.)
double DraftController::slope() const {
  const double meanK = sk_ / w_, meanMs = sy_ / w_;
  const double spread = skk_ - sk_ * meanK, covariance = sky_ - sk_ * meanMs;
  const double priorB = meanMs * priorChord_ / priorCost(meanK);
  return std::max(0.0, (covariance + kSlopeWeight * priorB) / (spread + kSlopeWeight));
}

double DraftController::priorCost(double k) const {
  k = std::clamp(k, 0.0, (double)maxTokens_);
  const int below = std::min((int)k, maxTokens_ - 1);
  return roundCost_[below] + (k - below) * (roundCost_[below + 1] - roundCost_[below]);
}

double DraftController::roundMs(int k) const {
  const double meanK = sk_ / w_, meanMs = sy_ / w_;
  return std::max(meanMs + slope() * (k - meanK), 0.05 * meanMs);
}

size_t DraftController::nodeBudget(int k) const {
  if (!adaptive_ || w_ <= 0) return SIZE_MAX;
  const double b = slope();
  if (b <= 0) return SIZE_MAX;
  return (size_t)k + (size_t)(kBranchShare * roundMs(k) / b);
}

double DraftController::rate(int k, bool atLeastPrior) const {
  if (k == 0) return plainMs_ > 0 ? plainTokens_ / plainMs_ : plainEstimateMs_ > 0 ? 1 / plainEstimateMs_ : 0;
  return w_ > 0 ? expectedTokens(k, atLeastPrior) / roundMs(k) : 0;
}

int DraftController::bestDraftLength() const {
  if (w_ <= 0) return maxTokens_;
  int bestK = 1;
  for (int k = 2; k <= maxTokens_; k++) {
    if (rate(k) > rate(bestK)) bestK = k;
  }
  return bestK;
}

bool DraftController::plainBest(int drafting) const { return w_ > 0 ? rate(0) >= rate(drafting) : !draftingPays_; }

int DraftController::next(size_t catchUp, size_t remaining) {
  if (!adaptive_) return maxTokens_;
  if (segmentRounds_ > 0) return segmentK_;  // a segment keeps its length
  const int drafting = bestDraftLength();
  const bool plainAhead = plainBest(drafting);
  if (trialPending_) {
    trialPending_ = false;
    // A one-round try tells roughly what a round costs, and whether its drafts were kept is luck
    // (at temperature 0.8 the first is rejected in about 3 rounds of 10): when the cost leaves
    // drafting close at the prior's acceptance, a segment's worth of rounds decides.
    if (plainAhead && !trialExtended_ && kTrySlack * rate(drafting, true) > rate(0)) {
      trialExtended_ = trialPending_ = true;
      segmentK_ = drafting;
      segmentLength_ = kSegmentRounds;
      return drafting;
    }
    trialExtended_ = false;
    failedTrials_ = plainAhead ? std::min(failedTrials_ + 1, kMaxBackoff) : 0;
  }
  int k = plainAhead ? 0 : drafting;
  bool trial = w_ <= 0;
  // Tries: from plain decoding, drafting (backing off); else a length next to the best, one
  // shorter and one longer in turn, and plain decoding instead every other time while drafting is
  // not far ahead.
  if (++segmentsSinceTry_ >= (k == 0 ? kTryEvery << failedTrials_ : kTryEvery)) {
    segmentsSinceTry_ = 0;
    tryTurn_ = (tryTurn_ + 1) % 4;
    if (k == 0) {
      k = drafting;
      trial = true;
    } else if (tryTurn_ % 2 == 1 && w_ > 0 && (rate(0) <= 0 || rate(k) < kPlainTryBelow * rate(0))) {
      k = 0;
    } else {
      const int shorter = std::max(k - 1, 1), longer = std::min(k + 1, maxTokens_);
      k = (tryTurn_ < 2 && shorter != k) || longer == k ? shorter : longer;
    }
  }
  if (k > 0 && catchUp > 0 && !catchUpPays(catchUp, remaining)) {
    k = 0;
    promptRefusals_++;
  }
  segmentK_ = k;
  // Drafting before anything is measured, or tried again from plain decoding, is one round: where
  // it does not pay (a draft step as dear as a main one), one round tells.
  segmentLength_ = k > 0 && trial ? 1 : kSegmentRounds;
  trialPending_ = k > 0 && trial;
  return k;
}

void DraftController::countAcceptance(int checked, int accepted) {
  for (int i = 0; i < checked && i < maxTokens_; i++) {
    checked_[i] += 1;
    if (i < accepted) accepted_[i] += 1;
  }
}

void DraftController::recordAcceptance(int checked, int accepted) {
  if (!adaptive_) return;
  countAcceptance(checked, accepted);
  // Faded per round as the rounds it records are per segment.
  for (int i = 0; i < maxTokens_; i++) {
    checked_[i] *= kRoundFade;
    accepted_[i] *= kRoundFade;
  }
}

void DraftController::recordRound(int k, int tokens, double ms, int checked, int accepted, bool evaluated) {
  if (!adaptive_) return;
  if (!evaluated) {
    // Its first draft rejected against the logits at hand, no batch: its time (a draft's) goes to
    // the next round that runs one (round.cpp). As a point of the fit (0.1 ms where batches take
    // 40 at 1.1 B) it would read drafting as nearly free.
  } else if (k == 0) {
    plainTokens_ += tokens;
    plainMs_ += ms;
  } else if (!draftedBefore_) {
    // The session's first drafting round is the first steps of a draft model after its prompt
    // evaluation, the main model's first batch of that size, on cold caches (half as long again
    // as the usual, 66 MB models on a 2-core CPU): its acceptance counts, its time does not.
    draftedBefore_ = true;
  } else {
    w_ += 1;
    sk_ += k;
    skk_ += k * k;
    sy_ += ms;
    sky_ += k * ms;
  }
  countAcceptance(checked, accepted);
  if (++segmentRounds_ < segmentLength_) return;
  segmentRounds_ = 0;
  for (double* x : {&plainTokens_, &plainMs_, &w_, &sk_, &skk_, &sy_, &sky_}) *x *= kFade;
  for (int i = 0; i < maxTokens_; i++) {
    checked_[i] *= kFade;
    accepted_[i] *= kFade;
  }
}

}  // namespace specdec
