// Verification: does the main model keep a drafted token at a position, and which token does it
// put there otherwise?
// - Greedy: the draft is kept iff it is the main model's argmax; otherwise the argmax is taken.
// - Sampling, draft drawn from the drafter's distribution q: speculative sampling (Leviathan et
//   al. 2023; Chen et al. 2023): keep d with probability min(1, p(d) / q(d)); otherwise draw from
//   norm(max(0, p - q)). p and q come from the same sampler chain.
// - Sampling, deterministic draft (no q): keep it iff it equals the token drawn from p.
// Either way the token at the position is distributed exactly as p.
#pragma once

#include <vector>

#include "llama.h"
#include "sampling.h"

namespace specdec {

struct Verdict {
  bool accepted;
  llama_token token;  // the draft when accepted, else the main model's replacement
};

class Verifier {
 public:
  Verifier(Sampler& sampler, int32_t nVocab) : sampler_(sampler), nVocab_(nVocab) {}

  Verdict check(const float* logits, const std::vector<llama_token>& history, size_t position, llama_token draft,
                const Distribution* q);

  // Test hook: accept every draft. Breaks exactness on purpose, so that the statistical test of
  // sampling can show that it notices.
  void setAcceptAllForTesting(bool on) { acceptAll_ = on; }

 private:
  Sampler& sampler_;
  int32_t nVocab_;
  Distribution p_;
  Distribution residual_;
  std::vector<float> qDense_;
  bool acceptAll_ = false;
};

}  // namespace specdec
