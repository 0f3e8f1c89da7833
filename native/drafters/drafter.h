// The drafter interface: something that guesses how the accepted text goes on. Verification
// (verify.h) decides what is kept; a drafter may be wrong as often as it likes.
//
// Threading: a drafter belongs to one session and is used by its worker only.
#pragma once

#include <vector>

#include "../sampling.h"
#include "llama.h"

namespace specdec {

struct Draft {
  std::vector<llama_token> tokens;
  // For drafts sampled from a distribution, q[i] is the distribution tokens[i] was drawn from
  // (same sampler chain as the main model's). Empty for deterministic drafts.
  std::vector<Distribution> q;
  void clear() {
    tokens.clear();
    q.clear();
  }
};

class Drafter {
 public:
  virtual ~Drafter() = default;
  // Proposes up to maxTokens tokens that follow `context` (the prompt and every accepted token).
  // sampler: the session's, for the draft distributions and their random streams.
  virtual void propose(const std::vector<llama_token>& context, int maxTokens, Sampler& sampler, Draft& out) = 0;
  // Several candidate continuations (the likeliest first), for drafters that find more than one;
  // by default the one of propose().
  virtual void proposeAll(const std::vector<llama_token>& context, int maxTokens, Sampler& sampler, std::vector<Draft>& out) {
    out.resize(1);
    propose(context, maxTokens, sampler, out[0]);
  }
  // How many continuations proposeAll() gives at most.
  virtual int maxCandidates() const { return 1; }
  // How many tokens of `context` the drafter would have to evaluate before it could propose.
  virtual size_t catchUp(const std::vector<llama_token>& context) const { return 0; }
  // Of the last propose(), the milliseconds spent catching up with the context (not drafting).
  virtual double lastCatchUpMs() const { return 0; }
};

}  // namespace specdec
