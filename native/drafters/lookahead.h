// Lookahead drafter (Fu et al. 2024, "Break the Sequential Dependency of LLM Inference Using
// Lookahead Decoding"; after llama.cpp's examples/lookahead): no second model. Every round, beside
// the verification batch, the main model evaluates a window of guesses for the next `window`
// positions at `ngram - 1` levels (Jacobi iteration: each level is the one before, advanced by one
// evaluation); the last level's argmax tokens become the newest level, and the columns of the
// window give n-grams, kept in a pool by their first token. A proposal is the pool's n-grams that
// begin with the last token of the text.
//
// The window's tokens go into branch sequences of their own (one per column) and are dropped
// after the batch: they never reach the kept text, and verification does not see them.
#pragma once

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

#include "drafter.h"

namespace specdec {

// One token of the lookahead window in a batch: at position anchor + offset (the anchor is the
// text's last token), in the window's sequences `seqs` (bit s - 1: the window's sequence s).
struct LookaheadToken {
  llama_token token;
  int32_t offset;
  uint64_t seqs;
  bool lastLevel;  // its logits make the next level
};

class LookaheadDrafter : public Drafter {
 public:
  explicit LookaheadDrafter(LookaheadOptions options);

  void propose(const std::vector<llama_token>& context, int maxTokens, Sampler& sampler, const Grammar* grammar,
               std::vector<Draft>& out) override;
  int maxCandidates() const override { return options_.candidates; }

  int32_t sequences() const { return options_.window; }
  // The window to evaluate this round (starts it, from the text, when there is none).
  const std::vector<LookaheadToken>& window(const std::vector<llama_token>& context);
  // After the batch: logitsOf(i) gives the logits of the window's i-th last-level token (in the
  // order window() listed them); `advanced` tokens joined the text this round.
  void update(const std::function<const float*(size_t)>& logitsOf, int32_t nVocab, size_t advanced,
              const std::vector<llama_token>& context);

 private:
  void shift(const std::vector<llama_token>& context);
  void remember(llama_token first, const std::vector<llama_token>& rest);

  LookaheadOptions options_;
  std::vector<std::vector<llama_token>> levels_;  // [ngram - 1][window]; empty: not started
  std::vector<llama_token> previous_;              // level 0 before the last shift
  std::vector<LookaheadToken> tokens_;
  // First token -> up to `candidates` n-grams (the ngram - 1 tokens after it), newest last.
  std::unordered_map<llama_token, std::vector<std::vector<llama_token>>> pool_;
  uint64_t rng_ = 0x9e3779b97f4a7c15ull;
};

}  // namespace specdec
