// The drafter interface: something that guesses how the accepted text goes on. Verification
// (verify.h) decides what is kept; a drafter may be wrong as often as it likes.
//
// Threading: a drafter belongs to one session and is used by its worker only.
#pragma once

#include <vector>

#include "../grammar.h"
#include "../options.h"
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
  // Proposes continuations of up to maxTokens tokens that follow `context` (the prompt and every
  // accepted token), the likeliest first, at most maxCandidates() of them; none when it has no
  // guess. sampler: the session's, for the draft distributions and their random streams;
  // grammar: where the context has left the grammar the output follows (null: none). Drafters that
  // sample follow it; the tokens of others that it does not allow are cut (DrafterSet).
  virtual void propose(const std::vector<llama_token>& context, int maxTokens, Sampler& sampler, const Grammar* grammar,
                       std::vector<Draft>& out) = 0;
  virtual int maxCandidates() const { return 1; }
};

}  // namespace specdec
