// Sampling: turns one position's logits into a token, greedily or by drawing from the
// distribution that the sampler chain leaves (repeat penalties -> grammar -> top-k -> top-p ->
// min-p -> temperature, the order of llama.cpp's common sampler; the grammar, when the output must
// follow one, is its state at the position). The distribution is exposed as a value
// (Distribution) so that speculative verification can compare the main model's p with a
// drafter's q computed by the same chain.
//
// Threading: a Sampler belongs to one session and is used by one worker at a time.
#pragma once

#include <cstdint>
#include <vector>

#include "grammar.h"
#include "llama.h"
#include "options.h"

namespace specdec {

// A sparse distribution over tokens, sorted by probability, descending; probs sum to 1.
struct Distribution {
  std::vector<llama_token> tokens;
  std::vector<float> probs;
  float probOf(llama_token t) const;
};

// Random numbers are drawn per position and purpose, from (seed, position, stream) alone: the
// output of a seeded generation does not depend on how many draws happened before (how many
// tokens a drafter proposed, say).
enum class Stream : uint64_t { Target = 1, Draft = 2, Accept = 3, Residual = 4 };

// log softmax(logits)[token] (temperature 1), and the k likeliest tokens with theirs appended to
// tops / topLogprobs, likeliest first.
float logProbabilities(const float* logits, int32_t nVocab, llama_token token, int k, std::vector<llama_token>& tops,
                       std::vector<float>& topLogprobs);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  const SamplingParams& params() const { return params_; }
  bool greedy() const { return params_.greedy(); }
  // The greedy choice: argmax after the penalties (among the tokens the grammar allows, when
  // there is one). history: the tokens before this position.
  llama_token argmax(const float* logits, int32_t nVocab, const std::vector<llama_token>& history,
                     const Grammar* grammar = nullptr);
  // The token at `position` (greedy, or drawn from the distribution with the Target stream).
  llama_token sample(const float* logits, int32_t nVocab, const std::vector<llama_token>& history, size_t position,
                     const Grammar* grammar = nullptr);
  void distribution(const float* logits, int32_t nVocab, const std::vector<llama_token>& history, Distribution& out,
                    const Grammar* grammar = nullptr);
  static llama_token draw(const Distribution& dist, double u);
  // A uniform number in [0, 1) for this position and purpose.
  double uniform(size_t position, Stream stream) const;

 private:
  const float* penalized(const float* logits, int32_t nVocab, const std::vector<llama_token>& history);
  // The logits with those the grammar does not allow at -infinity (a copy).
  const float* constrained(const float* logits, int32_t nVocab, const Grammar& grammar);
  // The `want` best tokens the grammar allows, best first (by logit, then lower id), found among
  // the best few hundred before the whole vocabulary is searched. Throws INVALID_ARGUMENT when the
  // grammar allows none.
  void bestAllowed(const float* logits, int32_t nVocab, const Grammar& grammar, size_t want,
                   std::vector<llama_token>& out);

  SamplingParams params_;
  std::vector<float> scratch_;
  std::vector<int32_t> counts_;
  std::vector<llama_token> order_;
  std::vector<llama_token> candidates_;
};

}  // namespace specdec
