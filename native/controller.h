// Draft length controller: picks how many tokens to draft in each round from what it has
// measured in this session: the acceptance rate of drafted tokens, the cost of drafting one
// token, and the cost V(n) of a main-model decode of n tokens. It drafts k tokens when the
// expected tokens per millisecond, (1 - a^(k+1)) / (1 - a) / (k * draft + V(k + 1)), beats plain
// decoding's 1 / V(1) by 5% (a margin for what the model leaves out). Otherwise it decodes
// plainly, and probes whether drafting pays again only when the plain decoding since the last
// probe has earned the probe's cost (3% of its time): a probe first has to bring the drafter up
// to date with the text, which after a long prompt is a prompt evaluation on the draft model.
// Before anything is measured, V(n) follows a shape measured on a 2-core x86 CPU and a drafted
// token costs the draft/main size ratio times V(1). Once a draft length has been tried a few
// times, what counts for it is the measured rate of whole rounds (tokens per millisecond), which
// includes what the model leaves out (rounds that start with a rejected first draft, the draft
// model's cold caches after a main-model batch...).
#pragma once

#include <cstddef>
#include <vector>

namespace specdec {

class DraftController {
 public:
  // draftCostRatio: draft model size / main model size, the prior for drafting cost.
  DraftController(int maxTokens, bool adaptive, double draftCostRatio);

  // Tokens to draft in the next round (0: decode plainly); catchUp: tokens the drafter would
  // have to evaluate before drafting.
  int next(size_t catchUp);
  void recordPrefill(int n, double ms);  // main-model prompt evaluation
  void recordDecode(int n, double ms);
  void recordDraft(int n, double ms);
  // One drafted position: accepted or the first rejected one.
  void recordPosition(bool accepted);
  // One round as it went: k drafts asked for (0: plain), tokens produced, milliseconds taken.
  void recordRound(int k, int tokens, double ms);

  double acceptance() const { return acceptedWeight_ / observedWeight_; }

 private:
  double decodeCost(int n) const;
  double draftCost() const;

  int maxTokens_;
  bool adaptive_;
  double draftCostRatio_;
  std::vector<double> decodeMs_;  // EMA by batch size; 0 = not measured
  double draftMsPerToken_ = 0;
  double prefillMsPerToken_ = 0;
  double acceptedWeight_ = 0.7;  // prior: a = 0.7 with the weight of one observation
  double observedWeight_ = 1.0;
  double probeBudgetMs_ = 0;
  // Measured tokens per millisecond of whole rounds, by k (0: plain), and how many rounds
  // each; the model above only ranks what has not been measured often enough.
  std::vector<double> roundRate_;
  std::vector<int> roundCount_;
};

}  // namespace specdec
