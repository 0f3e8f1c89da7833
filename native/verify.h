// Verification: at one place of the draft tree, which of the drafted candidate tokens does the
// main model keep, and which token does it put there otherwise?
// - Greedy: the candidate that is the main model's argmax, if any; else the argmax.
// - Sampling: a candidate drawn from the drafter's distribution q (at most one per place) goes
//   first, by speculative sampling (Leviathan et al. 2023; Chen et al. 2023): kept with
//   probability min(1, p(d) / q(d)); otherwise x is drawn from norm(max(0, p - q)). Without such
//   a candidate x is drawn from p. Then the deterministic candidate equal to x, if any, is kept;
//   else x is the main model's token. p and q come from the same sampler chain.
// Either way the token at the place is distributed exactly as p (after the residual step, x is
// distributed as what is left of p, and the deterministic candidates only name tokens, they do
// not change which one x is). With only deterministic candidates x is the token plain sampling
// would draw at the position: a seeded generation does not depend on them.
#pragma once

#include <vector>

#include "llama.h"
#include "sampling.h"

namespace specdec {

struct Choice {
  int32_t kept;       // index of the candidate kept, -1: none
  llama_token token;  // the token at the place: the kept candidate, or the main model's own
};

class Verifier {
 public:
  Verifier(Sampler& sampler, int32_t nVocab) : sampler_(sampler), nVocab_(nVocab) {}

  // candidates[sampled] (sampled >= 0) was drawn from q; the others are deterministic.
  // grammar: the state at this place when the output must follow one (then p and q are both
  // those of the tokens it allows), else null.
  Choice choose(const float* logits, const std::vector<llama_token>& history, size_t position,
                const std::vector<llama_token>& candidates, int32_t sampled, const Distribution* q,
                const Grammar* grammar = nullptr);


 private:
  Sampler& sampler_;
  int32_t nVocab_;
  Distribution p_;
  Distribution residual_;
  std::vector<float> qDense_;
};

}  // namespace specdec
