// Draft length controller: picks how many tokens to draft in each round by measuring what each
// length yields. Rounds go in segments of a few rounds with one length k (0: plain decoding);
// for every k it keeps the tokens produced and the milliseconds spent by its segments, fading
// with age, and takes the k with the best ratio. Every few segments it tries, in turn, one token
// longer, one shorter and plain decoding, and a try that wins is followed by another in the same
// direction: so it climbs to a better length and follows the text as acceptance changes.
// Measuring whole rounds counts everything a cost model would have to guess: the draft model's
// cold caches after a main-model batch, attention growing with depth, verification and sampling,
// rounds whose first draft is rejected before any batch. Segments rather than single rounds,
// because a round leaves work to the next (a pending token to evaluate). The first length comes
// from a prior: acceptance 0.7, the cost of a main-model decode of n tokens as measured on a
// 2-core x86 CPU, and a draft step costing half the draft/main size ratio of a main step.
#pragma once

#include <cstddef>
#include <vector>

namespace specdec {

class DraftController {
 public:
  // draftCostRatio: draft model size / main model size, the prior for drafting cost.
  DraftController(int maxTokens, bool adaptive, double draftCostRatio);

  // Tokens to draft in the next round (0: decode plainly).
  int next();
  // The round just run (at the length next() gave, or fewer near the end of the output or the
  // context) produced `tokens` in ms.
  void recordRound(int tokens, double ms);

 private:
  int best() const;

  int maxTokens_;
  bool adaptive_;
  int start_;                   // the prior's choice
  std::vector<double> tokens_;  // faded sums by draft length; ms 0 = never tried
  std::vector<double> ms_;
  int segmentK_ = 0;            // the length of the segment under way
  int segmentRounds_ = 0;
  int segmentTokens_ = 0;
  double segmentMs_ = 0;
  int segmentsSinceTry_ = 0;
  int tryTurn_ = 0;  // which of longer, shorter, plain the next try is
  int tried_ = -1;    // the length this segment tries, if it is a try
  int lastBest_ = 0;
};

}  // namespace specdec
