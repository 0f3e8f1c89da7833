// Draft length controller: picks how many tokens to draft in each round from what it has
// measured in this session: the acceptance rate of drafted tokens, the cost of drafting one
// token, and the cost V(n) of a main-model decode of n tokens. It drafts k tokens when the
// expected tokens per millisecond, (1 - a^(k+1)) / (1 - a) / (k * draft + V(k + 1)), beats plain
// decoding's 1 / V(1), and otherwise decodes plainly, probing now and then whether drafting pays
// again (less and less often while it keeps not paying: a probe costs a draft-model catch-up). V(n) starts from a prior shape (measured on a 2-core x86 CPU) scaled by what is known.
#pragma once

#include <vector>

namespace specdec {

class DraftController {
 public:
  DraftController(int maxTokens, bool adaptive);

  // Tokens to draft in the next round; 0: decode plainly.
  int next();
  void recordDecode(int n, double ms);
  void recordDraft(int n, double ms);
  // One drafted position: accepted or the first rejected one.
  void recordPosition(bool accepted);

  double acceptance() const { return acceptedWeight_ / observedWeight_; }

 private:
  double decodeCost(int n) const;

  int maxTokens_;
  bool adaptive_;
  std::vector<double> decodeMs_;  // EMA by batch size; 0 = not measured
  double draftMsPerToken_ = 0;
  double acceptedWeight_ = 0.7;  // prior: a = 0.7 with the weight of one observation
  double observedWeight_ = 1.0;
  int plainSinceProbe_ = 0;
  int probeInterval_;  // doubles while probes keep finding that drafting does not pay
};

}  // namespace specdec
