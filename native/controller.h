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
// Before its first draft in a generation the drafter has to evaluate the prompt: that is paid
// once, whatever the lengths, and drafting starts only if what it could save over the tokens
// left (at the prior's rate, against plain decoding measured first) outweighs it.
#pragma once

#include <cstddef>
#include <vector>

namespace specdec {

class DraftController {
 public:
  // sizeRatio: draft model size / main model size, the prior for a draft step's cost;
  // paramRatio: the same for parameters, the price of the draft model's prompt evaluation.
  DraftController(int maxTokens, bool adaptive, double sizeRatio, double paramRatio);

  // Tokens to draft in the next round (0: decode plainly). catchUp: tokens of the prompt (and
  // of text decoded plainly since) that the drafter has yet to evaluate before its first draft;
  // remaining: tokens left to generate at most.
  int next(size_t catchUp, size_t remaining);
  // The main model evaluated `tokens` prompt tokens in ms.
  void recordPrefill(size_t tokens, double ms);
  // The round just run (at the length next() gave, or fewer near the end of the output or the
  // context) produced `tokens` in ms.
  void recordRound(int tokens, double ms);

 private:
  int best() const;
  bool worthCatchingUp(size_t catchUp, size_t remaining) const;

  int maxTokens_;
  bool adaptive_;
  int start_;                   // the prior's choice
  double startSaving_ = 0;      // the share of decoding time the prior expects it to save
  double paramRatio_;
  double prefillMsPerToken_ = 0;  // the main model's; 0 = not measured
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
